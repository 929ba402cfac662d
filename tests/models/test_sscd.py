"""SSCD extractors: shape, unit norm, batching, and that copies score above unrelated images."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import ImageOps

from models.runtime import Runtime
from models.sscd import SscdExtractor


@pytest.fixture(scope="module", params=["sscd", "sscd_distilled"])
def extractor(request) -> SscdExtractor:
    return SscdExtractor(request.param, input_size=224, batch_size=3, runtime=Runtime(threads=1))


def test_shape_and_unit_norm(extractor, photos):
    imgs = [photos[n] for n in ("astronaut", "coffee", "chelsea", "rocket")]
    v = extractor.extract(imgs)  # 4 images, batch size 3: two batches
    assert v.shape == (4, 512) and v.dtype == np.float32
    assert np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    assert extractor.extract([]).shape == (0, 512)


def test_batching_does_not_change_results(extractor, photos):
    imgs = [photos["astronaut"], photos["coffee"]]
    together = extractor.extract(imgs)
    alone = np.concatenate([extractor.extract([im]) for im in imgs])
    assert np.allclose(together, alone, atol=1e-4)


def test_copies_score_above_unrelated(extractor, photos):
    img = photos["chelsea"]
    edited = ImageOps.mirror(img).resize((img.width // 2, img.height // 2))
    a, b, c = extractor.extract([img, edited, photos["rocket"]])
    assert float(a @ b) > 0.6 > float(a @ c)


def test_rejects_absurd_parameters():
    with pytest.raises(ValueError, match="input_size"):
        SscdExtractor("sscd", input_size=5)
    with pytest.raises(ValueError, match="batch_size"):
        SscdExtractor("sscd", batch_size=0)
