"""Screening profiles: which extractors and views one screening run uses.

- accurate: pHash + PDQ + SSCD (ResNet-50, int8) on the whole image and a window grid.
- fast:     pHash + PDQ + the distilled SSCD student (MobileNetV4), same views.
- hash:     pHash + PDQ only: exact-ish copies, mirrors and re-encodes, at hash speed.

Extractors are created once per process and shared (ONNX sessions are expensive to open).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from models.base import HashExtractor
from models.pdq import PdqExtractor
from models.phash import PHashExtractor
from models.sscd import SscdExtractor, SscdModelName
from screening.errors import InvalidInputError
from screening.image_views import WHOLE, Box, ViewPlan, grid

#: Query windows: a 3x3 grid of half-size windows plus a 2x2 grid at 0.7. A work pasted at
#: 45-65% of a scene fills most of at least one of them. Measured against smaller grids in
#: benchmarks/image_region_grid.py.
QUERY_WINDOWS: tuple[Box, ...] = tuple(grid(0.5, 3) + grid(0.7, 2))
#: Work windows: the four 0.6 corners and the centre, so a query that is itself a crop of a
#: work (50-70% of each side kept) meets a work view of about its own extent.
WORK_WINDOWS: tuple[Box, ...] = tuple(grid(0.6, 2) + grid(0.6, 1))


@dataclass(frozen=True)
class ImageProfile:
    name: str
    descriptor: SscdModelName | None
    whole_size: int = 224  # SSCD input side for the whole image and work views
    window_size: int = 160  # SSCD input side for query windows (they are smaller crops)
    views: ViewPlan = ViewPlan(query_windows=QUERY_WINDOWS, work_windows=WORK_WINDOWS)

    @property
    def descriptor_index(self) -> str | None:
        return f"{self.descriptor}_{self.whole_size}" if self.descriptor else None


PROFILES: dict[str, ImageProfile] = {
    "accurate": ImageProfile("accurate", "sscd"),
    "fast": ImageProfile("fast", "sscd_distilled"),
    "hash": ImageProfile("hash", None),
}


def get_profile(name: str) -> ImageProfile:
    try:
        return PROFILES[name]
    except KeyError:
        raise InvalidInputError(
            f"unknown profile {name!r}; choose one of {', '.join(PROFILES)}") from None


@lru_cache
def hash_extractors() -> tuple[HashExtractor, ...]:
    return (PHashExtractor(), PdqExtractor())


@lru_cache
def descriptor_extractor(model: SscdModelName, input_size: int, threads: int = 0) -> SscdExtractor:
    return SscdExtractor(model=model, input_size=input_size, threads=threads)


__all__ = ["PROFILES", "ImageProfile", "WHOLE", "descriptor_extractor", "get_profile",
           "hash_extractors"]
