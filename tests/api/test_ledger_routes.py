"""The ledger over HTTP: bind a quote the pricing route offered, record and change claims,
each book seen only by its tenant's keys, and clear 4xx problems for what cannot be done."""

from __future__ import annotations

from screening.access import AccessStore
from screening.registry.database import open_engine
from tests.api.conftest import auth
from tests.api.helpers import problem

APPLICANT = {"name": "Ledger test assistant", "annual_outputs": 500_000,
             "jurisdictions": {"CN": 1.0}, "controls": ["pre_release_filter"]}


def priced(client, key: str, hits: float) -> dict:  # type: ignore[no-untyped-def]
    r = client.post("/v1/pricing/quote", headers=auth(key), json={
        "applicant": APPLICANT, "limit": 700_000, "deductible": 10_000,
        "profile": {"outputs": 400, "expected_hits": hits}})
    assert r.status_code == 200, r.text
    return r.json()


def test_bind_claim_change_and_list(client, keys, service_dir) -> None:  # type: ignore[no-untyped-def]
    q = priced(client, keys["underwrite"], 2.0)
    assert q["decision"] == "quote" and q["premium"] > 0
    h = auth(keys["underwrite"])
    r = client.post("/v1/policies", headers=h, json={
        "policy_no": "API-P-1", "period_start": "2027-01-01", "quote": q})
    assert r.status_code == 201, r.text
    assert r.json()["tenant"] == "acme" and r.json()["plan"]["version"] == q["plan"]["version"]
    problem(client.post("/v1/policies", headers=h, json={
        "policy_no": "API-P-1", "period_start": "2027-01-01", "quote": q}), 409)
    r = client.post("/v1/claims", headers=h, json={
        "claim_no": "API-C-1", "policy_no": "API-P-1", "loss_date": "2027-04-01",
        "external_id": "IMG-astronaut", "paid": 25_000})
    assert r.status_code == 201, r.text
    assert r.json()["owner"] == "Acme" and r.json()["category"] == "photo"  # from the registry
    problem(client.post("/v1/claims", headers=h, json={
        "claim_no": "API-C-2", "policy_no": "API-P-1", "loss_date": "2029-04-01"}), 400,
        "claims made")
    r = client.patch("/v1/claims/API-C-1", headers=h, json={"status": "closed",
                                                            "defence": 8_000})
    assert r.status_code == 200 and r.json()["incurred"] == 33_000
    problem(client.patch("/v1/claims/API-C-1", headers=h, json={}), 422, "nothing to change")
    got = client.get("/v1/policies/API-P-1", headers=h).json()
    assert [c["claim_no"] for c in got["claims"]] == ["API-C-1"]
    audit = client.get("/v1/audit", headers=auth(keys["admin"]),
                       params={"external_id": "IMG-astronaut", "route": "ledger/claim"})
    assert [e["decision"] for e in audit.json()["entries"]][-2:] == ["claim_recorded",
                                                                     "claim_changed"]
    # another insurer's underwrite key sees nothing of this book
    engine = open_engine(f"sqlite:///{service_dir[0] / 'registry.sqlite3'}")
    other, _ = AccessStore(engine).create_key("other insurer", "globex", ["underwrite"], 100)
    problem(client.get("/v1/policies/API-P-1", headers=auth(other)), 404)
    assert client.get("/v1/policies", headers=auth(other)).json()["policies"] == []
    problem(client.patch("/v1/claims/API-C-1", headers=auth(other), json={"paid": 1}), 404)
    problem(client.get("/v1/policies", headers=auth(keys["screen"])), 403)


def test_a_referred_quote_cannot_be_bound(client, keys) -> None:  # type: ignore[no-untyped-def]
    q = priced(client, keys["underwrite"], 60.0)
    assert q["decision"] in ("refer", "decline") and q["premium"] is None and q["reasons"]
    problem(client.post("/v1/policies", headers=auth(keys["underwrite"]), json={
        "policy_no": "API-P-2", "period_start": "2027-01-01", "quote": q}), 400,
        "cannot be bound")
    problem(client.post("/v1/policies", headers=auth(keys["underwrite"]), json={
        "policy_no": "API-P-3", "period_start": "2027-01-01"}), 400, "either quote or policy")


def test_portfolio_and_experience_of_the_book(client, keys, service_dir) -> None:  # type: ignore[no-untyped-def]
    engine = open_engine(f"sqlite:///{service_dir[0] / 'registry.sqlite3'}")
    key, _ = AccessStore(engine).create_key("book insurer", "initech", ["underwrite"], 1000)
    h = auth(key)
    problem(client.get("/v1/portfolio", headers=h, params={"as_of": "2027-06-01"}), 400,
            "no policy in force")
    q = priced(client, key, 2.0)
    for i in range(3):
        assert client.post("/v1/policies", headers=h, json={
            "policy_no": f"BOOK-{i}", "period_start": "2027-01-01", "quote": q}
        ).status_code == 201
    r = client.get("/v1/portfolio", headers=h, params={"as_of": "2027-06-01",
                                                       "years": 5000})
    assert r.status_code == 200, r.text
    book = r.json()
    assert book["policies"] == 3 and book["dependent"]["years"] == 5000
    assert book["independent"]["mean"] > 0
    problem(client.get("/v1/portfolio", headers=h, params={"years": 10}), 422)
    r = client.get("/v1/experience", headers=h, params={"as_of": "2027-12-31"})
    assert r.status_code == 200 and r.json()["changes"] == []  # no claims: no change
    assert client.post("/v1/claims", headers=h, json={
        "claim_no": "BOOK-C-1", "policy_no": "BOOK-0", "loss_date": "2027-03-01",
        "paid": 50_000}).status_code == 201
    r = client.get("/v1/experience", headers=h, params={"as_of": "2027-12-31"})
    report = r.json()
    assert report["experience"]["policies"] == 3 and report["experience"]["claims"] == 1
    assert any(c["field"] == "base_loss_cost.value" for c in report["changes"])
    assert report["proposed_version"] != report["plan"]["version"]
