"""The approximate indexes' search breadth comes from settings, for images and text alike."""

from __future__ import annotations

import faiss
import numpy as np
import pytest

from indexes.dense import DenseIndex
from indexes.factories import SearchParams
from indexes.store import IndexStore
from models.base import FeatureSpec
from screening.service import Workspace
from screening.settings import Settings

DENSE = FeatureSpec("testvec", "1", "dense", 32)


def _unit(rng: np.random.Generator, n: int) -> np.ndarray:
    v = rng.normal(size=(n, 32)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def _inner(index: DenseIndex):  # type: ignore[no-untyped-def]
    index = getattr(index, "base", index)  # loaded dense indexes are layered over a base
    return faiss.downcast_index(index._index.index)


def test_search_breadth_reaches_new_and_loaded_indexes(tmp_path):
    settings = Settings(data_dir=tmp_path / "data", dense_factory="HNSW32",
                        text_window_factory="IVF8,Flat", hnsw_ef_search=40, ivf_nprobe=3,
                        refine_k_factor=5)
    ws = Workspace(settings, create=True, progress=False)
    try:
        assert ws.images.search == ws.texts.indexes.search == SearchParams(40, 3, 5)
        rng = np.random.default_rng(0)
        store = IndexStore(tmp_path / "other")
        for factory in ("HNSW32", "IVF8,Flat", "PQ8x4fs,RFlat", "IVF8,PQ8x4fs,RFlat"):
            # saved by a process with FAISS's or other breadths: the loader's settings win
            index = DenseIndex(DENSE, factory, search=SearchParams(7, 1))
            index.train(_unit(rng, 400))
            index.add_new(list(range(20)), [_unit(rng, 2) for _ in range(20)])
            name = factory.replace(",", "_")
            store.save(name, index, revision=1)
            loaded = store.load(name, DENSE)
            assert loaded is not None
            for indexes in (ws.images, ws.texts.indexes):
                got = indexes._loaded(loaded.index)
                assert isinstance(got, DenseIndex)
                inner = _inner(got)
                if factory.endswith("RFlat"):
                    assert inner.k_factor == 5
                    if factory.startswith("IVF"):  # and the inverted lists under it
                        assert faiss.extract_index_ivf(inner).nprobe == 3
                elif factory.startswith("HNSW"):
                    assert inner.hnsw.efSearch == 40
                else:
                    assert inner.nprobe == 3
            # and a search with the narrow breadth still answers (results are approximate)
            assert len(loaded.index.search(_unit(rng, 1), 5)[0]) == 5
    finally:
        ws.close()


@pytest.mark.parametrize("field", ["hnsw_ef_search", "ivf_nprobe", "refine_k_factor"])
def test_absurd_search_breadth_is_refused(tmp_path, field: str):
    with pytest.raises(ValueError, match=field):
        Settings(data_dir=tmp_path, **{field: 0})


def test_search_description_names_the_breadth():
    assert DenseIndex(DENSE, "Flat").search_description() == "Flat"
    assert DenseIndex(DENSE, "HNSW32", search=SearchParams(40, 3)).search_description() == \
        "HNSW32 efSearch=40"
    assert DenseIndex(DENSE, "IVF8,Flat", search=SearchParams(40, 3)).search_description() == \
        "IVF8,Flat nprobe=3"
    assert DenseIndex(DENSE, "PQ8x4fs,RFlat", search=SearchParams(40, 3, 5)
                      ).search_description() == "PQ8x4fs,RFlat k_factor=5"
    assert DenseIndex(DENSE, "IVF8,PQ8x4fs,RFlat", search=SearchParams(40, 3, 5)
                      ).search_description() == "IVF8,PQ8x4fs,RFlat nprobe=3 k_factor=5"


def test_results_say_how_the_embedding_indexes_searched(tmp_path):
    """Approximate search can miss what exact search finds, so provenance says which ran."""
    settings = Settings(data_dir=tmp_path / "data", dense_factory="HNSW32",
                        hnsw_ef_search=40)
    ws = Workspace(settings, create=True, progress=False)
    try:
        image = ws.image_screener("fast").versions
        # the copy descriptor's index and the same-character features'
        assert image["search"] == dict.fromkeys(
            ["sscd_distilled_224", "character_trunk", "character_colour"], "HNSW32 efSearch=40")
        cascade = ws.image_screener("cascade").versions
        assert sorted(cascade["search"].values()) == ["HNSW32 efSearch=40"] * 4
        assert "search" not in ws.image_screener("hash").versions  # hashes are exact
        text = ws.texts.screener(paraphrase=True).versions
        assert text["search"] == {"text_windows": "Flat (exact, standing in for PQ64x4fs,RFlat "
                                  "until the index holds 20,000 vectors)"}
    finally:
        ws.close()
