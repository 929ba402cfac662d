"""What screening an image gives: its matches (the work, the copy probability, the region,
the signals, and for characters and artwork the probability that it depicts the work anew)
and the result around them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from screening.registry.repository import WorkRecord
from screening.results import ScreenResult


@dataclass
class ImageMatch:
    work: WorkRecord
    score: float
    region: list[int]
    signals: dict[str, float]
    #: The work's further reference image that matched (None: the work's own image).
    reference: WorkRecord | None = None
    #: The calibrated probability that the output depicts the work anew (a character or
    #: artwork redrawn; None where that does not apply), and which probability decided.
    derivative_score: float | None = None
    similarity_kind: str = "copy"
    #: This match's own decision (the result's is the most severe of its matches').
    decision: str = "clear"

    @property
    def risk(self) -> float:
        return max(self.score, self.derivative_score or 0.0)

    @property
    def image(self) -> WorkRecord:
        """The registered image that matched: the work's own, or one of its references."""
        return self.reference or self.work

    def to_dict(self) -> dict:
        out = {**self.work.match_fields(), "score": round(self.score, 6), "region": self.region,
               "signals": {k: round(v, 6) for k, v in self.signals.items()}}
        if self.reference is not None:
            out["reference"] = self.reference.external_id
        if self.derivative_score is not None:
            out["derivative_score"] = round(self.derivative_score, 6)
        out["similarity_kind"] = self.similarity_kind
        out["decision"] = self.decision
        return out


@dataclass
class ImageResult(ScreenResult[ImageMatch]):
    width: int = 0
    height: int = 0

    def _kind_fields(self) -> dict[str, Any]:
        return {"size": [self.width, self.height]}
