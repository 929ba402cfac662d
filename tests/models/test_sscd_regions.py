"""Regional SSCD descriptors from one pass (models/sscd_regions.py), on real photos."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from models.runtime import Runtime
from models.sscd import SscdExtractor
from models.sscd_regions import GEM_P, RegionalSscd

WHOLE = (0.0, 0.0, 1.0, 1.0)
BOXES = [WHOLE, (0.0, 0.0, 0.5, 0.5), (0.25, 0.1, 0.8, 0.9), (0.33, 0.33, 0.34, 0.34)]


@pytest.fixture(scope="module")
def regional() -> RegionalSscd:
    return RegionalSscd(256, batch_size=2, runtime=Runtime(threads=1))


def test_the_whole_box_is_sscd_itself(regional, photos):
    imgs = [photos["astronaut"], photos["coffee"]]
    plain = SscdExtractor("sscd", input_size=256, runtime=Runtime(threads=1)).extract(imgs)
    got = regional.extract(imgs, [WHOLE])[:, 0]
    np.testing.assert_allclose(got, plain, atol=1e-5)


def test_batch_equals_one_by_one_and_runs_are_deterministic(regional, photos):
    imgs = [photos[n] for n in ("astronaut", "coffee", "chelsea")]
    batch = regional.extract(imgs, BOXES)
    assert batch.shape == (3, len(BOXES), 512)
    np.testing.assert_allclose(np.linalg.norm(batch, axis=2), 1.0, rtol=1e-5)
    for i, im in enumerate(imgs):
        np.testing.assert_allclose(regional.extract([im], BOXES)[0], batch[i], atol=1e-5)
    np.testing.assert_array_equal(regional.extract(imgs, BOXES), batch)


def test_a_box_on_cell_edges_is_the_gem_of_its_cells(regional, photos):
    maps = regional.feature_maps([photos["rocket"]])  # (1, 8, 8, 2048), already ^p
    half = regional.pooled(maps, [(0.0, 0.0, 0.5, 0.5)])[0, 0]
    by_hand = maps[0, :4, :4].reshape(-1, maps.shape[-1]).mean(axis=0) ** (1 / GEM_P)
    np.testing.assert_allclose(half, by_hand, rtol=1e-5)
    # a box inside one cell is that cell
    cell = regional.pooled(maps, [(0.3, 0.3, 0.32, 0.32)])[0, 0]
    np.testing.assert_allclose(cell, maps[0, 2, 2] ** (1 / GEM_P), rtol=1e-5)


def test_a_region_describes_what_is_in_it(regional, photos):
    """A work pasted into the left half of a canvas: the left box's descriptor is nearer
    the work's own than the right box's and the whole canvas's."""
    work = photos["chelsea"].resize((256, 256))
    canvas = Image.new("RGB", (512, 256), (128, 128, 128))
    canvas.paste(photos["hubble_deep_field"].resize((256, 256)), (256, 0))
    canvas.paste(work, (0, 0))
    own = regional.extract([work], [WHOLE])[0, 0]
    left, right, whole = regional.extract([canvas], [(0, 0, 0.5, 1), (0.5, 0, 1, 1), WHOLE])[0]
    assert own @ left > max(own @ right, own @ whole) + 0.1


def test_bad_sizes_are_refused():
    with pytest.raises(ValueError, match="multiple of 32"):
        RegionalSscd(300)
    with pytest.raises(ValueError, match="batch_size"):
        RegionalSscd(320, batch_size=0)
