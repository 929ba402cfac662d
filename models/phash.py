"""pHash (imagehash's DCT hash), 64 bits: the classic perceptual hash and our cheapest signal.

Robust to re-encoding, resizing and mild colour change; blind to crops, pads and pasting
(thorn perception and imagededup benchmarks, see ../shared/ANCHORS.md), which is why it is one
signal among several and never the only one.
"""

from __future__ import annotations

from collections.abc import Sequence

import imagehash
import numpy as np
from PIL import Image

from models.base import FeatureSpec, HashExtractor, dihedral_images


def _hash_bytes(image: Image.Image) -> np.ndarray:
    bits = imagehash.phash(image, hash_size=8).hash.reshape(-1)
    return np.packbits(bits.astype(np.uint8))


def _reduce(image: Image.Image) -> Image.Image:
    # imagehash.phash itself starts with exactly this grey 32x32 LANCZOS reduction, so doing
    # it first changes no bit; it lets the dihedral variants transform a tiny image.
    return image.convert("L").resize((32, 32), Image.Resampling.LANCZOS)


class PHashExtractor(HashExtractor):
    """64-bit pHash of each image (imagehash.phash, hash_size 8)."""

    spec = FeatureSpec(name="phash", version=f"imagehash-{imagehash.__version__}-8", kind="binary",
                       dim=64)

    def extract(self, images: Sequence[Image.Image]) -> np.ndarray:
        if not images:
            return np.zeros((0, 8), dtype=np.uint8)
        return np.stack([_hash_bytes(_reduce(im)) for im in images])

    def extract_dihedral(self, image: Image.Image) -> np.ndarray:
        # pHash works on a 32x32 greyscale reduction; transforming that small copy is exact
        # for the 8 dihedral ops and eight times cheaper than transforming the full image.
        return np.stack([_hash_bytes(im) for im in dihedral_images(_reduce(image))])
