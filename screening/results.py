"""What screening one input gives, whatever its kind: the decision, the best score, the
matches, an error instead of all of them, and the versions that produced it. The image and
text results add their own fields (an image's size, a text's word count) and matches."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar


class Match(Protocol):
    score: float

    def to_dict(self) -> dict: ...


M = TypeVar("M", bound=Match)


@dataclass
class ScreenResult(Generic[M]):
    input: str
    decision: str = "clear"
    risk_score: float = 0.0
    matches: list[M] = field(default_factory=list)
    error: str | None = None
    #: What produced the result (models, calibration, index revision, thresholds).
    versions: dict = field(default_factory=dict)

    def _kind_fields(self) -> dict[str, Any]:
        """The fields of this kind of result, shown after the risk score."""
        return {}

    def to_dict(self) -> dict:
        if self.error is not None:
            return {"input": self.input, "error": self.error}
        return {"input": self.input, "decision": self.decision,
                "risk_score": round(self.risk_score, 6), **self._kind_fields(),
                "matches": [m.to_dict() for m in self.matches], "versions": self.versions}
