"""How several vectors of one work share the int64 id space of a FAISS index.

An image work contributes up to 16 vectors (8 dihedral hashes, a mirrored descriptor, ...).
Vector id = work_id * 16 + variant, so removing a work is one id range, and a hit maps back to
its work with a shift; 2**59 work ids remain, far beyond any registry. A text work has one
vector per sentence window, so text indexes use TEXT_WINDOWS_PER_WORK (2**20 windows, about
25 million words per work) and leave 2**43 work ids.
"""

from __future__ import annotations

import numpy as np

VARIANTS_PER_WORK = 16
TEXT_WINDOWS_PER_WORK = 1 << 20


def vector_ids(work_id: int, n_variants: int, per_work: int = VARIANTS_PER_WORK) -> np.ndarray:
    """The ids of a work's first n_variants vectors."""
    if not 0 < n_variants <= per_work:
        raise ValueError(f"a work has 1..{per_work} vectors, got {n_variants}")
    if work_id < 0:
        raise ValueError(f"work ids are non-negative, got {work_id}")
    return np.arange(n_variants, dtype=np.int64) + work_id * per_work


def work_of(ids: np.ndarray, per_work: int = VARIANTS_PER_WORK) -> np.ndarray:
    """Work id of each vector id (-1 stays -1: FAISS's 'no result')."""
    ids = np.asarray(ids, dtype=np.int64)
    return np.where(ids < 0, -1, ids // per_work)
