"""The interface every feature index implements, and the per-work result they share.

Shape copied from python-threatexchange's SignalTypeIndex: add, remove, query, serialize.
Results are already reduced to the best vector per work, because every caller thinks in works.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from models.base import FeatureSpec


@dataclass(frozen=True)
class WorkHit:
    """The best match of one query against one work in one index."""

    work_id: int
    score: float  # similarity in [-1, 1] for dense, 1 - hamming/bits in [0, 1] for binary
    distance: float  # hamming bits for binary, 1 - cosine for dense
    variant: int  # which of the work's vectors matched (e.g. dihedral transform)


class PersistentIndex(ABC):
    """What the index store needs of any index: identity, add/remove per work, bytes."""

    spec: FeatureSpec
    #: Metric name, recorded in the sidecar and checked on load.
    metric: str

    @abstractmethod
    def add(self, work_id: int, vectors: np.ndarray) -> None:
        """Add a work's features. Adding a work twice replaces them."""

    @abstractmethod
    def remove(self, work_ids: list[int]) -> int:
        """Remove works; returns how many vectors went. Unknown ids are ignored."""

    @abstractmethod
    def work_ids(self) -> set[int]:
        """The works present."""

    @property
    @abstractmethod
    def ntotal(self) -> int:
        """Vectors (or fingerprints) stored."""

    @abstractmethod
    def serialize(self) -> bytes:
        """Bytes that deserialize() turns back into an equal index."""

    @classmethod
    @abstractmethod
    def deserialize(cls, spec: FeatureSpec, data: bytes, params: dict) -> PersistentIndex:
        """Inverse of serialize; `params` are the build parameters stored in the sidecar."""

    def build_params(self) -> dict:
        """Parameters needed to rebuild an empty index like this one (stored in the sidecar)."""
        return {}

    def apply(self, changes: Sequence[tuple[int, np.ndarray | None]]) -> None:
        """Apply changes in order, each a work's new vectors or None (removed): the works'
        final states, with one removal of every work touched and then the additions, since
        each removal scans the whole index."""
        final = _final(changes)
        self.remove(list(final))
        for work, vectors in final.items():
            if vectors is not None:
                self.add(work, vectors)

    def add_new(self, work_ids: list[int], vectors: list[np.ndarray]) -> None:
        """Bulk-add works known to be absent (a rebuild)."""
        for w, v in zip(work_ids, vectors, strict=True):
            self.add(w, v)


class FeatureIndex(PersistentIndex):
    """A FAISS index over one image or text feature, keyed by work id."""

    #: How many vectors one work may have (vector id = work id * this + variant).
    variants_per_work: int = 16

    @abstractmethod
    def add(self, work_id: int, vectors: np.ndarray) -> None:
        """Add a work's vectors (1..variants_per_work rows). Adding a work twice replaces
        its vectors."""

    def apply(self, changes: Sequence[tuple[int, np.ndarray | None]]) -> None:
        final = _final(changes)
        self.remove(list(final))
        added = [(w, v) for w, v in final.items() if v is not None]
        self.add_new([w for w, _ in added], [v for _, v in added])

    def add_new(self, work_ids: list[int], vectors: list[np.ndarray]) -> None:
        """Bulk-add works known to be absent (a rebuild): one FAISS call instead of a
        remove-then-add per work, which is quadratic on large registries."""
        from indexes.ids import vector_ids

        if not work_ids:
            return
        per = self.variants_per_work
        ids = np.concatenate([vector_ids(w, len(v), per) for w, v in zip(work_ids, vectors,
                                                                          strict=True)])
        self._add_with_ids(np.concatenate(vectors), ids)

    def _add_with_ids(self, vectors: np.ndarray, ids: np.ndarray) -> None:
        raise NotImplementedError

    @abstractmethod
    def search(self, queries: np.ndarray, k: int) -> list[list[WorkHit]]:
        """For each query row, up to k works, best first (one hit per work)."""

    @classmethod
    @abstractmethod
    def deserialize(cls, spec: FeatureSpec, data: bytes, params: dict) -> FeatureIndex:
        """Inverse of serialize; `params` are the build parameters stored in the sidecar."""


def _final(changes: Sequence[tuple[int, np.ndarray | None]]) -> dict[int, np.ndarray | None]:
    """Each work's last change."""
    final: dict[int, np.ndarray | None] = {}
    for work, vectors in changes:
        final[work] = vectors
    return final


def removal_selector(present: np.ndarray, work_ids: Sequence[int], per_work: int) -> Any:
    """A FAISS selector of the vector ids among `present` (an index's id map) that belong to
    these works, or None when none does. Removing with it is one pass over the index,
    whatever the number of works, and works that are absent cost no pass at all."""
    import faiss

    gone = present[np.isin(present // per_work, np.asarray(work_ids, dtype=np.int64))]
    return faiss.IDSelectorBatch(gone) if len(gone) else None


def best_per_work(ids: np.ndarray, scores: np.ndarray, distances: np.ndarray,
                  k: int, per_work: int = 16) -> list[WorkHit]:
    """Collapse one query's vector hits (sorted best first) to at most k work hits."""
    seen: set[int] = set()
    hits: list[WorkHit] = []
    for vid, score, dist in zip(ids.tolist(), scores.tolist(), distances.tolist(), strict=True):
        if vid < 0:
            continue
        work = vid // per_work
        if work in seen:
            continue
        seen.add(work)
        hits.append(WorkHit(work_id=work, score=float(score), distance=float(dist),
                            variant=vid % per_work))
        if len(hits) == k:
            break
    return hits
