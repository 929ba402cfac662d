"""Crash-safe persistence of feature indexes: a base file per generation, small delta files
with the changes since, and a sidecar JSON; the previous generation is kept.

Layout under the index dir, for an index named NAME:
    NAME.json                       sidecar: the commit point (written last, atomically)
    NAME.<generation>.faiss         base data file named by its generation, never overwritten
    NAME.<generation>.<n>.delta     the n-th change set since that base, never overwritten
The sidecar records the feature (extractor name, version, kind, dim), metric, build params,
the base's count, registry revision and SHA-256, each delta's file, SHA-256 and revision,
the head (revision, count and works after the deltas), and the previous generation's entry.

A full save writes a new base (temp, fsync, rename), then the sidecar (temp, fsync, rename,
fsync dir), then deletes generations older than the previous one and the deltas of the
replaced base. An append writes one delta file the same way, then the sidecar naming it: a
registration costs the size of its change, not of the index. A crash at any point leaves a
sidecar that names complete files. Loading verifies checksums and replays the deltas in
order; a damaged delta ends the replay there (the revision of the last good one tells the
caller what to catch up), a damaged base falls back to the previous generation, and an index
built with another feature or metric is refused.

Dense bases are read once per process: every load of the same base file shares one
immutable copy (indexes/layered.py) and replays the deltas into an overlay of its own, so a
service worker that reloads holds one copy of a 2 GB index, not two.
"""

from __future__ import annotations

import fcntl
import hashlib
import io
import json
import os
import sys
import tempfile
import threading
import zipfile
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from indexes.base import PersistentIndex
from indexes.binary import BinaryHashIndex
from indexes.dense import DenseIndex
from indexes.errors import IndexCompatibilityError, IndexCorruptError
from indexes.fingerprint import FingerprintIndex
from indexes.layered import LayeredDenseIndex
from models.base import FeatureSpec

SIDECAR_FORMAT = 1
#: One change to a work: its new vectors (added or replaced), or None (removed).
Change = tuple[int, np.ndarray | None]
#: Dense bases a new load can share, per process: the latest one read of each index (by
#: its directory and name), for at most SHARED_BASES indexes, least recently loaded out
#: first. An older generation stays alive only while an index (a screener set still
#: serving) uses it.
SHARED_BASES = 64
_bases: OrderedDict[tuple[str, str], tuple[tuple[str, int, int], DenseIndex]] = \
    OrderedDict()
_bases_lock = threading.Lock()


@dataclass(frozen=True)
class LoadedIndex:
    """An index read from disk and the registry revision it reflects."""

    index: PersistentIndex
    revision: int
    generation: int
    recovered: bool  # True when the current generation was damaged and the previous one used


def index_class(spec: FeatureSpec) -> type[PersistentIndex]:
    """The index implementation for a feature kind."""
    classes: dict[str, type[PersistentIndex]] = {
        "binary": BinaryHashIndex, "dense": DenseIndex, "tokens": FingerprintIndex}
    return classes[spec.kind]


