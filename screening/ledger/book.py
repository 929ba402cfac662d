"""The book's aggregate loss: the policies in force, with the events they share.

Each policy in force on `as_of` becomes a portfolio.Policy: its ground-up claims a year
(the expected claims above its deductible from its quote, over the plan's probability of a
claim exceeding that deductible), the plan's severity curve, and its layer and aggregate
limit in the plan's currency. Policies share events through the rights owners their
screening samples matched (`summary.owners`): the plan's `portfolio.shared_share` of each
policy's claims comes from its owners' events, split by its shares of them, with the plan's
concentration. The book is simulated with those shared events and computed exactly as if
independent, side by side; the report is one self-contained HTML page.
"""

from __future__ import annotations

import html
from datetime import date

import numpy as np

from screening.errors import InvalidInputError
from screening.underwriting.plan import RatingPlan
from screening.underwriting.portfolio import (
    LEVELS,
    Policy,
    RiskSummary,
    groups_from_shares,
    independent_portfolio,
    simulate_portfolio,
)


def in_force(ledger: list[dict], as_of: date) -> list[dict]:
    return [p for p in ledger if p["status"] == "bound"
            and date.fromisoformat(p["period_start"]) <= as_of
            <= date.fromisoformat(p["period_end"])]


def book_policies(ledger: list[dict], plan: RatingPlan) -> list[Policy]:
    sev = plan.severity
    out = []
    for p in ledger:
        rate = plan.fx.rates.get(p["currency"])
        if rate is None:
            raise InvalidInputError(f"policy {p['policy_no']}: currency {p['currency']} is not "
                                    "in the plan's fx table")
        d = p["deductible"] * rate
        out.append(Policy(p["policy_no"], p["summary"]["expected_claims"] / sev.survival(d),
                          sev.median,
                          sev.sigma, d, p["limit"] * rate, p["aggregate_limit"] * rate))
    return out


def book_risk(ledger: list[dict], plan: RatingPlan, as_of: date, years: int = 100_000,
              seed: int = 0) -> dict:
    """The book in force on `as_of`: figures with and without shared events, and the two
    distributions' exceedance curves for a chart."""
    policies_in = in_force(ledger, as_of)
    if not policies_in:
        raise InvalidInputError(f"no policy in force on {as_of.isoformat()}")
    pols = book_policies(policies_in, plan)
    owners = sorted({o for p in policies_in for o in p["summary"].get("owners", {})})
    pm = plan.portfolio
    shares = [pm.shared_share if p["summary"].get("owners") else 0.0 for p in policies_in]
    weights = [[p["summary"].get("owners", {}).get(o, 0.0) for o in owners]
               for p in policies_in]
    weights = [[w / s for w in row] if (s := sum(row)) > 0 else row for row in weights]
    groups = groups_from_shares(pols, shares, weights, owners, pm.concentration) \
        if owners else []
    # the simulation holds years x policies counts and payments: keep each array near
    # 160 MB (a 2,000-policy book gets 10,000 years; the figures say how many were used)
    years = min(years, max(1_000, 20_000_000 // len(pols)))
    sim = simulate_portfolio(pols, groups, years, seed)
    pmf, span = independent_portfolio(pols)
    dep, ind = RiskSummary.of_samples(sim.total), RiskSummary.of_distribution(pmf, span)
    xs = np.linspace(0, float(np.quantile(sim.total, 0.999)) * 1.2 + 1, 60)
    cdf = np.cumsum(pmf)
    return {
        "as_of": as_of.isoformat(), "policies": len(pols), "currency": plan.currency,
        "plan": f"{plan.plan_id}@{plan.version}", "owners": len(owners),
        "shared_share": pm.shared_share, "concentration": pm.concentration,
        "premium": round(sum(p["premium"] * plan.fx.rates[p["currency"]]
                             for p in policies_in), 2),
        "aggregate_limits": round(sum(p.aggregate_limit for p in pols), 2),
        "expected_loss": round(sum(p["summary"]["expected_loss"] for p in policies_in), 2),
        "dependent": {**dep.to_dict(), "method": "common-shock simulation", "years": years,
                      "seed": seed},
        "independent": {**ind.to_dict(), "method": "FFT convolution (exact on its grid)"},
        "dependence_cost": {f"{k} {q}": round(getattr(dep, k)[q] - getattr(ind, k)[q], 2)
                            for k in ("var", "tvar") for q in LEVELS},
        "curve": {"x": [round(float(x), 2) for x in xs],
                  "dependent": [float((sim.total > x).mean()) for x in xs],
                  "independent": [float(1 - cdf[min(cdf.size - 1, int(x / span))])
                                  for x in xs]},
    }


def render_book(risk: dict) -> str:
    """One HTML page: the book's figures with and without shared events, and a chart."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from screening.underwriting.report import _CSS, _svg

    plt.rcParams["svg.hashsalt"] = "ipscreen"
    fig, ax = plt.subplots(figsize=(7, 3.2))
    c = risk["curve"]
    ax.semilogy(c["x"], np.maximum(c["independent"], 1e-6), label="independent (exact)")
    ax.semilogy(c["x"], np.maximum(c["dependent"], 1e-6), label="shared events (simulated)")
    ax.set_xlabel(f"annual loss of the book ({risk['currency']})")
    ax.set_ylabel("P(loss > x)")
    ax.legend()
    e = html.escape
    rows = "".join(
        f"<tr><td>{e(name)}</td>" + "".join(
            f"<td class=num>{risk[k][m] if m in ('mean', 'sd') else risk[k][m][q]:,.0f}</td>"
            for k in ("independent", "dependent")) + "</tr>"
        for name, m, q in (("mean", "mean", ""), ("standard deviation", "sd", ""),
                           ("VaR 99%", "var", "0.99"), ("VaR 99.5%", "var", "0.995"),
                           ("TVaR 99%", "tvar", "0.99"), ("TVaR 99.5%", "tvar", "0.995")))
    return (f"<!doctype html><html><head><meta charset=utf-8><title>Book aggregate loss"
            f"</title><style>{_CSS}</style></head><body><h1>Book aggregate loss, "
            f"{e(risk['as_of'])}</h1><p>{risk['policies']} policies in force under "
            f"{e(risk['plan'])}: premium {risk['premium']:,.0f} {e(risk['currency'])}, "
            f"expected loss {risk['expected_loss']:,.0f}, aggregate limits "
            f"{risk['aggregate_limits']:,.0f}. Shared events through {risk['owners']} rights "
            f"owners: {risk['shared_share']:.0%} of each matched policy's claims, "
            f"concentration {risk['concentration']:g} (the plan's portfolio section).</p>"
            f"<table><tr><th></th><th>independent</th><th>with shared events</th></tr>{rows}"
            f"</table><h2>Exceedance</h2>{_svg(fig)}<p class=src>Independent: each policy's "
            "compound Poisson distribution capped at its aggregate limit, convolved by FFT. "
            f"Shared: {risk['dependent']['years']:,} simulated years of the common-shock "
            "model (screening/underwriting/portfolio.py), seed "
            f"{risk['dependent']['seed']}.</p></body></html>\n")
