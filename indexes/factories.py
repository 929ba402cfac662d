"""FAISS factory strings: what each approximate factory is searched with, what the setting
"auto" builds, and making an index from a string with a clear error."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import faiss

from indexes.errors import IndexConfigError

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


def faiss_layers(index: Any) -> tuple[Any, Any | None]:
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
