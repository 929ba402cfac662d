"""A dense index in two layers: a large base that nobody changes, and a small exact overlay
holding what changed since the base was written.

Why: at 10,000 works the descriptor indexes of the default profiles hold ~375 MB, at 100,000
about 4 GB. Saving them whole after each registration cost 3 s at 10k works (and grows with
the registry), and every service worker then read them whole again, holding a second copy
while it swapped. With layers, the index store appends a change as a small delta file
(indexes/store.py) and a process loads each base once: every index loaded from the same
base generation shares it, and only replays the deltas into an overlay of its own.

A work added since the base lives in the overlay. A work withdrawn or replaced since the
base is *hidden* there: filtered out of the base's results (and, when replaced, added to the
overlay). The overlay is always `Flat`, so it can replace and drop works whatever the base's
factory: an HNSW or IVF base no longer needs a rebuild when a work's content is replaced,
only when the layers are folded into a new base (`merged`). The index keeper folds them when
the overlay or the hidden set outgrows `wants_compaction`'s bounds, so searching the overlay
stays cheap.
"""

from __future__ import annotations

import weakref

import numpy as np

from indexes.base import WorkHit
from indexes.dense import DenseIndex
from indexes.errors import CannotReplaceError
from indexes.factories import SearchParams

#: Overlay size at which the keeper folds the layers into a new base: past it, searching the
#: overlay (exact, an image's ~40 views at a time) costs more than a few ms per image. A
#: tenth of the base below that, so a small registry is folded sooner (cheap there).
OVERLAY_MAX_VECTORS = 20_000
#: Hidden base works (or their vectors, over OVERLAY_MAX_VECTORS) at which the layers are
#: folded: each search fetches that many more results from the base to make up for the ones
#: it filters out (a text work can hide thousands of windows).
HIDDEN_MAX_WORKS = 256

#: Per base, how many vectors each work has: bases never change, so every index layered
#: over one shares the count (100,000 works take ~0.1 s to count).
_base_counts: weakref.WeakKeyDictionary[DenseIndex, dict[int, int]] = \
    weakref.WeakKeyDictionary()


