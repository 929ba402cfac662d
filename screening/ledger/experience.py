"""Experience rating: what the ledger's policies and claims say about the plan.

Exposure. Each policy's expected claims (claims a year above its deductible) and expected
loss, under the plan being updated (a policy priced by another version is re-rated from
its stored inputs: `on_level`), earned pro rata over the part of its period before
`as_of`. A claim counts when its incurred amount (paid + reserved + defence) is above zero;
its loss is that amount capped at the per-claim limit, and a policy's losses at its
aggregate limit.

Credibility.
- The book's level (frequency): Z = E / (E + k), E the expected claims earned and k the
  plan's `experience.credibility_k` (claims for half credibility). One book gives no
  estimate of how far books stray from the plan, so the plan states it.
- Segments (jurisdiction, severity class, controls, hit-rate band): Buhlmann-Straub between
  the segments of a dimension, with Poisson claim counts. For segment j with expected
  claims E_j and claims N_j, X_j = N_j / E_j; the expected process variance per unit of
  exposure is the overall X (Poisson), the variance of hypothetical means is
  a = (sum_j E_j (X_j - X)^2 - (J - 1) X) / (E - sum_j E_j^2 / E), k = X / a and
  Z_j = E_j / (E_j + k); a <= 0 (no spread beyond chance) gives Z_j = 0. The segment's
  credibility-weighted relativity to the book is Z_j X_j / X + (1 - Z_j).
- Severity: a lognormal fitted by maximum likelihood to the claims' ground-up amounts
  (incurred + deductible; truncated at the deductible, censored at deductible + limit), and
  blended with the plan's parameters by Z = n / (n + `experience.severity_credibility_k`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date

import numpy as np
from scipy.optimize import minimize
from scipy.stats import norm

from screening.underwriting.plan import RatingPlan, lognormal_survival


@dataclass(frozen=True)
class PolicyYear:
    """One policy's earned experience."""

    policy_no: str
    earned: float  # share of a year
    expected_claims: float
    expected_loss: float
    claims: int
    loss: float
    premium: float
    jurisdiction: str
    severity_claims: dict[str, int]
    severity_loss: dict[str, float]
    severity_share: dict[str, float]
    controls: tuple[str, ...]
    hit_band: str
    deductible: float
    #: (ground-up amount, deductible, censored at deductible + limit)
    amounts: tuple[tuple[float, float, bool], ...] = ()


@dataclass
class Segment:
    name: str
    expected: float
    claims: int
    credibility: float
    relativity: float  # credibility-weighted, relative to the book
    loss: float = 0.0  # what its claims cost (observed severity: loss / claims)

    def to_dict(self) -> dict:
        x = self.claims / self.expected if self.expected > 0 else None
        return {"segment": self.name, "expected_claims": round(self.expected, 4),
                "claims": self.claims, "actual_to_expected": None if x is None else round(x, 4),
                "loss": round(self.loss, 2),
                "average_severity": round(self.loss / self.claims, 2) if self.claims else None,
                "credibility": round(self.credibility, 4),
                "relativity": round(self.relativity, 4)}


@dataclass
class Experience:
    policies: int
    earned_years: float
    expected_claims: float
    claims: int
    expected_loss: float
    loss: float
    premium: float
    frequency_credibility: float
    frequency_factor: float
    severity: dict
    segments: dict[str, list[Segment]] = field(default_factory=dict)
    k: dict[str, float | None] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"policies": self.policies, "earned_years": round(self.earned_years, 4),
                "expected_claims": round(self.expected_claims, 4), "claims": self.claims,
                "expected_loss": round(self.expected_loss, 2), "loss": round(self.loss, 2),
                "premium": round(self.premium, 2),
                "loss_ratio": round(self.loss / self.premium, 4) if self.premium else None,
                "frequency": {"credibility": round(self.frequency_credibility, 4),
                              "factor": round(self.frequency_factor, 4)},
                "severity": self.severity,
                "segments": {d: [s.to_dict() for s in seg] for d, seg in self.segments.items()},
                "buhlmann_k": {d: None if v is None else round(v, 4) for d, v in self.k.items()}}


def _band(rate: float, edges: list[float]) -> str:
    lo = 0.0
    for e in edges:
        if rate < e:
            return f"{lo:g}-{e:g}"
        lo = e
    return f">={lo:g}"


def earned(start: date, end: date, as_of: date) -> float:
    """The share of a year the policy has run by `as_of` (its whole term when past it)."""
    days = (min(end, as_of) - start).days + 1
    return max(0.0, min(days, (end - start).days + 1)) / 365.0


