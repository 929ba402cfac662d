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
from models.runtime import ON_CPU, Runtime
from models.sscd import SscdExtractor, SscdModelName
from screening.errors import InvalidInputError
from screening.image.views import WHOLE, Box, ViewPlan, grid

#: Query windows. A work pasted at 45-65% of a scene's short side fills most of at least one
#: of them. Chosen on the *calibration* split's scene queries, never the benchmark's
#: (benchmarks/image_region_grid.py, results/image_region_grid.md): share of pasted works
#: found at a 1% false-positive rate on distractor scenes, 160 px windows:
#:   SSCD:      0.5x3+0.7x2 (13) 0.54 | 0.4x4+0.6x3 (25) 0.72 | 0.5x3+0.35x4+0.7x2 (29) 0.77
#:              | 0.45x4+0.3x5 (41) 0.86
#:   distilled: 0.52 | 0.67 | 0.68 | 0.47
#: So the accurate profile pays for 41 windows, the fast one uses the 29-window grid.
ACCURATE_WINDOWS: tuple[Box, ...] = tuple(grid(0.45, 4) + grid(0.3, 5))
FAST_WINDOWS: tuple[Box, ...] = tuple(grid(0.5, 3) + grid(0.35, 4) + grid(0.7, 2))
#: Work windows: the four 0.6 corners and the centre, so a query that is itself a crop of a
#: work (50-70% of each side kept) meets a work view of about its own extent.
WORK_WINDOWS: tuple[Box, ...] = tuple(grid(0.6, 2) + grid(0.6, 1))


@dataclass(frozen=True)
class ImageProfile:
    name: str
    descriptor: SscdModelName | None
    whole_size: int = 224  # SSCD input side for the whole image and work views
    window_size: int = 160  # SSCD input side for query windows
    views: ViewPlan = ViewPlan(query_windows=ACCURATE_WINDOWS, work_windows=WORK_WINDOWS)
    #: A cascade: this profile screens every image first, and this one screens again the
    #: images whose best candidate has a probability in [gate, sure) (see CascadeScreener).
    first_stage: str | None = None
    gate: float = 0.0
    sure: float = 1.0
    #: The calibrator family ("image-<calibration>[-bg]"); None: the profile's own name.
    calibration: str | None = None
    #: Refine the best window: when a window (not the whole image) matched the leading
    #: candidate best, describe boxes around it shaped like that work (see
    #: ImageScreener._refine) and record the best as the signal `sscd_refined`.
    refine: bool = False
    #: Also look for the same character or artwork drawn anew (models/character.py): one
    #: more pass of SSCD over the whole image, scored by its own calibrator.
    character: bool = False

    @property
    def descriptor_index(self) -> str | None:
        return f"{self.descriptor}_{self.whole_size}" if self.descriptor else None


PROFILES: dict[str, ImageProfile] = {
    "accurate": ImageProfile("accurate", "sscd", refine=True, character=True),
    "fast": ImageProfile("fast", "sscd_distilled",
                         views=ViewPlan(query_windows=FAST_WINDOWS, work_windows=WORK_WINDOWS),
                         refine=True, character=True),
    "hash": ImageProfile("hash", None),
    # fast on every image, accurate again where fast's best candidate is in [0.05, 0.99).
    # On the calibration split (held-out probabilities, calibrators of 2026.11.2, both
    # stages refining their best window) the lower gate sent on 10% of distractors and lost
    # 2 of the 1,023 copies the accurate profile finds at the review threshold; the upper
    # one answered 73% of copies from the fast stage (its top work was wrong in 4 of them)
    # (benchmarks/fit_image_calibration.py prints the trade-offs).
    "cascade": ImageProfile("cascade", "sscd", first_stage="fast", gate=0.05, sure=0.99,
                            calibration="accurate", refine=True, character=True),
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
def descriptor_extractor(model: SscdModelName, input_size: int,
                         runtime: Runtime = ON_CPU) -> SscdExtractor:
    return SscdExtractor(model=model, input_size=input_size, runtime=runtime)


__all__ = ["PROFILES", "ImageProfile", "WHOLE", "descriptor_extractor", "get_profile",
           "hash_extractors"]