class LayeredDenseIndex(DenseIndex):
    """`base` (never changed through this object, possibly shared) plus a Flat overlay (this
    object's own FAISS index) and the base works hidden since. Searches and reads answer as
    one index holding the base's works, less the hidden, plus the overlay's."""

    def __init__(self, base: DenseIndex) -> None:
        if isinstance(base, LayeredDenseIndex):
            raise TypeError("a layered index's base must be a plain DenseIndex")
        self.base = base
        super().__init__(base.spec, "Flat", variants_per_work=base.variants_per_work,
                         search=base.search_params)
        self.factory = base.factory  # what the index is, for sidecars and provenance
        self.stand_in_for, self.stand_in_at = base.stand_in_for, base.stand_in_at
        self.stand_in_until = base.stand_in_until
        #: base work id -> how many of its vectors the base holds
        self._hidden: dict[int, int] = {}

    # -- layers -----------------------------------------------------------------------------
    @property
    def overlay_vectors(self) -> int:
        return int(self._index.ntotal)

    @property
    def hidden_works(self) -> int:
        return len(self._hidden)

    def wants_compaction(self) -> bool:
        """True when the overlay or the hidden set is large enough that the keeper should
        fold the layers into a new base."""
        bound = min(OVERLAY_MAX_VECTORS, max(4_096, self.base.ntotal // 10))
        return (self.overlay_vectors > bound or len(self._hidden) > HIDDEN_MAX_WORKS
                or sum(self._hidden.values()) > OVERLAY_MAX_VECTORS)

    def _counts(self) -> dict[int, int]:
        counts = _base_counts.get(self.base)
        if counts is None:
            counts = _base_counts[self.base] = self.base.vectors_per_work()
        return counts

    def _hide(self, work_id: int) -> int:
        """Hide a base work (once); returns how many base vectors that took out."""
        if work_id in self._hidden:
            return 0
        n = self._counts().get(work_id, 0)
        if n:
            self._hidden[work_id] = n
        return n

    def merged(self) -> DenseIndex:
        """One plain index with the same content: a copy of the base, less the hidden works,
        plus the overlay's. Raises CannotReplaceError when a replaced work would have to go
        back into a base that cannot drop vectors (HNSW, IVF): such an index is rebuilt from
        the registry instead."""
        copy = self.base.copy()
        works = sorted(DenseIndex.work_ids(self))
        if not copy.removable and any(w in self._hidden for w in works):
            raise CannotReplaceError(
                f"a replaced work cannot go back into this {self.factory} index: rebuild it")
        if self._hidden:
            copy.remove(list(self._hidden))
        copy.add_new(works, [DenseIndex.work_vectors(self, w, range(self.variants_per_work))
                             for w in works])
        return copy

    # -- DenseIndex -------------------------------------------------------------------------
    def set_search(self, params: SearchParams) -> None:
        if getattr(self, "base", None) is not None:
            self.base.set_search(params)
        super().set_search(params)

    def search_description(self) -> str:
        return self.base.search_description()

    @property
    def is_trained(self) -> bool:
        return self.base.is_trained

    def train(self, vectors: np.ndarray) -> None:
        self.base.train(vectors)

    def add(self, work_id: int, vectors: np.ndarray) -> None:
        self._hide(work_id)
        super().add(work_id, vectors)

    def add_new(self, work_ids: list[int], vectors: list[np.ndarray]) -> None:
        for w, v in zip(work_ids, vectors, strict=True):
            self.add(w, v)

    def remove(self, work_ids: list[int]) -> int:
        removed = super().remove(work_ids)
        return removed + sum(self._hide(w) for w in work_ids)

    def search(self, queries: np.ndarray, k: int) -> list[list[WorkHit]]:
        q = np.ascontiguousarray(queries, dtype=np.float32).reshape(-1, self.spec.dim)
        # the base answers for the hidden works too: ask it for that many more
        base = self.base.search(q, k + len(self._hidden))
        over = super().search(q, k) if self.overlay_vectors else [[] for _ in range(len(q))]
        out = []
        for b, o in zip(base, over, strict=True):
            hits = [h for h in b if h.work_id not in self._hidden] + o
            hits.sort(key=lambda h: (-h.score, h.work_id))
            out.append(hits[:k])
        return out

    def search_vectors(self, queries: np.ndarray, k: int
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        q = np.ascontiguousarray(queries, dtype=np.float32).reshape(-1, self.spec.dim)
        bw, bv, bs = self.base.search_vectors(q, k + sum(self._hidden.values()))
        if self._hidden and bw.size:
            gone = np.isin(bw, np.fromiter(self._hidden, dtype=np.int64))
            bw, bv = np.where(gone, -1, bw), np.where(gone, -1, bv)
        if self.overlay_vectors:
            ow, ov, os_ = super().search_vectors(q, k)
            bw, bv = np.hstack([bw, ow]), np.hstack([bv, ov])
            bs = np.hstack([bs, os_])
        width = min(k, bw.shape[1])
        keyed = np.where(bw < 0, -np.inf, bs.astype(np.float64))
        order = np.argsort(-keyed, axis=1, kind="stable")[:, :width]
        return (np.take_along_axis(bw, order, axis=1), np.take_along_axis(bv, order, axis=1),
                np.take_along_axis(bs, order, axis=1))

    def work_vectors(self, work_id: int, variants: range | tuple[int, ...]) -> np.ndarray:
        own = super().work_vectors(work_id, variants)
        if len(own) or work_id in self._hidden:
            return own
        return self.base.work_vectors(work_id, variants)

    def work_ids(self) -> set[int]:
        return (self._counts().keys() - self._hidden.keys()) | super().work_ids()

    def vectors_per_work(self) -> dict[int, int]:
        counts = {w: n for w, n in self._counts().items() if w not in self._hidden}
        counts.update(super().vectors_per_work())
        return counts

    @property
    def ntotal(self) -> int:
        return self.base.ntotal - sum(self._hidden.values()) + self.overlay_vectors

    def build_params(self) -> dict:
        return self.base.build_params()

    def serialize(self) -> bytes:
        if not self._hidden and not self.overlay_vectors:
            return self.base.serialize()
        return self.merged().serialize()
