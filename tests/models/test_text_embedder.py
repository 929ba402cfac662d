"""The real MiniLM model from the installed package, in every backend."""

from __future__ import annotations

import numpy as np
import pytest

from models.errors import ModelUnavailableError
from models.text_embedder import TextEmbedder

SENTENCES = [
    "In the beginning God created the heaven and the earth.",
    "In the beginning God created the heavens and the earth.",
    "The function returns a new list sorted in ascending order.",
]


@pytest.fixture(scope="module")
def vectors(model_cache) -> dict[str, np.ndarray]:
    return {b: TextEmbedder(backend=b, cache_dir=model_cache).embed(SENTENCES)  # type: ignore[arg-type]
            for b in ("torch", "onnx-int8")}


def test_unit_vectors_with_meaningful_similarity(vectors):
    v = vectors["onnx-int8"]
    assert v.shape == (3, 384) and v.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, rtol=1e-5)
    assert v[0] @ v[1] > 0.9  # a paraphrase
    assert v[0] @ v[2] < 0.3  # unrelated


def test_int8_onnx_agrees_with_plain_transformers(vectors):
    cos = (vectors["torch"] * vectors["onnx-int8"]).sum(axis=1)
    assert cos.min() > 0.97


def test_batching_and_order_do_not_change_vectors(model_cache):
    emb = TextEmbedder(cache_dir=model_cache, batch_size=2)
    a = emb.embed(SENTENCES)
    b = emb.embed(SENTENCES[::-1])[::-1]
    np.testing.assert_allclose(a, b, atol=1e-5)
    assert emb.embed([]).shape == (0, 384)


@pytest.mark.parametrize("backend", ["onnx-int8", "torch"])
def test_warm_opens_the_model_before_the_first_embed_and_changes_no_vector(model_cache,
                                                                            backend):
    cold = TextEmbedder(backend=backend, cache_dir=model_cache)
    warm = TextEmbedder(backend=backend, cache_dir=model_cache)
    assert warm._pool is None and warm._torch_model is None and not warm.loaded
    warm.warm()
    assert warm.loaded
    if backend == "torch":
        assert warm._torch_model is not None
    else:  # every session is open, has run once, and is back in the queue
        assert warm._pool is not None and warm._sessions.qsize() == warm._n_sessions >= 1
    np.testing.assert_allclose(warm.embed(SENTENCES), cold.embed(SENTENCES), atol=1e-6)


def test_missing_model_dir_is_a_clear_error(tmp_path):
    with pytest.raises(ModelUnavailableError, match="config.json"):
        TextEmbedder(model_dir=tmp_path)


def test_max_tokens_reads_only_the_start_of_each_text(model_cache):
    emb = TextEmbedder(backend="torch", cache_dir=model_cache)
    head = SENTENCES[0] + " " + SENTENCES[2]  # well over 12 word pieces
    a, b = head + " And the earth was without form.", head + " Sorting is stable."
    cut = emb.embed([a, b], max_tokens=12)
    np.testing.assert_allclose(cut[0], cut[1], atol=1e-5)  # their first 12 pieces agree
    whole = emb.embed([a, b])
    assert whole[0] @ whole[1] < 0.99 and cut[0] @ whole[0] < 0.99


def test_batches_are_balanced_across_sessions_largest_first():
    from models.text_embedder import SESSIONS, TextEmbedder

    # the probes of a real 1,000-word output: one short, one middling, 26 full windows
    lengths = [19, 28] + [32] * 26
    batches = TextEmbedder._balanced([[0], [1], list(range(2, 28))], lengths)
    assert sorted(i for b in batches for i in b) == list(range(28))  # each text once

    def cost(b):
        return len(b) * max(lengths[i] for i in b)

    share = sum(cost(b) for b in batches) / SESSIONS
    assert all(cost(b) <= share for b in batches)  # no session waits on one big batch
    assert [cost(b) for b in batches] == sorted((cost(b) for b in batches), reverse=True)
    # a single uniform batch is halved, as many small ones are left alone
    assert [len(b) for b in TextEmbedder._balanced([list(range(32))], [40] * 32)] == [16, 16]
    small = [[i] for i in range(6)]
    assert sorted(TextEmbedder._balanced(small, [10, 20, 30, 40, 50, 60])) == small
