"""Safe decoding: every kind of bad input is a clear ImageDecodeError; odd good inputs work."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from models.errors import ImageDecodeError
from models.imaging import DecodeLimits, decode_image, load_image
from tests.conftest import png_bytes


def test_decodes_and_shrinks_to_working_size(photos):
    d = decode_image(png_bytes(photos["hubble_deep_field"]))
    assert (d.width, d.height) == photos["hubble_deep_field"].size
    assert max(d.image.size) == 512 and d.image.mode == "RGB"


def test_empty_bytes():
    with pytest.raises(ImageDecodeError, match="empty"):
        decode_image(b"")


def test_not_an_image():
    with pytest.raises(ImageDecodeError, match="not a recognised image"):
        decode_image(b"hello, I am text" * 10)


def test_truncated_png(photos):
    data = png_bytes(photos["coffee"])
    with pytest.raises(ImageDecodeError, match="corrupt or truncated"):
        decode_image(data[: len(data) // 2])


def test_truncated_jpeg(photos):
    data = png_bytes(photos["coffee"], "JPEG", quality=90)
    with pytest.raises(ImageDecodeError, match="corrupt or truncated"):
        decode_image(data[: len(data) // 3])


def _huge_png(width: int, height: int) -> bytes:
    """A valid 1-bit PNG of the given size that compresses to a few KB (a decompression bomb)."""
    raw = b"".join(b"\x00" + b"\x00" * ((width + 7) // 8) for _ in range(height))

    def chunk(tag: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + tag + body + struct.pack(
            ">I", zlib.crc32(tag + body) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw, 9))
            + chunk(b"IEND", b""))


def test_decompression_bomb_refused_before_decoding():
    bomb = _huge_png(10_000, 10_000)  # 100 MP in ~15 KB
    assert len(bomb) < 1_000_000
    with pytest.raises(ImageDecodeError, match="decompression bomb"):
        decode_image(bomb)


def test_byte_limit(photos):
    data = png_bytes(photos["coffee"])
    with pytest.raises(ImageDecodeError, match="over the limit"):
        decode_image(data, DecodeLimits(max_bytes=1000))


def test_exif_orientation_applied(photos):
    img = photos["coffee"]  # 600 x 400
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 CW for display
    data = png_bytes(img, "JPEG", exif=exif.tobytes(), quality=95)
    d = decode_image(data)
    assert (d.width, d.height) == (400, 600)


def test_alpha_is_flattened_on_white():
    img = Image.new("RGBA", (64, 64), (255, 0, 0, 0))
    d = decode_image(png_bytes(img))
    assert d.image.mode == "RGB" and d.image.getpixel((10, 10)) == (255, 255, 255)


def test_animated_gif_takes_first_frame():
    frames = [Image.new("RGB", (32, 32), c) for c in ((255, 0, 0), (0, 0, 255))]
    buf = io.BytesIO()
    frames[0].save(buf, format="GIF", save_all=True, append_images=frames[1:], duration=50)
    d = decode_image(buf.getvalue())
    r, g, b = d.image.getpixel((5, 5))
    assert r > 200 and b < 50


def test_load_image_names_the_file(tmp_path):
    p = tmp_path / "empty.png"
    p.write_bytes(b"")
    with pytest.raises(ImageDecodeError, match="empty.png: empty file"):
        load_image(p)
    with pytest.raises(ImageDecodeError, match="no such file"):
        load_image(tmp_path / "missing.png")


def test_blank_detection(photos):
    from models.imaging import is_blank

    assert is_blank(Image.new("RGB", (300, 200), (250, 250, 250)))
    noisy = decode_image(png_bytes(Image.new("RGB", (300, 200), (240, 240, 240)), "JPEG",
                                   quality=5)).image
    assert is_blank(noisy)
    assert not is_blank(photos["coffee"])


def _grey8(photos) -> np.ndarray:  # type: ignore[no-untyped-def]
    return np.asarray(photos["chelsea"].convert("L").resize((128, 96)), dtype=np.uint8)


@pytest.mark.parametrize("fmt", ["PNG", "TIFF"])
def test_16_bit_greyscale_is_scaled_not_clipped(photos, fmt):
    """PIL's own RGB conversion clips 16-bit values at 255 (a white image); ours scales."""
    grey = _grey8(photos)
    img16 = Image.fromarray(grey.astype(np.uint16) * 257)
    assert img16.mode.startswith("I;16")
    d = decode_image(png_bytes(img16, fmt))
    out = np.asarray(d.image.convert("L"), dtype=np.int16)
    assert d.image.mode == "RGB" and out.shape == grey.shape
    assert np.abs(out - grey).max() <= 1


def test_32_bit_integer_and_float_images_keep_their_contrast(photos):
    grey = _grey8(photos).astype(np.float64)
    cases = {
        "float 0-1": Image.fromarray((grey / 255.0).astype(np.float32)),
        "float 0-255": Image.fromarray(grey.astype(np.float32)),
        "int 16-bit range": Image.fromarray((grey * 257).astype(np.int32)),
    }
    for name, img in cases.items():
        assert img.mode in ("F", "I"), name
        out = np.asarray(decode_image(png_bytes(img, "TIFF")).image.convert("L"), dtype=float)
        assert np.abs(out - grey).max() <= 1.5, name
    # values outside any 8- or 16-bit range are stretched from their minimum to maximum
    signed = Image.fromarray((grey * 1000 - 90_000).astype(np.int32))
    out = np.asarray(decode_image(png_bytes(signed, "TIFF")).image.convert("L"), dtype=float)
    assert out.min() == 0 and out.max() == 255
    assert np.corrcoef(out.ravel(), grey.ravel())[0, 1] > 0.999


def test_a_float_image_with_nan_and_inf_decodes():
    arr = np.full((40, 40), np.nan, dtype=np.float32)
    arr[:20] = 0.75
    arr[0, 0] = np.inf
    d = decode_image(png_bytes(Image.fromarray(arr), "TIFF"))
    assert d.image.mode == "RGB" and d.image.size == (40, 40)
