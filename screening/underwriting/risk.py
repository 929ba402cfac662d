"""Per-output risk: a screening result (image or text) -> risk level, severity class, weight.

The thresholds and the category -> severity table live in the rating plan, not here: an
insurer changes them by versioning the plan.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from screening.decision import match_risk
from screening.underwriting.plan import RatingPlan, SeverityClass

RiskLevel = Literal["high", "medium", "low", "clear"]


@dataclass(frozen=True)
class OutputRisk:
    input: str
    #: calibrated probability that the output copies its best match (or, for characters
    #: and artwork, depicts it anew)
    probability: float
    level: RiskLevel
    severity: SeverityClass | None  # None when nothing was matched
    external_id: str = ""
    title: str = ""
    owner: str = ""
    category: str = ""
    jurisdiction: str = ""
    evidence: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"input": self.input, "probability": round(self.probability, 6),
                "level": self.level, "severity": self.severity,
                "external_id": self.external_id, "title": self.title, "owner": self.owner,
                "category": self.category, "jurisdiction": self.jurisdiction,
                "evidence": self.evidence}


def level_of(p: float, plan: RatingPlan) -> RiskLevel:
    r = plan.risk_levels
    if p >= r.high:
        return "high"
    if p >= r.medium:
        return "medium"
    if p >= r.low:
        return "low"
    return "clear"


def output_risk(result: dict, plan: RatingPlan) -> OutputRisk:
    """Risk of one screened output, from its JSON result (CLI or API). Error results must
    be filtered out before (they were not screened)."""
    matches = result.get("matches") or []
    name = str(result.get("input", ""))
    if not matches:
        return OutputRisk(name, 0.0, "clear", None)
    m = matches[0]
    # a new rendering of a registered character is a claim too (Ultraman), and so is a short
    # work reproduced whole: the copy probability or, where larger, the derivative
    # probability or the share of the work reproduced
    p = match_risk(m)
    category = str(m.get("category", "")).lower()
    severity = plan.severity_classes.of(category)
    run = int(m.get("longest_run_words", 0) or 0)
    if run >= plan.severity_classes.severe_text_run_words:
        severity = "severe"
    evidence = {k: m[k] for k in ("region", "longest_run_words", "longest_run_chars",
                                  "output_copied_fraction", "work_reproduced_fraction",
                                  "similarity_kind", "derivative_score", "reference",
                                  "reproduction")
                if k in m}
    if m.get("spans"):
        evidence["spans"] = m["spans"][:3]
    return OutputRisk(name, p, level_of(p, plan), severity, str(m.get("external_id", "")),
                      str(m.get("title", "")), str(m.get("owner", "")), category,
                      str(m.get("jurisdiction", "")), evidence)
