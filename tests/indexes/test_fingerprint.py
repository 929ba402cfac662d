"""The text fingerprint index against brute force, through updates, persistence and damage;
and the dense index's un-collapsed window search against brute force."""

from __future__ import annotations

import numpy as np
import pytest

from indexes.dense import DenseIndex
from indexes.errors import IndexCorruptError
from indexes.fingerprint import PAIR_MAX_POSTINGS, FingerprintIndex
from indexes.ids import TEXT_WINDOWS_PER_WORK
from indexes.store import IndexStore
from models.base import FeatureSpec
from models.text_fingerprint import fingerprint_spec, kgram_hashes, winnow

SPEC = fingerprint_spec(5, 4)


def works(rng: np.random.Generator, n: int) -> dict[int, np.ndarray]:
    # a small vocabulary, so k-grams repeat within and across works as in real text
    return {w: rng.integers(0, 30, size=int(rng.integers(10, 300))).astype(np.uint64)
            for w in range(n)}


def brute_force(ws: dict[int, np.ndarray], query: np.ndarray, cap: int) -> set:
    q = kgram_hashes(query, 5)
    postings: dict[int, list[tuple[int, int]]] = {}
    for w, toks in ws.items():
        kg = kgram_hashes(toks, 5)
        for pos in winnow(kg, 4).tolist():
            postings.setdefault(int(kg[pos]), []).append((w, pos))
    out = set()
    for qpos, h in enumerate(q.tolist()):
        hits = postings.get(h, [])
        if len(hits) <= cap:
            out.update((w, p, qpos) for w, p in hits)
    return out


def seed_set(index: FingerprintIndex, query: np.ndarray) -> set:
    s = index.seeds(query)
    return set(zip(s.work_ids.tolist(), s.work_pos.tolist(), s.query_pos.tolist(), strict=True))


def query_from(rng: np.random.Generator, ws: dict[int, np.ndarray]) -> np.ndarray:
    parts = [rng.integers(0, 30, size=20).astype(np.uint64)]
    for w in rng.choice(list(ws), size=3):
        t = ws[int(w)]
        a = int(rng.integers(0, max(1, len(t) - 12)))
        parts.append(t[a:a + 12])
    return np.concatenate(parts)


@pytest.mark.parametrize("cap", [1000, 3])
def test_seeds_equal_brute_force_through_updates(cap: int):
    rng = np.random.default_rng(7)
    ws = works(rng, 40)
    index = FingerprintIndex(SPEC, max_postings=cap)
    index.add_new(list(ws)[:30], [ws[w] for w in list(ws)[:30]])
    for w in list(ws)[30:]:  # incremental adds land in the delta segment
        index.add(w, ws[w])
    index.remove([3, 17])
    index.add(5, ws[6].copy())  # replace a work's content
    expected_works = {w: t for w, t in ws.items() if w not in (3, 17)}
    expected_works[5] = ws[6]
    assert index.work_ids() == set(expected_works)
    for _ in range(20):
        q = query_from(rng, ws)
        assert seed_set(index, q) == brute_force(expected_works, q, cap)
    index.compact()
    q = query_from(rng, ws)
    assert seed_set(index, q) == brute_force(expected_works, q, cap)


def test_serialize_round_trip_and_store_recovery(tmp_path):
    rng = np.random.default_rng(1)
    ws = works(rng, 20)
    index = FingerprintIndex(SPEC)
    index.add_new(list(ws), list(ws.values()))
    store = IndexStore(tmp_path)
    store.save("text_fingerprint", index, revision=4)
    index.remove([0])
    store.save("text_fingerprint", index, revision=5)
    loaded = store.load("text_fingerprint", SPEC)
    assert loaded is not None and loaded.revision == 5 and not loaded.recovered
    q = query_from(rng, ws)
    assert seed_set(loaded.index, q) == seed_set(index, q)  # type: ignore[arg-type]
    # a damaged current generation falls back to the previous one, which must catch up
    (tmp_path / "text_fingerprint.2.faiss").write_bytes(b"IPFP half-written")
    back = store.load("text_fingerprint", SPEC)
    assert back is not None and back.recovered and back.revision == 4
    assert 0 in back.index.work_ids()


def test_deserialize_rejects_garbage():
    for data in (b"", b"XXXX" + bytes(20), FingerprintIndex(SPEC).serialize()[:-1] + b"\x01"):
        with pytest.raises(ValueError):
            FingerprintIndex.deserialize(SPEC, data, {})


