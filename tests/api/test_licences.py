"""Licences over HTTP: their own scope, their evidence and term, the audit, and the
underwriter's view of the hits they set aside."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import text

from tests.api.conftest import auth
from tests.api.helpers import LICENCE, problem
from tests.screening.text_fixtures import kjv

GENESIS = {"texts": [" ".join(kjv(1, 1).split()[:60])]}


def _set_term(client, valid_from: date | None, expires: date | None) -> None:  # type: ignore[no-untyped-def]
    with client.app.state.service.access.engine.begin() as conn:
        conn.execute(text("UPDATE licences SET valid_from = :f, expires = :e, perpetual = :p "
                          "WHERE external_id = 'KJV-GEN-1'"),
                     {"f": valid_from, "e": expires, "p": expires is None})


def test_only_a_licence_key_records_or_ends_licences(client, keys):
    """A screen key screens the tenant's outputs, so it must not be able to declare the
    works they may copy: recording and ending a licence need the `licence` scope."""
    body = {**LICENCE, "external_id": "KJV-GEN-1"}
    for scope in ("screen", "register", "underwrite"):
        got = problem(client.post("/v1/licences", headers=auth(keys[scope]), json=body), 403,
                      "'licence' scope")
        assert got["title"] == "Forbidden"
        problem(client.delete("/v1/licences/KJV-GEN-1", headers=auth(keys[scope])), 403,
                "'licence' scope")
    for scope in ("screen", "licence", "admin"):  # reading stays open to screening keys
        r = client.get("/v1/licences", headers=auth(keys[scope]))
        assert r.status_code == 200 and r.json()["licences"] == []
    problem(client.get("/v1/licences", headers=auth(keys["underwrite"])), 403,
            "'screen' or 'licence' scope")


def test_a_licence_with_evidence_sets_matches_aside_only_while_in_force(client, keys):
    lic, screen = auth(keys["licence"]), auth(keys["screen"])

    def top() -> dict:
        r = client.post("/v1/screen/text", headers=screen, json=GENESIS)
        return r.json()["results"][0]

    assert top()["decision"] == "block"
    r = client.post("/v1/licences", headers=lic, json={**LICENCE, "external_id": "KJV-GEN-1"})
    assert r.status_code == 201, r.text
    try:
        held = r.json()
        assert held["licensor"] == "The Crown" and held["contract_ref"] == "KJV-LIC-7"
        assert held["territory"] == ["CN", "GB"] and held["perpetual"] and held["expires"] is None
        assert held["recorded_by"] == keys["licence"].split("_")[1]
        assert held["status"] == "in_force" and held["evidence"] == "recorded"
        problem(client.post("/v1/licences", headers=lic,
                            json={**LICENCE, "external_id": "KJV-GEN-1"}), 409, "renewal")
        seen = top()
        assert seen["decision"] == "clear" and seen["matches"] == []
        (set_aside,) = seen["licensed_matches"]
        assert set_aside["licence"]["contract_ref"] == "KJV-LIC-7"
        access = client.app.state.service.access
        added = access.audit_entries(route="licences", limit=1)[0]
        assert added["decision"] == "licence_added"
        assert added["licence"]["licensor"] == "The Crown"  # the evidence, audited
        screened = access.audit_entries(route="screen/text", limit=1)[0]
        assert screened["licensed"] == ["KJV-GEN-1"]
        assert screened["licensed_matches"][0]["licence"]["contract_ref"] == "KJV-LIC-7"
        # the underwriter sees the licensed hit apart, with its evidence, and unpriced
        p = client.post("/v1/underwriting/profile", headers=auth(keys["underwrite"]),
                        json={"results": [seen]}).json()["profile"]
        assert p["expected_hits"] == 0 and p["licensed"]["outputs"] == 1
        assert p["licensed"]["works"][0]["licence"]["contract_ref"] == "KJV-LIC-7"
        assert any("declares licensed" in w for w in p["warnings"])
        # expired yesterday: the match counts again; starting tomorrow: not yet
        today = date.today()
        for start, end, status in ((today - timedelta(days=30), today - timedelta(days=1),
                                    "expired"),
                                   (today + timedelta(days=1), None, "not_yet_valid")):
            _set_term(client, start, end)
            again = top()
            assert again["decision"] == "block" and "licensed_matches" not in again
            listed = client.get("/v1/licences", headers=screen).json()
            assert listed["external_ids"] == [] and listed["licences"][0]["status"] == status
        _set_term(client, today, today)  # the last day is included
        assert top()["decision"] == "clear"
    finally:
        client.delete("/v1/licences/KJV-GEN-1", headers=lic)
    removed = client.app.state.service.access.audit_entries(route="licences", limit=1)[0]
    assert removed["decision"] == "licence_removed" and removed["licence"]["contract_ref"] \
        == "KJV-LIC-7"


PAST = (date.today() - timedelta(days=1)).isoformat()


@pytest.mark.parametrize(("change", "field", "fragment"), [
    ({"valid_from": "2026-13-01"}, "body.valid_from", "date"),
    ({"perpetual": False, "expires": "2025-12-31"}, "body.expires", "before valid_from"),
    ({"perpetual": False, "expires": None}, "body.expires", "perpetual: true"),
    ({"expires": "2099-01-01"}, "body.expires", "perpetual licence has no expiry"),
    ({"valid_from": "2020-01-01", "perpetual": False, "expires": PAST}, "body.expires",
     "is past"),
    ({"expires": "missing"}, "body.expires", "Field required"),
    ({"territory": ["China"]}, "body.territory", "not a two-letter"),
    ({"territory": []}, "body.territory", "territory is empty"),
    ({"territory": ["worldwide", "CN"]}, "body.territory", "stands alone"),
    ({"licensor": "   "}, "body.licensor", "licensor is empty"),
    ({"contract_ref": ""}, "body.contract_ref", "contract_ref is empty"),
    ({"media": "video"}, "body.media", "'image', 'text' or 'all'"),
    ({"signed_by": "me"}, "body.signed_by", "Extra inputs"),
])
def test_a_licence_without_usable_evidence_is_a_422_naming_the_field(client, keys, change,
                                                                      field, fragment):
    body = {**LICENCE, "external_id": "KJV-GEN-1", **change}
    if body["expires"] == "missing":
        del body["expires"]
    got = problem(client.post("/v1/licences", headers=auth(keys["licence"]), json=body), 422,
                  fragment)
    assert got["detail"].startswith(field), got["detail"]
    assert client.get("/v1/licences", headers=auth(keys["licence"])).json()["licences"] == []


def test_a_licence_for_an_unknown_work_is_a_404(client, keys):
    problem(client.post("/v1/licences", headers=auth(keys["licence"]),
                        json={**LICENCE, "external_id": "NOPE-1"}), 404, "NOPE-1")
