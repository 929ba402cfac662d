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

import os
import struct
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import faiss
import numpy as np

from indexes.base import FeatureIndex, WorkHit, best_per_work, removal_selector
from indexes.errors import CannotReplaceError, IndexConfigError, IndexTrainingError
from indexes.ids import VARIANTS_PER_WORK, vector_ids
from models.base import FeatureSpec

#: A Flat index of at least FLAT_GEMM_MIN_VECTORS searched with at least
#: FLAT_GEMM_MIN_QUERIES queries at once (a screened image's windows) is searched by numpy
#: matrix products instead of faiss's blocked search: 42 queries over 90,000 vectors took 40
#: ms (60 on one BLAS thread, 39 in parts on two threads, see FLAT_SEARCH_THREADS) instead
#: of 135 ms on 2 cores, over 900,000 378 (587) instead of 1,277 ms, same neighbours. One query
#: is memory-bound either way and stays with faiss; so do indexes under ~4,000 vectors, where
#: faiss is as fast (42 queries over 2,000 vectors: 2.8 vs 3.4 ms; over 9,000: 11.7 vs 8.6;
#: over 27,000: 52 vs 21). (This bound was 32,768 while the numpy path ran on a BLAS thread
#: per core, whose spinning slowed text screening on a 1,600-window index; on one thread it
#: no longer does: p50 88 vs 95 ms with faiss.)
FLAT_GEMM_MIN_QUERIES = 4
FLAT_GEMM_MIN_VECTORS = 4_096
#: Database vectors per matrix product (bounds the temporary score matrix).
FLAT_GEMM_BLOCK = 65_536
#: Threads that search parts of the database side by side, each with one BLAS thread (numpy
#: lets go of the GIL in the product and the partition); unlike BLAS's own threads they do
#: not spin afterwards. Accurate profile at 10k works (90,000 vectors), 2 cores: search 71 ms
#: per image on one thread, 39 on two (with onnxruntime's spinning off, see models/sscd.py).
FLAT_SEARCH_THREADS = max(1, min(4, len(os.sched_getaffinity(0))
                                 if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1))
#: HNSW candidate list size at search time. FAISS's default (16) is tuned for nearest
#: neighbours that stand out; a copy's window or a paraphrased sentence is only moderately
#: similar (cosine 0.5-0.7) in a registry of unrelated vectors. Over 90,000 random 512-d
#: vectors, a planted neighbour at cosine 0.7 was found by HNSW32 37% of the time with 16,
#: 91% with 128, 99% with 256 (at cosine 0.5: 14%, 69%, 85%), for ~1 ms a query at 256.
HNSW_EF_SEARCH = 256
#: IVF lists visited per query (FAISS's default is 1). Same test, "IVF1024,Flat": at cosine
#: 0.7 found 45% with 1, 86% with 16, 99.6% with 128; at cosine 0.5 15%, 49%, 87%; ~0.6 ms
#: a query at 128.
IVF_NPROBE = 128
#: Candidates re-ranked exactly per result by a refined index ("PQ64x4fs,RFlat": a scan of
#: 4-bit product-quantised codes, then exact inner products with the stored vectors for the
#: best k x this many; FAISS's factory default is 1, no re-ranking at all). See the README's
#: index tables for what it finds and costs against exact search.
REFINE_K_FACTOR = 32
#: The factory setting "auto" (the default for DENSE_FACTORY and TEXT_WINDOW_FACTORY): an
#: index is searched exactly (Flat) while it holds fewer than AUTO_EXACT_VECTORS vectors and
#: is rebuilt as refined 4-bit PQ with one quantiser per 8 dimensions (auto_factory:
#: "PQ64x4fs,RFlat" for SSCD's 512, "PQ48x4fs,RFlat" for MiniLM's 384) when it reaches
#: them. Below the bound exact search costs little (42 views of an image over 26,368 real
#: descriptors: 11.9 ms); above it, Flat's time grows with the registry (68 ms per image at
#: 9,306 works, 527 at 100,000) where refined PQ's grows a tenth as fast (14 -> 44 ms) and
#: found every copy exact search found, at its exact similarity (README's index tables).
AUTO = "auto"
AUTO_EXACT_VECTORS = 20_000


def auto_factory(dim: int) -> str:
    """What "auto" builds once an index is large: refined 4-bit PQ, a quantiser per 8
    dimensions (Flat for a dimension that 8 does not divide)."""
    return f"PQ{dim // 8}x4fs,RFlat" if dim >= 8 and dim % 8 == 0 else "Flat"


