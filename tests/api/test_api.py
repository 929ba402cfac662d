"""The HTTP API through TestClient: screening, evidence, underwriting, auth, limits."""

from __future__ import annotations

import hashlib

import pytest
from PIL import ImageOps

from tests.api.conftest import auth
from tests.api.helpers import problem
from tests.conftest import png_bytes
from tests.screening.text_fixtures import filler, kjv


def test_screen_image_finds_an_edited_copy_with_provenance(client, keys, photos):
    copy = png_bytes(ImageOps.mirror(photos["coffee"]).resize((300, 200)), "JPEG", quality=70)
    r = client.post("/v1/screen/image", headers=auth(keys["screen"]),
                    files=[("files", ("copy.jpg", copy, "image/jpeg")),
                           ("files", ("other.png", png_bytes(photos["colorwheel"]),
                                      "image/png"))])
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["request_id"] == r.headers["x-request-id"]
    first, second = body["results"]
    assert first["decision"] == "block" and first["matches"][0]["external_id"] == "IMG-coffee"
    assert first["matches"][0]["similarity_kind"] == "copy"  # a photo: copy detection only
    assert first["matches"][0]["decision"] == "block"
    assert second["decision"] == "clear"
    v = first["versions"]
    assert v["kind"] == "image" and v["profile"] == "accurate" and v["index_revision"] >= 4
    assert v["calibration"].startswith("image-accurate@")


def test_images_of_one_request_are_screened_as_one_batch_with_the_same_answers(
        client, keys, photos):
    """Several images in a request go through the models together (a GPU's batch); each
    answer is the one it gets alone, to float rounding."""
    h = auth(keys["screen"])
    uploads = [("copy.jpg", png_bytes(ImageOps.mirror(photos["coffee"]).resize((300, 200)),
                                      "JPEG", quality=70)),
               ("crop.png", png_bytes(photos["astronaut"].crop((40, 40, 400, 420)))),
               ("other.png", png_bytes(photos["colorwheel"]))]
    together = client.post("/v1/screen/image", headers=h,
                           files=[("files", (n, b, "image/png")) for n, b in uploads])
    assert together.status_code == 200, together.text
    for (name, blob), got in zip(uploads, together.json()["results"], strict=True):
        alone = client.post("/v1/screen/image", headers=h, files=[("files", (name, blob))])
        want = alone.json()["results"][0]
        assert got["input"] == name and got["decision"] == want["decision"]
        assert [m["external_id"] for m in got["matches"]] == \
            [m["external_id"] for m in want["matches"]]
        for a, b in zip(got["matches"], want["matches"], strict=True):
            assert a["score"] == pytest.approx(b["score"], abs=1e-4)
            assert a["region"] == b["region"]


def test_evidence_sheet_and_page_over_http(client, keys, photos):
    import io

    from PIL import Image

    h = auth(keys["screen"])
    copy = png_bytes(ImageOps.mirror(photos["coffee"]).resize((300, 200)), "JPEG", quality=70)
    r = client.post("/v1/evidence/image", headers=h, files={"file": ("copy.jpg", copy)})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "image/png"
    assert r.headers["x-ipscreen-work"] == "IMG-coffee"
    assert r.headers["x-ipscreen-decision"] == "block"
    with Image.open(io.BytesIO(r.content)) as im:
        assert im.format == "PNG" and im.width > 600
    # nothing similar enough, unless a weaker match is asked for by name
    other = png_bytes(photos["colorwheel"])
    problem(client.post("/v1/evidence/image", headers=h, files={"file": ("o.png", other)}),
            404, "no match at or above the review threshold")
    problem(client.post("/v1/evidence/image", headers=h, files={"file": ("o.png", other)},
                        data={"external_id": "IMG-rocket"}), 404, "not among")
    problem(client.post("/v1/evidence/image", headers=h, files={"file": ("x.png", b"junk")}),
            400, "not a recognised image format")
    text = filler(40) + " " + " ".join(kjv(1, 1).split()[:60])
    r = client.post("/v1/evidence/text", headers=h, json={"text": text, "id": "reply-7"})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/html")
    assert r.headers["x-ipscreen-work"] == "KJV-GEN-1"
    assert r.text.count('<mark class="verbatim" title=') == 2 and "reply-7" in r.text
    problem(client.post("/v1/evidence/text", headers=h, json={"text": filler(60)}), 404,
            "no match")
    problem(client.post("/v1/evidence/text", json={"text": text}), 401, "missing API key")


