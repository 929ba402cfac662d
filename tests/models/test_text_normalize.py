"""Normalisation keeps exact offsets back to the original text, whatever the script."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from models.text_fingerprint import kgram_hashes, token_hashes, winnow
from models.text_normalize import normalize, normalize_token

# Latin, accents (precomposed and combining), CJK, kana, Hangul, full-width forms,
# ligatures, punctuation, whitespace and apostrophes.
ALPHABET = st.sampled_from(list(
    "abcXYZ019 \n\t.,;:!?'’-\"()éü\u0301ﬁ①ｆｕ我爱北京天安门東京タワー한국어텍스트。！、"))
TEXTS = st.text(alphabet=ALPHABET, max_size=120) | st.text(max_size=60)


@settings(max_examples=300, deadline=None)
@given(TEXTS)
def test_every_token_maps_back_to_its_source(text: str):
    norm = normalize(text)
    assert len(norm.tokens) == len(norm.starts) == len(norm.ends) == len(norm.cjk)
    prev_end = 0
    for tok, s, e in zip(norm.tokens, norm.starts.tolist(), norm.ends.tolist(), strict=True):
        assert prev_end <= s < e <= len(text)
        assert normalize_token(text[s:e]) == tok
        prev_end = e


@settings(max_examples=200, deadline=None)
@given(TEXTS, st.text(alphabet=ALPHABET, max_size=40), st.text(alphabet=ALPHABET, max_size=40))
def test_tokens_do_not_depend_on_position(core: str, before: str, after: str):
    """A passage yields the same tokens wherever it is embedded (separated by spaces)."""
    alone = normalize(core).tokens
    embedded = normalize(f"{before} {core} {after}")
    offset = len(before) + 1
    inside = [t for t, s, e in zip(embedded.tokens, embedded.starts, embedded.ends, strict=True)
              if s >= offset and e <= offset + len(core)]
    assert inside == alone


def test_case_width_ligatures_and_apostrophes_fold():
    a = normalize("The LORD’s ﬁrst Day")
    b = normalize("the lords FIRST   day")
    assert a.tokens == b.tokens == ["the", "lords", "first", "day"]
    assert normalize("ｆｕｌｌ width").tokens == ["full", "width"]
    assert normalize("cafe\u0301").tokens == normalize("café").tokens


def test_cjk_is_compared_per_character_and_mixed_text_works():
    text = "我爱北京 and Tokyo 東京タワー。한국어"
    norm = normalize(text)
    assert norm.tokens == ["我", "爱", "北", "京", "and", "tokyo", "東", "京", "タ", "ワ", "ー",
                           "한", "국", "어"]
    assert norm.cjk.tolist() == [True] * 4 + [False] * 2 + [True] * 8
    assert [text[s:e] for s, e in zip(norm.starts, norm.ends, strict=True)][5] == "Tokyo"


def test_sentences_end_at_terminal_punctuation_and_blank_lines():
    norm = normalize("One two. Three four!\n\nFive six 七八。九")
    ends = norm.sentence_ends().tolist()
    assert [norm.tokens[i] for i in ends] == ["two", "four", "八", "九"]


def test_winnowing_guarantee_finds_every_run_of_k_plus_w_minus_1():
    rng = np.random.default_rng(3)
    k, w = 5, 4
    for _ in range(200):
        work = rng.integers(0, 50, size=rng.integers(20, 200)).astype(np.uint64)
        start = int(rng.integers(0, len(work) - 8))
        run = work[start:start + k + w - 1]
        query = np.concatenate([rng.integers(100, 200, size=int(rng.integers(0, 30))),
                                run, rng.integers(100, 200, size=5)]).astype(np.uint64)
        kept = set(kgram_hashes(work, k)[winnow(kgram_hashes(work, k), w)].tolist())
        assert kept & set(kgram_hashes(query, k).tolist())


def test_token_hashes_are_stable_across_processes():
    # fixed values: Python's hash() is salted per process, ours must not be
    assert token_hashes(["the", "lord"]).tolist() == token_hashes(["the", "lord"]).tolist()
    assert int(token_hashes(["the"])[0]) == int.from_bytes(
        __import__("hashlib").blake2b(b"the", digest_size=8).digest(), "little")