def atomic_write(path: Path, data: bytes) -> None:
    """Write data to path so that readers see the old or the new content, never a mix."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def feature_mismatch(name: str, meta: dict, spec: FeatureSpec) -> str | None:
    """Why the index a sidecar describes cannot serve `spec` (built with another extractor
    name, version, kind or dimension: another model, say), or None if it can."""
    feature = meta.get("feature", {})
    expected = {"name": spec.name, "version": spec.version, "kind": spec.kind, "dim": spec.dim}
    if feature == expected:
        return None
    return (f"index {name!r} was built with {feature}, but this configuration uses "
            f"{expected}; run `ipscreen index rebuild` to rebuild it from the registry")


class IndexStore:
    """Reads and writes named indexes in one directory."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)

    def sidecar_path(self, name: str) -> Path:
        return self.directory / f"{name}.json"

    def data_path(self, name: str, generation: int) -> Path:
        return self.directory / f"{name}.{generation}.faiss"

    @contextmanager
    def lock(self, name: str) -> Iterator[None]:
        """Exclusive lock for writers of one index (other processes wait)."""
        self.directory.mkdir(parents=True, exist_ok=True)
        with open(self.directory / f".{name}.lock", "a+") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def drop(self, name: str) -> bool:
        """Delete an index (sidecar first: once it is gone the index does not exist, and the
        data files left by a crash in between are overwritten or swept by the next save);
        False if there was none. Callers hold lock(name)."""
        sidecar = self.sidecar_path(name)
        if not sidecar.exists():
            return False
        sidecar.unlink()
        for stale in [*self.directory.glob(f"{name}.*.faiss"),
                      *self.directory.glob(f"{name}.*.*.delta")]:
            stale.unlink(missing_ok=True)
        return True

    def read_sidecar(self, name: str) -> dict[str, Any] | None:
        path = self.sidecar_path(name)
        if not path.exists():
            return None
        try:
            meta = json.loads(path.read_text())
            if not isinstance(meta, dict) or meta.get("format") != SIDECAR_FORMAT:
                raise ValueError("unknown sidecar format")
            return meta
        except (ValueError, OSError) as exc:
            raise IndexCorruptError(
                f"index sidecar {path} is unreadable ({exc}); run `ipscreen index rebuild`"
            ) from None

    def save(self, name: str, index: PersistentIndex, revision: int) -> int:
        """Persist index as a new generation reflecting registry `revision`; returns it."""
        data = index.serialize()
        old = self.read_sidecar(name)
        generation = (old["generation"] + 1) if old else 1
        data_file = self.data_path(name, generation)
        atomic_write(data_file, data)
        entry = {
            "generation": generation,
            "file": data_file.name,
            "sha256": hashlib.sha256(data).hexdigest(),
            "bytes": len(data),
            "count": index.ntotal,
            "works": len(index.work_ids()),
            "revision": revision,
        }
        meta: dict[str, Any] = {
            "format": SIDECAR_FORMAT,
            "name": name,
            "feature": {"name": index.spec.name, "version": index.spec.version,
                        "kind": index.spec.kind, "dim": index.spec.dim},
            "metric": index.metric,
            "params": index.build_params(),
            **entry,
            "deltas": [],
            "head": {"revision": revision, "count": entry["count"], "works": entry["works"]},
            "previous": _entry_of(old) if old else None,
        }
        atomic_write(self.sidecar_path(name), json.dumps(meta, indent=2).encode())
        keep = {generation, old["generation"]} if old else {generation}
        for stale in self.directory.glob(f"{name}.*.faiss"):
            gen = stale.name[len(name) + 1:-len(".faiss")]
            if gen.isdigit() and int(gen) not in keep:
                stale.unlink(missing_ok=True)
        # deltas belong to the base they follow; the previous generation is kept as a base
        # to fall back on (the caller catches up from its revision), without its deltas
        for stale in self.directory.glob(f"{name}.*.*.delta"):
            stale.unlink(missing_ok=True)
        return generation

    def append(self, name: str, index: PersistentIndex, changes: Sequence[Change],
               revision: int) -> int:
        """Record `changes`, already applied to `index`, as the next delta of the current
        base, reflecting registry `revision`; returns the number of deltas now. The index
        must have been saved before."""
        meta = self.read_sidecar(name)
        if meta is None:
            raise IndexCorruptError(f"index {name!r} has no base to append to; save it first")
        deltas = list(meta.get("deltas", []))
        data = encode_changes(changes)
        path = self.directory / f"{name}.{meta['generation']}.{len(deltas) + 1}.delta"
        atomic_write(path, data)
        deltas.append({"file": path.name, "sha256": hashlib.sha256(data).hexdigest(),
                       "bytes": len(data), "changes": len(changes), "revision": revision})
        meta["deltas"] = deltas
        meta["head"] = {"revision": revision, "count": index.ntotal,
                        "works": len(index.work_ids())}
        atomic_write(self.sidecar_path(name), json.dumps(meta, indent=2).encode())
        return len(deltas)

    def delta_totals(self, name: str) -> tuple[int, int, int]:
        """(deltas, their bytes, the base's bytes) of the current generation."""
        meta = self.read_sidecar(name)
        if meta is None:
            return 0, 0, 0
        deltas = meta.get("deltas", [])
        return len(deltas), sum(int(d["bytes"]) for d in deltas), int(meta["bytes"])

    def load(self, name: str, spec: FeatureSpec) -> LoadedIndex | None:
        """The stored index, or None if none was ever saved. Raises on incompatibility, or
        when neither generation is intact."""
        meta = self.read_sidecar(name)
        if meta is None:
            return None
        problem = feature_mismatch(name, meta, spec)
        if problem is not None:
            raise IndexCompatibilityError(problem)
        cls = index_class(spec)
        if meta.get("metric") != cls.metric:
            raise IndexCompatibilityError(
                f"index {name!r} uses metric {meta.get('metric')!r}, expected {cls.metric!r}")
        problems = []
        for entry, recovered in ((meta, False), (meta.get("previous"), True)):
            if not entry:
                continue
            try:
                index = self._read_entry(name, cls, spec, entry, meta.get("params", {}))
            except IndexCorruptError as exc:
                problems.append(str(exc))
                continue
            revision = int(entry["revision"])
            if not recovered:
                revision, recovered = self._replay(index, meta.get("deltas", []), revision)
            return LoadedIndex(index=index, revision=revision,
                               generation=int(entry["generation"]), recovered=recovered)
        raise IndexCorruptError(
            f"index {name!r} has no intact generation ({'; '.join(problems)}); "
            "run `ipscreen index rebuild`")

    def _replay(self, index: PersistentIndex, deltas: list[dict],
                revision: int) -> tuple[int, bool]:
        """Apply the deltas in order; returns the revision reached and whether a damaged
        delta stopped the replay (the caller catches up from there)."""
        good: list[Change] = []
        damaged = False
        for d in deltas:
            path = self.directory / d["file"]
            try:
                data = path.read_bytes()
                if hashlib.sha256(data).hexdigest() != d["sha256"]:
                    raise ValueError("checksum mismatch")
                changes = decode_changes(data)
            except (OSError, ValueError) as exc:
                print(f"warning: {path.name} is damaged ({exc}); continuing from revision "
                      f"{revision}", file=sys.stderr)
                damaged = True
                break
            good.extend(changes)
            revision = int(d["revision"])
        if good:
            index.apply(good)  # one pass over the index for all of them
        return revision, damaged

    def _read_entry(self, name: str, cls: type[PersistentIndex], spec: FeatureSpec,
                    entry: dict, params: dict) -> PersistentIndex:
        path = self.directory / entry["file"]
        try:  # a file written anew since it was shared is read (and checked) again
            st = path.stat()
        except OSError as exc:
            raise IndexCorruptError(f"{path.name}: cannot read ({exc.strerror})") from None
        slot = (str(self.directory.resolve()), name)
        key = (str(entry["sha256"]), st.st_size, st.st_mtime_ns)
        if cls is DenseIndex:
            with _bases_lock:
                found = _bases.get(slot)
                if found is not None and found[0] == key:
                    _bases.move_to_end(slot)
                    return LayeredDenseIndex(found[1])
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise IndexCorruptError(f"{path.name}: cannot read ({exc.strerror})") from None
        if hashlib.sha256(data).hexdigest() != entry["sha256"]:
            raise IndexCorruptError(f"{path.name}: checksum mismatch (damaged or half-written)")
        try:
            index = cls.deserialize(spec, data, params)
        except (ValueError, RuntimeError) as exc:
            raise IndexCorruptError(f"{path.name}: cannot parse ({exc})") from None
        if isinstance(index, DenseIndex):
            # never changed from here on: every later load of this file shares it
            with _bases_lock:
                _bases[slot] = (key, index)
                _bases.move_to_end(slot)
                while len(_bases) > SHARED_BASES:
                    _bases.popitem(last=False)
            return LayeredDenseIndex(index)
        return index


