"""The book's aggregate loss from the ledger: shared owners bind policies together (same
mean, fatter tail), a book without shared owners is the independent one, and the CLI writes
the portfolio report."""

from __future__ import annotations

import json
from datetime import date

import pytest

from screening.errors import InvalidInputError
from screening.ledger.book import book_risk, render_book
from screening.ledger.records import PolicyIn, parse
from screening.ledger.store import LedgerStore
from screening.registry.database import open_engine
from screening.underwriting.plan import load_plan

PLAN = load_plan()


def policy(i: int, owners: dict[str, float]) -> dict:
    return {"policy_no": f"P-{i}", "tenant": "", "applicant": f"a{i}",
            "plan_id": PLAN.plan_id, "plan_version": PLAN.version, "currency": "CNY",
            "limit": 700_000, "aggregate_limit": 1_400_000, "deductible": 10_000,
            "premium": 30_000, "period_start": "2027-01-01",
            "summary": {"hit_rate": 0.02, "expected_claims": 0.6, "expected_loss": 20_000,
                        "owners": owners}}


def ledger(owners: dict[str, float], n: int = 12) -> list[dict]:
    out = []
    for i in range(n):
        p = parse(PolicyIn, policy(i, owners), "policy")
        out.append({**policy(i, owners), "status": "bound", "period_end": p.end.isoformat(),
                    "summary": p.summary.model_dump()})
    return out


def test_shared_owners_keep_the_mean_and_fatten_the_tail() -> None:
    shared = book_risk(ledger({"Tsuburaya": 1.0}), PLAN, date(2027, 6, 1), 200_000, seed=3)
    dep, ind = shared["dependent"], shared["independent"]
    assert dep["mean"] == pytest.approx(ind["mean"], abs=4 * dep["mean_se"])
    assert dep["var"]["0.995"] > ind["var"]["0.995"] * 1.1
    alone = book_risk(ledger({}), PLAN, date(2027, 6, 1), 200_000, seed=3)
    assert alone["owners"] == 0
    assert alone["dependent"]["var"]["0.995"] == pytest.approx(
        alone["independent"]["var"]["0.995"], rel=0.08)
    with pytest.raises(InvalidInputError, match="no policy in force"):
        book_risk(ledger({}), PLAN, date(2030, 1, 1))
    page = render_book(shared)
    assert page.count("<svg") == 1 and "VaR 99.5%" in page and "http" not in page.split(
        "<svg")[0]


def test_cli_portfolio_report(cli, tmp_path) -> None:  # type: ignore[no-untyped-def]
    data = tmp_path / "data"
    r = cli("--data-dir", data, "policies", "list")
    assert r.code == 0
    store = LedgerStore(open_engine(f"sqlite:///{data / 'registry.sqlite3'}"))
    store.bind_many([parse(PolicyIn, policy(i, {"Acme": 0.5, "Globex": 0.5}), "p")
                     for i in range(5)])
    report = tmp_path / "book.html"
    r = cli("--data-dir", data, "policies", "portfolio", "--as-of", "2027-03-01",
            "--years", "20000", "--report", report)
    assert r.code == 0, r.err
    out = json.loads(r.out)
    assert out["policies"] == 5 and out["owners"] == 2
    assert report.read_text().startswith("<!doctype html>")
    r = cli("--data-dir", data, "policies", "portfolio", "--as-of", "someday")
    assert r.code == 2 and "--as-of" in r.err
