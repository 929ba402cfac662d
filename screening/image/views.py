"""Which parts of an image get their own SSCD descriptor.

SSCD on the whole image misses most works pasted at half size into another picture and weakens
on heavy crops. So a query is also described by a grid of windows (multi-scale crops) and a
registered work by a few of its own crops; a copy shows up as one window matching one work
view. Boxes are fractions of the image, (x0, y0, x1, y1); the chosen grids are measured in
benchmarks/image_region_grid.py (see README), not guessed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from PIL import Image

from models.imaging import is_blank

Box = tuple[float, float, float, float]
WHOLE: Box = (0.0, 0.0, 1.0, 1.0)


def grid(size: float, steps: int) -> list[Box]:
    """steps x steps windows of side `size` (fraction), evenly spread from edge to edge."""
    if not 0 < size <= 1 or steps < 1:
        raise ValueError(f"bad grid: size={size}, steps={steps}")
    if steps == 1:
        starts = [(1 - size) / 2]
    else:
        starts = [i * (1 - size) / (steps - 1) for i in range(steps)]
    return [(x, y, x + size, y + size) for y in starts for x in starts]


@dataclass(frozen=True)
class ViewPlan:
    """Windows described for each query, and for each registered work."""

    query_windows: tuple[Box, ...]
    work_windows: tuple[Box, ...]
    mirror_work: bool = True  # also index the mirrored whole work
    #: Also index the whole work rotated by these angles (degrees, white fill). On the
    #: calibration split's rotated copies (8-20 degrees), +-12 raised whole-image recall at a
    #: 1% false-positive rate from 0.85 to 1.00 (median true similarity 0.75 -> 0.96).
    work_rotations: tuple[float, ...] = (-12.0, 12.0)

    @property
    def n_work_variants(self) -> int:
        return (1 + int(self.mirror_work) + len(self.work_rotations)
                + len(self.work_windows))

    def signature(self) -> str:
        """What the work-side views are, for the feature version."""
        windows = ";".join(",".join(f"{v:.3f}" for v in b) for b in self.work_windows)
        rotations = ",".join(f"{a:g}" for a in self.work_rotations)
        return f"mirror={int(self.mirror_work)}|rot={rotations}|{windows}"


def crop(image: Image.Image, box: Box) -> Image.Image:
    w, h = image.size
    x0, y0, x1, y1 = box
    return image.crop((round(x0 * w), round(y0 * h), max(round(x1 * w), round(x0 * w) + 1),
                       max(round(y1 * h), round(y0 * h) + 1)))


def pixel_box(box: Box, width: int, height: int) -> list[int]:
    """A fractional box in the original image's pixels, [x0, y0, x1, y1]."""
    return [round(box[0] * width), round(box[1] * height), round(box[2] * width),
            round(box[3] * height)]


def views(image: Image.Image, boxes: Sequence[Box]) -> list[Image.Image]:
    return [crop(image, b) for b in boxes]


def informative_views(image: Image.Image, boxes: Sequence[Box]
                      ) -> list[tuple[Box, Image.Image]]:
    """(box, crop) for each box whose crop is not a near-uniform field: a blank crop has
    nothing to match and its descriptor resembles every other blank view."""
    return [(b, v) for b, v in zip(boxes, views(image, boxes), strict=True) if not is_blank(v)]
