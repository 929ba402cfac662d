"""Mapping the best calibrated copy probability to clear / review / block."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from screening.licences import covers

Decision = Literal["clear", "review", "block"]


@dataclass(frozen=True)
class Thresholds:
    block: float = 0.9
    review: float = 0.5
    report: float = 0.05


#: Decisions from the least to the most severe.
DECISIONS: tuple[Decision, ...] = ("clear", "review", "block")


def worst(a: Decision, b: Decision) -> Decision:
    """The more severe of two decisions."""
    return a if DECISIONS.index(a) >= DECISIONS.index(b) else b


def decide(risk_score: float, t: Thresholds) -> Decision:
    if risk_score >= t.block:
        return "block"
    if risk_score >= t.review:
        return "review"
    return "clear"


def screening_versions(kind: str, profile: str, specs: Sequence[Any], calibrator: Any,
                       index_revision: int, t: Thresholds,
                       search: dict[str, str] | None = None) -> dict:
    """Provenance carried by every result: an underwriter (or a court) can tell exactly which
    models, calibration, registry state and thresholds produced a decision, and a sample
    screened under other versions is refused rather than mixed. `search`: how each
    embedding index searched (exact Flat, or an approximate factory and its breadth)."""
    out = {"kind": kind, "profile": profile,
           "features": sorted(f"{s.name}@{s.version}" for s in specs),
           "calibration": f"{calibrator.name}@{calibrator.version}",
           "index_revision": index_revision,
           "thresholds": {"block": t.block, "review": t.review, "report": t.report}}
    if search:
        out["search"] = dict(sorted(search.items()))
    return out


def dense_search(indexes: Iterable[tuple[str, Any]]) -> dict[str, str]:
    """The search description of every dense index among (name, index) pairs."""
    from indexes.dense import DenseIndex

    return {name: index.search_description() for name, index in indexes
            if isinstance(index, DenseIndex)}


def match_risk(m: dict) -> float:
    """A reported match's risk: its copy probability, or more where another finding applies
    (an image's derivative_score; a text's work_reproduced_fraction under the whole-work
    rule)."""
    p = max(float(m.get("score", 0.0)), float(m.get("derivative_score", 0.0) or 0.0))
    if m.get("reproduction"):
        p = max(p, float(m.get("work_reproduced_fraction", 0.0) or 0.0))
    return p


def apply_licences(result: dict, licensed: Mapping[str, dict], t: Thresholds) -> dict:
    """A result as seen by a tenant: matches on works it holds a licence for (external id
    -> the licence's evidence, from AccessStore.licensed: those in force today) move to
    `licensed_matches`, each with its licence's evidence under `licence`, and no longer count
    towards its decision or risk score. A licence covers the media it names (a licence for
    images leaves a text output's match counting)."""
    if "error" in result or not licensed:
        return result
    kind = (result.get("versions") or {}).get("kind")

    def held(m: dict) -> dict | None:
        evidence = licensed.get(m.get("external_id", ""))
        return evidence if evidence is not None and covers(evidence, kind) else None

    keep = [m for m in result.get("matches", []) if held(m) is None]
    gone = [{**m, "licence": held(m)} for m in result.get("matches", []) if held(m) is not None]
    if not gone:
        return result
    # what remains decides as screening decided it: by each match's own decision where it
    # has one (an image match's copy or derivative decision), else by its copy score
    score = max((match_risk(m) for m in keep), default=0.0)
    decisions = [m.get("decision") or decide(float(m["score"]), t) for m in keep]
    decision = max(decisions, key=DECISIONS.index, default="clear")
    return {**result, "matches": keep, "licensed_matches": gone, "risk_score": score,
            "decision": decision}
