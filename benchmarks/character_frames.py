"""Where the character benchmark's frames come from: a box of a sprite sheet, atlas or packed
frame of an unpacked Debian game package (see character_data.py), and what a game's loader
yields (Raw: actions of one sprite set) before character_data picks and trims the frames."""

from __future__ import annotations

import functools
import io
import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

WHOLE = (0, 0, 10**6, 10**6)  # the whole image (clipped when trimmed)


@functools.lru_cache(maxsize=256)
def _fastfile(path: Path) -> dict[str, tuple[int, int]]:
    """Dink's pack: int32 count, then (int32 offset, char[13] name) each, the last one marking
    the end. Returns lower-case name -> (offset, length)."""
    data = path.read_bytes()
    entries = [struct.unpack_from("<i13s", data, 4 + 17 * i)
               for i in range(struct.unpack_from("<i", data)[0])]
    return {raw.split(b"\0")[0].decode("latin-1").lower(): (at, end - at)
            for (at, raw), (end, _) in zip(entries, entries[1:], strict=False)}


@functools.lru_cache(maxsize=16)
def _source(path: Path, member: str | None, key: tuple[int, int, int] | None) -> Image.Image:
    """A whole sheet, atlas or frame as RGBA, with colour `key` made transparent."""
    if member is None:
        img = Image.open(path)
    else:
        at, length = _fastfile(path)[member]
        with path.open("rb") as f:
            f.seek(at)
            img = Image.open(io.BytesIO(f.read(length)))
    if key is None:
        return img.convert("RGBA")
    rgb = np.asarray(img.convert("RGB"))
    alpha = np.where(np.all(rgb == np.array(key, np.uint8), axis=2), 0, 255).astype(np.uint8)
    return Image.fromarray(np.dstack([rgb, alpha]), "RGBA")


@dataclass(frozen=True)
class Frame:
    """`box` of image `source` (of member `member` of a Dink pack), `key` colour transparent."""

    source: Path
    box: tuple[int, int, int, int]
    member: str | None = None
    key: tuple[int, int, int] | None = None

    def load(self) -> Image.Image:
        """The frame as RGBA (after `build`, already trimmed)."""
        return _source(self.source, self.member, self.key).crop(self.box)



Animation = dict[str | None, list[Frame]]  # direction (None: none) -> frames in play order


@dataclass
class Raw:
    name: str
    actions: dict[str, Animation]
    order: tuple[str, ...] = ()  # directions, front-facing first
    extra: dict[str, list[Frame]] = field(default_factory=dict)  # poses taken as they are
