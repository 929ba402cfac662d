"""The cascade profile: the fast profile screens every image, the accurate one only the
doubtful middle."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from indexes.base import FeatureIndex
from models.imaging import DecodedImage
from screening.calibration import LogisticCalibrator
from screening.decision import Thresholds
from screening.image.character import DerivativeRule
from screening.image.features import IndexedFeature
from screening.image.profiles import ImageProfile
from screening.image.screening import ImageScreener, Scored
from screening.image.signals import Evidence
from screening.registry.repository import WorksRegistry


class CascadeScreener(ImageScreener):
    """Fast first, accurate where it matters: the fast profile screens every image; an
    image whose best candidate work has a fast probability in [`profile.gate`,
    `profile.sure`) is screened again, in full, by this (accurate) screener, whose result
    replaces the fast one.

    Most generated outputs copy nothing, and the fast profile leaves most of those below the
    gate: they cost one fast pass, keep their calibrated fast probabilities (all below the
    gate, so below the review threshold) and are clear. Plain copies (mirrored, re-encoded,
    recoloured) mostly reach `sure` in the fast pass and are answered by it too. The doubtful
    middle, including most works pasted into scenes, costs a fast and an accurate pass and
    gets the accurate profile's scores. Both gates were chosen on the calibration split
    (benchmarks/fit_image_calibration.py prints the trade-offs).
    """

    def __init__(self, profile: ImageProfile, features: Sequence[IndexedFeature],
                 indexes: dict[str, FeatureIndex], registry: WorksRegistry,
                 thresholds: Thresholds, first: ImageScreener,
                 background: FeatureIndex | None = None,
                 calibrator: LogisticCalibrator | None = None, max_matches: int = 5,
                 index_revision: int = 0,
                 work_aspect: Callable[[int], float | None] | None = None,
                 derivative_rule: DerivativeRule | None = None) -> None:
        super().__init__(profile, features, indexes, registry, thresholds, background,
                         calibrator, max_matches, index_revision, work_aspect, derivative_rule)
        self.first = first
        self.versions["features"] = sorted({*self.versions["features"],
                                            *first.versions["features"]})
        self.versions["search"] = dict(sorted({**first.versions.get("search", {}),
                                               **self.versions.get("search", {})}.items()))
        self.versions["first_stage"] = {"profile": first.profile.name,
                                        "calibration": first.versions["calibration"],
                                        "gate": profile.gate, "sure": profile.sure}

    def _scored(self, images: Sequence[DecodedImage],
                hashed: list[dict[str, Evidence]] | None = None) -> list[Scored]:
        # both stages search the same hash indexes: hash each image once
        hashed = hashed if hashed is not None else self._hash_evidence(images)
        out = self.first._scored(images, hashed)
        again = [i for i, (_, probs) in enumerate(out)
                 if probs and self.profile.gate <= max(probs.values()) < self.profile.sure]
        if again:
            second = super()._scored([images[i] for i in again], [hashed[i] for i in again])
            for i, (per_work, probs) in zip(again, second, strict=True):
                earlier = out[i][1]
                for wid, sig in per_work.items():
                    # informational: the fast stage's view of the same work
                    sig.values["first_stage"] = earlier.get(wid, 0.0)
                out[i] = (per_work, probs)
        return out
