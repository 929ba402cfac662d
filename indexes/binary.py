"""Hamming-distance index for perceptual hashes (FAISS IndexBinaryFlat behind an IDMap2).

Exhaustive search is the right default: 100k works x 8 dihedral pHashes is 6.4 MB scanned with
popcount per query, about a millisecond. HMA's multi-index hashing pays off only past millions.
"""

from __future__ import annotations

from typing import Any

import faiss
import numpy as np

from indexes.base import FeatureIndex, WorkHit, best_per_work, removal_selector
from indexes.ids import VARIANTS_PER_WORK, vector_ids
from models.base import FeatureSpec


class BinaryHashIndex(FeatureIndex):
    """Exact Hamming search over packed binary codes."""

    metric = "hamming"

    def __init__(self, spec: FeatureSpec, index: Any = None) -> None:
        if spec.kind != "binary" or spec.dim % 8:
            raise ValueError(f"{spec.name}: a binary index needs a binary feature of whole bytes")
        self.spec = spec
        self._index: Any = index if index is not None else faiss.IndexBinaryIDMap2(
            faiss.IndexBinaryFlat(spec.dim))

    def add(self, work_id: int, vectors: np.ndarray) -> None:
        codes = np.ascontiguousarray(vectors, dtype=np.uint8).reshape(-1, self.spec.nbytes)
        self.remove([work_id])
        self._index.add_with_ids(codes, vector_ids(work_id, len(codes)))

    def _add_with_ids(self, vectors: np.ndarray, ids: np.ndarray) -> None:
        codes = np.ascontiguousarray(vectors, dtype=np.uint8).reshape(-1, self.spec.nbytes)
        self._index.add_with_ids(codes, ids)

    def remove(self, work_ids: list[int]) -> int:
        sel = removal_selector(faiss.vector_to_array(self._index.id_map), work_ids,
                               VARIANTS_PER_WORK) if work_ids else None
        return int(self._index.remove_ids(sel)) if sel is not None else 0

    def search(self, queries: np.ndarray, k: int) -> list[list[WorkHit]]:
        q = np.ascontiguousarray(queries, dtype=np.uint8).reshape(-1, self.spec.nbytes)
        if self.ntotal == 0 or len(q) == 0:
            return [[] for _ in range(len(q))]
        fetch = min(self.ntotal, k * 8)
        dist, ids = self._index.search(q, fetch)
        dist = dist.astype(np.float64)
        scores = 1.0 - dist / self.spec.dim
        return [best_per_work(ids[i], scores[i], dist[i], k) for i in range(len(q))]

    def work_ids(self) -> set[int]:
        ids = faiss.vector_to_array(self._index.id_map)
        return set((ids // VARIANTS_PER_WORK).tolist())

    @property
    def ntotal(self) -> int:
        return int(self._index.ntotal)

    def serialize(self) -> bytes:
        return faiss.serialize_index_binary(self._index).tobytes()

    @classmethod
    def deserialize(cls, spec: FeatureSpec, data: bytes, params: dict) -> BinaryHashIndex:
        index = faiss.deserialize_index_binary(np.frombuffer(data, dtype=np.uint8))
        if index.d != spec.dim:
            raise ValueError(f"stored index has {index.d} bits, feature has {spec.dim}")
        return cls(spec, index)