def test_window_search_equals_brute_force():
    rng = np.random.default_rng(2)
    spec = FeatureSpec("win", "1", "dense", 16)
    index = DenseIndex(spec, "Flat", variants_per_work=TEXT_WINDOWS_PER_WORK)
    vecs = {}
    for w in range(12):
        v = rng.normal(size=(int(rng.integers(1, 40)), 16)).astype(np.float32)
        vecs[w] = v / np.linalg.norm(v, axis=1, keepdims=True)
        index.add(w, vecs[w])
    index.remove([4])
    del vecs[4]
    q = rng.normal(size=(5, 16)).astype(np.float32)
    works_, variants, sims = index.search_vectors(q, 10)
    for i in range(len(q)):
        flat = sorted(((float(v @ q[i]), w, j) for w, vv in vecs.items()
                       for j, v in enumerate(vv)), reverse=True)[:10]
        assert [(w, j) for _, w, j in flat] == list(zip(works_[i].tolist(),
                                                        variants[i].tolist(), strict=True))
        np.testing.assert_allclose([s for s, _, _ in flat], sims[i], rtol=1e-5)


def test_store_refuses_other_k(tmp_path):
    store = IndexStore(tmp_path)
    store.save("t", FingerprintIndex(SPEC), revision=1)
    from indexes.errors import IndexCompatibilityError

    with pytest.raises(IndexCompatibilityError):
        store.load("t", fingerprint_spec(6, 4))
    (tmp_path / "t.json").write_text("{not json")
    with pytest.raises(IndexCorruptError):
        store.load("t", SPEC)


def test_short_works_keep_every_kgram_and_their_3grams_through_updates_and_reloads():
    rng = np.random.default_rng(7)
    short = rng.integers(0, 1000, size=9).astype(np.uint64)
    long_ = rng.integers(0, 1000, size=400).astype(np.uint64)
    index = FingerprintIndex(SPEC, all_kgrams_below=64)
    index.add(1, short)
    index.add(2, long_)
    assert index.ntotal == (9 - 5 + 1) + len(winnow(kgram_hashes(long_, 5), 4))
    # one token changed in the middle: no 5-gram survives on either side, 3-grams do
    edited = short.copy()
    edited[4] = 5000
    query = np.concatenate([rng.integers(2000, 3000, size=20).astype(np.uint64), edited])
    assert 1 not in set(index.seeds(query).work_ids.tolist())
    found = index.short_seeds(query)
    assert set(found.work_ids.tolist()) == {1}
    assert set((found.query_pos - found.work_pos).tolist()) == {20}  # one diagonal
    assert 2 not in set(index.short_seeds(long_).work_ids.tolist())  # long works: not here
    again = FingerprintIndex.deserialize(SPEC, index.serialize(), index.build_params())
    assert sorted(again.short_seeds(query).work_ids.tolist()) == sorted(found.work_ids.tolist())
    index.remove([1])
    assert len(index.short_seeds(query)) == 0
    index.add(1, short)  # re-added after removal: found again, once
    assert len(index.short_seeds(short)) == 9 - 3 + 1


def test_the_shortest_works_are_looked_up_by_2grams_through_updates_and_reloads():
    rng = np.random.default_rng(8)
    tiny = rng.integers(0, 1000, size=8).astype(np.uint64)
    short = rng.integers(0, 1000, size=13).astype(np.uint64)  # PAIR_BELOW tokens: 3-grams only
    index = FingerprintIndex(SPEC, all_kgrams_below=64)
    index.add(1, tiny)
    index.add(2, short)
    # three tokens changed (1, 4, 6): no 3-gram of the work is left, the 2-gram (2, 3) is
    edited = tiny.copy()
    edited[[1, 4, 6]] = [5001, 5002, 5003]
    query = np.concatenate([rng.integers(2000, 3000, size=20).astype(np.uint64), edited])
    assert len(index.short_seeds(query)) == 0
    found = index.pair_seeds(query)
    assert found.work_ids.tolist() == [1] and found.work_pos.tolist() == [2]
    assert found.query_pos.tolist() == [22]
    assert 2 not in set(index.pair_seeds(short).work_ids.tolist())
    again = FingerprintIndex.deserialize(SPEC, index.serialize(), index.build_params())
    assert again.pair_seeds(query).work_ids.tolist() == [1]
    index.remove([1])
    assert len(index.pair_seeds(query)) == 0
    index.add(1, tiny)
    assert len(index.pair_seeds(tiny)) == 8 - 2 + 1
    # a 2-gram in more than PAIR_MAX_POSTINGS works seeds nothing
    for w in range(10, 10 + PAIR_MAX_POSTINGS + 1):
        index.add(w, np.concatenate([tiny[2:4], rng.integers(6000, 7000, size=6)]).astype(
            np.uint64))
    assert len(index.pair_seeds(query)) == 0
