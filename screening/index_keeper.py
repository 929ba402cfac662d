"""Keeps the indexes in step with the registry: incremental catch-up and full rebuild.

Each index records the registry revision it reflects. Before a screening run (and after every
registry change made through ipscreen) the indexes catch up on the works changed since: new or
replaced works are (re)added, withdrawn ones removed. No full rebuild is needed for a withdraw,
and an index restored from its previous generation after a crash simply catches up further.

A catch-up is stored as a delta of the index's current base (IndexStore.append): its cost is
the size of the change, not of the index. The layers are folded into a new base (a full
save) when the deltas outgrow COMPACT_* below or a layered index asks for it
(LayeredDenseIndex.wants_compaction); an HNSW or IVF base that cannot take a replaced work
back is then rebuilt from the registry's cached features.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

import numpy as np
from tqdm import tqdm

from indexes.base import PersistentIndex
from indexes.errors import CannotReplaceError, IndexCorruptError, IndexTrainingError
from indexes.store import Change, IndexStore, feature_mismatch
from models.base import FeatureSpec
from screening.registry.blobs import BlobStore
from screening.registry.repository import WorkRecord, WorksRegistry


class Indexed(Protocol):
    """What the keeper needs of a feature: the index it lives in and its identity."""

    @property
    def index_name(self) -> str: ...

    @property
    def spec(self) -> FeatureSpec: ...


#: Fold the deltas into a new base after this many of them (each load replays them all)...
COMPACT_DELTAS = 256
#: ... or when they hold more than this share of the base's bytes (and at least
#: COMPACT_MIN_BYTES): replaying them then costs more than reading a new base.
COMPACT_SHARE = 0.1
COMPACT_MIN_BYTES = 4 * 1024 * 1024

F = TypeVar("F", bound=Indexed)
I = TypeVar("I", bound=PersistentIndex)  # noqa: E741


class _Rebuild(Exception):
    """This index must be built afresh rather than caught up."""


@dataclass
class LiveIndex(Generic[F, I]):
    feature: F
    index: I
    revision: int
    dirty: bool = False
    recovered: bool = False


@dataclass
class RegistryIndexes(Generic[F, I]):
    """Indexes of one work kind, loaded lazily and kept current with the registry.

    Subclasses say how to make an empty index, how to load a work's content once, and how
    to compute one feature's vectors from it."""

    store: IndexStore
    registry: WorksRegistry
    blobs: BlobStore
    progress: bool = True
    kind: str = "image"
    _live: dict[str, LiveIndex[F, I]] = field(default_factory=dict)

    def _new_index(self, feature: F) -> I:
        raise NotImplementedError

    def _content(self, work: WorkRecord) -> Any:
        raise NotImplementedError

    def _work_vectors(self, feature: F, content: Any) -> np.ndarray:
        raise NotImplementedError

    def _loaded(self, index: PersistentIndex) -> I:
        return index  # type: ignore[return-value]

    def _load(self, feature: F) -> LiveIndex[F, I]:
        try:
            loaded = self.store.load(feature.index_name, feature.spec)
        except IndexCorruptError as exc:
            # The registry is the source of truth: with no intact generation on disk, start
            # empty and let the catch-up rebuild it (from cached features, so it is quick).
            print(f"warning: {exc}; rebuilding it from the registry", file=sys.stderr)
            loaded = None
        if loaded is None:
            return LiveIndex(feature, self._new_index(feature), revision=0, dirty=True)
        return LiveIndex(feature, self._loaded(loaded.index), loaded.revision,
                         recovered=loaded.recovered, dirty=loaded.recovered)

    def current(self, features: Sequence[F]) -> dict[str, I]:
        """The indexes for these features, caught up with the registry."""
        head = self.registry.revision()
        stale = [f for f in features
                 if f.index_name not in self._live or self._live[f.index_name].revision < head]
        if stale:
            with self.store.lock(f"{self.kind}-indexes"):
                for f in stale:  # another process may have caught up and saved meanwhile
                    self._live[f.index_name] = self._load(f)
                self._catch_up([self._live[f.index_name] for f in stale], head)
        return {f.index_name: self._live[f.index_name].index for f in features}

    def state(self, feature: F) -> tuple[str, int | None]:
        """("current" | "behind" | "missing" | "empty" | "incompatible", the revision it
        reflects), read from what is loaded or from the stored sidecar, without loading the
        index itself. "empty": nothing stored and no works of this kind to index.
        "incompatible": built with another extractor (another model, after a settings
        change), which loading refuses until `ipscreen index rebuild`."""
        live = self._live.get(feature.index_name)
        if live is not None:
            stored: int | None = live.revision
        else:
            try:
                meta = self.store.read_sidecar(feature.index_name)
            except IndexCorruptError:
                meta = None
            stored = None if meta is None else int((meta.get("head") or {}).get(
                "revision", meta["revision"]))
            if meta is not None and feature_mismatch(feature.index_name, meta, feature.spec):
                return "incompatible", stored
        # only changes to works of this kind matter: a text registration moves the registry
        # revision without making an image index behind
        head = self.registry.revision(self.kind)
        if stored is None:
            return ("missing" if head else "empty"), None
        return ("behind" if stored < head else "current"), stored

    def behind(self, features: Sequence[F]) -> list[F]:
        """The features whose index is missing or misses registry changes of its kind."""
        return [f for f in features if self.state(f)[0] in ("behind", "missing")]

    def rebuild(self, features: Sequence[F]) -> dict[str, int]:
        """Build these indexes from scratch from the registry; returns vectors per index."""
        with self.store.lock(f"{self.kind}-indexes"):
            head = self.registry.revision()
            fresh = self._built(features)
            for f in features:
                self._live[f.index_name] = LiveIndex(f, fresh[f.index_name], revision=head)
                self._save_full(self._live[f.index_name], head)
            return {name: index.ntotal for name, index in fresh.items()}

    def _catch_up(self, live: list[LiveIndex[F, I]], head: int) -> None:
        since = min(lv.revision for lv in live)
        changed = self.registry.changed_since(since, kind=self.kind)
        active = [w for w in changed if w.status == "active"]
        vectors = dict((w.id, v) for w, v in self._compute(active, [lv.feature for lv in live],
                                                            "indexing"))
        for lv in live:
            changes: list[Change] = []
            rebuilt = False
            try:
                if not getattr(lv.index, "is_trained", True):
                    raise _Rebuild("an untrained index (IVF, PQ) trains on the whole registry")
                changes = [(w.id, vectors[w.id][lv.feature.index_name]
                            if w.status == "active" else None)
                           for w in changed if w.revision > lv.revision]
                if changes:
                    lv.index.apply(changes)
                    lv.dirty = True
                wanted = getattr(lv.index, "stand_in_for", None)
                until = getattr(lv.index, "stand_in_until", 0)
                if wanted and lv.index.ntotal >= until:
                    raise _Rebuild(f"it holds {lv.index.ntotal} vectors, at least {until}: "
                                   f"building {wanted!r}")
            except (CannotReplaceError, _Rebuild) as why:
                # HNSW, IVF and refined PQ cannot replace a work's vectors in place, and
                # IVF and PQ must be trained on a bulk set: rebuild this index from the
                # registry (features are cached, so no model runs again)
                reason = ("a changed work cannot be replaced in place"
                          if isinstance(why, CannotReplaceError) else str(why))
                self._rebuild_one(lv, reason)
                rebuilt = True
            lv.revision = head
            if lv.dirty:
                if not rebuilt and not lv.recovered and self._appendable(lv):
                    self.store.append(lv.feature.index_name, lv.index, changes, head)
                else:
                    self._save_full(lv, head)
                lv.dirty = False

    def _appendable(self, lv: LiveIndex[F, I]) -> bool:
        """Whether this catch-up can be stored as a delta (else the layers are folded)."""
        count, delta_bytes, base_bytes = self.store.delta_totals(lv.feature.index_name)
        if base_bytes == 0 or count >= COMPACT_DELTAS:
            return False
        if delta_bytes > max(COMPACT_MIN_BYTES, COMPACT_SHARE * base_bytes):
            return False
        wants = getattr(lv.index, "wants_compaction", None)
        return not (callable(wants) and wants())

    def _save_full(self, lv: LiveIndex[F, I], head: int) -> None:
        """Save as a new base, then load it back, so that this process shares the one
        copy (a dense base) and changes go to a fresh overlay."""
        name = lv.feature.index_name
        try:
            self.store.save(name, lv.index, head)
        except CannotReplaceError:  # a replaced work cannot go back into an HNSW/IVF base
            self._rebuild_one(lv, "a changed work cannot be replaced in place")
            self.store.save(name, lv.index, head)
        loaded = self.store.load(name, lv.feature.spec)
        assert loaded is not None and not loaded.recovered
        lv.index = self._loaded(loaded.index)
        lv.recovered = False

    def _rebuild_one(self, lv: LiveIndex[F, I], reason: str) -> None:
        print(f"note: rebuilding {lv.feature.index_name} from the registry ({reason})",
              file=sys.stderr)
        lv.index = self._built([lv.feature])[lv.feature.index_name]
        lv.dirty = True

    def _built(self, features: Sequence[F]) -> dict[str, I]:
        """New indexes for these features holding every active work (from cached features
        where the registry has them), by index name."""
        works = self.registry.list_works(kind=self.kind, status="active", references=True)
        vectors = self._compute(works, list(features), "rebuild")
        out = {}
        for f in features:
            index = self._new_index(f)
            ids, vecs = [w.id for w, _ in vectors], [v[f.index_name] for _, v in vectors]
            sized_for = getattr(index, "sized_for", None)
            if sized_for is not None:  # "auto": exact until the index is large enough
                index = sized_for(sum(len(v) for v in vecs))
            try:
                index.add_new(ids, vecs)
            except IndexTrainingError:
                # IVF / PQ quantisers cannot learn from so few vectors: search them exactly
                # until the registry has grown (the first catch-up past twice as many tries
                # the configured factory again)
                stand_in = getattr(index, "exact_stand_in", None)
                if stand_in is None:
                    raise
                n = sum(len(v) for v in vecs)
                print(f"note: {f.index_name}: {n} vectors are too few to train "
                      f"{getattr(index, 'factory', '')!r}; they are searched exactly (Flat) "
                      f"until the registry holds {2 * n}", file=sys.stderr)
                index = stand_in(n)
                index.add_new(ids, vecs)
            out[f.index_name] = index
        return out

    def _compute(self, works: list[WorkRecord], features: list[F],
                 what: str) -> list[tuple[WorkRecord, dict[str, np.ndarray]]]:
        out = []
        bar = tqdm(works, desc=f"{what} {len(works)} works", unit="work", file=sys.stderr,
                   disable=not self.progress or len(works) < 2, leave=False)
        for work in bar:
            vecs: dict[str, np.ndarray] = {}
            missing = []
            for f in features:
                cached = self.registry.get_feature(work, f.index_name, f.spec.version)
                if cached is None:
                    missing.append(f)
                else:
                    vecs[f.index_name] = cached
            if missing:
                content = self._content(work)
                for f in missing:
                    value = self._work_vectors(f, content)
                    self.registry.put_feature(work, f.index_name, f.spec.version, value)
                    vecs[f.index_name] = value
            out.append((work, vecs))
        return out
