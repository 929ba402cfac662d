"""Safe image decoding shared by every extractor.

Generated images come from untrusted sources, so decoding is defensive: a byte limit before
PIL sees the data, PIL's decompression-bomb guard turned into a hard error with our own pixel
limit, EXIF orientation applied (a phone photo of a work must match the work upright), alpha
flattened onto white (clip art and logos are mostly transparent PNGs; white is how they are
shown), animated images reduced to their first frame, and every failure raised as
ImageDecodeError with a message a user can act on.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

from models.errors import ImageDecodeError

#: 50 MB of encoded bytes: far above any generated image we have seen, small enough to refuse
#: a hostile upload before decoding starts.
DEFAULT_MAX_BYTES = 50 * 1024 * 1024
#: 64 megapixels (e.g. 8000 x 8000): above PIL's own 89 MP warning would be too late for 2-core
#: boxes, and no generator we know of emits more.
DEFAULT_MAX_PIXELS = 64_000_000
#: Images are reduced to at most this side as soon as they are decoded; every extractor works
#: at or below it (SSCD at <= 320, PDQ at 64, pHash at 32), so keeping more only costs time.
WORKING_MAX_SIDE = 512


@dataclass(frozen=True)
class DecodeLimits:
    """Limits applied before and while decoding."""

    max_bytes: int = DEFAULT_MAX_BYTES
    max_pixels: int = DEFAULT_MAX_PIXELS


@dataclass(frozen=True)
class DecodedImage:
    """An RGB image ready for feature extraction, with the original size for region reports."""

    image: Image.Image  # RGB, at most WORKING_MAX_SIDE on its long side
    width: int  # original width after EXIF orientation
    height: int  # original height after EXIF orientation
    format: str


def read_image_bytes(path: Path, limits: DecodeLimits = DecodeLimits()) -> bytes:
    """Read a file's bytes, refusing empty and over-limit files before loading them whole."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise ImageDecodeError(f"{path}: no such file") from None
    except OSError as exc:
        raise ImageDecodeError(f"{path}: cannot read ({exc.strerror})") from None
    if not path.is_file():
        raise ImageDecodeError(f"{path}: not a regular file")
    if size == 0:
        raise ImageDecodeError(f"{path}: empty file")
    if size > limits.max_bytes:
        raise ImageDecodeError(
            f"{path}: file is {size} bytes, over the limit of {limits.max_bytes} bytes"
        )
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ImageDecodeError(f"{path}: cannot read ({exc.strerror})") from None


def decode_image(data: bytes, limits: DecodeLimits = DecodeLimits()) -> DecodedImage:
    """Decode bytes into a DecodedImage, or raise ImageDecodeError saying why not."""
    if not data:
        raise ImageDecodeError("empty image data")
    if len(data) > limits.max_bytes:
        raise ImageDecodeError(
            f"image is {len(data)} bytes, over the limit of {limits.max_bytes} bytes"
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data))
            w, h = img.size
            if w <= 0 or h <= 0:
                raise ImageDecodeError("image has zero width or height")
            if w * h > limits.max_pixels:
                raise ImageDecodeError(
                    f"image is {w}x{h} = {w * h} pixels, over the limit of "
                    f"{limits.max_pixels} pixels (possible decompression bomb)"
                )
            fmt = img.format or "unknown"
            if getattr(img, "is_animated", False):
                img.seek(0)
            # draft() lets JPEG decode at a reduced scale: a large photo costs a fraction.
            if img.format == "JPEG":
                img.draft("RGB", (WORKING_MAX_SIDE, WORKING_MAX_SIDE))
            img.load()
            oriented: Image.Image = ImageOps.exif_transpose(img) or img
            width, height = _oriented_size(oriented, w, h)
            rgb = _flatten_to_rgb(oriented)
            rgb.thumbnail((WORKING_MAX_SIDE, WORKING_MAX_SIDE), Image.Resampling.BILINEAR,
                          reducing_gap=2.0)
    except ImageDecodeError:
        raise
    except (Image.DecompressionBombWarning, Image.DecompressionBombError) as exc:
        raise ImageDecodeError(f"image rejected as a decompression bomb: {exc}") from None
    except UnidentifiedImageError:
        raise ImageDecodeError("not a recognised image format") from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        # PIL raises OSError("image file is truncated ...") and friends for damaged files.
        raise ImageDecodeError(f"corrupt or truncated image: {exc}") from None
    return DecodedImage(image=rgb, width=width, height=height, format=fmt)


def load_image(path: Path, limits: DecodeLimits = DecodeLimits()) -> DecodedImage:
    """Read and decode an image file; errors name the file."""
    data = read_image_bytes(path, limits)
    try:
        return decode_image(data, limits)
    except ImageDecodeError as exc:
        raise ImageDecodeError(f"{path}: {exc}") from None


#: Grey-level standard deviation (0-255 scale, on a 32x32 reduction) below which an image or
#: region carries no content: a plain background, or JPEG noise on one. Such views match
#: every other blank view at similarity ~1 (seen in our benchmark: empty corners of clip art
#: matching each other), so they are never indexed or searched.
BLANK_STD = 3.0


def is_blank(image: Image.Image) -> bool:
    """True when the image (or region) is a near-uniform field with nothing to match."""
    small = image.convert("L").resize((32, 32), Image.Resampling.BILINEAR)
    values = np.asarray(small, dtype=np.float32)
    return float(values.std()) < BLANK_STD


def _oriented_size(img: Image.Image, w: int, h: int) -> tuple[int, int]:
    # exif_transpose has already swapped the axes when the orientation demanded it, but
    # draft() may have shrunk a JPEG; scale the reported size back to the original.
    if img.size == (w, h) or img.size == (h, w):
        return img.size
    scale = max(w, h) / max(img.size)
    return round(img.size[0] * scale), round(img.size[1] * scale)


def _to_8bit_grey(img: Image.Image) -> Image.Image:
    """An 8-bit grey image for a high-bit-depth one (16-bit integer, 32-bit integer or float).

    PIL's own conversion of these modes to RGB clips every value above 255, so a 16-bit
    greyscale photo became almost uniformly white: a registered one was then skipped as blank,
    and a 16-bit copy of a registered work screened clear. 16-bit modes are scaled by their
    full range; 32-bit integer and float ones, whose range the file does not state, are read
    as 8-bit (or, for float, 0-1) when their values fit, as 16-bit when they fit that, and
    otherwise stretched from their minimum to their maximum.
    """
    if img.mode.startswith("I;16"):
        arr = np.asarray(img).astype(np.float64) / 257.0
    else:
        arr = np.nan_to_num(np.asarray(img, dtype=np.float64), nan=0.0, posinf=0.0,
                            neginf=0.0)
        lo, hi = (float(arr.min()), float(arr.max())) if arr.size else (0.0, 0.0)
        if img.mode == "F" and lo >= 0.0 and hi <= 1.0:
            arr = arr * 255.0
        elif lo >= 0.0 and hi <= 255.0:
            pass
        elif lo >= 0.0 and hi <= 65535.0:
            arr = arr / 257.0
        else:
            arr = (arr - lo) * (255.0 / (hi - lo))
    return Image.fromarray(np.clip(np.rint(arr), 0, 255).astype(np.uint8))


def _flatten_to_rgb(img: Image.Image) -> Image.Image:
    if img.mode.startswith("I") or img.mode == "F":
        img = _to_8bit_grey(img)
    if img.mode in ("RGBA", "LA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    if img.mode != "RGB":
        return img.convert("RGB")
    return img


# Truncated files must fail loudly, never decode half an image silently.
ImageFile.LOAD_TRUNCATED_IMAGES = False