def encode_changes(changes: Sequence[Change]) -> bytes:
    """A delta file: NumPy's .npz (no pickles) with `works` (int64 work ids, in order),
    `added` (1 where the work got the vectors in array `v<i>`, 0 where it was removed)."""
    arrays: dict[str, np.ndarray] = {
        "works": np.array([w for w, _ in changes], dtype=np.int64),
        "added": np.array([v is not None for _, v in changes], dtype=np.int8)}
    for i, (_, v) in enumerate(changes):
        if v is not None:
            arrays[f"v{i}"] = np.ascontiguousarray(v)
    buf = io.BytesIO()
    np.savez(buf, **arrays)  # type: ignore[arg-type]
    return buf.getvalue()


def decode_changes(data: bytes) -> list[Change]:
    """Inverse of encode_changes; ValueError on a malformed file."""
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as z:
            works, added = z["works"], z["added"]
            if works.shape != added.shape or works.ndim != 1:
                raise ValueError("works and added differ in shape")
            return [(int(w), z[f"v{i}"] if a else None)
                    for i, (w, a) in enumerate(zip(works.tolist(), added.tolist(),
                                                   strict=True))]
    except (KeyError, OSError, EOFError, zipfile.BadZipFile) as exc:
        raise ValueError(f"malformed delta ({exc})") from None


def _entry_of(meta: dict) -> dict:
    return {k: meta[k] for k in ("generation", "file", "sha256", "bytes", "count", "works",
                                 "revision")}