@dataclass(frozen=True)
class SearchParams:
    """Search-time knobs of the approximate factories (settings `hnsw_ef_search`,
    `ivf_nprobe`): not stored with an index, applied whenever one is made or loaded. Flat
    ignores them. Larger is slower and finds more of the moderately similar neighbours."""

    hnsw_ef_search: int = HNSW_EF_SEARCH
    ivf_nprobe: int = IVF_NPROBE
    refine_k_factor: float = REFINE_K_FACTOR


def _layers(index: Any) -> tuple[Any, Any | None]:
    """(the index that does the first search, the refining index over it or None), looking
    through a pre-transform (PCA, OPQ) and a refine stage ("...,RFlat", "...,Refine(SQ8)")."""
    refine = None
    while True:
        if isinstance(index, faiss.IndexPreTransform):
            index = faiss.downcast_index(index.index)
        elif isinstance(index, faiss.IndexRefine):
            refine = index
            index = faiss.downcast_index(index.base_index)
        else:
            return index, refine


def faiss_index(dim: int, factory: str) -> Any:
    """The inner-product FAISS index a factory string describes, or IndexConfigError with
    FAISS's reason (its message ends in it, after the C++ location)."""
    try:
        return faiss.index_factory(dim, factory, faiss.METRIC_INNER_PRODUCT)
    except RuntimeError as exc:
        reason = " ".join(str(exc).split()).rsplit(": ", 1)[-1][:200]
        raise IndexConfigError(f"invalid FAISS factory string {factory!r} for {dim}-d "
                               f"vectors: {reason}") from None


_blas_held = False
_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _search_pool() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(FLAT_SEARCH_THREADS, thread_name_prefix="flat-search")
        return _pool


def _one_blas_thread() -> None:
    """Hold numpy's BLAS to one thread, once, for the rest of the process: the search runs
    its parts on threads of its own (FLAT_SEARCH_THREADS). With BLAS's default (a thread per
    core) its idle threads keep spinning after each product and slow the models that run
    next on the same cores: the accurate profile at 10k works (Flat) ran at 3.2 images/s with
    two BLAS threads and about 4.2 with one. Set once rather than around each search, since
    concurrent searches (the service's request threads) would restore each other's limits
    half-way. Only numpy's own BLAS: the models' libraries keep their threads."""
    global _blas_held
    if _blas_held:  # every search calls this: no lock once it is done
        return
    with _pool_lock:
        if _blas_held:
            return
        from threadpoolctl import ThreadpoolController

        controller = ThreadpoolController()
        mine = [c for c in controller.lib_controllers
                if c.user_api == "blas" and "numpy" in c.filepath]
        if mine:
            for c in mine:
                c.set_num_threads(1)
        else:  # numpy linked to a system BLAS: hold every BLAS library
            controller.limit(limits=1, user_api="blas")
        _blas_held = True


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
        self._first, self._refine = _layers(inner)
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
        """Exact search of a Flat index by matrix products over its stored vectors (a view,
        not a copy), a block of the database at a time, keeping each block's best `fetch`.
        Same results as faiss's own search, 3-4x faster for a batch of queries on 2 cores
        (see FLAT_GEMM_MIN_QUERIES)."""
        n, d = int(self._index.ntotal), self.spec.dim
        # views of faiss's own arrays, valid while nothing is added (searches never add)
        xb = faiss.rev_swig_ptr(self._inner.get_xb(), n * d).reshape(n, d)
        vid = faiss.rev_swig_ptr(self._index.id_map.data(), n)
        fetch = min(fetch, n)
        parts = max(FLAT_SEARCH_THREADS, -(-n // FLAT_GEMM_BLOCK))
        bounds = [(n * j // parts, n * (j + 1) // parts) for j in range(parts)]

        def block(lo: int, hi: int) -> tuple[np.ndarray, np.ndarray]:
            s = q @ xb[lo:hi].T
            kk = min(fetch, s.shape[1])
            part = np.argpartition(-s, kk - 1, axis=1)[:, :kk]
            return np.take_along_axis(s, part, axis=1), vid[lo + part]

        _one_blas_thread()
        if parts == 1:
            found = [block(0, n)]
        else:
            found = list(_search_pool().map(lambda b: block(*b), bounds))
        s, i = np.hstack([f[0] for f in found]), np.hstack([f[1] for f in found])
        # best first; ties by vector id, so the order never depends on the blocks
        order = np.lexsort((i, -s), axis=1)[:, :fetch] if s.shape[1] > 1 else \
            np.zeros((len(q), s.shape[1]), dtype=np.int64)
        return (np.take_along_axis(s, order, axis=1).astype(np.float32),
                np.take_along_axis(i, order, axis=1))

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
