"""What screening a text gives: each matched work with its copy probability, the spans of
evidence (character offsets into the output and the work), how much of each text is covered,
and, where a whole or nearly whole work was reproduced, the rule's finding."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from screening.decision import Decision
from screening.registry.repository import WorkRecord
from screening.results import ScreenResult


@dataclass
class Span:
    kind: str  # verbatim | near_verbatim | paraphrase
    output_start: int
    output_end: int
    work_start: int
    work_end: int
    similarity: float

    def to_dict(self) -> dict:
        return {"kind": self.kind, "output_start": self.output_start,
                "output_end": self.output_end, "work_start": self.work_start,
                "work_end": self.work_end, "similarity": round(self.similarity, 4)}


@dataclass
class TextMatch:
    work: WorkRecord
    score: float
    signals: dict[str, float]
    spans: list[Span]
    longest_run_words: int
    longest_run_chars: int
    output_copied_fraction: float
    work_reproduced_fraction: float
    #: "whole" or "near_whole" when the reproduction rule applies to this match
    #: (screening/text/reproduction.py), else None.
    reproduction: str | None = None
    #: This match's own decision: the copy probability's, or the rule's when more severe.
    decision: Decision = "clear"

    @property
    def risk(self) -> float:
        """The copy probability, or the share of the work reproduced where the rule applies."""
        return max(self.score, self.work_reproduced_fraction if self.reproduction else 0.0)

    def to_dict(self) -> dict:
        out = {**self.work.match_fields(), "score": round(self.score, 6),
               "decision": self.decision,
               "longest_run_words": self.longest_run_words,
               "longest_run_chars": self.longest_run_chars,
               "output_copied_fraction": round(self.output_copied_fraction, 4),
               "work_reproduced_fraction": round(self.work_reproduced_fraction, 4),
               "spans": [s.to_dict() for s in self.spans],
               "signals": {k: round(v, 6) for k, v in self.signals.items()}}
        if self.reproduction:
            out["reproduction"] = self.reproduction
        return out


@dataclass
class TextResult(ScreenResult[TextMatch]):
    words: int = 0

    def _kind_fields(self) -> dict[str, Any]:
        return {"words": self.words}


#: Findings of one work closer than this many tokens (in the output and in the work) are one
#: passage: a paraphrase that keeps some phrases word for word is one finding, not a
#: paraphrase plus ten literal fragments.
MERGE_GAP = 20


@dataclass
class Finding:
    kind: str
    q0: int
    q1: int
    w0: int
    w1: int
    matched: int  # literally aligned tokens (0 for a paraphrase chain)
    similarity: float


def merge_findings(items: list[Finding], gap: int) -> list[Finding]:
    """Merge findings that overlap or nearly touch in both texts into one passage. Its kind:
    verbatim if it is a single verbatim run, paraphrase if a paraphrase is part of it and
    literal matches cover less than half of it, near_verbatim otherwise."""
    out: list[list[Finding]] = []
    for f in sorted(items, key=lambda f: (f.q0, f.w0)):
        if out:
            group = out[-1]
            q1 = max(g.q1 for g in group)
            w0, w1 = min(g.w0 for g in group), max(g.w1 for g in group)
            if f.q0 - q1 <= gap and f.w0 - w1 <= 3 * gap and f.w1 >= w0 - 3 * gap:
                group.append(f)
                continue
        out.append([f])
    merged = []
    for group in out:
        if len(group) == 1:
            merged.append(group[0])
            continue
        literal = sum(g.matched for g in group)
        para = [g for g in group if g.kind == "paraphrase"]
        lit = [g for g in group if g.kind != "paraphrase"]
        q0, q1 = min(g.q0 for g in group), max(g.q1 for g in group)
        if para and literal < 0.5 * (q1 - q0):
            kind, sim = "paraphrase", max(g.similarity for g in para)
        else:
            # literal matches carry the passage: their extent is exact, a window's is not
            group = lit
            kind = "verbatim" if len(lit) == 1 and lit[0].kind == "verbatim" else "near_verbatim"
            q0, q1 = min(g.q0 for g in group), max(g.q1 for g in group)
        w0, w1 = min(g.w0 for g in group), max(g.w1 for g in group)
        if kind != "paraphrase":
            sim = literal / max(q1 - q0, w1 - w0)
        merged.append(Finding(kind, q0, q1, w0, w1, literal, sim))
    return merged
