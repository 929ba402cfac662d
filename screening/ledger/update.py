"""A new plan version from the ledger's experience, every change sourced.

The base loss cost moves by the book's credibility-weighted frequency and by the severity
curve's change at the basic limit; the severity curve by its blended fit; jurisdiction and
severity-class relativities by their segments' credibility-weighted relativities (see
experience.py). Controls and hit-rate bands are reported, not applied: the schedule credits
and the screening elasticity are the underwriter's judgement, which the report informs.
With no claims in the ledger nothing changes: an empty ledger is more often an incomplete
one than a clean book.
"""

from __future__ import annotations

from datetime import date

import yaml

from screening.ledger.experience import Experience
from screening.underwriting.plan import SEVERITY_CLASSES, RatingPlan, Severity, parse_plan


def _bump(version: str) -> str:
    major, minor, _ = version.split("+")[0].split("-")[0].split(".")
    return f"{major}.{int(minor) + 1}.0"


def update_plan(plan: RatingPlan, exp: Experience, as_of: date
                ) -> tuple[RatingPlan, list[dict], str]:
    """(the new plan, the changes, its YAML); the same plan and no changes without claims."""
    if exp.claims == 0:
        return plan, [], ""
    raw = plan.model_dump(mode="json", exclude={"sha256"})
    changes: list[dict] = []
    basis = (f"ledger as of {as_of.isoformat()}: {exp.policies} policies, "
             f"{exp.earned_years:.1f} policy-years, {exp.claims} claims on "
             f"{exp.expected_claims:.1f} expected")

    def change(path: str, old: object, new: object, why: str) -> None:
        changes.append({"field": path, "from": old, "to": new, "source": why})

    sev = plan.severity
    new_sev = sev
    blended = exp.severity.get("blended")
    if blended:
        new_sev = Severity(median=blended["median"], sigma=blended["sigma"],
                           basic_limit=sev.basic_limit, source=sev.source)
        why = (f"lognormal fitted to {exp.severity['claims']} claims (median "
               f"{exp.severity['fitted']['median']:,.0f}, sigma "
               f"{exp.severity['fitted']['sigma']:.3f}; truncated at deductibles, censored at "
               f"limits), blended with the plan's by credibility "
               f"{exp.severity['credibility']:.3f}")
        raw["severity"].update(median=new_sev.median, sigma=new_sev.sigma,
                               source=f"{why}; {basis}. Before: {sev.source}")
        change("severity.median", sev.median, new_sev.median, why)
        change("severity.sigma", sev.sigma, new_sev.sigma, why)
    sev_factor = new_sev.lev(sev.basic_limit) / sev.lev(sev.basic_limit)
    old_base = plan.base_loss_cost.value
    new_base = round(old_base * exp.frequency_factor * sev_factor, 2)
    why = (f"claims / expected {exp.claims}/{exp.expected_claims:.1f} with credibility "
           f"{exp.frequency_credibility:.3f} (factor {exp.frequency_factor:.4f}) x severity at "
           f"the basic limit {sev_factor:.4f}; {basis}")
    raw["base_loss_cost"] = {"value": new_base, "source": why}
    change("base_loss_cost.value", old_base, new_base, why)
    rel = dict(plan.jurisdiction.relativities)
    for seg in exp.segments.get("jurisdiction", []):
        code = seg.name if seg.name in rel else "OTHER"
        if seg.credibility > 0:
            new = round(rel[code] * seg.relativity, 4)
            change(f"jurisdiction.relativities.{code}", rel[code], new,
                   f"{seg.claims} claims on {seg.expected:.1f} expected, credibility "
                   f"{seg.credibility:.3f} (Buhlmann-Straub)")
            rel[code] = new
    raw["jurisdiction"]["relativities"] = rel
    cm = dict(plan.category_mix.relativities)
    proposed = dict(cm)
    for seg in exp.segments.get("severity class", []):
        if seg.name in proposed and seg.credibility > 0:
            proposed[seg.name] = round(cm[seg.name] * seg.relativity, 4)
    if proposed != cm:
        if proposed["minor"] <= proposed["major"] <= proposed["severe"]:
            for c in SEVERITY_CLASSES:
                if proposed[c] != cm[c]:
                    seg = next(s for s in exp.segments["severity class"] if s.name == c)
                    change(f"category_mix.relativities.{c}", cm[c], proposed[c],
                           f"{seg.claims} claims on {seg.expected:.1f} expected, "
                           f"credibility {seg.credibility:.3f} (Buhlmann-Straub)")
            raw["category_mix"]["relativities"] = proposed
        else:
            changes.append({"field": "category_mix.relativities", "from": cm, "to": cm,
                            "source": f"proposed {proposed} breaks minor <= major <= severe; "
                                      "kept"})
    for table in ("jurisdiction", "category_mix"):
        if any(c["field"].startswith(table + ".") for c in changes):
            raw[table]["source"] = f"Updated from the {basis}. Before: {raw[table]['source']}"
    raw["version"] = _bump(plan.version)
    raw["effective_date"] = as_of.isoformat()
    raw["reference_applicant"]["pinned"] = False
    header = (f"# {plan.plan_id} {raw['version']}: plan {plan.version} "
              f"(sha256 {plan.sha256[:12]}) updated from the claims ledger by `ipscreen plan "
              f"update --from-claims`.\n# Each changed table's source says what moved it.\n")
    text = header + yaml.safe_dump(raw, sort_keys=False, allow_unicode=True, width=100)
    return parse_plan(text.encode("utf-8"), "updated plan"), changes, text
