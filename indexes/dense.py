"""Inner-product index for L2-normalised descriptors, built from a FAISS factory string.

"Flat" (exact) is what the settings' default "auto" builds for small indexes (see AUTO);
its search time grows with the registry (a screened image's 42 views: ~60 ms over 90,000
vectors, ~630 ms over 900,000 on 2 cores). "HNSW32" or
"IVF1024,Flat" stay fast on large registries but are approximate, and what they lose are
the moderately similar matches (a pasted work's window, a paraphrased sentence): measure on
your own data first (the benchmarks report planted-neighbour recall). "PQ64x4fs,RFlat" still
looks at every vector, as 32-byte codes scanned with SIMD tables, and re-ranks the best
k x REFINE_K_FACTOR exactly with the stored vectors: its time grows with the registry too,
but about a tenth as fast as Flat's, and its scores are exact.
Index types that cannot remove vectors (HNSW, IVF under the id map, refine) get tombstones:
removed ids are filtered at search time and dropped at the next rebuild. Such an index
cannot take a work's ids twice either: a replaced work makes the keeper rebuild it
(screening/index_keeper.py).

Byte format of serialize(): 8-byte little-endian length N, N bytes of faiss.serialize_index,
then the tombstoned vector ids as little-endian int64.
"""

from __future__ import annotations

import struct
import threading
from collections.abc import Sequence
from typing import Any

import faiss
import numpy as np

from indexes.base import FeatureIndex, WorkHit, best_per_work, removal_selector
from indexes.errors import CannotReplaceError, IndexTrainingError
from indexes.factories import (
    AUTO,
    AUTO_EXACT_VECTORS,
    SearchParams,
    auto_factory,
    faiss_index,
    faiss_layers,
)
from indexes.flat_gemm import FLAT_GEMM_MIN_QUERIES, FLAT_GEMM_MIN_VECTORS, flat_gemm_search
from indexes.ids import VARIANTS_PER_WORK, vector_ids
from models.base import FeatureSpec


