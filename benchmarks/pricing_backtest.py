"""Does the plan learn from claims? A synthetic book priced, claimed against and updated.

The generator (documented, seeded). A "true" plan is the shipped plan with other numbers:
base loss cost x `--truth-base` (1.6), severity median 60,000 and sigma 1.3 (shipped:
40,000 and 1.5), US relativity 2.0 (3.0), severe-class relativity 2.0 (1.6). `--policies`
applicants (500) are drawn once: annual outputs log-uniform over 10^4-10^7, one of five
jurisdiction mixes, each control with probability 0.4, a true hit rate from Beta(1.5, 120)
(mean 1.2%) and a severity mix from Dirichlet(2, 6, 2). Each year every applicant sends a
300-output screening sample (hits ~ Binomial(300, true rate)) and asks for 700,000 of cover
(per claim and a year) with a 10,000 deductible. The plan in force quotes it; a quote
offered is bound into a real ledger (SQLite, screening.ledger); referred and declined
applicants are counted, not written. Claims follow the true plan: a policy's claims above
its deductible are Poisson with the true plan's expected claims for the applicant's true
hit rate, each ground-up amount lognormal from the true curve above the deductible, paid
in the layer, the year's total capped at the aggregate limit; a claim's severity class
follows the applicant's true severity mix weighted by the true relativities. After each
year `update_plan` (what `ipscreen plan update --from-claims` runs) learns from the whole
ledger and the next year is priced with the new plan.

Reported per year: policies written, referred, declined; premium, losses, loss ratio against
the plan's own target (its expected loss over its premium) and against the loss ratio the
written book is expected to give under the truth (the same without the year's luck); the
plan's base loss cost, severity and relativities against the truth. Targets (issue 30):
after 3 years of a 500-policy book, base loss cost within 15% of the truth and the loss
ratio within 10 points of the plan's target.

    python benchmarks/pricing_backtest.py
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np
import yaml
from scipy.stats import norm
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).parent))

from machine import describe, line  # noqa: E402
from publish import save  # noqa: E402

from screening.ledger.experience import experience  # noqa: E402
from screening.ledger.records import ClaimIn, policy_from_quote  # noqa: E402
from screening.ledger.store import LedgerStore  # noqa: E402
from screening.ledger.update import update_plan  # noqa: E402
from screening.registry.database import open_engine  # noqa: E402
from screening.underwriting.applicant import Applicant  # noqa: E402
from screening.underwriting.plan import RatingPlan, default_plan_path, parse_plan  # noqa: E402
from screening.underwriting.pricing import SampleSummary, quote  # noqa: E402

MIXES = ({"CN": 1.0}, {"CN": 0.7, "US": 0.3}, {"US": 1.0}, {"EU": 0.6, "CN": 0.4},
         {"CN": 0.5, "UK": 0.2, "US": 0.3})
CATEGORY = {"severe": "character", "major": "artwork", "minor": "news"}
LIMIT, DEDUCTIBLE, SAMPLE = 700_000.0, 10_000.0, 300


def true_plan(shipped: RatingPlan, base: float) -> RatingPlan:
    raw = yaml.safe_load(default_plan_path().read_bytes())
    raw["base_loss_cost"]["value"] = shipped.base_loss_cost.value * base
    raw["severity"].update(median=60_000, sigma=1.3)
    raw["jurisdiction"]["relativities"]["US"] = 2.0
    raw["category_mix"]["relativities"]["severe"] = 2.0
    raw["reference_applicant"]["pinned"] = False
    return parse_plan(yaml.safe_dump(raw).encode(), "true plan")


def applicants(n: int, rng: np.random.Generator, controls: list[str]) -> list[dict]:
    out = []
    for i in range(n):
        mix = rng.dirichlet([2, 6, 2])
        out.append({
            "applicant": Applicant(
                name=f"applicant-{i:04d}", annual_outputs=float(10 ** rng.uniform(4, 7)),
                jurisdictions=MIXES[int(rng.integers(len(MIXES)))],
                controls=[c for c in controls if rng.random() < 0.4]),
            "rate": float(rng.beta(1.5, 120)),
            "mix": dict(zip(("severe", "major", "minor"), map(float, mix), strict=True))})
    return out


def true_claims(truth: RatingPlan, a: dict, rng: np.random.Generator
                ) -> tuple[list[tuple], float]:
    """([(category, paid in the layer)], the true expected loss) for one policy year under
    the true plan."""
    big = 10_000_000  # a sample this large: the posterior is the true hit rate
    q = quote(truth, a["applicant"], SampleSummary(big, a["rate"] * big, a["mix"]), LIMIT,
              DEDUCTIBLE)
    n = int(rng.poisson(q.expected_claims))
    sev = truth.severity
    # the CDF above the deductible, inverted
    u = 1 - rng.uniform(0, 1, n) * sev.survival(DEDUCTIBLE)
    x = np.exp(sev.mu + sev.sigma * norm.ppf(u))
    paid = np.minimum(x - DEDUCTIBLE, LIMIT)
    if paid.sum() > LIMIT:  # the aggregate limit: the last claims are paid what is left
        left = LIMIT - np.concatenate([[0], np.cumsum(paid)[:-1]])
        paid = np.clip(np.minimum(paid, left), 0, None)
    rel = truth.category_mix.relativities
    weight = np.array([a["mix"][c] * rel[c] for c in a["mix"]])
    cats = rng.choice(list(a["mix"]), size=n, p=weight / weight.sum())
    return ([(CATEGORY[c], float(p)) for c, p in zip(cats, paid, strict=True) if p > 0],
            q.expected_loss)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--policies", type=int, default=500)
    ap.add_argument("--years", type=int, default=3)
    ap.add_argument("--truth-base", type=float, default=1.6)
    ap.add_argument("--seed", type=int, default=30)
    args = ap.parse_args()
    started = time.perf_counter()
    rng = np.random.default_rng(args.seed)
    plan = parse_plan(default_plan_path().read_bytes(), "shipped plan")
    truth = true_plan(plan, args.truth_base)
    book = applicants(args.policies, rng, sorted(plan.schedule.items))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        store = LedgerStore(open_engine(f"sqlite:///{Path(tmp) / 'ledger.sqlite3'}"))
        for year in range(1, args.years + 1):
            start = date(2026 + year, 1, 1)
            written, claims, outcomes = [], [], {"quote": 0, "refer": 0, "decline": 0}
            target_loss, premium, loss, true_loss = 0.0, 0.0, 0.0, 0.0
            for a in tqdm(book, desc=f"year {year}", file=sys.stderr):
                hits = float(rng.binomial(SAMPLE, a["rate"]))
                observed = {k: v for k, v in a["mix"].items()} if hits else {}
                q = quote(plan, a["applicant"], SampleSummary(SAMPLE, hits, observed),
                          LIMIT, DEDUCTIBLE)
                outcomes[q.decision] += 1
                if q.decision != "quote":
                    continue
                no = f"Y{year}-{len(written):04d}"
                written.append(policy_from_quote(json.loads(q.to_json()), no, start))
                target_loss += q.expected_loss
                premium += q.premium
                drawn, expected = true_claims(truth, a, rng)
                true_loss += expected
                for k, (cat, paid) in enumerate(drawn):
                    loss += paid
                    claims.append(ClaimIn(claim_no=f"{no}-C{k}", policy_no=no,
                                          loss_date=date(start.year, 6, 1), category=cat,
                                          paid=round(paid, 2), status="closed"))
            store.bind_many(written)
            store.add_claims(claims)
            as_of = date(start.year, 12, 31)
            exp = experience(store.experience(), plan, as_of)
            row = {"year": year, "plan": plan.version, **outcomes, "claims": len(claims),
                   "premium": round(premium), "losses": round(loss),
                   "loss_ratio": round(loss / premium, 4) if premium else None,
                   "target_loss_ratio": round(target_loss / premium, 4) if premium else None,
                   # what the book written is expected to lose under the truth: the loss
                   # ratio without the year's luck
                   "expected_loss_ratio": round(true_loss / premium, 4) if premium else None,
                   "base_loss_cost": plan.base_loss_cost.value,
                   "base_vs_truth": round(plan.base_loss_cost.value
                                          / truth.base_loss_cost.value - 1, 4),
                   "severity": [plan.severity.median, plan.severity.sigma],
                   "us_relativity": plan.jurisdiction.relativities["US"],
                   "severe_relativity": plan.category_mix.relativities["severe"]}
            plan, changes, _ = update_plan(plan, exp, as_of)
            row["changes"] = len(changes)
            row["frequency_credibility"] = round(exp.frequency_credibility, 4)
            rows.append(row)
            print(json.dumps(row), file=sys.stderr)
    final = {"base_loss_cost": plan.base_loss_cost.value,
             "base_vs_truth": round(plan.base_loss_cost.value / truth.base_loss_cost.value - 1,
                                    4),
             "severity": [plan.severity.median, plan.severity.sigma],
             "us_relativity": plan.jurisdiction.relativities["US"],
             "severe_relativity": plan.category_mix.relativities["severe"]}
    write(args, rows, final, truth, time.perf_counter() - started)


def write(args: argparse.Namespace, rows: list[dict], final: dict, truth: RatingPlan,
          seconds: float) -> None:
    now = datetime.now(UTC).isoformat(timespec="seconds")
    t = {"base_loss_cost": truth.base_loss_cost.value,
         "severity": [truth.severity.median, truth.severity.sigma],
         "us_relativity": truth.jurisdiction.relativities["US"],
         "severe_relativity": truth.category_mix.relativities["severe"]}
    lines = [f"Pricing backtest, {now} ({line(describe())}); {args.policies} applicants, "
             f"{args.years} years, seed {args.seed}, truth base x {args.truth_base}; "
             f"{seconds:.0f} s", "",
             "| year | plan priced with | written / referred / declined | claims | loss ratio "
             "| expected under the truth | plan's target | base loss cost vs truth | severity "
             "median, sigma | US rel. | severe rel. |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['year']} | {r['plan']} | {r['quote']} / {r['refer']} / "
                     f"{r['decline']} | {r['claims']} | {r['loss_ratio']:.3f} | "
                     f"{r['expected_loss_ratio']:.3f} | "
                     f"{r['target_loss_ratio']:.3f} | {r['base_vs_truth']:+.1%} | "
                     f"{r['severity'][0]:,.0f}, {r['severity'][1]:.3f} | "
                     f"{r['us_relativity']:.3f} | {r['severe_relativity']:.3f} |")
    lines.append(f"| after year {args.years} | updated | | | | | | "
                 f"{final['base_vs_truth']:+.1%} | "
                 f"{final['severity'][0]:,.0f}, {final['severity'][1]:.3f} | "
                 f"{final['us_relativity']:.3f} | {final['severe_relativity']:.3f} |")
    lines.append(f"| truth | | | | | | | {t['base_loss_cost']:,.0f} | {t['severity'][0]:,.0f}, "
                 f"{t['severity'][1]:.3f} | {t['us_relativity']:.3f} | "
                 f"{t['severe_relativity']:.3f} |")
    save("pricing_backtest", {
        "date": now, "machine": describe(), "policies": args.policies, "years": args.years,
        "seed": args.seed, "truth_base": args.truth_base, "rows": rows, "final": final,
        "truth": t, "seconds": round(seconds, 1)}, "\n".join(lines) + "\n", append=True)


if __name__ == "__main__":
    main()
