"""What every feature extractor declares, so indexes and pipelines can stay generic.

Following python-threatexchange's SignalType: an extractor says what its feature *is* (name,
version, kind, size); indexes only see the kind ("binary" bits compared by Hamming distance, or
"dense" unit vectors compared by inner product) and never import the extractor.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

import numpy as np
from PIL import Image

FeatureKind = Literal["binary", "dense", "tokens"]


@dataclass(frozen=True)
class FeatureSpec:
    """Identity of a feature: stored next to every index built from it and checked on load."""

    name: str
    version: str
    kind: FeatureKind
    dim: int  # bits for binary features, floats for dense ones

    @property
    def nbytes(self) -> int:
        """Bytes per binary code (binary kind only)."""
        return self.dim // 8


class ImageExtractor(ABC):
    """Turns RGB images into one feature row each."""

    spec: FeatureSpec

    @abstractmethod
    def extract(self, images: Sequence[Image.Image]) -> np.ndarray:
        """Return an array of shape (len(images), dim) for dense, (len(images), dim/8) uint8
        for binary features."""


class HashExtractor(ImageExtractor):
    """A perceptual hash that can also hash the 8 dihedral transforms of an image at once."""

    @abstractmethod
    def extract_dihedral(self, image: Image.Image) -> np.ndarray:
        """Hashes of the image under the 8 rotations by 90 degrees and their mirrors, shape
        (8, dim/8) uint8. Row 0 is the image itself; the order of the other rows is the
        extractor's own (only the minimum distance over them is ever used)."""


#: The 8 dihedral transforms in a fixed order; row i of extract_dihedral matches DIHEDRAL[i].
DIHEDRAL: tuple[tuple[Image.Transpose | None, ...], ...] = (
    (),
    (Image.Transpose.ROTATE_90,),
    (Image.Transpose.ROTATE_180,),
    (Image.Transpose.ROTATE_270,),
    (Image.Transpose.FLIP_LEFT_RIGHT,),
    (Image.Transpose.FLIP_LEFT_RIGHT, Image.Transpose.ROTATE_90),
    (Image.Transpose.FLIP_LEFT_RIGHT, Image.Transpose.ROTATE_180),
    (Image.Transpose.FLIP_LEFT_RIGHT, Image.Transpose.ROTATE_270),
)


def dihedral_images(image: Image.Image) -> list[Image.Image]:
    """The image under each transform of DIHEDRAL, in that order."""
    out = []
    for ops in DIHEDRAL:
        im = image
        for op in ops:
            if op is not None:
                im = im.transpose(op)
        out.append(im)
    return out


class SentenceEmbedder(Protocol):
    """Turns texts into unit vectors (the paraphrase layer's model): MiniLM
    (models/text_embedder.py) or USE multilingual (models/use_embedder.py)."""

    spec: FeatureSpec
    #: Whether embed() honours max_tokens (reads at most that many word pieces).
    truncates: bool
    #: Cosine below which a paraphrase window hit is no evidence, for this model.
    min_similarity: float

    def embed(self, texts: Sequence[str], max_tokens: int | None = None) -> np.ndarray: ...

    def warm(self) -> None: ...

    @property
    def loaded(self) -> bool:
        """Whether the model is in memory and ready to run (warm() makes it so)."""
        ...
