"""The reviewer's workbench over the real app: sign-in, sessions and CSRF, the queue of
review cases, case pages, verdicts (stored and audited), works, underwriting, retention."""

from __future__ import annotations

import html
import json
import re
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from api.app import create_app
from screening.review.cases import QueueFilter
from tests.api.helpers import LICENCE, wait_for
from tests.api.workbench_fixtures import csrf_of, make_registry, sign_in, workbench_settings
from tests.conftest import png_bytes
from tests.screening.text_fixtures import kjv


@pytest.fixture(scope="module")
def wb(tmp_path_factory, photos, model_cache):  # type: ignore[no-untyped-def]
    data_dir = tmp_path_factory.mktemp("workbench") / "data"
    keys = make_registry(data_dir, model_cache, photos["astronaut"])
    app = create_app(workbench_settings(data_dir, model_cache))
    # https: the session cookie is Secure, and a client keeps it for https only
    with TestClient(app, base_url="https://testserver") as client:
        yield client, keys, photos["astronaut"], data_dir


def screen_crop(client: TestClient, key: str, photo, name: str = "gen.png") -> dict:  # type: ignore[no-untyped-def]
    r = client.post("/v1/screen/image", headers={"X-API-Key": key},
                    files={"files": (name, png_bytes(photo.crop((40, 40, 420, 420))),
                                     "image/png")})
    assert r.status_code == 200, r.text
    return r.json()["results"][0]


def as_user(client: TestClient, key: str) -> None:
    client.cookies.clear()
    r = sign_in(client, key)
    assert r.status_code == 303, r.text