def test_screen_text_and_request_id_passthrough(client, keys):
    text = filler(40) + " " + " ".join(kjv(1, 1).split()[:60])
    r = client.post("/v1/screen/text", headers={**auth(keys["screen"]), "X-Request-ID": "abc-1"},
                    json={"texts": [{"id": "reply-7", "text": text}, "Nothing to see here at "
                                    "all, just a short unrelated sentence."]})
    assert r.status_code == 200, r.text
    assert r.headers["x-request-id"] == "abc-1" and r.json()["request_id"] == "abc-1"
    a, b = r.json()["results"]
    assert a["input"] == "reply-7" and a["decision"] == "block"
    assert a["matches"][0]["spans"][0]["kind"] == "verbatim"
    assert b["decision"] == "clear"
    assert a["versions"]["profile"] == "paraphrase"
    # with the layer off for this request, the versions say what ran (they said paraphrase,
    # with the text model among the features, though only the literal layers had run)
    r = client.post("/v1/screen/text", headers=auth(keys["screen"]),
                    json={"texts": [text], "paraphrase": False})
    (lit,) = r.json()["results"]
    assert lit["decision"] == "block" and lit["versions"]["profile"] == "literal"
    assert len(lit["versions"]["features"]) < len(a["versions"]["features"])
    assert all(f.startswith("winnow") for f in lit["versions"]["features"]), lit["versions"]


ROUTES = [
    ("post", "/v1/screen/text", "screen", {"json": {"texts": ["a b c d e f g h i j"]}}),
    ("get", "/v1/works", "screen", {}),
    ("get", "/v1/works/KJV-GEN-1", "screen", {}),
    ("get", "/v1/works/KJV-GEN-1/history", "screen", {}),
    ("post", "/v1/evidence/text", "screen", {"json": {"text": "a b c d e f g h i j"}}),
    ("post", "/v1/works/NOPE/withdraw", "register", {"json": {"reason": "x"}}),
    ("patch", "/v1/works/NOPE", "register", {"json": {"owner": "x"}}),
    ("post", "/v1/underwriting/profile", "underwrite",
     {"json": {"results": [{"input": "a", "matches": []}]}}),
]


@pytest.mark.parametrize(("method", "path", "scope", "kw"), ROUTES)
def test_auth_and_scope_matrix(client, keys, method, path, scope, kw):
    call = getattr(client, method)
    problem(call(path, **kw), 401, "missing API key")
    problem(call(path, headers=auth("ips_nope_nope"), **kw), 401, "unknown API key")
    problem(call(path, headers=auth(keys["revoked"]), **kw), 401, "revoked")
    problem(call(path, headers=auth(keys["expired"]), **kw), 401, "expired API key")
    listed = {k.prefix: k for k in client.app.state.service.access.list_keys()}
    assert listed[keys["expired"].split("_")[1]].expired  # keys list says so
    assert not listed[keys["trial"].split("_")[1]].expired
    wrong = next(s for s in ("screen", "register", "underwrite") if s != scope)
    problem(call(path, headers=auth(keys[wrong]), **kw), 403, f"lacks the '{scope}' scope")
    for k in (scope, "admin", "trial"):  # trial: an admin key that expires in 30 days
        r = call(path, headers=auth(keys[k]), **kw)
        assert r.status_code in (200, 404), r.text  # 404: the route's own answer (NOPE)


def test_rate_limit_answers_429_with_retry_after(client, keys):
    codes = [client.get("/v1/works", headers=auth(keys["slow"])) for _ in range(3)]
    assert [c.status_code for c in codes[:2]] == [200, 200]
    body = problem(codes[2], 429, "rate limit")
    assert int(codes[2].headers["retry-after"]) >= 1 and body["title"] == "Too Many Requests"


