"""The same-character features (models/character.py): SSCD's pooled trunk read from the
installed graph, and the foreground palette, on real photos."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageOps

from models.character import CharacterExtractor, colour_histogram
from models.sscd import SscdExtractor


@pytest.fixture(scope="module")
def extractor() -> CharacterExtractor:
    return CharacterExtractor()


def test_batch_equals_one_by_one_and_runs_are_deterministic(extractor, photos):
    imgs = [photos[n] for n in ("astronaut", "coffee", "chelsea")]
    trunk, colour = extractor.extract(imgs)
    assert trunk.shape == (3, 2048) and colour.shape == (3, 256)
    np.testing.assert_allclose(np.linalg.norm(trunk, axis=1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(colour, axis=1), 1.0, rtol=1e-5)
    for i, im in enumerate(imgs):
        t1, c1 = extractor.extract([im])
        np.testing.assert_allclose(t1[0], trunk[i], atol=1e-4)
        np.testing.assert_allclose(c1[0], colour[i], atol=1e-6)
    again, _ = extractor.extract(imgs)
    np.testing.assert_array_equal(again, trunk)
    empty_t, empty_c = extractor.extract([])
    assert empty_t.shape == (0, 2048) and empty_c.shape == (0, 256)


def test_the_trunk_keeps_the_subject_and_the_installed_file_is_untouched(extractor, photos):
    from models.sscd import sscd_model_path

    before = sscd_model_path("sscd").read_bytes()[:4096]
    cat, flipped = photos["chelsea"], ImageOps.mirror(photos["chelsea"]).rotate(10)
    t, _ = extractor.extract([cat, flipped, photos["rocket"]])
    assert t[0] @ t[1] > 0.8 > t[0] @ t[2]
    assert sscd_model_path("sscd").read_bytes()[:4096] == before
    # the features come from the same weights as the copy descriptor (one model file)
    assert extractor.trunk_spec.version == SscdExtractor().spec.version


def test_colour_histogram_reads_the_foreground_palette():
    red_on_white = Image.new("RGB", (64, 64), "white")
    red_on_white.paste((220, 20, 20), (16, 16, 48, 48))
    red_on_grey = Image.new("RGB", (64, 64), (90, 90, 90))
    red_on_grey.paste((220, 20, 20), (20, 10, 60, 40))
    blue_on_white = Image.new("RGB", (64, 64), "white")
    blue_on_white.paste((20, 20, 220), (16, 16, 48, 48))
    a, b, c = (colour_histogram(i) for i in (red_on_white, red_on_grey, blue_on_white))
    assert a @ b > 0.99  # the background is left out, whatever its colour
    assert a @ c < 0.01
    plain = colour_histogram(Image.new("RGB", (32, 32), "white"))
    assert np.isclose(np.linalg.norm(plain), 1.0)  # nothing stands out: the whole image
