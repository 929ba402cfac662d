"""A layered dense index answers as one index with the same content, never changes its
base, and folds back into a plain index."""

from __future__ import annotations

import numpy as np
import pytest

from indexes.dense import DenseIndex
from indexes.errors import CannotReplaceError
from indexes.layered import LayeredDenseIndex
from models.base import FeatureSpec

SPEC = FeatureSpec("testvec", "1", "dense", 32)


def unit(rng: np.random.Generator, n: int) -> np.ndarray:
    v = rng.normal(size=(n, 32)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def brute(content: dict[int, np.ndarray], q: np.ndarray, k: int) -> list[tuple[int, float]]:
    best = sorted(((w, float((v @ q).max())) for w, v in content.items()),
                  key=lambda kv: (-kv[1], kv[0]))
    return best[:k]


def scenario(factory: str, seed: int = 0):  # type: ignore[no-untyped-def]
    """A base of 40 works, then changes through the layered index: new works, replaced
    base works, withdrawn base works, a new work withdrawn again. Returns the base, the
    layered index and the content it should now hold."""
    rng = np.random.default_rng(seed)
    content = {w: unit(rng, int(rng.integers(1, 9))) for w in range(40)}
    base = DenseIndex(SPEC, factory)
    base.add_new(list(content), list(content.values()))
    layered = LayeredDenseIndex(base)
    for w in range(40, 50):  # new
        content[w] = unit(rng, int(rng.integers(1, 9)))
        layered.add(w, content[w])
    for w in (3, 7, 11):  # replaced
        content[w] = unit(rng, 2)
        layered.add(w, content[w])
    for w in (5, 7, 44):  # withdrawn: a base work, a replaced one, a new one
        layered.remove([w])
        del content[w]
    return base, layered, content, rng


@pytest.mark.parametrize("factory", ["Flat", "HNSW32"])
def test_layered_search_equals_brute_force_and_base_is_untouched(factory: str):
    rng0 = np.random.default_rng(0)
    base, layered, content, rng = scenario(factory)
    assert base.ntotal == sum(len(unit(rng0, int(rng0.integers(1, 9)))) for _ in range(40))
    assert base.work_ids() == set(range(40))
    assert layered.work_ids() == set(content)
    assert layered.ntotal == sum(len(v) for v in content.values())
    assert layered.vectors_per_work() == {w: len(v) for w, v in content.items()}
    queries = np.vstack([content[3][:1], content[45][:1], content[0][:1], unit(rng, 5)])
    for q, hits in zip(queries, layered.search(queries, 6), strict=True):
        expected = brute(content, q, 6)
        assert [h.work_id for h in hits] == [w for w, _ in expected]
        assert np.allclose([h.score for h in hits], [s for _, s in expected], atol=1e-5)
    # withdrawn works are gone everywhere; a replaced work answers with its new vectors
    for w in (5, 7, 44):
        assert len(layered.work_vectors(w, range(16))) == 0
    assert np.allclose(layered.work_vectors(3, range(16)), content[3])
    assert np.allclose(layered.work_vectors(0, range(16)), content[0])


def test_layered_search_vectors_equals_brute_force():
    _, layered, content, rng = scenario("Flat", seed=1)
    rows = [(w, i, v) for w, vs in content.items() for i, v in enumerate(vs)]
    matrix = np.vstack([v for _, _, v in rows])
    queries = unit(rng, 4)
    works, variants, sims = layered.search_vectors(queries, 12)
    assert works.shape == (4, 12)
    for qi, q in enumerate(queries):
        order = np.argsort(-(matrix @ q), kind="stable")[:12]
        assert [(rows[j][0], rows[j][1]) for j in order] == \
            list(zip(works[qi].tolist(), variants[qi].tolist(), strict=True))
        assert np.allclose(sims[qi], (matrix @ q)[order], atol=1e-5)


def test_merged_folds_the_layers_into_one_plain_index():
    base, layered, content, rng = scenario("Flat", seed=2)
    merged = layered.merged()
    assert type(merged) is DenseIndex and merged.factory == "Flat"
    assert merged.work_ids() == set(content) and base.work_ids() == set(range(40))
    q = unit(rng, 6)
    assert [[(h.work_id, round(h.score, 5)) for h in hs] for hs in merged.search(q, 5)] == \
        [[(h.work_id, round(h.score, 5)) for h in hs] for hs in layered.search(q, 5)]
    again = DenseIndex.deserialize(SPEC, layered.serialize(), layered.build_params())
    assert again.work_ids() == set(content)


def test_an_hnsw_base_takes_new_works_but_a_replaced_one_needs_a_rebuild():
    rng = np.random.default_rng(3)
    base = DenseIndex(SPEC, "HNSW32")
    base.add_new(list(range(10)), [unit(rng, 2) for _ in range(10)])
    layered = LayeredDenseIndex(base)
    layered.add(20, unit(rng, 3))
    layered.remove([4])
    merged = layered.merged()
    assert merged.work_ids() == (set(range(10)) - {4}) | {20}
    layered.add(2, unit(rng, 2))  # replaced: the overlay holds it, the base cannot again
    assert np.allclose(layered.search(layered.work_vectors(2, (0,)), 1)[0][0].score, 1.0)
    with pytest.raises(CannotReplaceError):
        layered.merged()


def test_compaction_is_wanted_once_the_overlay_or_the_hidden_set_is_large():
    rng = np.random.default_rng(4)
    base = DenseIndex(SPEC, "Flat")
    base.add_new(list(range(300)), [unit(rng, 1) for _ in range(300)])
    layered = LayeredDenseIndex(base)
    assert not layered.wants_compaction()
    layered.remove(list(range(257)))
    assert layered.hidden_works == 257 and layered.wants_compaction()
    other = LayeredDenseIndex(base)
    other.add_new(list(range(1000, 1500)), [unit(rng, 9) for _ in range(500)])
    assert other.overlay_vectors == 4500 and other.wants_compaction()
    with pytest.raises(TypeError):
        LayeredDenseIndex(other)
