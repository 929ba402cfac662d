"""Mapping the best calibrated copy probability to clear / review / block."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Decision = Literal["clear", "review", "block"]


@dataclass(frozen=True)
class Thresholds:
    block: float = 0.9
    review: float = 0.5
    report: float = 0.05


def decide(risk_score: float, t: Thresholds) -> Decision:
    if risk_score >= t.block:
        return "block"
    if risk_score >= t.review:
        return "review"
    return "clear"
