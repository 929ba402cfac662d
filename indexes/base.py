"""The interface every feature index implements, and the per-work result they share.

Shape copied from python-threatexchange's SignalTypeIndex: add, remove, query, serialize.
Results are already reduced to the best vector per work, because every caller thinks in works.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np

from models.base import FeatureSpec


@dataclass(frozen=True)
class WorkHit:
    """The best match of one query against one work in one index."""

    work_id: int
    score: float  # similarity in [-1, 1] for dense, 1 - hamming/bits in [0, 1] for binary
    distance: float  # hamming bits for binary, 1 - cosine for dense
    variant: int  # which of the work's vectors matched (e.g. dihedral transform)


class FeatureIndex(ABC):
    """A FAISS index over one feature, keyed by work id."""

    spec: FeatureSpec
    #: FAISS metric name, recorded in the sidecar and checked on load.
    metric: str

    @abstractmethod
    def add(self, work_id: int, vectors: np.ndarray) -> None:
        """Add a work's vectors (1..16 rows). Adding a work twice replaces its vectors."""

    def add_new(self, work_ids: list[int], vectors: list[np.ndarray]) -> None:
        """Bulk-add works known to be absent (a rebuild): one FAISS call instead of a
        remove-then-add per work, which is quadratic on large registries."""
        from indexes.ids import vector_ids

        if not work_ids:
            return
        ids = np.concatenate([vector_ids(w, len(v)) for w, v in zip(work_ids, vectors,
                                                                     strict=True)])
        self._add_with_ids(np.concatenate(vectors), ids)

    def _add_with_ids(self, vectors: np.ndarray, ids: np.ndarray) -> None:
        raise NotImplementedError

    @abstractmethod
    def remove(self, work_ids: list[int]) -> int:
        """Remove works; returns how many vectors went. Unknown ids are ignored."""

    @abstractmethod
    def search(self, queries: np.ndarray, k: int) -> list[list[WorkHit]]:
        """For each query row, up to k works, best first (one hit per work)."""

    @abstractmethod
    def work_ids(self) -> set[int]:
        """The works present."""

    @property
    @abstractmethod
    def ntotal(self) -> int:
        """Vectors stored."""

    @abstractmethod
    def serialize(self) -> bytes:
        """Bytes that deserialize() turns back into an equal index."""

    @classmethod
    @abstractmethod
    def deserialize(cls, spec: FeatureSpec, data: bytes, params: dict) -> FeatureIndex:
        """Inverse of serialize; `params` are the build parameters stored in the sidecar."""

    def build_params(self) -> dict:
        """Parameters needed to rebuild an empty index like this one (stored in the sidecar)."""
        return {}


def best_per_work(ids: np.ndarray, scores: np.ndarray, distances: np.ndarray,
                  k: int) -> list[WorkHit]:
    """Collapse one query's vector hits (sorted best first) to at most k work hits."""
    from indexes.ids import VARIANTS_PER_WORK

    seen: set[int] = set()
    hits: list[WorkHit] = []
    for vid, score, dist in zip(ids.tolist(), scores.tolist(), distances.tolist(), strict=True):
        if vid < 0:
            continue
        work = vid // VARIANTS_PER_WORK
        if work in seen:
            continue
        seen.add(work)
        hits.append(WorkHit(work_id=work, score=float(score), distance=float(dist),
                            variant=vid % VARIANTS_PER_WORK))
        if len(hits) == k:
            break
    return hits