def test_limits_and_bad_input_are_4xx_problems(client, keys, photos):
    h = auth(keys["admin"])
    problem(client.post("/v1/screen/image", headers=h,
                        files=[("files", ("x.png", b"\x89PNG\r\n\x1a\n garbage", "image/png"))]),
            400, "x.png")
    problem(client.post("/v1/screen/image", headers=h,
                        files=[("files", (f"{i}.png", b"x", "image/png")) for i in range(5)]),
            400, "at most 4")
    problem(client.post("/v1/screen/image", headers=h, files=[("files", ("e.png", b"", "x"))]),
            400, "e.png")
    problem(client.post("/v1/screen/image", headers=h, content=b"x" * (9 * 1024 * 1024),
                        params={}), 413, "over")
    problem(client.post("/v1/screen/text", headers=h, json={"texts": ["x" * 20_001]}), 400,
            "the limit is 20000")
    problem(client.post("/v1/screen/text", headers=h, json={"texts": ["   "]}), 400,
            "empty text")
    problem(client.post("/v1/screen/text", headers=h, json={"texts": ["a"] * 5}), 400,
            "at most 4")
    problem(client.post("/v1/screen/text", headers=h, content=b"{not json",
                        params={}), 422)
    problem(client.post("/v1/screen/image", headers=h, params={"profile": "turbo"},
                        files=[("files", ("a.png", png_bytes(photos["coffee"]), "image/png"))]),
            422, "profile")
    # this service keeps the accurate and hash indexes only: the cascade also needs fast's
    problem(client.post("/v1/screen/image", headers=h, params={"profile": "cascade"},
                        files=[("files", ("a.png", png_bytes(photos["coffee"]), "image/png"))]),
            400, "not loaded by this service")
    problem(client.get("/v1/works", headers=h, params={"limit": 10**9}), 422, "limit")
    problem(client.get("/v1/works/NOT-THERE", headers=h), 404, "NOT-THERE")
    problem(client.post("/v1/pricing/quote", headers=h,
                        json={"applicant": {"name": "x"}, "limit": 10}), 400, "annual_outputs")
    problem(client.post("/v1/pricing/quote", headers=h,
                        json={"applicant": {"name": "x", "annual_outputs": 1,
                                            "jurisdictions": {"CN": 1}}, "limit": -5}), 422)
    problem(client.post("/v1/pricing/quote", headers=h,
                        json={"applicant": {"name": "x", "annual_outputs": 1,
                                            "jurisdictions": {"CN": 1}}, "limit": 1000,
                              "profile": {"outputs": 10, "expected_hits": 1,
                                          "severity_mix": {"block": 1.0}}}),
            400, "unknown severity class 'block'")


