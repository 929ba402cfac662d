"""One contract, every index implementation: brute-force equality, removal, persistence,
recovery from a half-written file, and refusal of an incompatible index."""

from __future__ import annotations

import json

import numpy as np
import pytest

from indexes.base import FeatureIndex
from indexes.binary import BinaryHashIndex
from indexes.dense import DenseIndex
from indexes.errors import IndexCompatibilityError, IndexCorruptError
from indexes.store import IndexStore
from models.base import FeatureSpec

BIN = FeatureSpec("testhash", "1", "binary", 64)
DENSE = FeatureSpec("testvec", "1", "dense", 32)


#: A refined product-quantised index: 4-bit codes scanned, the best re-ranked exactly.
REFINED = "PQ8x4fs,RFlat"
#: The same codes in inverted lists (every list visited here: nprobe is clamped to nlist).
IVF_REFINED = "IVF4,PQ8x4fs,RFlat"


def make(kind: str) -> FeatureIndex:
    if kind == "binary":
        return BinaryHashIndex(BIN)
    index = DenseIndex(DENSE, kind)
    if not index.is_trained:  # quantisers learn from unrelated vectors of the same kind
        index.train(data(kind, np.random.default_rng(99), 512))
    return index


def data(kind: str, rng: np.random.Generator, n: int) -> np.ndarray:
    if kind == "binary":
        return rng.integers(0, 256, (n, 8), dtype=np.uint8)
    v = rng.normal(size=(n, 32)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def brute_force(kind: str, vectors: dict[int, np.ndarray], q: np.ndarray, k: int):
    """Best score per work by exhaustive comparison, top k works."""
    best = {}
    for work, vecs in vectors.items():
        if kind == "binary":
            d = np.unpackbits(np.bitwise_xor(vecs, q[None, :]), axis=1).sum(axis=1)
            best[work] = 1.0 - d.min() / 64
        else:
            best[work] = float((vecs @ q).max())
    return sorted(best.items(), key=lambda kv: -kv[1])[:k]


KINDS = ["binary", "Flat", "HNSW32", REFINED, IVF_REFINED]


@pytest.mark.parametrize("kind", KINDS)
def test_search_equals_brute_force(kind: str):
    rng = np.random.default_rng(42)
    index = make(kind)
    vectors = {w: data(kind, rng, int(rng.integers(1, 9))) for w in range(60)}
    for w, v in vectors.items():
        index.add(w, v)
    queries = data(kind, rng, 10)
    for q, hits in zip(queries, index.search(queries, 5), strict=True):
        expected = brute_force(kind, vectors, q, 5)
        got_scores = [h.score for h in hits]
        assert np.allclose(got_scores, [s for _, s in expected], atol=1e-5)
        # ties can reorder works with equal scores; every hit must be a correct score
        for h in hits:
            assert h.score == pytest.approx(brute_force(kind, {h.work_id: vectors[h.work_id]},
                                                        q, 1)[0][1], abs=1e-5)


@pytest.mark.parametrize("kind", KINDS)
def test_remove_and_exact_match(kind: str):
    rng = np.random.default_rng(1)
    index = make(kind)
    vecs = data(kind, rng, 20)
    for w in range(20):
        index.add(w, vecs[w:w + 1])
    assert index.search(vecs[3:4], 1)[0][0].work_id == 3
    assert index.remove([3]) == 1
    assert 3 not in index.work_ids() and index.ntotal == 19
    assert all(h.work_id != 3 for h in index.search(vecs[3:4], 19)[0])
    assert index.remove([999]) == 0


@pytest.mark.parametrize("kind", ["binary", "Flat"])
def test_add_twice_replaces(kind: str):
    rng = np.random.default_rng(2)
    index = make(kind)
    index.add(7, data(kind, rng, 4))
    index.add(7, data(kind, rng, 2))
    assert index.ntotal == 2 and index.work_ids() == {7}


@pytest.mark.parametrize("kind", KINDS)
def test_save_load_round_trip(kind: str, tmp_path):
    rng = np.random.default_rng(3)
    index = make(kind)
    for w in range(30):
        index.add(w, data(kind, rng, 2))
    index.remove([5])
    store = IndexStore(tmp_path)
    store.save("idx", index, revision=12)
    spec = BIN if kind == "binary" else DENSE
    loaded = store.load("idx", spec)
    assert loaded is not None and loaded.revision == 12 and not loaded.recovered
    q = data(kind, rng, 5)
    assert [[(h.work_id, round(h.score, 5)) for h in hs] for hs in index.search(q, 4)] == \
        [[(h.work_id, round(h.score, 5)) for h in hs] for hs in loaded.index.search(q, 4)]
    assert loaded.index.work_ids() == index.work_ids()
    side = json.loads((tmp_path / "idx.json").read_text())
    assert side["feature"]["name"] == spec.name and side["count"] == index.ntotal


def test_half_written_file_falls_back_to_last_good(tmp_path):
    rng = np.random.default_rng(4)
    store = IndexStore(tmp_path)
    index = make("Flat")
    index.add(1, data("Flat", rng, 1))
    store.save("idx", index, revision=1)
    index.add(2, data("Flat", rng, 1))
    store.save("idx", index, revision=2)
    current = tmp_path / "idx.2.faiss"
    current.write_bytes(current.read_bytes()[: current.stat().st_size // 2])
    loaded = store.load("idx", DENSE)
    assert loaded is not None and loaded.recovered and loaded.revision == 1
    assert loaded.index.work_ids() == {1}
    (tmp_path / "idx.1.faiss").write_bytes(b"garbage")
    with pytest.raises(IndexCorruptError, match="no intact generation"):
        store.load("idx", DENSE)


def test_incompatible_feature_is_refused(tmp_path):
    store = IndexStore(tmp_path)
    store.save("idx", make("Flat"), revision=0)
    other = FeatureSpec("testvec", "2", "dense", 32)
    with pytest.raises(IndexCompatibilityError, match="ipscreen index rebuild"):
        store.load("idx", other)


def test_unreadable_sidecar_is_a_clear_error(tmp_path):
    (tmp_path / "idx.json").write_text("{not json")
    with pytest.raises(IndexCorruptError, match="unreadable"):
        IndexStore(tmp_path).load("idx", DENSE)


def test_old_generations_are_pruned(tmp_path):
    store = IndexStore(tmp_path)
    index = make("binary")
    for rev in range(5):
        store.save("idx", index, revision=rev)
    assert sorted(p.name for p in tmp_path.glob("idx.*.faiss")) == ["idx.4.faiss",
                                                                     "idx.5.faiss"]


def test_bad_factory_string():
    with pytest.raises(ValueError, match="invalid FAISS factory"):
        DenseIndex(DENSE, "NotAnIndex")


@pytest.mark.parametrize("kind", KINDS)
def test_bulk_add_equals_one_by_one(kind: str):
    rng = np.random.default_rng(5)
    vectors = [data(kind, rng, 3) for _ in range(25)]
    a, b = make(kind), make(kind)
    for w, v in enumerate(vectors):
        a.add(w, v)
    b.add_new(list(range(25)), vectors)
    q = data(kind, rng, 4)
    assert [[h.work_id for h in hs] for hs in a.search(q, 5)] == \
        [[h.work_id for h in hs] for hs in b.search(q, 5)]


@pytest.mark.parametrize("factory", ["Flat", "HNSW32", "IVF4,Flat", REFINED])
def test_dense_work_vectors_are_the_stored_ones(factory: str):
    """Window refinement compares new boxes with a work's own stored vectors."""
    rng = np.random.default_rng(5)
    index = DenseIndex(DENSE, factory)
    vectors = {w: data("Flat", rng, 4) for w in range(50)}
    if not index.is_trained:
        index.train(np.vstack(list(vectors.values())))
    for w, v in vectors.items():
        index.add(w, v)
    got = index.work_vectors(7, (0, 1, 9))  # variant 9 was never added
    assert got.shape == (2, 32) and np.allclose(got, vectors[7][:2], atol=1e-5)
    index.remove([7])
    assert index.work_vectors(7, (0, 1)).shape == (0, 32)
    # removal still works after the IVF index gained its direct map (IVF and HNSW keep
    # tombstones: a removed IVF vector renumbered the others under the id map and faiss
    # aborted the process)
    assert index.remove([8]) >= 1 and index.work_vectors(8, (0,)).shape == (0, 32)
    assert np.allclose(index.work_vectors(9, (0,)), vectors[9][:1], atol=1e-5)
    assert 8 not in index.work_ids() and all(h.work_id != 8 for h in
                                              index.search(vectors[8], 50)[0])
    new = data("Flat", rng, 3)  # a new work after the IVF index gained its direct map
    index.add(60, new)
    assert np.allclose(index.work_vectors(60, (0, 1, 2)), new, atol=1e-5)
    assert index.search(new[:1], 1)[0][0].work_id == 60
    if factory == "Flat":  # the others cannot take a work's ids twice before a rebuild
        index.add(7, vectors[7][:1])
        assert np.allclose(index.work_vectors(7, (0, 1)), vectors[7][:1], atol=1e-5)


@pytest.mark.parametrize(("block", "threads"), [(7, 2), (65_536, 1), (65_536, 3)])
def test_flat_batch_search_matches_faiss_own_search(block: int, threads: int, monkeypatch):
    import indexes.dense as dense
    import indexes.flat_gemm as flat_gemm

    monkeypatch.setattr(flat_gemm, "FLAT_GEMM_BLOCK", block)
    monkeypatch.setattr(flat_gemm, "FLAT_SEARCH_THREADS", threads)  # parts side by side
    monkeypatch.setattr(dense, "FLAT_GEMM_MIN_VECTORS", 0)  # search() takes this path too
    rng = np.random.default_rng(5)
    index = DenseIndex(DENSE, "Flat")
    for w in range(40):
        index.add(w, data("Flat", rng, int(rng.integers(1, 9))))
    index.remove([3, 17])
    q = data("Flat", rng, dense.FLAT_GEMM_MIN_QUERIES + 3)
    for fetch in (1, 10, 500):  # 500: more than the index holds
        sims, ids = index._flat_search(q, fetch)
        ref_s, ref_i = index._index.search(q, min(fetch, index.ntotal))
        assert sims.shape == ref_s.shape
        np.testing.assert_allclose(sims, ref_s, atol=1e-5)
        # the same vectors, whatever the order of exact ties
        assert [set(r) for r in ids.tolist()] == [set(r) for r in ref_i.tolist()]
    hits = index.search(q, 40)
    assert not any(h.work_id in (3, 17) for row in hits for h in row)
    # numpy's BLAS is held to one thread (the parts have threads of their own); faiss's
    # library is left alone
    from threadpoolctl import threadpool_info
    blas = {i["filepath"]: i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"}
    assert [n for f, n in blas.items() if "numpy" in f] == [1]
    monkeypatch.setattr(dense, "FLAT_GEMM_MIN_VECTORS", 10**9)  # faiss's own search
    assert [[(h.work_id, round(h.score, 5)) for h in row] for row in hits] == \
        [[(h.work_id, round(h.score, 5)) for h in row] for row in index.search(q, 40)]


def test_approximate_indexes_search_wide_enough(tmp_path):
    """FAISS's defaults (HNSW efSearch 16, IVF nprobe 1) miss most moderately similar
    neighbours; the index sets wider searches, and keeps them after a save and load."""
    import faiss

    import indexes.factories as factories

    rng = np.random.default_rng(3)
    for factory in ("HNSW32", "IVF8,Flat", REFINED, "IVF8," + REFINED):
        index = DenseIndex(DENSE, factory)
        index.train(data("Flat", rng, 400))
        for w in range(50):
            index.add(w, data("Flat", rng, 4))
        store = IndexStore(tmp_path / factory.replace(",", "_"))
        store.save("t", index, revision=1)
        loaded = store.load("t", DENSE).index
        for idx in (index, loaded):
            idx = getattr(idx, "base", idx)  # a loaded dense index is layered over its base
            inner = faiss.downcast_index(idx._index.index)  # type: ignore[attr-defined]
            if "RFlat" in factory:  # FAISS's factory leaves k_factor at 1: no re-ranking
                assert inner.k_factor == factories.REFINE_K_FACTOR
                assert idx.search_description() == (  # type: ignore[attr-defined]
                    f"{factory} {'nprobe=8 ' if 'IVF' in factory else ''}"
                    f"k_factor={factories.REFINE_K_FACTOR}")
                inner = faiss.downcast_index(inner.base_index)
            if factory.startswith("HNSW"):
                assert inner.hnsw.efSearch == factories.HNSW_EF_SEARCH
            elif "IVF" in factory:
                assert inner.nprobe == 8  # every list, as there are fewer than IVF_NPROBE


@pytest.mark.parametrize("kind", ["binary", "Flat"])
def test_apply_leaves_each_work_in_its_last_state(kind: str):
    """apply() removes every touched work once and adds the final vectors: a work changed
    twice ends with its last vectors, a work added then removed is gone, absent works are
    ignored."""
    rng = np.random.default_rng(9)
    index = make(kind)
    for w in range(10):
        index.add(w, data(kind, rng, 2))
    last = data(kind, rng, 3)
    index.apply([(2, data(kind, rng, 1)), (20, data(kind, rng, 2)), (2, last), (20, None),
                 (4, None), (99, None), (21, data(kind, rng, 1))])
    assert index.work_ids() == (set(range(10)) - {4}) | {2, 21}
    assert index.ntotal == 8 * 2 + 3 + 1
    best = index.search(last[:1], 1)[0][0]
    assert best.work_id == 2 and best.score == pytest.approx(1.0)


def test_auto_is_exact_until_its_bound_then_refined_pq(tmp_path):
    """The "auto" setting: an exact stand-in that says what it stands in for and until
    when, keeps both across a save and load, and gives way to refined PQ at the bound."""
    from indexes.factories import AUTO, auto_factory

    assert auto_factory(512) == "PQ64x4fs,RFlat" and auto_factory(384) == "PQ48x4fs,RFlat"
    assert auto_factory(30) == "Flat"  # no whole 8-dimension sub-quantisers
    target = "PQ4x4fs,RFlat"  # DENSE is 32-d
    rng = np.random.default_rng(5)
    auto = DenseIndex.for_setting(DENSE, AUTO, auto_exact_vectors=40)
    assert (auto.factory, auto.stand_in_for, auto.stand_in_until) == ("Flat", target, 40)
    assert auto.search_description() == \
        f"Flat (exact, standing in for {target} until the index holds 40 vectors)"
    assert auto.sized_for(39) is auto  # below the bound it stays exact
    big = auto.sized_for(40)
    assert big.factory == target and big.stand_in_for is None
    vectors = {w: data("Flat", rng, 2) for w in range(19)}
    for w, v in vectors.items():
        auto.add(w, v)
    store = IndexStore(tmp_path)
    store.save("auto", auto, revision=3)
    loaded = store.load("auto", DENSE)
    assert loaded is not None
    params = loaded.index.build_params()  # type: ignore[attr-defined]
    assert params == {"factory": "Flat", "variants_per_work": auto.variants_per_work,
                      "stand_in_for": target, "stand_in_at": 0, "stand_in_until": 40}
    q = data("Flat", rng, 3)
    for hs, q1 in zip(loaded.index.search(q, 5), q, strict=True):  # still exact
        assert [(h.work_id, round(h.score, 5)) for h in hs] == \
            [(w, round(s, 5)) for w, s in brute_force("Flat", vectors, q1, 5)]
    # a non-empty index is never swapped for an empty one; other settings pass through
    assert auto.sized_for(10_000) is auto
    assert DenseIndex.for_setting(DENSE, "HNSW32").stand_in_for is None
    assert DenseIndex.for_setting(FeatureSpec("odd", "1", "dense", 30), AUTO).factory == "Flat"
