"""Licences in the domain: their evidence and term, which of them apply on a given day, how
they set matches aside, the upgrade of licences recorded before evidence, and the
underwriter's licensed line."""

from __future__ import annotations

from datetime import date

import pytest

from screening.access import AccessStore
from screening.decision import Thresholds, apply_licences
from screening.errors import InvalidInputError
from screening.licences import LicenceTerms
from screening.registry.database import open_engine
from screening.underwriting.applicant import Applicant
from screening.underwriting.plan import load_plan
from screening.underwriting.profile import build_profile
from screening.underwriting.report import render_report
from screening.underwriting.underwrite import underwrite
from tests.screening.old_registry import old_registry

DAY = date(2026, 6, 1)
TERMS = dict(licensor="Tsuburaya Productions", contract_ref="TP-42", valid_from=date(2026, 1, 1),
             expires=date(2026, 12, 31), territory=["cn", "JP"], media="image", today=DAY)
VERSIONS = {"kind": "image", "profile": "accurate", "features": ["a@1"],
            "calibration": "image@1", "index_revision": 7,
            "thresholds": {"block": 0.9, "review": 0.5, "report": 0.05}}


@pytest.fixture
def access(tmp_path) -> AccessStore:
    return AccessStore(open_engine(f"sqlite:///{tmp_path / 'r.sqlite3'}"))


@pytest.mark.parametrize(("change", "message"), [
    ({"expires": date(2025, 12, 31)}, "before valid_from"),
    ({"expires": None}, "perpetual: true"),
    ({"perpetual": True}, "no expiry"),
    ({"expires": date(2026, 5, 31)}, "is past"),
    ({"territory": "China"}, "not a two-letter"),
    ({"territory": []}, "territory is empty"),
    ({"licensor": " "}, "licensor is empty"),
    ({"contract_ref": "x" * 201}, "longer than 200"),
    ({"media": "video"}, "media must be one of image, text, all"),
])
def test_terms_refuse_what_an_underwriter_could_not_check(change, message):
    with pytest.raises(InvalidInputError, match=message):
        LicenceTerms.of(**{**TERMS, **change})  # type: ignore[arg-type]


def test_terms_are_normalised():
    t = LicenceTerms.of(**TERMS)  # type: ignore[arg-type]
    assert t.territory == ("CN", "JP") and t.licensor == "Tsuburaya Productions"
    assert LicenceTerms.of(**{**TERMS, "territory": "Worldwide"}).territory == ("worldwide",)  # type: ignore[arg-type]
    perpetual = LicenceTerms.of(**{**TERMS, "expires": None, "perpetual": True})  # type: ignore[arg-type]
    assert perpetual.expires is None


def test_only_licences_in_force_on_the_day_apply(access):
    access.add_licence("acme", "W-1", LicenceTerms.of(**TERMS), "abc123")  # type: ignore[arg-type]
    access.add_licence("acme", "W-2", LicenceTerms.of(  # type: ignore[arg-type]
        **{**TERMS, "valid_from": date(2026, 7, 1), "expires": None, "perpetual": True}), "abc")
    assert set(access.licensed("acme", DAY)) == {"W-1"}
    assert set(access.licensed("acme", date(2026, 12, 31))) == {"W-1", "W-2"}  # last day in
    assert set(access.licensed("acme", date(2027, 1, 1))) == {"W-2"}
    assert access.licensed("globex", DAY) == {}
    evidence = access.licensed("acme", DAY)["W-1"]
    assert evidence["contract_ref"] == "TP-42" and evidence["recorded_by"] == "abc123"
    assert evidence["territory"] == ["CN", "JP"] and evidence["evidence"] == "recorded"
    statuses = {x["external_id"]: x["status"] for x in access.licences("acme", date(2027, 1, 1))}
    assert statuses == {"W-1": "expired", "W-2": "in_force"}


def _result(*matches: tuple[str, float], kind: str = "image") -> dict:
    return {"input": "out.png", "decision": "block", "risk_score": max(s for _, s in matches),
            "versions": {**VERSIONS, "kind": kind},
            "matches": [{"external_id": e, "title": e, "owner": f"owner of {e}",
                         "category": "character", "score": s} for e, s in matches]}