def test_underwriting_profile_and_quote_with_audit(client, keys):
    h = auth(keys["underwrite"])
    screened = client.post("/v1/screen/text", headers=auth(keys["screen"]), json={
        "texts": [" ".join(kjv(19, 23).split()[:50]), filler(60), filler(60, 900)]}).json()
    results = screened["results"]
    r = client.post("/v1/underwriting/profile", headers=h, json={"results": results})
    assert r.status_code == 200, r.text
    prof = r.json()["profile"]
    assert prof["outputs"] == 3 and prof["levels"]["high"] == 1
    assert prof["warnings"] and "too small" in prof["warnings"][0]
    applicant = {"name": "Acme chat", "annual_outputs": 200000,
                 "jurisdictions": {"CN": 0.5, "US": 0.5}, "controls": ["human_review"]}
    q = client.post("/v1/pricing/quote", headers=h, json={
        "results": results, "applicant": applicant, "limit": 700000, "deductible": 10000})
    assert q.status_code == 200, q.text
    quote = q.json()
    assert quote["indicated_premium"] > 0 and quote["plan"]["sha256"]
    # a premium is offered only within the plan's appetite; otherwise the reasons say why
    assert (quote["decision"] == "quote") == (quote["premium"] is not None)
    assert quote["decision"] == "quote" or quote["reasons"]
    assert [s["name"] for s in quote["worksheet"]][0] == "base loss cost"
    assert quote["screening_versions"][0]["kind"] == "text"
    q2 = client.post("/v1/pricing/quote", headers=h, json={
        "profile": {"outputs": prof["outputs"], "expected_hits": prof["expected_hits"],
                    "severity_mix": prof["severity_mix"]},
        "applicant": applicant, "limit": 700000, "deductible": 10000})
    assert q2.json()["indicated_premium"] == quote["indicated_premium"]
    problem(client.post("/v1/underwriting/profile", headers=h,
                        json={"results": results, "index_revision": 10**6}), 400,
            "index revision")
    state = client.app.state.service
    entries = state.access.audit_entries(q.headers["x-request-id"])
    assert entries and entries[0]["route"] == "pricing/quote"
    assert entries[0]["versions"]["plan"]["sha256"] == quote["plan"]["sha256"]
    screened_audit = state.access.audit_entries(screened["request_id"])
    assert len(screened_audit) == 3 and not any(e["stored_input"] for e in screened_audit)
    assert all(len(e["input_sha256"]) == 64 for e in screened_audit)
    # each entry names the works its decision was about
    assert screened_audit[0]["matches"][0]["external_id"] == "KJV-PSA-23"
    assert screened_audit[0]["matches"][0]["score"] == screened["results"][0]["risk_score"]
    assert all(e["licensed"] == [] for e in screened_audit)
    # the trail over HTTP, for admins only: by request id, and by an input's SHA-256
    admin = auth(keys["admin"])
    got = client.get("/v1/audit", headers=admin,
                     params={"request_id": q.headers["x-request-id"]}).json()["entries"]
    assert [e["route"] for e in got] == ["pricing/quote"] and got[0]["tenant"] == "acme"
    first = hashlib.sha256(" ".join(kjv(19, 23).split()[:50]).encode()).hexdigest()
    by_input = client.get("/v1/audit", headers=admin,
                          params={"input_sha256": first.upper()}).json()["entries"]
    assert by_input and {e["request_id"] for e in by_input} >= {screened["request_id"]}
    assert all(e["input_sha256"] == first and e["route"] == "screen/text" for e in by_input)
    about = client.get("/v1/audit", headers=admin,
                       params={"external_id": "KJV-PSA-23"}).json()["entries"]
    assert screened["request_id"] in {e["request_id"] for e in about}
    assert all(any(m["external_id"] == "KJV-PSA-23" for m in e["matches"]) or
               "KJV-PSA-23" in e["licensed"] for e in about)
    latest = client.get("/v1/audit", headers=admin, params={"limit": 2}).json()["entries"]
    assert len(latest) == 2 and latest[0]["id"] < latest[1]["id"]
    # any other key reads its own tenant's entries only
    own = client.get("/v1/audit", headers=h, params={"limit": 1000}).json()["entries"]
    assert own and {e["tenant"] for e in own} == {"acme"}
    problem(client.get("/v1/audit", headers=h, params={"tenant": "globex"}), 403,
            "another tenant's need the 'admin' scope")
    theirs = client.get("/v1/audit", headers=auth(keys["other-tenant"]),
                        params={"request_id": q.headers["x-request-id"]}).json()["entries"]
    assert theirs == []  # acme's quote is not globex's to read
    problem(client.get("/v1/audit", headers=admin, params={"input_sha256": "xyz"}), 422,
            "input_sha256")
    problem(client.get("/v1/audit", headers=admin, params={"limit": 0}), 422, "limit")


def test_evidence_scope_setting_keeps_works_from_screening_keys(service_dir, model_cache,
                                                                  keys):
    from fastapi.testclient import TestClient

    from api.app import create_app
    from tests.api.conftest import settings_for

    text = filler(40) + " " + " ".join(kjv(1, 1).split()[:60])
    app = create_app(settings_for(service_dir[0], model_cache, evidence_scope="register"))
    with TestClient(app) as c:
        problem(c.post("/v1/evidence/text", headers=auth(keys["screen"]), json={"text": text}),
                403, "lacks the 'register' scope")
        r = c.post("/v1/evidence/text", headers=auth(keys["register"]), json={"text": text})
        assert r.status_code == 200 and r.headers["x-ipscreen-work"] == "KJV-GEN-1"
        # screening itself still needs only the screen scope
        assert c.post("/v1/screen/text", headers=auth(keys["screen"]),
                      json={"texts": [text]}).status_code == 200