def on_level(p: dict, plan: RatingPlan) -> tuple[float, float]:
    """(expected claims, expected loss) a year of policy `p` under `plan`. A policy priced
    by another plan version is re-rated from its stored rating inputs (times the experience
    modification it had), as actuaries restate premium on level: comparing its claims with
    what an older plan expected would count a correction the plan already made again."""
    s = p["summary"]
    sha = (p.get("plan") or {}).get("sha256")
    if (sha and sha == plan.sha256) or not s.get("annual_outputs") \
            or not s.get("jurisdictions") or not s.get("outputs") \
            or p.get("currency") not in plan.fx.rates:
        return s["expected_claims"], s["expected_loss"]
    from screening.underwriting.applicant import Applicant
    from screening.underwriting.pricing import SampleSummary, quote

    known = [c for c in s.get("controls", []) if c in plan.schedule.items]
    who = Applicant(name=p["applicant"], annual_outputs=s["annual_outputs"],
                    jurisdictions=s["jurisdictions"], controls=known)
    q = quote(plan, who, SampleSummary(s["outputs"], min(s["expected_hits"], s["outputs"]),
                                       s.get("severity_mix") or {}),
              p["limit"], p["deductible"], p["currency"],
              aggregate_limit=p["aggregate_limit"])
    mod = s.get("experience_mod", 1.0)
    return q.expected_claims * mod, q.expected_loss * mod


def policy_years(ledger: list[dict], plan: RatingPlan, as_of: date) -> list[PolicyYear]:
    out = []
    for p in ledger:
        start, end = date.fromisoformat(p["period_start"]), date.fromisoformat(p["period_end"])
        share = earned(start, end, as_of)
        if share <= 0:
            continue
        s = p["summary"]
        counted = [c for c in p["claims"] if c["incurred"] > 0 and
                   date.fromisoformat(c["reported_date"]) <= as_of]
        losses = [min(c["incurred"], p["limit"]) for c in counted]
        sev: dict[str, int] = {}
        sev_loss: dict[str, float] = {}
        for c, x in zip(counted, losses, strict=True):
            cls = plan.severity_classes.of(c["category"] or "")
            sev[cls] = sev.get(cls, 0) + 1
            sev_loss[cls] = sev_loss.get(cls, 0.0) + x
        juris = s.get("jurisdictions") or {"OTHER": 1.0}
        mix = s.get("severity_mix") or plan.category_mix.reference_mix
        claims_exp, loss_exp = on_level(p, plan)
        out.append(PolicyYear(
            p["policy_no"], share, claims_exp * share, loss_exp * share,
            len(counted), min(sum(losses), p["aggregate_limit"]), p["premium"] * share,
            max(sorted(juris), key=lambda k: juris[k]), sev, sev_loss,
            {str(k): float(v) for k, v in mix.items()},
            tuple(s.get("controls") or ()), _band(s["hit_rate"], plan.experience.hit_rate_bands),
            p["deductible"],
            tuple((x + p["deductible"], p["deductible"], c["incurred"] >= p["limit"])
                  for c, x in zip(counted, losses, strict=True))))
    return out


def buhlmann_straub(groups: dict[str, tuple[float, int]]) -> tuple[list[Segment], float | None]:
    """Segments' credibility (module docstring); k is None when it cannot be estimated."""
    e = sum(w for w, _ in groups.values())
    n = sum(c for _, c in groups.values())
    if e <= 0 or n == 0:
        return [Segment(g, w, c, 0.0, 1.0) for g, (w, c) in sorted(groups.items())], None
    mean = n / e
    live = {g: (w, c) for g, (w, c) in groups.items() if w > 0}
    spread = sum(w * (c / w - mean) ** 2 for w, c in live.values()) - (len(live) - 1) * mean
    denom = e - sum(w * w for w, _ in live.values()) / e
    a = spread / denom if denom > 0 else 0.0
    k = mean / a if a > 0 else None
    segs = []
    for g, (w, c) in sorted(groups.items()):
        z = 0.0 if k is None or w <= 0 else w / (w + k)
        x = c / w / mean if w > 0 else 1.0
        segs.append(Segment(g, w, c, z, z * x + (1 - z)))
    return segs, k