def test_pages_redirect_to_sign_in_and_the_cookie_is_locked_down(wb) -> None:  # type: ignore[no-untyped-def]
    client, keys, _, _ = wb
    client.cookies.clear()
    r = client.get("/ui/queue?kind=image", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/ui/login?next=")
    bad = sign_in(client, "ips_nothere_secret")
    assert bad.status_code == 401 and "Not signed in" in bad.text
    assert "ipscreen_session" not in client.cookies
    ok = sign_in(client, keys["screen"], "/ui/works")
    assert ok.status_code == 303 and ok.headers["location"] == "/ui/works"
    cookie = ok.headers["set-cookie"].lower()
    assert "httponly" in cookie and "secure" in cookie and "samesite=strict" in cookie
    assert keys["screen"] not in ok.headers["set-cookie"]  # the key never reaches the browser
    page = client.get("/ui/works")
    assert page.status_code == 200
    assert "script-src 'self'" in page.headers["content-security-policy"]
    # never redirected off the site after signing in
    client.cookies.clear()
    assert sign_in(client, keys["screen"], "https://evil.example/").headers["location"] \
        == "/ui/queue"


def test_login_form_needs_its_own_token(wb) -> None:  # type: ignore[no-untyped-def]
    client, keys, _, _ = wb
    client.cookies.clear()
    r = client.post("/ui/login", data={"key": keys["screen"], "csrf": "forged"},
                    follow_redirects=False)
    assert r.status_code == 401 and "expired" in r.text
    assert "ipscreen_session" not in client.cookies


def test_review_case_queue_case_page_and_one_key_verdict(wb) -> None:  # type: ignore[no-untyped-def]
    client, keys, photo, _ = wb
    result = screen_crop(client, keys["screen"], photo, "queued.png")
    assert result["decision"] == "review"
    as_user(client, keys["screen"])
    queue = client.get("/ui/queue")
    ids = [int(i) for i in re.findall(r'data-href="/ui/cases/(\d+)"', queue.text)]
    assert ids, queue.text
    case = client.get(f"/ui/cases/{ids[0]}")
    assert case.status_code == 200
    assert f'src="/ui/cases/{ids[0]}/input"' in case.text
    assert 'src="/ui/works/IMG-astronaut/content"' in case.text
    assert 'id="region"' in case.text and "sscd" in case.text
    img = client.get(f"/ui/cases/{ids[0]}/input")
    assert img.headers["content-type"] == "image/png" and img.content[:4] == b"\x89PNG"
    assert client.get("/ui/works/IMG-astronaut/content").headers["content-type"] == "image/png"
    before = len(client.app.state.service.access.audit_entries(route="ui/verdict"))
    # a verdict without the session's CSRF token is refused and records nothing
    forged = client.post(f"/ui/cases/{ids[0]}/verdict", data={"verdict": "infringing",
                                                              "csrf": "nope"})
    assert forged.status_code == 403
    token = csrf_of(case.text)
    r = client.post(f"/ui/cases/{ids[0]}/verdict",
                    data={"verdict": "infringing", "note": "same astronaut", "csrf": token},
                    follow_redirects=False)
    assert r.status_code == 303
    entries = client.app.state.service.access.audit_entries(route="ui/verdict")
    assert len(entries) == before + 1
    assert entries[-1]["decision"] == "infringing" and entries[-1]["tenant"] == "acme"
    assert entries[-1]["matches"][0]["external_id"] == "IMG-astronaut"
    verdicts = client.app.state.service.cases.verdicts("acme")
    assert verdicts[-1]["case"] == ids[0] and verdicts[-1]["signals"]["signals"]
    # answered cases leave the open queue
    assert f'data-href="/ui/cases/{ids[0]}"' not in client.get("/ui/queue").text
    assert f'data-href="/ui/cases/{ids[0]}"' in client.get("/ui/queue?answered=true").text
    bad = client.post(f"/ui/cases/{ids[0]}/verdict", data={"verdict": "guilty",
                                                            "csrf": token})
    assert bad.status_code == 400 and "verdict must be one of" in bad.text


def test_tenants_see_only_their_cases_and_admins_see_all(wb) -> None:  # type: ignore[no-untyped-def]
    client, keys, photo, _ = wb
    screen_crop(client, keys["screen"], photo, "acme-only.png")
    as_user(client, keys["screen"])
    mine = re.findall(r'data-href="/ui/cases/(\d+)"', client.get("/ui/queue").text)
    assert mine
    as_user(client, keys["globex"])
    assert "acme-only.png" not in client.get("/ui/queue").text
    assert client.get(f"/ui/cases/{mine[0]}").status_code == 404
    assert client.get(f"/ui/cases/{mine[0]}/input").status_code == 404
    as_user(client, keys["admin"])
    assert "acme-only.png" in client.get("/ui/queue?tenant=acme").text
    assert "acme-only.png" not in client.get("/ui/queue?tenant=globex").text


def test_text_case_marks_numbered_spans_on_both_sides(wb) -> None:  # type: ignore[no-untyped-def]
    client, keys, _, _ = wb
    psalm = kjv(19, 23)
    words = psalm.split()
    # a partial, edited copy: review rather than the whole-work rule's block
    out = "As the assistant wrote: " + " ".join(words[:40]) + " and so on."
    r = client.post("/v1/screen/text", headers={"X-API-Key": keys["screen"]},
                    json={"texts": [{"id": "reply-1", "text": out}]})
    result = r.json()["results"][0]
    as_user(client, keys["screen"])
    q = client.get("/ui/queue?kind=text&show=all").text
    ids = re.findall(r'data-href="/ui/cases/(\d+)"', q)
    assert ids, (result["decision"], result["risk_score"])
    page = client.get(f"/ui/cases/{ids[0]}").text
    assert 'id="work-text"' in page
    if result["decision"] == "review":  # the input is kept for review decisions only
        assert 'id="output-text"' in page
        assert re.search(r'<mark class="\w+" data-span="1">', page)


def test_block_cases_are_listed_without_their_input(wb) -> None:  # type: ignore[no-untyped-def]
    client, keys, _, _ = wb
    r = client.post("/v1/screen/text", headers={"X-API-Key": keys["screen"]},
                    json={"texts": [{"id": "whole-psalm", "text": kjv(19, 23)}]})
    assert r.json()["results"][0]["decision"] == "block"
    as_user(client, keys["screen"])
    assert "whole-psalm" not in client.get("/ui/queue").text
    listing = client.get("/ui/queue?show=all").text
    assert "whole-psalm" in listing
    case_id = re.search(r'data-href="/ui/cases/(\d+)"[^>]*class="block"', listing)
    assert case_id is not None
    assert client.get(f"/ui/cases/{case_id.group(1)}/input").status_code == 404


def test_works_search_register_withdraw_and_xss_is_inert(wb, photos) -> None:  # type: ignore[no-untyped-def]
    client, keys, _, _ = wb
    as_user(client, keys["screen"])
    token = csrf_of(client.get("/ui/works").text)
    denied = client.post("/ui/works", data={"external_id": "X-1", "csrf": token},
                         files={"file": ("w.png", png_bytes(photos["coffee"]), "image/png")})
    assert denied.status_code == 403  # registering needs the register scope
    as_user(client, keys["register"])
    token = csrf_of(client.get("/ui/works").text)
    title = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    r = client.post("/ui/works", data={"external_id": "XSS-1", "title": title,
                                       "owner": "Mallory", "csrf": token},
                    files={"file": ("w.png", png_bytes(photos["coffee"]), "image/png")},
                    follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/ui/works/XSS-1"
    for url in ("/ui/works?q=mallory", "/ui/works/XSS-1"):
        page = client.get(url).text
        assert "<script>alert" not in page and "<img src=x" not in page
        assert html.escape(title, quote=False)[:20] in page or "&lt;script&gt;" in page
    r = client.post("/ui/works/XSS-1/withdraw", data={"reason": "test", "csrf": token},
                    follow_redirects=False)
    assert r.status_code == 303
    assert "withdrawn" in client.get("/ui/works/XSS-1").text
    nocsrf = client.post("/ui/works/IMG-astronaut/withdraw", data={"reason": "x"})
    assert nocsrf.status_code == 403
    assert client.app.state.service.writer.registry.get("IMG-astronaut").status == "active"


def test_underwriting_prices_the_tenant_and_links_hits_to_cases(wb) -> None:  # type: ignore[no-untyped-def]
    client, keys, photo, _ = wb
    screen_crop(client, keys["screen"], photo, "priced.png")
    as_user(client, keys["screen"])
    assert client.get("/ui/underwriting").status_code == 403
    as_user(client, keys["underwrite"])
    page = client.get("/ui/underwriting")
    applicant = re.search(r'<textarea name="applicant"[^>]*>(.*?)</textarea>', page.text,
                          re.S)
    assert applicant is not None
    r = client.post("/ui/underwriting", data={
        "csrf": csrf_of(page.text), "days": "30", "limit": "700000", "deductible": "10000",
        "applicant": html.unescape(applicant.group(1))})
    assert r.status_code == 200, r.text[:2000]
    assert re.search(r"<h2 id=\"decision\">(Premium [0-9,.]+|(Refer|Decline): no premium "
                     r"offered)", r.text)
    assert 'id="hits"' in r.text and "Annual aggregate loss" in r.text
    assert re.search(r'href="/ui/cases/\d+"', r.text)
    assert "data:image/svg+xml;base64," in r.text
    bad = client.post("/ui/underwriting", data={"csrf": csrf_of(page.text),
                                                "applicant": "name: [unclosed"})
    assert bad.status_code == 400 and "YAML" in bad.text


def test_underwriting_shows_the_hits_the_tenants_licences_set_aside(wb) -> None:  # type: ignore[no-untyped-def]
    """A hit the tenant's own licence clears is no case and no priced hit, but the
    underwriter sees it, from the audit, with the licence's evidence."""
    client, keys, _, _ = wb
    lic = {"X-API-Key": client.app.state.service.access.create_key(
        "wb licences", "acme", ["licence"], 100_000)[0]}
    r = client.post("/v1/licences", headers=lic, json={**LICENCE, "external_id": "KJV-PSA-23"})
    assert r.status_code == 201, r.text
    try:
        seen = client.post("/v1/screen/text", headers={"X-API-Key": keys["screen"]},
                           json={"texts": [" ".join(kjv(19, 23).split()[:60])]}
                           ).json()["results"][0]
        assert seen["decision"] == "clear" and seen["licensed_matches"]
        as_user(client, keys["underwrite"])
        page = client.get("/ui/underwriting")
        applicant = re.search(r'<textarea name="applicant"[^>]*>(.*?)</textarea>', page.text,
                              re.S)
        assert applicant is not None
        r = client.post("/ui/underwriting", data={
            "csrf": csrf_of(page.text), "days": "30", "limit": "700000",
            "deductible": "10000", "applicant": html.unescape(applicant.group(1))})
        assert r.status_code == 200, r.text[:2000]
        table = r.text[r.text.index('<table id="licensed">'):]
        assert "KJV-PSA-23" in table and "KJV-LIC-7" in table and "The Crown" in table
        assert "perpetual from 2026-01-01" in table and "CN GB" in table
    finally:
        client.delete("/v1/licences/KJV-PSA-23", headers=lic)


def test_revoked_key_ends_its_sessions_and_logout_ends_one(wb) -> None:  # type: ignore[no-untyped-def]
    client, _, _, _ = wb
    access = client.app.state.service.access
    key, info = access.create_key("temp reviewer", "acme", ["screen"], 1000)
    as_user(client, key)
    assert client.get("/ui/queue").status_code == 200
    access.revoke(info.prefix)
    assert client.get("/ui/queue", follow_redirects=False).status_code == 303
    key2, _ = access.create_key("temp 2", "acme", ["screen"], 1000)
    as_user(client, key2)
    token = csrf_of(client.get("/ui/queue").text)
    session = client.cookies.get("ipscreen_session")
    assert client.post("/ui/logout", data={"csrf": token},
                       follow_redirects=False).status_code == 303
    client.cookies.set("ipscreen_session", session or "", domain="testserver.local")
    assert client.app.state.service.sessions.find(session) is None


def test_bad_queue_parameters_get_a_page_not_a_traceback(wb) -> None:  # type: ignore[no-untyped-def]
    client, keys, _, _ = wb
    as_user(client, keys["screen"])
    for url in ("/ui/queue?min_score=5", "/ui/queue?page=0", "/ui/queue?kind=video",
                "/ui/cases/999999", "/ui/cases/abc"):
        r = client.get(url)
        assert r.status_code in (400, 404, 422), url
        assert r.headers["content-type"].startswith("text/html")


def test_retention_zero_keeps_nothing_and_expired_cases_are_purged(wb, model_cache) -> None:  # type: ignore[no-untyped-def]
    client, keys, photo, data_dir = wb
    with TestClient(create_app(workbench_settings(data_dir, model_cache,
                                                  review_retention_days=0)),
                    base_url="https://testserver") as other:
        before = other.app.state.service.cases.queue(QueueFilter(), 1, 500)[1]
        assert screen_crop(other, keys["screen"], photo, "unkept.png")["decision"] == "review"
        assert other.app.state.service.cases.queue(QueueFilter(), 1, 500)[1] == before
    cases = client.app.state.service.cases
    screen_crop(client, keys["screen"], photo, "expiring.png")
    with cases.engine.begin() as conn:
        conn.execute(text("UPDATE review_cases SET expires_at = :at WHERE label = :l"),
                     {"at": datetime.now(UTC) - timedelta(minutes=1), "l": "expiring.png"})
    assert cases.purge() >= 1
    with client.app.state.service.access.engine.connect() as conn:
        left = conn.execute(text("SELECT count(*) FROM review_cases WHERE label = "
                                 "'expiring.png'")).scalar()
    assert left == 0


def test_verdicts_refit_a_calibration_the_service_uses_and_rolls_back(wb, cli) -> None:  # type: ignore[no-untyped-def]
    client, keys, photo, data_dir = wb
    for name in ("refit-a.png", "refit-b.png"):
        screen_crop(client, keys["screen"], photo, name)
    as_user(client, keys["admin"])
    token = csrf_of(client.get("/ui/queue").text)
    open_ids = re.findall(r'data-href="/ui/cases/(\d+)"', client.get("/ui/queue").text)
    assert len(open_ids) >= 2
    for case_id, verdict in zip(open_ids[:2], ("infringing", "not_infringing"), strict=True):
        r = client.post(f"/ui/cases/{case_id}/verdict",
                        data={"verdict": verdict, "csrf": token}, follow_redirects=False)
        assert r.status_code == 303
    # too few for the default minimum: reported, nothing written
    r = cli("--data-dir", data_dir, "calibrate", "--from-verdicts", "--tenant", "acme")
    assert r.code == 0, r.err
    report = json.loads(r.out.splitlines()[0])
    assert report["changed"] is False and report["written"] is False
    r = cli("--data-dir", data_dir, "calibrate", "--from-verdicts", "--tenant", "acme",
            "--min-verdicts", "2")
    assert r.code == 0, r.err
    report = json.loads(r.out.splitlines()[0])
    assert report["written"] is True and "before" in report and "after" in report
    version = report["version"]

    def in_force() -> str:
        res = screen_crop(client, keys["screen"], photo, "after-refit.png")
        return res["versions"]["calibration"]

    wait_for(lambda: in_force() == version, timeout=20)
    # another tenant keeps the packaged calibrator
    other = client.post("/v1/screen/image", headers={"X-API-Key": keys["globex"]},
                        files={"files": ("g.png", png_bytes(photo.crop((40, 40, 420, 420))),
                                         "image/png")}).json()["results"][0]
    assert other["versions"]["calibration"] != version
    r = cli("--data-dir", data_dir, "calibrate", "--rollback", version.partition("@")[0],
            "--tenant", "acme")
    assert r.code == 0 and version in r.out
    wait_for(lambda: in_force() != version, timeout=20)
    r = cli("--data-dir", data_dir, "calibrate", "--rollback", version.partition("@")[0],
            "--tenant", "acme")
    assert r.code != 0 and "to roll back" in r.err
    assert cli("--data-dir", data_dir, "calibrate").code != 0  # says which option to give
