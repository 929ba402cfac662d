"""The text indexes (winnowing fingerprints and sentence-window embeddings) of the registry.

A text work contributes its token hashes to the fingerprint index and one MiniLM vector per
sentence window to the window index. Both are cached in the registry's feature table, keyed by
version and content hash, so a rebuild re-embeds nothing that did not change.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from indexes.base import PersistentIndex
from indexes.dense import DenseIndex
from indexes.factories import AUTO, AUTO_EXACT_VECTORS, SearchParams
from indexes.fingerprint import ALL_KGRAMS_BELOW, FingerprintIndex
from indexes.ids import TEXT_WINDOWS_PER_WORK
from models.base import FeatureSpec, SentenceEmbedder
from models.text_fingerprint import fingerprint_spec, token_hashes
from models.text_normalize import NormalizedText
from screening.index_keeper import RegistryIndexes
from screening.registry.repository import WorkRecord
from screening.text.input import registered_text
from screening.text.paraphrase import window_texts, windows

FINGERPRINT_INDEX = "text_fingerprint"
WINDOW_INDEX = "text_windows"
#: k-gram size and winnowing window: every shared run of k + w - 1 = 8 tokens is found.
K, W = 5, 4


@dataclass(frozen=True)
class TextFeature:
    index_name: str
    spec: FeatureSpec
    embedder: SentenceEmbedder | None = None
    max_words: int = 48


def fingerprint_feature() -> TextFeature:
    return TextFeature(FINGERPRINT_INDEX, fingerprint_spec(K, W))


def window_feature(embedder: SentenceEmbedder, max_words: int) -> TextFeature:
    # the window plan changes what a work's vectors are, so it is part of the version
    base = embedder.spec
    spec = FeatureSpec(base.name, f"{base.version}|win{max_words}", "dense", base.dim)
    return TextFeature(WINDOW_INDEX, spec, embedder, max_words)


@dataclass
class TextIndexes(RegistryIndexes[TextFeature, PersistentIndex]):
    max_text_bytes: int = 10 * 1024 * 1024
    #: FAISS factory of the window index (a saved index keeps the one it was built with).
    window_factory: str = AUTO
    auto_exact_vectors: int = AUTO_EXACT_VECTORS
    search: SearchParams = field(default_factory=SearchParams)

    def _new_index(self, feature: TextFeature) -> PersistentIndex:
        if feature.spec.kind == "tokens":
            return FingerprintIndex(feature.spec, K, W, all_kgrams_below=ALL_KGRAMS_BELOW)
        return DenseIndex.for_setting(feature.spec, self.window_factory,
                                      variants_per_work=TEXT_WINDOWS_PER_WORK, search=self.search,
                                      auto_exact_vectors=self.auto_exact_vectors)

    def _loaded(self, index: PersistentIndex) -> PersistentIndex:
        if isinstance(index, DenseIndex):
            index.set_search(self.search)
        return index

    def _content(self, work: WorkRecord) -> Any:
        return registered_text(self.blobs, work, self.max_text_bytes)

    def _work_vectors(self, feature: TextFeature, content: Any) -> np.ndarray:
        norm: NormalizedText = content
        if feature.embedder is None:
            return token_hashes(norm.tokens)[:, None]
        spans = windows(norm, feature.max_words)
        return feature.embedder.embed(window_texts(norm, spans))
