"""An applicant's risk profile from a sample of screened outputs.

The hit rate is probability-weighted: each output contributes the calibrated probability that
it copies its best-matching work (the expected number of copies in the sample, not a count
of outputs above some threshold). It gets a Beta-Binomial posterior whose prior is the plan's
reference hit rate and strength: posterior mean = Z x sample rate + (1 - Z) x prior rate with
credibility Z = n / (n + prior strength) (Buhlmann). Reported with the central 90% credible
interval and, for comparison, the sample-only 90% interval (Clopper-Pearson), whose upper end
with zero hits is about 3 / n. Matches a tenant's licences set aside (`licensed_matches`)
stay out of the hit rate and are shown on their own line (underwriting/licensed.py).
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from scipy.stats import beta as beta_dist

from screening.errors import InvalidInputError
from screening.files import read_file_limited
from screening.finite_json import NonFiniteNumberError, loads_finite
from screening.underwriting.licensed import LicensedHits, licensed_hits
from screening.underwriting.plan import SEVERITY_CLASSES, RatingPlan
from screening.underwriting.risk import OutputRisk, output_risk

#: Fields whose values must agree across a sample (index_revision may differ; see below).
#: A million results of a few hundred bytes each (the line limit), with room to spare.
MAX_SAMPLE_BYTES = 2 * 1024 ** 3
_SAME_VERSIONS = ("kind", "profile", "features", "calibration", "thresholds", "cjk_paraphrase")


@dataclass
class RiskProfile:
    outputs: int
    unscreened: int
    expected_hits: float
    levels: dict[str, int]
    sample_rate: float
    prior_rate: float
    prior_strength: float
    credibility: float
    posterior_mean: float
    posterior_interval_90: tuple[float, float]
    sample_interval_90: tuple[float, float]
    severity_mix: dict[str, float]  # hit-weighted share by severity class (empty: no hits)
    category_mix: dict[str, float]
    jurisdiction_mix: dict[str, float]
    distinct_works: int
    distinct_owners: int
    top: list[OutputRisk]
    scores: list[float]
    warnings: list[str] = field(default_factory=list)
    versions: list[dict] = field(default_factory=list)
    licensed: LicensedHits = field(default_factory=LicensedHits)

    def to_dict(self) -> dict:
        r6 = lambda x: round(float(x), 6)  # noqa: E731
        return {
            "outputs": self.outputs, "unscreened": self.unscreened,
            "expected_hits": r6(self.expected_hits), "levels": self.levels,
            "hit_rate": {"sample": r6(self.sample_rate), "prior": r6(self.prior_rate),
                         "prior_strength": r6(self.prior_strength),
                         "credibility_z": r6(self.credibility),
                         "posterior_mean": r6(self.posterior_mean),
                         "posterior_interval_90": [r6(x) for x in self.posterior_interval_90],
                         "sample_interval_90": [r6(x) for x in self.sample_interval_90]},
            "severity_mix": {k: r6(v) for k, v in self.severity_mix.items()},
            "category_mix": {k: r6(v) for k, v in self.category_mix.items()},
            "jurisdiction_mix": {k: r6(v) for k, v in self.jurisdiction_mix.items()},
            "distinct_works": self.distinct_works, "distinct_owners": self.distinct_owners,
            "top_contributions": [t.to_dict() for t in self.top],
            "licensed": self.licensed.to_dict(),
            "warnings": self.warnings, "screening_versions": self.versions,
        }


def read_sample(path: Path, max_lines: int = 1_000_000) -> list[dict]:
    """Screening results from a JSON Lines file (what `ipscreen screen ... --json` prints)."""
    try:
        text = read_file_limited(path, MAX_SAMPLE_BYTES, "a sample").decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidInputError(f"{path}: not UTF-8; a sample is JSON Lines") from None
    results: list[dict] = []
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        if len(results) >= max_lines:
            raise InvalidInputError(f"{path}: more than {max_lines} results")
        try:
            obj = loads_finite(line)
        except json.JSONDecodeError as exc:
            raise InvalidInputError(f"{path}: line {n}: not JSON ({exc.msg})") from None
        except NonFiniteNumberError as exc:
            raise InvalidInputError(f"{path}: line {n}: {exc}") from None
        results.append(validate_result(obj, f"{path}: line {n}"))
    if not results:
        raise InvalidInputError(f"{path}: empty sample (no screening results)")
    return results


def validate_result(obj: object, where: str) -> dict:
    """One screening result, checked enough that a malformed one cannot price a policy."""
    if not isinstance(obj, dict) or "input" not in obj:
        raise InvalidInputError(f"{where}: not a screening result (an object with 'input')")
    if "error" in obj:
        return obj
    if not isinstance(obj.get("matches"), list):
        raise InvalidInputError(f"{where}: 'matches' must be a list")
    if not isinstance(obj.get("licensed_matches", []), list):
        raise InvalidInputError(f"{where}: 'licensed_matches' must be a list")
    for m in [*obj["matches"], *obj.get("licensed_matches", [])]:
        score = m.get("score") if isinstance(m, dict) else None
        if not isinstance(score, int | float) or not 0 <= score <= 1:
            raise InvalidInputError(f"{where}: every match needs a score in [0, 1]")
        for key in ("derivative_score", "work_reproduced_fraction"):
            value = m.get(key, 0.0)
            if not isinstance(value, int | float) or not 0 <= value <= 1:
                raise InvalidInputError(f"{where}: a match's {key} must be in [0, 1]")
        if m.get("reproduction") not in (None, "whole", "near_whole"):
            raise InvalidInputError(f"{where}: a match's reproduction must be whole or "
                                    "near_whole")
    if not isinstance(obj.get("versions", {}), dict):
        raise InvalidInputError(f"{where}: 'versions' must be an object")
    return obj


def check_versions(results: list[dict], index_revision: int | None) -> list[dict]:
    """The distinct screening versions of a sample; refuses a mix of models, calibrations or
    thresholds, and (when one is stated) any result from another index revision."""
    seen: dict[str, dict] = {}
    for r in results:
        if "error" in r:
            continue
        v = r.get("versions") or {}
        if index_revision is not None and v.get("index_revision") != index_revision:
            raise InvalidInputError(
                f"sample result {r['input']!r} was screened against index revision "
                f"{v.get('index_revision')}, not the stated {index_revision}")
        same = {k: v.get(k) for k in _SAME_VERSIONS}
        if "calibration_set" in v:
            # one calibrator per language of one configuration (a multilingual text model)
            same["calibration"] = v["calibration_set"]
        key = json.dumps(same, sort_keys=True)
        seen.setdefault(key, v)
    kinds = Counter(v.get("kind") for v in seen.values())
    if any(n > 1 for n in kinds.values()):
        raise InvalidInputError(
            "sample mixes screening versions of one kind (different models, calibration or "
            "thresholds); screen the whole sample with one configuration")
    return [seen[k] for k in sorted(seen)]


def build_profile(results: list[dict], plan: RatingPlan,
                  index_revision: int | None = None, top: int = 10) -> RiskProfile:
    if not results:
        raise InvalidInputError("empty sample (no screening results)")
    versions = check_versions(results, index_revision)
    screened = [r for r in results if "error" not in r]
    n = len(screened)
    if n == 0:
        raise InvalidInputError("no output in the sample could be screened")
    risks = [output_risk(r, plan) for r in screened]
    hits = sum(r.probability for r in risks)
    s = plan.screening
    a0, b0 = s.reference_hit_rate * s.prior_strength, (1 - s.reference_hit_rate) * s.prior_strength
    post = beta_dist(a0 + hits, b0 + n - hits)
    z = n / (n + s.prior_strength)
    sample_lo = 0.0 if hits <= 0 else float(beta_dist(hits, n - hits + 1).ppf(0.05))
    sample_hi = 1.0 if hits >= n else float(beta_dist(hits + 1, n - hits).ppf(0.95))
    weight: dict[str, float] = {}
    cats: dict[str, float] = {}
    jur: dict[str, float] = {}
    for r in risks:
        if r.severity is not None and r.probability > 0:
            for table, key in ((weight, r.severity), (cats, r.category or "(none)"),
                               (jur, r.jurisdiction or "(none)")):
                table[key] = table.get(key, 0.0) + r.probability
    total = sum(weight.values())
    hit_risks = [r for r in risks if r.level != "clear"]
    warnings = []
    if n < s.min_sample:
        # the rule: fewer outputs than the plan's min_sample; then even a clean sample only
        # bounds the hit rate below 1 - 0.05^(1/n), about 3/n
        clean_bound = 1 - 0.05 ** (1 / n)
        warnings.append(
            f"sample too small to say anything: {n} screened outputs (the plan asks for at "
            f"least {s.min_sample}); even with no hits the sample alone would only bound the "
            f"hit rate below {clean_bound:.3f} (90%), so the premium rests mostly on the prior "
            f"(credibility Z = {z:.2f})")
    if len(results) - n > 0.1 * len(results):
        warnings.append(f"{len(results) - n} of {len(results)} outputs could not be screened; "
                        "they are left out of the hit rate")
    licensed = licensed_hits(screened, risks, plan)
    warnings.extend(licensed.warnings())
    levels = Counter(r.level for r in risks)
    return RiskProfile(
        outputs=n, unscreened=len(results) - n, expected_hits=hits,
        levels={k: levels.get(k, 0) for k in ("high", "medium", "low", "clear")},
        sample_rate=hits / n, prior_rate=s.reference_hit_rate, prior_strength=s.prior_strength,
        credibility=z, posterior_mean=float(post.mean()),
        posterior_interval_90=(float(post.ppf(0.05)), float(post.ppf(0.95))),
        sample_interval_90=(sample_lo, sample_hi),
        severity_mix={c: weight.get(c, 0.0) / total for c in SEVERITY_CLASSES} if total else {},
        category_mix={c: v / total for c, v in sorted(cats.items())} if total else {},
        jurisdiction_mix={c: v / total for c, v in sorted(jur.items())} if total else {},
        distinct_works=len({r.external_id for r in hit_risks}),
        distinct_owners=len({r.owner for r in hit_risks if r.owner}),
        top=sorted(hit_risks, key=lambda r: (-r.probability, r.input))[:top],
        scores=[r.probability for r in risks], warnings=warnings, versions=versions,
        licensed=licensed)
