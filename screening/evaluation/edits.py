"""The edits a generated image may apply to a registered work, as seeded functions.

These are the seven edit families of issue 2's benchmark. Each takes the work (RGB), a
numpy Generator, and for `scene` a background photo; parameters are drawn from the ranges
the issue names. The calibration fit and the benchmark use disjoint images and seeds.
"""

from __future__ import annotations

import io
from collections.abc import Callable

import numpy as np
from PIL import Image, ImageDraw, ImageEnhance, ImageFilter, ImageFont, ImageOps

EditFn = Callable[[Image.Image, np.random.Generator, Image.Image | None], Image.Image]

_WORDS = ("SALE", "NEW", "HELLO", "BEST", "PARTY", "SUMMER", "WOW", "FUN", "2026", "COOL")


def crop(img: Image.Image, rng: np.random.Generator, _bg: Image.Image | None = None) -> Image.Image:
    """Keep 50-70% of each side, at a random position."""
    w, h = img.size
    fw, fh = rng.uniform(0.5, 0.7), rng.uniform(0.5, 0.7)
    cw, ch = max(1, round(w * fw)), max(1, round(h * fh))
    x, y = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
    return img.crop((x, y, x + cw, y + ch))


def mirror_downscale(img: Image.Image, rng: np.random.Generator,
                     _bg: Image.Image | None = None) -> Image.Image:
    """Horizontal mirror, then downscale to 40-70%."""
    s = rng.uniform(0.4, 0.7)
    m = ImageOps.mirror(img)
    return m.resize((max(16, round(img.width * s)), max(16, round(img.height * s))),
                    Image.Resampling.BILINEAR)


def rotate(img: Image.Image, rng: np.random.Generator,
           _bg: Image.Image | None = None) -> Image.Image:
    """Rotate by 8-20 degrees either way, expanding the canvas (white corners)."""
    angle = rng.uniform(8, 20) * rng.choice([-1, 1])
    return img.rotate(float(angle), resample=Image.Resampling.BILINEAR, expand=True,
                      fillcolor=(255, 255, 255))


def jpeg_blur(img: Image.Image, rng: np.random.Generator,
              _bg: Image.Image | None = None) -> Image.Image:
    """Downscale to 30-60%, Gaussian blur radius 1-2, JPEG quality 8-20."""
    s = rng.uniform(0.3, 0.6)
    small = img.resize((max(16, round(img.width * s)), max(16, round(img.height * s))),
                       Image.Resampling.BILINEAR)
    small = small.filter(ImageFilter.GaussianBlur(float(rng.uniform(1.0, 2.0))))
    buf = io.BytesIO()
    small.save(buf, format="JPEG", quality=int(rng.integers(8, 21)))
    return Image.open(io.BytesIO(buf.getvalue())).convert("RGB")


def colour_caption(img: Image.Image, rng: np.random.Generator,
                   _bg: Image.Image | None = None) -> Image.Image:
    """Hue rotation and saturation change, then a caption band covering 15-25% of the height."""
    hsv = np.asarray(img.convert("HSV")).copy()
    hsv[..., 0] = (hsv[..., 0].astype(np.int32) + int(rng.integers(40, 216))) % 256
    out = Image.fromarray(hsv, "HSV").convert("RGB")
    out = ImageEnhance.Color(out).enhance(float(rng.uniform(0.5, 1.8)))
    draw = ImageDraw.Draw(out)
    band = max(8, round(out.height * rng.uniform(0.15, 0.25)))
    top = rng.random() < 0.5
    y0 = 0 if top else out.height - band
    fill = tuple(int(c) for c in rng.integers(0, 256, 3))
    text = " ".join(rng.choice(_WORDS, size=2))
    font = ImageFont.load_default(size=max(8, int(band * 0.8)))
    draw.text((out.width * 0.05, y0 + band * 0.1), text, fill=fill, font=font,
              stroke_width=max(1, band // 20), stroke_fill=(255, 255, 255))
    return out


def scene(img: Image.Image, rng: np.random.Generator,
          bg: Image.Image | None = None) -> Image.Image:
    """Paste the work at 45-65% of the scene's shorter side into a background photo."""
    if bg is None:
        raise ValueError("the scene edit needs a background image")
    side = 512
    scene_img = ImageOps.fit(bg.convert("RGB"), (side, round(side * rng.uniform(0.66, 1.0))),
                             Image.Resampling.BILINEAR)
    scale = rng.uniform(0.45, 0.65) * min(scene_img.size) / max(img.size)
    w, h = max(8, round(img.width * scale)), max(8, round(img.height * scale))
    work = img.resize((w, h), Image.Resampling.BILINEAR)
    x = int(rng.integers(0, scene_img.width - w + 1))
    y = int(rng.integers(0, scene_img.height - h + 1))
    scene_img.paste(work, (x, y))
    return scene_img


def square_grey(img: Image.Image, rng: np.random.Generator,
                _bg: Image.Image | None = None) -> Image.Image:
    """Squash to a 200-400 px square and convert to greyscale."""
    s = int(rng.integers(200, 401))
    return ImageOps.grayscale(img.resize((s, s), Image.Resampling.BILINEAR)).convert("RGB")


EDITS: dict[str, EditFn] = {
    "crop": crop,
    "mirror_downscale": mirror_downscale,
    "rotate": rotate,
    "jpeg_blur": jpeg_blur,
    "colour_caption": colour_caption,
    "scene": scene,
    "square_grey": square_grey,
}
