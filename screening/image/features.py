"""The features a registered image work contributes to each index, and their cache.

One IndexedFeature per index: its FeatureSpec (recorded in the sidecar) and how to compute
all of a work's vectors (8 dihedral hashes; or SSCD on the whole work, its mirror and a few
windows). Computed features are cached in the registry keyed by version and content hash,
so a rebuild re-runs a model only when the model or the view plan changed.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from PIL import Image, ImageOps

from models.base import FeatureSpec, HashExtractor
from models.character import CharacterExtractor
from models.imaging import is_blank
from models.runtime import ON_CPU, Runtime
from models.sscd import SscdExtractor
from screening.image.profiles import ImageProfile, descriptor_extractor, hash_extractors
from screening.image.views import ViewPlan, views

CHARACTER_TRUNK = "character_trunk"
CHARACTER_COLOUR = "character_colour"


@lru_cache
def character_extractor(runtime: Runtime = ON_CPU) -> CharacterExtractor:
    return CharacterExtractor(runtime=runtime)


@dataclass(frozen=True)
class IndexedFeature:
    """A feature as stored in one named index."""

    index_name: str
    spec: FeatureSpec
    hasher: HashExtractor | None = None
    descriptor: SscdExtractor | None = None
    plan: ViewPlan | None = None
    #: A "same character" feature: the extractor and which of its outputs ("trunk" of the
    #: whole image and its mirror, or "colour").
    character: CharacterExtractor | None = None
    part: str = ""

    def work_vectors(self, image: Image.Image) -> np.ndarray:
        if self.hasher is not None:
            return self.hasher.extract_dihedral(image)
        if self.character is not None:
            if self.part == "trunk":
                return self.character.extract([image, ImageOps.mirror(image)])[0]
            return self.character.extract([image])[1]
        assert self.descriptor is not None and self.plan is not None
        imgs = [image]
        if self.plan.mirror_work:
            imgs.append(ImageOps.mirror(image))
        imgs.extend(image.rotate(angle, resample=Image.Resampling.BILINEAR, expand=True,
                                 fillcolor=(255, 255, 255)) for angle in self.plan.work_rotations)
        # blank windows (empty corners of clip art) would match every blank query view
        imgs.extend(v for v in views(image, self.plan.work_windows) if not is_blank(v))
        return self.descriptor.extract(imgs)


def features_for(profile: ImageProfile, runtime: Runtime = ON_CPU) -> list[IndexedFeature]:
    """The indexed features a profile searches, hashes first."""
    out = [IndexedFeature(h.spec.name, h.spec, hasher=h) for h in hash_extractors()]
    if profile.descriptor is not None and profile.descriptor_index is not None:
        ex = descriptor_extractor(profile.descriptor, profile.whole_size, runtime)
        plan = profile.views
        # The view plan changes what a work's vectors are, so it is part of the version.
        spec = FeatureSpec(name=ex.spec.name, version=f"{ex.spec.version}|{plan.signature()}",
                           kind="dense", dim=ex.spec.dim)
        out.append(IndexedFeature(profile.descriptor_index, spec, descriptor=ex, plan=plan))
    if profile.character:
        out.extend(character_features(runtime))
    return out


def character_features(runtime: Runtime = ON_CPU) -> list[IndexedFeature]:
    """The two indexes of the "same character" signal (see models/character.py)."""
    ex = character_extractor(runtime)
    trunk = FeatureSpec(ex.trunk_spec.name, f"{ex.trunk_spec.version}|whole+mirror", "dense",
                        ex.trunk_spec.dim)
    return [IndexedFeature(CHARACTER_TRUNK, trunk, character=ex, part="trunk"),
            IndexedFeature(CHARACTER_COLOUR, ex.colour_spec, character=ex, part="colour")]