def fit_lognormal(amounts: list[tuple[float, float, bool]]) -> tuple[float, float] | None:
    """(mu, sigma) by maximum likelihood, truncated at each deductible and censored at
    deductible + limit; None with fewer than 2 uncensored amounts."""
    if sum(1 for _, _, cens in amounts if not cens) < 2:
        return None
    x = np.array([a for a, _, _ in amounts])
    d = np.array([b for _, b, _ in amounts])
    cens = np.array([c for _, _, c in amounts])
    lx = np.log(x)
    with np.errstate(divide="ignore"):
        ld = np.where(d > 0, np.log(np.maximum(d, 1e-300)), -np.inf)

    def nll(theta: np.ndarray) -> float:
        mu, s = theta[0], math.exp(theta[1])
        z = (lx - mu) / s
        zd = (ld - mu) / s
        ll = np.where(cens, norm.logsf(z), norm.logpdf(z) - math.log(s) - lx)
        return float(-(ll - norm.logsf(zd)).sum())

    # sigma within the plan's own bounds (0, 5]; at least 0.05 so that a ledger of
    # identical amounts does not fit a point mass
    bounds = [(0.0, math.log(1e13)), (math.log(0.05), math.log(5.0))]
    start = np.array([lx.mean(), math.log(min(max(lx.std(), 0.1), 5.0))])
    res = minimize(nll, start, method="L-BFGS-B", bounds=bounds)
    return float(res.x[0]), float(math.exp(res.x[1]))


def experience(ledger: list[dict], plan: RatingPlan, as_of: date) -> Experience:
    years = policy_years(ledger, plan, as_of)
    severity = _severity(years, plan)
    e = sum(y.expected_claims for y in years)
    n = sum(y.claims for y in years)
    # Expected claims count those above each deductible under the plan's severity; with a
    # new severity curve, as many ground-up claims give another share above it, and the
    # frequency is compared on that basis (or the base loss cost would carry the change
    # of the share above the deductible as a change of frequency).
    new = severity.get("blended")
    e_basis = e if not new else sum(
        y.expected_claims * lognormal_survival(new["median"], new["sigma"], y.deductible)
        / plan.severity.survival(y.deductible) for y in years)
    z = e / (e + plan.experience.credibility_k) if e > 0 else 0.0
    out = Experience(len(years), sum(y.earned for y in years), e, n,
                     sum(y.expected_loss for y in years), sum(y.loss for y in years),
                     sum(y.premium for y in years), z,
                     1 + z * (n / e_basis - 1) if e > 0 else 1.0, severity)
    dims: dict[str, dict[str, tuple[float, int]]] = {"jurisdiction": {}, "severity class": {},
                                                     "hit-rate band": {}, "controls": {}}

    seg_loss: dict[tuple[str, str], float] = {}

    def add(dim: str, key: str, w: float, c: int, loss: float) -> None:
        w0, c0 = dims[dim].get(key, (0.0, 0))
        dims[dim][key] = (w0 + w, c0 + c)
        seg_loss[dim, key] = seg_loss.get((dim, key), 0.0) + loss

    for y in years:
        add("jurisdiction", y.jurisdiction, y.expected_claims, y.claims, y.loss)
        add("hit-rate band", y.hit_band, y.expected_claims, y.claims, y.loss)
        for ctl in plan.schedule.items:
            add("controls", f"{ctl}: {'yes' if ctl in y.controls else 'no'}",
                y.expected_claims, y.claims, y.loss)
        # a class's expected share of the claims: its share of the hits weighted by its
        # relativity (the plan's statement of how much more a severe hit costs)
        rel = {str(c): v for c, v in plan.category_mix.relativities.items()}
        total = sum(share * rel.get(c, 1.0) for c, share in y.severity_share.items()) or 1.0
        for cls, share in y.severity_share.items():
            add("severity class", cls, y.expected_claims * share * rel.get(cls, 1.0) / total,
                y.severity_claims.get(cls, 0), y.severity_loss.get(cls, 0.0))
    for dim, groups in dims.items():
        out.segments[dim], out.k[dim] = buhlmann_straub(groups)
        for seg in out.segments[dim]:
            seg.loss = seg_loss.get((dim, seg.name), 0.0)
    return out


def _severity(years: list[PolicyYear], plan: RatingPlan) -> dict:
    amounts = [a for y in years for a in y.amounts]
    sev = plan.severity
    fitted = fit_lognormal(amounts)
    zs = len(amounts) / (len(amounts) + plan.experience.severity_credibility_k)
    out: dict = {"claims": len(amounts), "credibility": round(zs, 4),
                 "plan": {"median": sev.median, "sigma": sev.sigma}}
    if fitted is not None:
        mu, sigma = fitted
        out["fitted"] = {"median": round(math.exp(mu), 2), "sigma": round(sigma, 4)}
        out["blended"] = {"median": round(math.exp(zs * mu + (1 - zs) * sev.mu), 2),
                          "sigma": round(zs * sigma + (1 - zs) * sev.sigma, 4)}
    return out
