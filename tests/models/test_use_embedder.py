"""The multilingual sentence model (models/use_embedder.py): USE multilingual v3 from its
PyPI package, on real text: batching, determinism, unit vectors, and a Chinese rendering of
an English verse closer to it than an unrelated sentence."""

from __future__ import annotations

import numpy as np
import pytest

from models.use_embedder import UseEmbedder

TEXTS = ["In the beginning God created the heaven and the earth.",
         "起初，神创造天地。",  # Genesis 1:1, Chinese Union Version (1919)
         "The list.sort() method sorts the list in place, using only < comparisons.",
         "", "   "]


@pytest.fixture(scope="module")
def embedder() -> UseEmbedder:
    return UseEmbedder(threads=1, batch_size=2)


def test_batches_equal_one_by_one_and_runs_repeat(embedder):
    v = embedder.embed(TEXTS)
    assert v.shape == (5, 512) and v.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, rtol=1e-5)
    for i, t in enumerate(TEXTS):
        np.testing.assert_allclose(embedder.embed([t])[0], v[i], atol=1e-5)
    np.testing.assert_array_equal(embedder.embed(TEXTS), v)
    assert embedder.embed([]).shape == (0, 512)
    assert not embedder.truncates  # read whole: the layer embeds its probes whole


def test_a_translation_lands_near_its_source(embedder):
    en, zh, other = embedder.embed(TEXTS[:3])
    assert en @ zh > 0.5 > en @ other
    assert zh @ other < 0.3


def test_the_spec_names_the_weights(embedder):
    again = UseEmbedder()
    assert again.spec == embedder.spec
    assert embedder.spec.name == "text-use-multilingual-v3" and embedder.spec.dim == 512
    assert len(embedder.spec.version.split("|")[0]) == 16


def test_warm_loads_the_model_before_the_first_embed():
    cold = UseEmbedder(threads=1)
    assert not cold.loaded
    cold.warm()
    assert cold.loaded


def test_the_word_cached_tokenizer_gives_the_package_tokenizers_ids(embedder):
    import random

    from models.use_embedder import WordCachedTokenizer

    embedder.embed(["load"])
    cached = embedder._model._model.sp  # noqa: SLF001 - what the backend tokenizes with
    assert isinstance(cached, WordCachedTokenizer)
    package = cached._sp  # noqa: SLF001
    rng = random.Random(5)
    alphabet = "abcXYZ  \t\n,.!?'\"-_é中文日本語한국어ﬁ①™\u00a0\u3000\u2581 0123"
    texts = TEXTS + ["And the LORD said unto Moses, Stretch out thine hand.",
                     "  leading and trailing   spaces  ", "▁▁word▁starts▁", "ﬁne ①"]
    texts += ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 60)))
              for _ in range(300)]
    small = WordCachedTokenizer(package, max_words=8)  # the cache is cleared as it fills
    for tok in (cached, small):
        for _ in range(2):  # cold, then from the cache
            assert tok.encode(texts) == package.encode(texts)
    assert small.encode(texts[0], out_type=str) == package.encode(texts[0], out_type=str)
    assert small.encode(["a b", ""], add_bos=False, add_eos=False) == \
        package.encode(["a b", ""], add_bos=False, add_eos=False)
    assert len(small._cache) <= 8  # noqa: SLF001
    assert embedder.count_tokens([texts[5]]) == [len(package.encode(texts[5]))]
