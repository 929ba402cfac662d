"""The ledger: binding quotes, claims in and out of the policy period, CSV imports all or
none, every change in the audit, and the CLI's commands end to end."""

from __future__ import annotations

import json
from datetime import date

import pytest

from screening.access import AccessStore
from screening.errors import ConflictError, InvalidInputError, NotFoundError
from screening.ledger.imports import read_claims, read_policies
from screening.ledger.records import ClaimChange, ClaimIn, PolicyIn, parse, policy_from_quote
from screening.ledger.store import LedgerStore
from screening.registry.database import open_engine
from screening.underwriting.applicant import Applicant
from screening.underwriting.plan import load_plan
from screening.underwriting.pricing import SampleSummary, quote

PLAN = load_plan()
APPLICANT = Applicant(name="Acme assistant", annual_outputs=2_000_000,
                      jurisdictions={"CN": 0.8, "US": 0.2},
                      controls=["pre_release_filter"])  # type: ignore[arg-type]


@pytest.fixture
def store(tmp_path) -> LedgerStore:  # type: ignore[no-untyped-def]
    return LedgerStore(open_engine(f"sqlite:///{tmp_path / 'ledger.sqlite3'}"))


def offered() -> dict:
    q = quote(PLAN, APPLICANT, SampleSummary(400, 3.0, {"severe": 0.3, "major": 0.7,
                                                        "minor": 0.0}), 700_000, 10_000)
    assert q.decision == "quote"
    return json.loads(q.to_json())


def test_bind_a_quote_keeps_what_the_plan_expected(store) -> None:  # type: ignore[no-untyped-def]
    q = offered()
    p = store.bind(policy_from_quote(q, "P-1", date(2027, 1, 1)))
    assert p["period_end"] == "2027-12-31" and p["aggregate_limit"] == 700_000
    s = p["summary"]
    assert s["expected_loss"] == pytest.approx(q["expected_loss"])
    assert 0 < s["expected_claims"] == pytest.approx(q["expected_claims"])
    assert s["jurisdictions"] == {"CN": 0.8, "US": 0.2} and s["controls"] == ["pre_release_filter"]
    with pytest.raises(ConflictError):
        store.bind(policy_from_quote(q, "P-1", date(2027, 1, 1)))
    referred = {**q, "decision": "refer", "premium": None, "reasons": ["rate on line"]}
    with pytest.raises(InvalidInputError, match="cannot be bound"):
        policy_from_quote(referred, "P-2", date(2027, 1, 1))


def test_claims_are_claims_made_and_audited(store) -> None:  # type: ignore[no-untyped-def]
    store.bind(policy_from_quote(offered(), "P-1", date(2027, 1, 1)))
    c = store.add_claim(parse(ClaimIn, {"claim_no": "C-1", "policy_no": "P-1",
                                        "loss_date": "2026-11-20", "reported_date": "2027-03-02",
                                        "external_id": "ULTRA-1", "category": "Character",
                                        "paid": 30_000, "defence": 12_000}, "claim"))
    assert c["incurred"] == 42_000 and c["category"] == "character"
    with pytest.raises(InvalidInputError, match="outside policy P-1's period"):
        store.add_claim(parse(ClaimIn, {"claim_no": "C-2", "policy_no": "P-1",
                                        "loss_date": "2028-02-01"}, "claim"))
    with pytest.raises(NotFoundError):
        store.add_claim(parse(ClaimIn, {"claim_no": "C-3", "policy_no": "nope",
                                        "loss_date": "2027-02-01"}, "claim"))
    changed = store.change_claim("C-1", ClaimChange(reserved=5_000, status="closed"))
    assert changed["incurred"] == 47_000 and changed["status"] == "closed"
    assert [x["claim_no"] for x in store.policy("P-1")["claims"]] == ["C-1"]
    audit = AccessStore(store.engine).audit_entries(external_id="ULTRA-1")
    assert [a["decision"] for a in audit] == ["claim_recorded", "claim_changed"]
    assert audit[-1]["versions"]["ledger"]["reserved"] == 5_000
    bound = AccessStore(store.engine).audit_entries(route="ledger/policy")
    assert [a["decision"] for a in bound] == ["policy_bound"]


