"""Exact search of a Flat index by matrix products, for batches of queries.

FAISS's blocked search is memory-bound per query; a screened image's 42 views searched at
once are a matrix product, which numpy does 3-4x faster on 2 cores. Used by DenseIndex for
Flat indexes (see FLAT_GEMM_MIN_QUERIES) over views of FAISS's own arrays.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np

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


def flat_gemm_search(xb: np.ndarray, vid: np.ndarray, q: np.ndarray, fetch: int
                     ) -> tuple[np.ndarray, np.ndarray]:
    """The best `fetch` of database vectors `xb` (ids `vid`) for each query in `q`, by inner
    product, best first (ties by id): a block of the database at a time, each block's best
    kept. Same results as faiss's own search."""
    n = len(xb)
    fetch = min(fetch, n)
    parts = max(FLAT_SEARCH_THREADS, -(-n // FLAT_GEMM_BLOCK))
    bounds = [(n * j // parts, n * (j + 1) // parts) for j in range(parts)]

    def block(lo: int, hi: int) -> tuple[np.ndarray, np.ndarray]:
        s = q @ xb[lo:hi].T
        kk = min(fetch, s.shape[1])
        part = np.argpartition(-s, kk - 1, axis=1)[:, :kk]
        return np.take_along_axis(s, part, axis=1), vid[lo + part]

    _one_blas_thread()
    found = [block(0, n)] if parts == 1 else \
        list(_search_pool().map(lambda b: block(*b), bounds))
    s, i = np.hstack([f[0] for f in found]), np.hstack([f[1] for f in found])
    # best first; ties by vector id, so the order never depends on the blocks
    order = np.lexsort((i, -s), axis=1)[:, :fetch] if s.shape[1] > 1 else \
        np.zeros((len(q), s.shape[1]), dtype=np.int64)
    return (np.take_along_axis(s, order, axis=1).astype(np.float32),
            np.take_along_axis(i, order, axis=1))