class DenseIndex(FeatureIndex):
    """Cosine-similarity search over unit vectors, mapped to work ids."""

    metric = "inner_product"

    def __init__(self, spec: FeatureSpec, factory: str = "Flat",
                 index: Any = None, tombstones: set[int] | None = None,
                 variants_per_work: int = VARIANTS_PER_WORK,
                 search: SearchParams | None = None, stand_in_for: str | None = None,
                 stand_in_at: int = 0, stand_in_until: int = 0) -> None:
        if spec.kind != "dense":
            raise ValueError(f"{spec.name}: a dense index needs a dense feature")
        self.spec = spec
        self.factory = factory
        self.variants_per_work = variants_per_work
        #: The factory this exact index stands in for while the registry holds too few
        #: vectors to train it (see exact_stand_in) or to be worth it ("auto"), how many it
        #: held when made, and how many it must hold before the index keeper builds that
        #: factory (twice as many as when made, unless set).
        self.stand_in_for = stand_in_for
        self.stand_in_at = stand_in_at
        self.stand_in_until = (stand_in_until or 2 * max(1, stand_in_at)) if stand_in_for else 0
        if index is None:
            index = faiss.IndexIDMap2(faiss_index(spec.dim, factory))
        self._index: Any = index
        self._inner: Any = faiss.downcast_index(index.index)  # the index under the id map
        inner = self._inner
        self._tombstones: set[int] = set(tombstones or ())
        # the first-stage index and the refine stage over it: fixed for this index's life
        self._first, self._refine = faiss_layers(inner)
        # HNSW cannot remove at all; IVF can, but it renumbers its vectors, which breaks the
        # id map over it (faiss aborts the process on an assertion); neither a refine stage
        # nor a fast-scan index removes. Flat-coded indexes (Flat, PQ, SQ) do.
        self._removable = self._refine is None and \
            isinstance(self._first, faiss.IndexFlatCodes)
        self._flat = isinstance(inner, faiss.IndexFlat) and \
            inner.metric_type == faiss.METRIC_INNER_PRODUCT
        self.set_search(search or SearchParams())
        self._map_lock = threading.Lock()

    def set_search(self, params: SearchParams) -> None:
        """Apply search-time parameters (HNSW efSearch, IVF nprobe, refine k_factor) to
        this index."""
        first, refine = self._first, self._refine
        if isinstance(first, faiss.IndexHNSW):
            first.hnsw.efSearch = max(1, int(params.hnsw_ef_search))
        if isinstance(first, faiss.IndexIVF):
            first.nprobe = max(1, min(int(first.nlist), int(params.ivf_nprobe)))
        if refine is not None:
            refine.k_factor = max(1.0, float(params.refine_k_factor))
        self.search_params = params

    def search_description(self) -> str:
        """How this index searches, for provenance: 'Flat' (exact), or the factory with the
        search-time breadth that applies to it ('HNSW32 efSearch=256', 'IVF1024,Flat
        nprobe=128', 'PQ64x4fs,RFlat k_factor=32'). Approximate search can miss a match
        that exact search finds."""
        first, refine = self._first, self._refine
        knobs = []
        if isinstance(first, faiss.IndexHNSW):
            knobs.append(f"efSearch={int(first.hnsw.efSearch)}")
        if isinstance(first, faiss.IndexIVF):
            knobs.append(f"nprobe={int(first.nprobe)}")
        if refine is not None:
            knobs.append(f"k_factor={refine.k_factor:g}")
        if self.stand_in_for:
            knobs.append(f"(exact, standing in for {self.stand_in_for} until the index holds "
                         f"{self.stand_in_until:,} vectors)")
        return " ".join([self.factory, *knobs])

    @classmethod
    def for_setting(cls, spec: FeatureSpec, factory: str, *,
                    auto_exact_vectors: int = AUTO_EXACT_VECTORS,
                    variants_per_work: int = VARIANTS_PER_WORK,
                    search: SearchParams | None = None) -> DenseIndex:
        """An empty index for a factory setting: the factory itself, or for "auto" an exact
        stand-in for auto_factory(dim) until the index holds `auto_exact_vectors` vectors."""
        if factory != AUTO:
            return cls(spec, factory, variants_per_work=variants_per_work, search=search)
        target = auto_factory(spec.dim)
        if target == "Flat":
            return cls(spec, "Flat", variants_per_work=variants_per_work, search=search)
        return cls(spec, "Flat", variants_per_work=variants_per_work, search=search,
                   stand_in_for=target, stand_in_until=max(1, auto_exact_vectors))

    def exact_stand_in(self, vectors: int) -> DenseIndex:
        """An empty Flat index standing in for this untrainable one: a registry too small to
        train IVF or PQ quantisers (fewer vectors than lists or centroids) is still searched,
        exactly, and the index keeper tries the real factory again once `vectors` has
        doubled."""
        return DenseIndex(self.spec, "Flat", variants_per_work=self.variants_per_work,
                          search=self.search_params,
                          stand_in_for=self.stand_in_for or self.factory, stand_in_at=vectors)

    def sized_for(self, vectors: int) -> DenseIndex:
        """The empty index to fill with this many vectors: an empty stand-in gives way to the
        factory it stands in for once there are `stand_in_until` of them (that factory may
        still fail to train: the keeper then stands in again); any other index is itself."""
        if self.stand_in_for and self.ntotal == 0 and vectors >= self.stand_in_until:
            return DenseIndex(self.spec, self.stand_in_for,
                              variants_per_work=self.variants_per_work,
                              search=self.search_params)
        return self

    @property
    def is_trained(self) -> bool:
        return bool(self._index.is_trained)

    def train(self, vectors: np.ndarray) -> None:
        """Train quantisers (IVF, PQ) on representative vectors; a no-op for Flat/HNSW."""
        if not self.is_trained:
            x = np.ascontiguousarray(vectors, dtype=np.float32)
            try:
                self._index.train(x)
            except RuntimeError as exc:
                reason = str(exc).strip().splitlines()[-1][:200]
                raise IndexTrainingError(
                    f"cannot train the {self.factory!r} index on {len(x)} vectors ({reason}); "
                    "use a factory with fewer lists, or Flat, until the registry is larger"
                ) from None

    def add(self, work_id: int, vectors: np.ndarray) -> None:
        x = np.ascontiguousarray(vectors, dtype=np.float32).reshape(-1, self.spec.dim)
        if not self.is_trained:
            raise IndexTrainingError(
                f"index {self.factory!r} needs training on a bulk set first: run "
                "`ipscreen index rebuild` (or use the Flat factory)")
        ids = vector_ids(work_id, len(x), self.variants_per_work)
        if self._removable:
            self.remove([work_id])
        else:
            # HNSW cannot drop vectors, so a work's ids can be used once per build.
            present = set(faiss.vector_to_array(self._index.id_map).tolist())
            lo = work_id * self.variants_per_work
            if any(lo <= i < lo + self.variants_per_work for i in present):
                raise CannotReplaceError(
                    f"work {work_id} was already in this {self.factory} index, which cannot "
                    "replace vectors: rebuild it")
        self._index.add_with_ids(x, ids)

    def _add_with_ids(self, vectors: np.ndarray, ids: np.ndarray) -> None:
        if not self.is_trained:
            self.train(vectors)
        self._index.add_with_ids(np.ascontiguousarray(vectors, dtype=np.float32), ids)

    def apply(self, changes: Sequence[tuple[int, np.ndarray | None]]) -> None:
        if self._removable:
            super().apply(changes)
            return
        # HNSW / IVF / refine cannot take a work's ids twice: one at a time, so that a replaced work
        # raises CannotReplaceError as add() does
        for work, vectors in changes:
            if vectors is None:
                self.remove([work])
            else:
                self.add(work, vectors)

    def remove(self, work_ids: list[int]) -> int:
        if not work_ids or not self._index.ntotal:
            return 0
        present = faiss.vector_to_array(self._index.id_map)
        if self._removable:
            sel = removal_selector(present, work_ids, self.variants_per_work)
            return int(self._index.remove_ids(sel)) if sel is not None else 0
        # HNSW / IVF / refine: tombstones for the works' vectors, filtered out at search time
        gone = present[np.isin(present // self.variants_per_work,
                               np.asarray(work_ids, dtype=np.int64))]
        new = set(gone.tolist()) - self._tombstones
        self._tombstones.update(new)
        return len(new)

    def search(self, queries: np.ndarray, k: int) -> list[list[WorkHit]]:
        q = np.ascontiguousarray(queries, dtype=np.float32).reshape(-1, self.spec.dim)
        live = self.ntotal
        if live == 0 or len(q) == 0:
            return [[] for _ in range(len(q))]
        sims, ids = self._search(q, min(int(self._index.ntotal), k * 2 + len(self._tombstones)))
        sims = sims.astype(np.float64)
        return [best_per_work(ids[i], sims[i], 1.0 - sims[i], k, self.variants_per_work)
                for i in range(len(q))]

    def _search(self, q: np.ndarray, fetch: int) -> tuple[np.ndarray, np.ndarray]:
        if self._flat and len(q) >= FLAT_GEMM_MIN_QUERIES and \
                self._index.ntotal >= FLAT_GEMM_MIN_VECTORS:
            return self._flat_search(q, fetch)
        sims, ids = self._index.search(q, fetch)
        if self._tombstones:
            dead = np.isin(ids, np.fromiter(self._tombstones, dtype=np.int64))
            ids = np.where(dead, -1, ids)
        return sims, ids

    def _flat_search(self, q: np.ndarray, fetch: int) -> tuple[np.ndarray, np.ndarray]:
        n, d = int(self._index.ntotal), self.spec.dim
        # views of faiss's own arrays, valid while nothing is added (searches never add)
        xb = faiss.rev_swig_ptr(self._inner.get_xb(), n * d).reshape(n, d)
        vid = faiss.rev_swig_ptr(self._index.id_map.data(), n)
        return flat_gemm_search(xb, vid, q, fetch)

    def search_vectors(self, queries: np.ndarray, k: int
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The k nearest vectors of each query, not collapsed per work: arrays (n, k) of work
        id, variant and similarity (work -1 where fewer than k exist). Text screening needs
        every window hit, to align windows in order."""
        q = np.ascontiguousarray(queries, dtype=np.float32).reshape(-1, self.spec.dim)
        if self.ntotal == 0 or len(q) == 0:
            empty = np.full((len(q), 0), -1, dtype=np.int64)
            return empty, empty.copy(), np.zeros((len(q), 0), dtype=np.float32)
        sims, ids = self._search(q, min(int(self._index.ntotal), k + len(self._tombstones)))
        order = np.argsort(-np.where(ids < 0, -np.inf, sims), axis=1, kind="stable")[:, :k]
        ids = np.take_along_axis(ids, order, axis=1)
        sims = np.take_along_axis(sims, order, axis=1)
        works = np.where(ids < 0, -1, ids // self.variants_per_work)
        return works, np.where(ids < 0, -1, ids % self.variants_per_work), sims

    def work_vectors(self, work_id: int, variants: range | tuple[int, ...]) -> np.ndarray:
        """The stored vectors of one work's `variants` (those present and live), as rows.
        Flat, HNSW and refined indexes keep their vectors; an IVF index gets a direct map
        first."""
        first = self._first  # a refine stage reconstructs from its own stored vectors
        if self._refine is None and isinstance(first, faiss.IndexIVF) and \
                first.direct_map.type == 0:  # NoMap
            with self._map_lock:  # screening threads share the index
                if first.direct_map.type == 0:
                    first.make_direct_map()
        out = []
        lo = work_id * self.variants_per_work
        for vid in (lo + v for v in variants):
            if vid in self._tombstones:
                continue
            try:
                out.append(self._index.reconstruct(vid))
            except RuntimeError:
                continue  # no such vector
        if not out:
            return np.zeros((0, self.spec.dim), dtype=np.float32)
        return np.vstack(out).astype(np.float32)

    @property
    def removable(self) -> bool:
        """Whether vectors can be dropped for real (Flat); HNSW, IVF and refined indexes
        take tombstones."""
        return self._removable

    def copy(self) -> DenseIndex:
        """An independent copy (FAISS's clone) with the same tombstones and settings."""
        return DenseIndex(self.spec, self.factory, faiss.clone_index(self._index),
                          set(self._tombstones), self.variants_per_work, self.search_params,
                          self.stand_in_for, self.stand_in_at, self.stand_in_until)

    def vectors_per_work(self) -> dict[int, int]:
        """How many live vectors each work has."""
        ids = faiss.vector_to_array(self._index.id_map)
        if self._tombstones:
            ids = ids[~np.isin(ids, np.fromiter(self._tombstones, dtype=np.int64))]
        works, counts = np.unique(ids // self.variants_per_work, return_counts=True)
        return dict(zip(works.tolist(), counts.tolist(), strict=True))

    def work_ids(self) -> set[int]:
        ids = faiss.vector_to_array(self._index.id_map)
        live = ids[~np.isin(ids, np.fromiter(self._tombstones, dtype=np.int64))]
        return set((live // self.variants_per_work).tolist())

    @property
    def ntotal(self) -> int:
        return int(self._index.ntotal) - len(self._tombstones)

    def build_params(self) -> dict:
        params: dict = {"factory": self.factory, "variants_per_work": self.variants_per_work}
        if self.stand_in_for:
            params.update(stand_in_for=self.stand_in_for, stand_in_at=self.stand_in_at,
                          stand_in_until=self.stand_in_until)
        return params

    def serialize(self) -> bytes:
        body = faiss.serialize_index(self._index).tobytes()
        tomb = np.array(sorted(self._tombstones), dtype="<i8").tobytes()
        return struct.pack("<Q", len(body)) + body + tomb

    @classmethod
    def deserialize(cls, spec: FeatureSpec, data: bytes, params: dict) -> DenseIndex:
        if len(data) < 8:
            raise ValueError("dense index data shorter than its header")
        (n,) = struct.unpack_from("<Q", data, 0)
        if 8 + n > len(data) or (len(data) - 8 - n) % 8:
            raise ValueError("dense index data has an inconsistent length")
        index = faiss.deserialize_index(np.frombuffer(data, dtype=np.uint8, count=n, offset=8))
        if index.d != spec.dim:
            raise ValueError(f"stored index has dimension {index.d}, feature has {spec.dim}")
        tomb = np.frombuffer(data, dtype="<i8", offset=8 + n)
        return cls(spec, params.get("factory", "Flat"), index, set(tomb.tolist()),
                   int(params.get("variants_per_work", VARIANTS_PER_WORK)),
                   stand_in_for=params.get("stand_in_for"),
                   stand_in_at=int(params.get("stand_in_at", 0)),
                   stand_in_until=int(params.get("stand_in_until", 0)))