def test_bad_records_name_the_field() -> None:
    with pytest.raises(InvalidInputError, match="reported_date"):
        parse(ClaimIn, {"claim_no": "C", "policy_no": "P", "loss_date": "2027-02-01",
                        "reported_date": "2027-01-01"}, "claim")
    with pytest.raises(InvalidInputError, match="paid"):
        parse(ClaimIn, {"claim_no": "C", "policy_no": "P", "loss_date": "2027-02-01",
                        "paid": -1}, "claim")
    with pytest.raises(InvalidInputError, match="nothing to change"):
        parse(ClaimChange, {}, "change")
    base = {"policy_no": "P", "applicant": "a", "plan_id": "x", "plan_version": "1.0.0",
            "currency": "CNY", "limit": 100, "premium": 5, "period_start": "2027-01-01",
            "summary": {"hit_rate": 0.01, "expected_claims": 0.1, "expected_loss": 2}}
    with pytest.raises(InvalidInputError, match="aggregate_limit"):
        parse(PolicyIn, {**base, "aggregate_limit": 50}, "policy")
    with pytest.raises(InvalidInputError, match="deductible"):
        parse(PolicyIn, {**base, "deductible": 100}, "policy")


POLICIES = """policy_no,applicant,plan_id,plan_version,currency,limit,aggregate_limit,premium,\
period_start,jurisdictions,controls,hit_rate,expected_claims,expected_loss,severe,major,minor
B-1,Alpha,ipscreen-genai-ip-default,1.1.0,CNY,700000,1400000,20000,2027-01-01,CN:1,\
pre_release_filter,0.01,0.3,12000,0.2,0.6,0.2
B-2,Beta,ipscreen-genai-ip-default,1.1.0,CNY,700000,,30000,2027-02-01,CN:0.5 US:0.5,,0.03,\
0.6,21000,,,
"""


def test_csv_imports_are_all_or_none(store, tmp_path) -> None:  # type: ignore[no-untyped-def]
    good = tmp_path / "policies.csv"
    good.write_text(POLICIES)
    assert store.bind_many(read_policies(good)) == 2
    assert store.policy("B-2")["aggregate_limit"] == 700_000
    assert store.policy("B-2")["summary"]["jurisdictions"] == {"CN": 0.5, "US": 0.5}
    claims = tmp_path / "claims.csv"
    claims.write_text("claim_no,policy_no,loss_date,paid,status\nK-1,B-1,2027-03-01,1000,"
                      "closed\nK-2,B-1,2027-04-01,-5,open\nK-3,B-1,someday,1,open\n")
    with pytest.raises(InvalidInputError) as err:
        read_claims(claims)
    assert "row 3" in str(err.value) and "row 4" in str(err.value)
    assert "nothing imported" in str(err.value)
    claims.write_text("claim_no,policy_no,loss_date,paid,status\nK-1,B-1,2027-03-01,1000,"
                      "closed\nK-2,B-9,2027-04-01,5,open\n")
    with pytest.raises(NotFoundError):  # the second row's policy: the first is not kept
        store.add_claims(read_claims(claims))
    assert store.count() == (2, 0)
    missing = tmp_path / "bad.csv"
    missing.write_text("policy_no,applicant\nX,Y\n")
    with pytest.raises(InvalidInputError, match="missing column"):
        read_policies(missing)


def test_cli_binds_records_and_lists(cli, tmp_path) -> None:  # type: ignore[no-untyped-def]
    quote_file = tmp_path / "quote.json"
    quote_file.write_text(json.dumps(offered()))
    data = ["--data-dir", str(tmp_path / "data")]
    r = cli(*data, "policies", "bind", quote_file, "--policy-no", "P-7", "--start",
            "2027-01-01")
    assert r.code == 0, r.err
    r = cli(*data, "claims", "add", "--policy", "P-7", "--claim-no", "C-7", "--loss-date",
            "2027-05-01", "--paid", "20000", "--category", "logo")
    assert r.code == 0, r.err
    r = cli(*data, "claims", "add", "--policy", "P-7", "--claim-no", "C-8", "--loss-date",
            "2029-05-01")
    assert r.code == 2 and "outside policy P-7's period" in r.err
    r = cli(*data, "claims", "update", "C-7", "--status", "closed")
    assert r.code == 0 and json.loads(r.out)["status"] == "closed"
    r = cli(*data, "policies", "show", "P-7")
    assert json.loads(r.out)["claims"][0]["claim_no"] == "C-7"
    r = cli(*data, "policies", "bind", tmp_path / "nope.json", "--policy-no", "P-8",
            "--start", "2027-01-01")
    assert r.code != 0 and "nope.json" in r.err and "Traceback" not in r.err
