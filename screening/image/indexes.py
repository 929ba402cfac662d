"""The image indexes (pHash and PDQ binary, SSCD dense) kept current by the index keeper."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from indexes.base import FeatureIndex, PersistentIndex
from indexes.binary import BinaryHashIndex
from indexes.dense import DenseIndex
from indexes.factories import AUTO, AUTO_EXACT_VECTORS, SearchParams
from models.imaging import DecodeLimits, decode_image
from screening.image.features import IndexedFeature
from screening.index_keeper import RegistryIndexes
from screening.registry.repository import WorkRecord


@dataclass
class ImageIndexes(RegistryIndexes[IndexedFeature, FeatureIndex]):
    """The image indexes: pHash and PDQ (binary) and SSCD descriptors (dense)."""

    dense_factory: str = AUTO
    auto_exact_vectors: int = AUTO_EXACT_VECTORS
    limits: DecodeLimits = field(default_factory=DecodeLimits)
    search: SearchParams = field(default_factory=SearchParams)

    def _new_index(self, feature: IndexedFeature) -> FeatureIndex:
        if feature.spec.kind == "dense":
            return DenseIndex.for_setting(feature.spec, self.dense_factory, search=self.search,
                                          auto_exact_vectors=self.auto_exact_vectors)
        return BinaryHashIndex(feature.spec)

    def _loaded(self, index: PersistentIndex) -> FeatureIndex:
        assert isinstance(index, FeatureIndex)  # image specs are binary or dense
        if isinstance(index, DenseIndex):
            index.set_search(self.search)
        return index

    def _content(self, work: WorkRecord) -> Any:
        return decode_image(self.blobs.get(work.content_sha256), self.limits).image

    def _work_vectors(self, feature: IndexedFeature, content: Any) -> np.ndarray:
        return feature.work_vectors(content)
