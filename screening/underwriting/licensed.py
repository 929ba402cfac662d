"""Licensed hits: what an applicant's own licences set aside, shown apart from the priced rate.

A result screened over HTTP carries `licensed_matches`: matches on works the tenant declares
it licenses, each with the licence's evidence (screening/licences.py). They do not count
towards the decision, and they stay out of the profile's expected hits (a real licence is
no infringement), but the applicant declared them itself, so the underwriter sees them on a
line of their own: how many outputs' best match is a licensed work, the expected hits that
sets aside, the works and owners, and the evidence of each licence.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from screening.decision import match_risk
from screening.underwriting.plan import RatingPlan
from screening.underwriting.risk import OutputRisk, level_of

#: The profile warns when more than this share of the hit outputs are set aside by licences.
#: A judgement, not a measurement: one hit in five cleared by the applicant's own
#: declaration is enough that the evidence should be read before the quote is relied on.
WARN_SHARE = 0.2


@dataclass
class LicensedWork:
    external_id: str
    title: str
    owner: str
    outputs: int
    expected_hits: float
    #: the licence's evidence as the result carried it (None: the result carried none)
    licence: dict | None

    def to_dict(self) -> dict:
        return {"external_id": self.external_id, "title": self.title, "owner": self.owner,
                "outputs": self.outputs, "expected_hits": round(self.expected_hits, 6),
                "licence": self.licence}


@dataclass
class LicensedHits:
    #: outputs whose best match (at a hit level) is on a licensed work
    outputs: int = 0
    #: the sum of those outputs' licensed-match probabilities
    expected_hits: float = 0.0
    #: the sample's expected hits had no licence held (the priced expected hits plus what
    #: the licences set aside)
    expected_hits_without_licences: float = 0.0
    #: outputs among `outputs` whose licence has no evidence on record
    without_evidence: int = 0
    #: outputs that would be hits with no licence held (the denominator of the warning)
    hit_outputs_without_licences: int = 0
    works: list[LicensedWork] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"outputs": self.outputs, "expected_hits": round(self.expected_hits, 6),
                "expected_hits_without_licences":
                    round(self.expected_hits_without_licences, 6),
                "without_evidence": self.without_evidence,
                "distinct_works": len(self.works),
                "distinct_owners": len({w.owner for w in self.works if w.owner}),
                "works": [w.to_dict() for w in self.works]}

    def warnings(self) -> list[str]:
        out = []
        total = self.hit_outputs_without_licences
        if self.outputs and self.outputs > WARN_SHARE * total:
            out.append(
                f"{self.outputs} of {total} hits are on works the applicant declares licensed "
                f"({self.expected_hits_without_licences:.2f} expected hits without the "
                "licences); they are left out of the hit rate: check the licence evidence")
        if self.without_evidence:
            out.append(
                f"{self.without_evidence} licensed hits rest on licences with no evidence on "
                "record (recorded before evidence was required, or screened without it): no "
                "licensor, contract or term to check")
        return out


def _has_evidence(licence: object) -> bool:
    return isinstance(licence, dict) and licence.get("evidence") == "recorded"


def licensed_hits(results: list[dict], risks: list[OutputRisk],
                  plan: RatingPlan) -> LicensedHits:
    """The licensed line of a profile from screened results and their (unlicensed) risks,
    in the same order. The works are ordered by expected hits, most first."""
    out = LicensedHits()
    by_work: dict[str, LicensedWork] = {}
    for result, risk in zip(results, risks, strict=True):
        held = result.get("licensed_matches") or []
        best = max(held, key=match_risk) if held else None
        p = match_risk(best) if best is not None else 0.0
        out.expected_hits_without_licences += max(p, risk.probability)
        if level_of(max(p, risk.probability), plan) != "clear":
            out.hit_outputs_without_licences += 1
        if best is None or p <= risk.probability or level_of(p, plan) == "clear":
            continue
        out.outputs += 1
        out.expected_hits += p
        licence = best.get("licence")
        out.without_evidence += not _has_evidence(licence)
        ext = str(best.get("external_id", ""))
        work = by_work.setdefault(ext, LicensedWork(
            ext, str(best.get("title", "")), str(best.get("owner", "")), 0, 0.0,
            licence if isinstance(licence, dict) else None))
        work.outputs += 1
        work.expected_hits += p
    out.works = sorted(by_work.values(), key=lambda w: (-w.expected_hits, w.external_id))
    return out
