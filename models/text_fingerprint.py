"""Token hashes, k-gram hashes and winnowing (Schleimer, Wilkerson and Aiken, SIGMOD 2003).

A registered text is reduced to 64-bit hashes of its normalised tokens; every k consecutive
tokens form a k-gram hash; winnowing keeps the minimum k-gram hash of every window of w
consecutive k-grams. The guarantee that makes this exact enough for evidence: any run of at
least w + k - 1 tokens shared by two texts contains a k-gram kept on the work's side, so
querying *all* k-grams of an output finds every shared run of that length. With k = 5 and
w = 4 that is every run of 8 tokens: 8 words, the verbatim threshold, and so also every run
of 13 CJK characters (one token each; the aligner applies the longer CJK minimum). About
2 / (w + 1) of a work's k-grams are kept.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from functools import lru_cache

import numpy as np

from models.base import FeatureSpec

_MULT = np.uint64(0x9E3779B97F4A7C15)  # odd 64-bit constant (golden ratio) for the rolling mix


@lru_cache(maxsize=1 << 20)
def token_hash(token: str) -> int:
    """Stable 64-bit hash of a normalised token (Python's hash() differs per process)."""
    return int.from_bytes(hashlib.blake2b(token.encode("utf-8"), digest_size=8).digest(),
                          "little")


def token_hashes(tokens: Sequence[str]) -> np.ndarray:
    return np.fromiter((token_hash(t) for t in tokens), dtype=np.uint64, count=len(tokens))


def _splitmix(x: np.ndarray) -> np.ndarray:
    x = x ^ (x >> np.uint64(30))
    x = x * np.uint64(0xBF58476D1CE4E5B9)
    x = x ^ (x >> np.uint64(27))
    x = x * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def kgram_hashes(hashes: np.ndarray, k: int) -> np.ndarray:
    """Hash of tokens i..i+k-1 for every i (len(hashes) - k + 1 values, order-sensitive)."""
    n = len(hashes) - k + 1
    if n <= 0:
        return np.zeros(0, dtype=np.uint64)
    acc = np.zeros(n, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for j in range(k):
            acc = acc * _MULT + hashes[j:j + n]
        return _splitmix(acc)


def winnow(kgrams: np.ndarray, w: int) -> np.ndarray:
    """Positions of the k-grams winnowing keeps: the minimum of each window of w (sorted,
    unique). A text shorter than one window keeps its minimum."""
    if len(kgrams) == 0:
        return np.zeros(0, dtype=np.int64)
    if len(kgrams) <= w:
        return np.asarray([int(np.argmin(kgrams))], dtype=np.int64)
    windows = np.lib.stride_tricks.sliding_window_view(kgrams, w)
    picks = windows.argmin(axis=1) + np.arange(len(windows))
    return np.unique(picks).astype(np.int64)


def fingerprint_spec(k: int, w: int) -> FeatureSpec:
    """Identity of a fingerprint index; tokens are stored, so `dim` is the k-gram size."""
    return FeatureSpec(name=f"winnow-k{k}-w{w}", version="1", kind="tokens", dim=k)