def test_licensed_matches_carry_their_evidence_and_only_in_their_media():
    evidence = {"contract_ref": "TP-42", "media": "image", "evidence": "recorded"}
    seen = apply_licences(_result(("W-1", 0.97), ("W-2", 0.6)), {"W-1": evidence},
                          Thresholds())
    assert seen["decision"] == "review" and seen["risk_score"] == 0.6
    assert seen["licensed_matches"] == [{**_result(("W-1", 0.97))["matches"][0],
                                         "licence": evidence}]
    text = _result(("W-1", 0.97), kind="text")
    assert apply_licences(text, {"W-1": evidence}, Thresholds()) == text  # images only


def test_licences_recorded_before_evidence_keep_applying_marked_missing(tmp_path):
    """A registry at 0007 with a bare licence row upgrades in place: the licence still
    applies (decisions do not change on upgrade), says its evidence is missing, and the
    underwriter's profile says so."""
    from sqlalchemy import text

    url, head = old_registry(tmp_path, "0007", (
        "INSERT INTO licences (tenant, external_id, created_at) VALUES "
        "('acme', 'W-1', '2026-11-01 00:00:00')", {}))
    access = AccessStore(open_engine(url))
    with access.engine.connect() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == head
    (row,) = access.licences("acme")
    assert row["evidence"] == "missing" and row["status"] == "in_force"
    assert row["note"] == "recorded before evidence was required"
    assert (row["licensor"], row["valid_from"], row["expires"], row["territory"],
            row["media"]) == ("", None, None, None, "all")
    assert row["since"] == row["recorded_at"] == "2026-11-01T00:00:00+00:00"
    held = access.licensed("acme")
    seen = apply_licences(_result(("W-1", 0.97)), held, Thresholds())
    assert seen["decision"] == "clear"
    profile = build_profile([seen], load_plan())
    assert profile.licensed.without_evidence == 1
    assert any("no evidence on record" in w for w in profile.warnings)
    # a new licence for the same work: the old one is ended first (one per tenant and work)
    access.remove_licence("acme", "W-1")
    access.add_licence("acme", "W-1", LicenceTerms.of(**{**TERMS, "today": None,  # type: ignore[arg-type]
                                                         "expires": None, "perpetual": True}),
                       "abc")
    assert access.licences("acme")[0]["evidence"] == "recorded"
    access.engine.dispose()


def test_the_profile_shows_licensed_hits_apart_with_their_evidence_and_unpriced():
    evidence = {"licensor": "Tsuburaya Productions", "contract_ref": "TP-42",
                "valid_from": "2026-01-01", "expires": "2026-12-31", "perpetual": False,
                "territory": ["CN"], "media": "image", "recorded_by": "abc123",
                "recorded_at": "2026-01-02T00:00:00+00:00", "evidence": "recorded"}
    plan = load_plan()
    clean = [{**_result(("W-9", 0.01)), "input": f"clean-{i}.png"} for i in range(200)]
    hits = [{**_result(("W-2", 0.95)), "input": f"hit-{i}.png"} for i in range(3)]
    licensed = [{**apply_licences(_result(("W-1", 0.9), ("W-3", 0.2)), {"W-1": evidence},
                                  Thresholds()), "input": f"lic-{i}.png"} for i in range(2)]
    profile = build_profile(clean + hits + licensed, plan)
    unlicensed = build_profile(clean + hits + [{**r, "licensed_matches": []}
                                               for r in licensed], plan)
    assert profile.expected_hits == pytest.approx(unlicensed.expected_hits)  # not priced
    lic = profile.to_dict()["licensed"]
    assert lic["outputs"] == 2 and lic["expected_hits"] == pytest.approx(1.8)
    assert lic["expected_hits_without_licences"] == pytest.approx(
        profile.expected_hits + 2 * (0.9 - 0.2))
    assert lic["distinct_works"] == 1 and lic["distinct_owners"] == 1
    (work,) = lic["works"]
    assert work["external_id"] == "W-1" and work["outputs"] == 2 and work["licence"] == evidence
    assert any(w.startswith("2 of 5 hits are on works the applicant declares licensed")
               for w in profile.warnings)
    assert not any("no evidence" in w for w in profile.warnings)
    applicant = Applicant(name="A", annual_outputs=1_000_000,  # type: ignore[arg-type]
                          jurisdictions={"CN": 1.0}, controls=[],
                          claims_history={"years": 0, "claims": 0})
    prof, quote = underwrite(clean + hits + licensed, applicant, plan, 700_000, 10_000)
    page = render_report(prof, quote)
    assert "<h2>Licensed hits</h2>" in page and "TP-42" in page
    assert "Tsuburaya Productions" in page and "2026-01-01 to 2026-12-31" in page
