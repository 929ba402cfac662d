"""Window refinement's boxes: inside the image, shaped like the work, around the best window."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from screening.image.signals import REFINE_SCALES, REFINE_SHIFTS, refined_boxes
from screening.image.views import informative_views


@given(x0=st.floats(0, 0.8), y0=st.floats(0, 0.8), size=st.floats(0.05, 0.6),
       aspect=st.floats(0.2, 5.0), width=st.integers(64, 2000), height=st.integers(64, 2000))
def test_boxes_lie_in_the_image_and_keep_the_work_aspect_unless_clipped(
        x0, y0, size, aspect, width, height):
    box = (x0, y0, min(1.0, x0 + size), min(1.0, y0 + size))
    boxes = refined_boxes(box, aspect, width, height)
    assert len(boxes) <= len(REFINE_SCALES) * len(REFINE_SHIFTS)
    for bx0, by0, bx1, by1 in boxes:
        assert 0.0 <= bx0 < bx1 <= 1.0 and 0.0 <= by0 < by1 <= 1.0
        w, h = (bx1 - bx0) * width, (by1 - by0) * height
        assert w >= 8 - 1e-9 and h >= 8 - 1e-9
        clipped = bx0 == 0.0 or by0 == 0.0 or bx1 == 1.0 or by1 == 1.0
        if not clipped:
            assert w / h == pytest.approx(aspect, rel=1e-6)


def test_centred_box_of_scale_one_has_the_window_area_and_centre():
    box = (0.25, 0.25, 0.5, 0.5)  # 100 x 100 px of a 400 x 400 image
    boxes = refined_boxes(box, 2.0, 400, 400)
    assert len(boxes) == len(REFINE_SCALES) * len(REFINE_SHIFTS)
    centre = boxes[REFINE_SCALES.index(1.0) * len(REFINE_SHIFTS)]
    w, h = (centre[2] - centre[0]) * 400, (centre[3] - centre[1]) * 400
    assert w * h == pytest.approx(100 * 100) and w / h == pytest.approx(2.0)
    assert (centre[0] + centre[2]) / 2 == pytest.approx(0.375)
    assert (centre[1] + centre[3]) / 2 == pytest.approx(0.375)


def test_blank_boxes_are_not_described():
    # left half a plain field, right half texture: only boxes reaching the texture count
    rng = np.random.default_rng(0)
    pixels = np.full((200, 400, 3), 250, dtype=np.uint8)
    pixels[:, 200:] = rng.integers(0, 255, (200, 200, 3), dtype=np.uint8)
    boxes = [(0.0, 0.0, 0.4, 1.0), (0.1, 0.2, 0.3, 0.6), (0.3, 0.0, 0.7, 1.0),
             (0.6, 0.5, 0.9, 1.0)]
    found = informative_views(Image.fromarray(pixels), boxes)
    assert [b for b, _ in found] == boxes[2:]
    assert [v.size for _, v in found] == [(160, 200), (120, 100)]
