"""The HTTP API through TestClient: screening, registry, underwriting, auth, limits, errors."""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

import pytest
from PIL import ImageOps

from tests.api.conftest import auth
from tests.conftest import png_bytes
from tests.screening.text_fixtures import filler, kjv

PROBLEM = "application/problem+json"


def problem(r, status: int, fragment: str = "") -> dict:  # type: ignore[no-untyped-def]
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith(PROBLEM)
    body = r.json()
    assert body["status"] == status and fragment in body["detail"]
    return body


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
    assert second["decision"] == "clear"
    v = first["versions"]
    assert v["kind"] == "image" and v["profile"] == "accurate" and v["index_revision"] >= 4
    assert v["calibration"].startswith("image-accurate@")


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


def wait_for(pred, timeout: float = 30.0) -> None:  # type: ignore[no-untyped-def]
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return
        time.sleep(0.2)
    raise AssertionError("condition not met in time")


def test_register_withdraw_and_licences_while_serving(client, keys):
    text = kjv(2, 20)
    h = auth(keys["register"])
    r = client.post("/v1/works", headers=h, data={"external_id": "KJV-EXO-20",
                                                  "title": "Exodus 20", "category": "literary"},
                    files={"file": ("exodus20.txt", text.encode(), "text/plain")})
    assert r.status_code == 201 and r.json()["outcome"] == "created", r.text
    again = client.post("/v1/works", headers=h, data={"external_id": "KJV-EXO-20"},
                        files={"file": ("exodus20.txt", text.encode(), "text/plain")})
    assert again.status_code == 200 and again.json()["outcome"] == "unchanged"
    problem(client.post("/v1/works", headers=h, data={"external_id": "KJV-EXO-20"},
                        files={"file": ("e.txt", b"different content " * 5, "text/plain")}),
            409, "--replace")
    refused = hashlib.sha256(b"different content " * 5).hexdigest()
    assert not client.app.state.service.writer.blobs.path(refused).exists()  # not stored
    probe = {"texts": [" ".join(text.split()[:60])]}

    def top(key: str = "screen") -> dict:
        res = client.post("/v1/screen/text", headers=auth(keys[key]), json=probe)
        return res.json()["results"][0]

    wait_for(lambda: top()["decision"] == "block")  # searchable without a restart
    ready = client.get("/readyz").json()
    assert ready["ready"] and ready["index_revision"] <= ready["registry_revision"]
    # a tenant's licensed works never count against it; other tenants are unaffected
    r = client.post("/v1/licences", headers=auth(keys["screen"]),
                    json={"external_id": "KJV-EXO-20"})
    assert r.status_code == 201
    mine = top()
    assert mine["decision"] == "clear" and mine["licensed_matches"][0]["external_id"] == \
        "KJV-EXO-20"
    last = client.app.state.service.access.audit_entries(route="screen/text", limit=1)[0]
    assert last["licensed"] == ["KJV-EXO-20"] and last["decision"] == "clear"
    # the evidence route shows the match, and states (and audits) the tenant's decision
    r = client.post("/v1/evidence/text", headers=auth(keys["screen"]),
                    json={"text": probe["texts"][0], "external_id": "KJV-EXO-20"})
    assert r.status_code == 200 and r.headers["x-ipscreen-work"] == "KJV-EXO-20"
    assert r.headers["x-ipscreen-decision"] == "clear"
    assert r.headers["x-ipscreen-licensed"] == "true"
    ev = client.app.state.service.access.audit_entries(route="evidence/text", limit=1)[0]
    assert ev["decision"] == "clear" and ev["licensed"] == ["KJV-EXO-20"]
    assert top("other-tenant")["decision"] == "block"
    held = client.get("/v1/licences", headers=auth(keys["screen"])).json()
    assert held["external_ids"] == ["KJV-EXO-20"] and held["licences"][0]["since"]
    # a licence that ends: the work counts against the tenant again at once
    r = client.delete("/v1/licences/KJV-EXO-20", headers=auth(keys["screen"]))
    assert r.status_code == 200 and r.json()["removed"] is True
    again = top()
    assert again["decision"] == "block" and "licensed_matches" not in again
    problem(client.delete("/v1/licences/KJV-EXO-20", headers=auth(keys["screen"])), 404,
            "acme holds no licence for 'KJV-EXO-20'")
    problem(client.delete("/v1/licences/KJV-EXO-20", headers=auth(keys["underwrite"])), 403,
            "scope")
    # both changes are in the audit table, with the key that made them
    changes = [e for e in client.app.state.service.access.audit_entries()
               if e["route"] == "licences"]
    assert [e["decision"] for e in changes] == ["licence_added", "licence_removed"]
    assert {e["key"] for e in changes} == {keys["screen"].split("_")[1]}
    # the request is not kept without STORE_INPUTS (it was, for licences only); the work is
    # still named, which is how the entries are found by it
    assert not any(e["stored_input"] for e in changes)
    assert all(e["licensed"] == ["KJV-EXO-20"] for e in changes)
    about = client.app.state.service.access.audit_entries(external_id="KJV-EXO-20")
    assert {"licence_added", "licence_removed", "clear", "block"} <= {
        e["decision"] for e in about}
    r = client.post("/v1/works/KJV-EXO-20/withdraw", headers=h, json={"reason": "test"})
    assert r.status_code == 200 and r.json()["status"] == "withdrawn"
    wait_for(lambda: top("other-tenant")["matches"] == [])


def test_correct_metadata_and_list_by_owner(client, keys):
    h = auth(keys["register"])
    before = client.get("/readyz").json()["registry_revision"]
    r = client.patch("/v1/works/KJV-GEN-1", headers=h,
                     json={"owner": "The Crown", "registration_no": "KJV-1611"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["outcome"] == "updated" and body["owner"] == "The Crown"
    assert body["title"] == "Genesis 1" and body["updated_at"].endswith("+00:00")
    got = client.get("/v1/works/KJV-GEN-1", headers=auth(keys["screen"])).json()
    assert got == {**body, "outcome": None}  # the same record, timestamps included
    # nothing indexed changed, so no worker reloads for it
    assert client.get("/readyz").json()["registry_revision"] == before
    # matches report the corrected owner at once
    res = client.post("/v1/screen/text", headers=auth(keys["screen"]),
                      json={"texts": [" ".join(kjv(1, 1).split()[:60])]}).json()
    assert res["results"][0]["matches"][0]["owner"] == "The Crown"
    listed = client.get("/v1/works", headers=auth(keys["screen"]),
                        params={"owner": "The Crown"}).json()
    assert listed["total"] == 1 and listed["works"][0]["external_id"] == "KJV-GEN-1"
    assert client.get("/v1/works", headers=auth(keys["screen"]),
                      params={"owner": "Nobody"}).json() == {"total": 0, "works": []}
    problem(client.patch("/v1/works/KJV-GEN-1", headers=h, json={}), 400, "nothing to update")
    problem(client.patch("/v1/works/KJV-GEN-1", headers=h, json={"status": "withdrawn"}),
            422, "status")
    problem(client.patch("/v1/works/KJV-GEN-1", headers=h, json={"owner": "x" * 301}),
            422, "owner")
    problem(client.patch("/v1/works/NOPE", headers=h, json={"owner": "x"}), 404, "NOPE")
    client.patch("/v1/works/KJV-GEN-1", headers=h, json={"owner": "Crown"})
    hist = client.get("/v1/works/KJV-GEN-1/history", headers=auth(keys["screen"])).json()
    assert [c["action"] for c in hist["changes"]][-2:] == ["updated", "updated"]
    assert "'Crown' -> 'The Crown'" in hist["changes"][-2]["detail"]
    problem(client.get("/v1/works/NOPE/history", headers=auth(keys["screen"])), 404, "NOPE")


@pytest.mark.parametrize("sent", ["plain", "encoded"])
def test_an_external_id_with_slashes_can_be_read_corrected_and_withdrawn(client, keys, sent):
    """Registration accepts "/" in an id (rights holders' ids have them: "VA/1-234"); every
    route by id must reach it too, whether the client sends the slash as is or as %2F."""
    ext = f"US/VA-1-234/{sent}"
    path = ext if sent == "plain" else ext.replace("/", "%2F")
    h = auth(keys["register"])
    r = client.post("/v1/works", headers=h, data={"external_id": ext, "title": "Slashed"},
                    files={"file": ("w.txt", kjv(5, 2).encode(), "text/plain")})
    assert r.status_code == 201, r.text
    got = client.get(f"/v1/works/{path}", headers=auth(keys["screen"]))
    assert got.status_code == 200 and got.json()["external_id"] == ext, got.text
    r = client.patch(f"/v1/works/{path}", headers=h, json={"owner": "Registry Office"})
    assert r.status_code == 200 and r.json()["owner"] == "Registry Office", r.text
    r = client.post(f"/v1/works/{path}/withdraw", headers=h, json={"reason": "test"})
    assert r.status_code == 200 and r.json()["status"] == "withdrawn", r.text
    hist = client.get(f"/v1/works/{path}/history", headers=auth(keys["screen"]))
    assert hist.status_code == 200 and hist.json()["external_id"] == ext
    assert [c["action"] for c in hist.json()["changes"]] == ["created", "updated", "withdrawn"]
    problem(client.get("/v1/works/US/VA-nope", headers=auth(keys["screen"])), 404, "VA-nope")


@pytest.mark.parametrize("method,path,scope,body,field", [
    ("post", "/v1/screen/text", "screen", '{"texts": ["hello \\udc00 world"]}', "body.texts.0"),
    ("post", "/v1/underwriting/profile", "underwrite",
     '{"results": [{"decision": "block", "input": "o\\udc00", "risk_score": 0.9, '
     '"matches": [], "versions": {"index_revision": 1, "kind": "image"}}]}',
     "body.results.0.input"),
    ("patch", "/v1/works/KJV-GEN-1", "register", '{"owner": "x\\ud800"}', "body.owner"),
    ("post", "/v1/works/KJV-GEN-1/withdraw", "register", '{"reason": "\\ud800"}',
     "body.reason"),
    ("post", "/v1/licences", "screen", '{"external_id": "K\\udfff"}', "body.external_id"),
    ("post", "/v1/screen/text", "screen", '{"texts": ["x"], "\\udc00": 1}', "body key"),
])
def test_unpaired_surrogates_in_json_are_a_400_naming_the_field(client, keys, method, path,
                                                                 scope, body, field):
    """JSON can spell a lone UTF-16 surrogate ("\\udc00"); Python decodes it into a string
    that cannot be encoded again, which made the audit hash (and echoed responses) fail with
    a 500. The body is refused where it is parsed, and nothing is written."""
    before = client.get("/v1/works/KJV-GEN-1", headers=auth(keys["screen"])).json()
    r = getattr(client, method)(path, headers={**auth(keys[scope]),
                                               "Content-Type": "application/json"},
                                content=body.encode())
    got = problem(r, 400, "unpaired UTF-16 surrogate")
    assert got["detail"].startswith(field) and got["title"] == "Bad Request"
    after = client.get("/v1/works/KJV-GEN-1", headers=auth(keys["screen"])).json()
    assert after == before


@pytest.mark.parametrize("path,scope,body,literal", [
    ("/v1/pricing/quote", "underwrite",
     '{"applicant": {"name": "A", "annual_outputs": 1000, '
     '"jurisdictions": {"CN": NaN, "US": 1.0}}, "limit": 700000, '
     '"profile": {"outputs": 100, "expected_hits": 1}}', "NaN"),
    ("/v1/pricing/quote", "underwrite",
     '{"applicant": {"name": "A", "annual_outputs": Infinity, '
     '"jurisdictions": {"CN": 1}}, "limit": 700000, '
     '"profile": {"outputs": 100, "expected_hits": 1}}', "Infinity"),
    ("/v1/pricing/quote", "underwrite",
     '{"applicant": {"name": "A", "annual_outputs": 1000, "jurisdictions": {"CN": 1}}, '
     '"limit": 1e999, "profile": {"outputs": 100, "expected_hits": 1}}', "1e999"),
    ("/v1/screen/text", "screen", '{"texts": ["hello"], "x": NaN}', "NaN"),
    ("/v1/screen/text", "screen", '{"texts": ["hello"], "x": -Infinity}', "-Infinity"),
])
def test_non_finite_json_numbers_are_a_400_not_a_nan_premium(client, keys, path, scope, body,
                                                              literal):
    """A NaN share passed the >= 0 and sum-to-1 checks (NaN compares false), priced the quote
    at NaN and answered 500 when the audit row refused the NaN score. JSON has no NaN or
    infinities; Python's parser took them, and 1e999 as infinity."""
    before = len(client.app.state.service.access.audit_entries())
    r = client.post(path, headers={**auth(keys[scope]), "Content-Type": "application/json"},
                    content=body.encode())
    got = problem(r, 400, literal)
    assert "finite" in got["detail"] and got["detail"].startswith("body")
    assert len(client.app.state.service.access.audit_entries()) == before


def test_validation_details_say_what_is_wrong(client, keys, photos):
    """A text id over 200 characters said "body.texts.0.str: Input should be a valid
    string" (the failure of the shape the client did not send), and a multipart body cut
    short said "body.files: Field required"."""
    h = auth(keys["screen"])
    got = problem(client.post("/v1/screen/text", headers=h,
                              json={"texts": [{"id": "x" * 201, "text": "hello there"}]}), 422)
    assert "at most 200 characters" in got["detail"] and ".id" in got["detail"], got
    got = problem(client.post("/v1/screen/text", headers=h, json={"texts": [{"id": "a"}]}),
                  422)
    assert got["detail"].endswith("text: Field required"), got
    part = (b'--BB\r\nContent-Disposition: form-data; name="files"; filename="a.png"\r\n'
            b"Content-Type: image/png\r\n\r\n" + png_bytes(photos["coffee"]))
    for body in (part, part + b"\r\n--BB\r\n", b""):
        problem(client.post("/v1/screen/image", headers={
            **h, "Content-Type": "multipart/form-data; boundary=BB"}, content=body), 400,
            "malformed multipart body: it ends before its closing boundary (--BB--)")
    # the same body, whole, is screened; one with no files part still says which is missing
    r = client.post("/v1/screen/image", headers={
        **h, "Content-Type": "multipart/form-data; boundary=BB"},
        content=part + b"\r\n--BB--\r\n")
    assert r.status_code == 200 and r.json()["results"][0]["input"] == "a.png", r.text
    problem(client.post("/v1/screen/image", headers={
        **h, "Content-Type": "multipart/form-data; boundary=BB"}, content=b"--BB--\r\n"),
        422, "body.files: Field required")


def test_escaped_surrogate_pairs_and_backslashes_are_ordinary_text(client, keys):
    texts = ["In the beginning \\ud83d\\ude00 God created the heaven and the earth",
             "a literal backslash-u: \\\\ud800 is six characters, not a surrogate"]
    body = '{"texts": [' + ", ".join(f'"{t}"' for t in texts) + "]}"
    r = client.post("/v1/screen/text", headers={**auth(keys["screen"]),
                                                "Content-Type": "application/json"},
                    content=body.encode())
    assert r.status_code == 200, r.text
    assert [x["input"] for x in r.json()["results"]] == ["text-0", "text-1"]


def test_bulk_withdrawal(client, keys):
    h = auth(keys["register"])
    for ext, (book, chapter) in {"KJV-LEV-1": (3, 1), "KJV-NUM-1": (4, 1)}.items():
        r = client.post("/v1/works", headers=h, data={"external_id": ext},
                        files={"file": (f"{ext}.txt", kjv(book, chapter).encode(), "text/plain")})
        assert r.status_code == 201, r.text
    r = client.post("/v1/works/withdraw", headers=h,
                    json={"external_ids": ["KJV-LEV-1", "NOPE", "KJV-NUM-1"],
                          "reason": "licence ended"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert [w["external_id"] for w in body["withdrawn"]] == ["KJV-LEV-1", "KJV-NUM-1"]
    assert all(w["status"] == "withdrawn" for w in body["withdrawn"])
    assert body["errors"] == [{"external_id": "NOPE", "error": "no work with external_id 'NOPE'"}]
    problem(client.post("/v1/works/withdraw", headers=h, json={"external_ids": []}), 422,
            "external_ids")
    problem(client.post("/v1/works/withdraw", headers=auth(keys["screen"]),
                        json={"external_ids": ["KJV-GEN-1"]}), 403, "register")
    assert client.get("/v1/works/KJV-GEN-1", headers=auth(keys["screen"])).json()["status"] \
        == "active"


def test_bulk_import_job_reports_progress_and_bad_rows(client, keys):
    rows = [json.dumps({"external_id": "KJV-PSA-1", "title": "Psalm 1", "text": kjv(19, 1)}),
            "{not json", json.dumps({"external_id": "SHORT", "text": "Too short."}),
            json.dumps({"external_id": "KJV-GEN-1", "title": "Genesis 1", "owner": "Someone",
                        "category": "literary", "jurisdiction": "GB", "text": kjv(1, 1)})]
    r = client.post("/v1/works/import", headers=auth(keys["register"]),
                    files={"file": ("w.jsonl", "\n".join(rows).encode(), "application/x-ndjson")})
    assert r.status_code == 202, r.text
    job = r.json()["id"]
    assert r.headers["location"] == f"/v1/jobs/{job}"

    def finished() -> bool:
        return client.get(f"/v1/jobs/{job}", headers=auth(keys["register"])).json()["status"] \
            in ("done", "failed")

    wait_for(finished)
    body = client.get(f"/v1/jobs/{job}", headers=auth(keys["register"])).json()
    assert body["status"] == "done" and body["total"] == 4 and body["done"] == 4
    assert body["failed"] == 2 and body["outcomes"] == {"created": 1, "error": 2,
                                                        "unchanged": 1}
    assert {e["row"] for e in body["errors"]} == {2, 3}
    assert [(n["row"], n["external_id"]) for n in body["notes"]] == [(4, "KJV-GEN-1")]
    assert "another owner" in body["notes"][0]["note"]
    problem(client.get("/v1/jobs/nope", headers=auth(keys["register"])), 404)


def test_bulk_import_over_http_never_reads_the_servers_own_files(client, keys, tmp_path):
    """A JSON Lines row may name a file ("path"); over HTTP that would have the server read
    any file it can (its README, a key file, another tenant's data) into the registry, where
    screening and evidence pages reveal it. Such rows are refused; inline rows still import."""
    secret = tmp_path / "secret.txt"
    secret.write_text(kjv(20, 3))  # a readable text file on the server
    rows = [json.dumps({"external_id": "LEAK-ABS", "kind": "text", "path": str(secret)}),
            json.dumps({"external_id": "LEAK-REL", "kind": "text",
                        "path": "../../../../../../../../" + str(secret)}),
            json.dumps({"external_id": "KJV-PRO-4", "text": kjv(20, 4)})]
    r = client.post("/v1/works/import", headers=auth(keys["register"]),
                    files={"file": ("w.jsonl", "\n".join(rows).encode(), "application/x-ndjson")})
    assert r.status_code == 202, r.text
    job = r.json()["id"]
    wait_for(lambda: client.get(f"/v1/jobs/{job}", headers=auth(keys["register"])).json()[
        "status"] in ("done", "failed"))
    body = client.get(f"/v1/jobs/{job}", headers=auth(keys["register"])).json()
    assert body["outcomes"] == {"error": 2, "created": 1}, body
    assert [e["row"] for e in body["errors"]] == [1, 2]
    assert all("may not read" in e["error"] for e in body["errors"])
    for ext in ("LEAK-ABS", "LEAK-REL"):
        problem(client.get(f"/v1/works/{ext}", headers=auth(keys["screen"])), 404, ext)


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
    assert quote["premium"] > 0 and quote["plan"]["sha256"]
    assert [s["name"] for s in quote["worksheet"]][0] == "base loss cost"
    assert quote["screening_versions"][0]["kind"] == "text"
    q2 = client.post("/v1/pricing/quote", headers=h, json={
        "profile": {"outputs": prof["outputs"], "expected_hits": prof["expected_hits"],
                    "severity_mix": prof["severity_mix"]},
        "applicant": applicant, "limit": 700000, "deductible": 10000})
    assert q2.json()["premium"] == quote["premium"]
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


def test_health_readiness_metrics_and_openapi(client, keys):
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["ready"]
    m = client.get("/metrics").text
    assert "ipscreen_requests_total" in m and 'ipscreen_index_vectors{index="text_fingerprint"}' \
        in m and "ipscreen_stage_seconds_bucket" in m and "ipscreen_registry_revision" in m
    spec = client.get("/openapi.json").json()
    paths = spec["paths"]
    for path in ("/v1/screen/image", "/v1/screen/text", "/v1/works", "/v1/works/{external_id}",
                 "/v1/works/{external_id}/withdraw", "/v1/works/import", "/v1/jobs/{job_id}",
                 "/v1/underwriting/profile", "/v1/pricing/quote", "/healthz", "/readyz",
                 "/metrics", "/v1/licences"):
        assert path in paths, path
        for op in paths[path].values():
            assert op.get("summary"), path
    text = json.dumps(spec)
    assert text.count('"examples"') >= 5


def test_not_ready_until_models_and_indexes_are_loaded(service_dir, model_cache, keys,
                                                        monkeypatch):
    """/readyz and the screening routes answer 503 while the screeners load; then 200."""
    import threading

    from fastapi.testclient import TestClient

    from api import state as state_module
    from api.app import create_app
    from tests.api.conftest import settings_for

    gate = threading.Event()
    real_build = state_module.Screeners.build

    def slow_build(settings, embedder):  # type: ignore[no-untyped-def]
        gate.wait(30)
        return real_build(settings, embedder)

    monkeypatch.setattr(state_module.Screeners, "build", staticmethod(slow_build))
    data_dir, _ = service_dir
    app = create_app(settings_for(data_dir, model_cache, preload=False))
    with TestClient(app) as c:
        r = c.get("/readyz")
        assert r.status_code == 503 and "loading" in r.json()["detail"]
        problem(c.post("/v1/screen/text", headers=auth(keys["screen"]),
                       json={"texts": ["a b c d e f g h i"]}), 503, "still loading")
        assert c.get("/healthz").status_code == 200
        gate.set()
        wait_for(lambda: c.get("/readyz").status_code == 200)
        # ready means the text model's sessions are open, not opened by the first request
        embedder = app.state.service.embedder
        assert embedder._pool is not None and embedder._sessions.qsize() >= 1
        r = c.post("/v1/screen/text", headers=auth(keys["screen"]),
                   json={"texts": ["a b c d e f g h i"]})
        assert r.status_code == 200


def test_a_failed_load_says_so_and_the_worker_retries(service_dir, model_cache, keys,
                                                     monkeypatch):
    """While loading fails, readyz and the screening routes say it failed and why (not
    "loading"); the reloader keeps trying and the worker becomes ready when a load works."""
    from fastapi.testclient import TestClient

    from api import state as state_module
    from api.app import create_app
    from tests.api.conftest import settings_for

    real_build = state_module.Screeners.build
    failures = {"left": 3}

    def flaky_build(settings, embedder):  # type: ignore[no-untyped-def]
        if failures["left"] > 0:
            failures["left"] -= 1
            raise OSError("index file unreadable: disk went away")
        return real_build(settings, embedder)

    monkeypatch.setattr(state_module.Screeners, "build", staticmethod(flaky_build))
    data_dir, _ = service_dir
    app = create_app(settings_for(data_dir, model_cache, preload=False, reload_interval_s=1.0))
    with TestClient(app) as c:
        wait_for(lambda: app.state.service.load_error is not None)
        r = c.get("/readyz")
        body = r.json()
        assert r.status_code == 503 and body["ready"] is False
        assert body["detail"].startswith("models and indexes failed to load, retrying every 1 s")
        assert "disk went away" in body["detail"] and "disk went away" in body["load_error"]
        problem(c.post("/v1/screen/text", headers=auth(keys["screen"]),
                       json={"texts": ["a b c d e f g h i"]}), 503, "failed to load")
        wait_for(lambda: c.get("/readyz").status_code == 200, timeout=60)
        assert failures["left"] == 0 and c.get("/readyz").json()["load_error"] is None
        r = c.post("/v1/screen/text", headers=auth(keys["screen"]),
                   json={"texts": ["a b c d e f g h i"]})
        assert r.status_code == 200


def test_register_an_image_work_over_http(client, keys, photos):
    h = auth(keys["register"])
    problem(client.post("/v1/works", headers=h, data={"external_id": "IMG-bad"},
                        files={"file": ("bad.png", b"\x89PNG\r\n\x1a\nnot really", "image/png")}),
            400, "")
    problem(client.get("/v1/works/IMG-bad", headers=auth(keys["screen"])), 404)  # nothing kept
    r = client.post("/v1/works", headers=h,
                    data={"external_id": "IMG-chelsea", "title": "Chelsea", "owner": "Acme",
                          "category": "photo", "jurisdiction": "CN"},
                    files={"file": ("chelsea.png", png_bytes(photos["chelsea"]), "image/png")})
    assert r.status_code == 201 and r.json()["kind"] == "image", r.text
    copy = png_bytes(ImageOps.mirror(photos["chelsea"]).resize((320, 240)), "JPEG", quality=75)

    def found() -> bool:
        res = client.post("/v1/screen/image", headers=auth(keys["screen"]),
                          files=[("files", ("q.jpg", copy, "image/jpeg"))]).json()["results"][0]
        return bool(res["matches"]) and res["matches"][0]["external_id"] == "IMG-chelsea"

    wait_for(found)
    listed = client.get("/v1/works", headers=auth(keys["screen"]),
                        params={"kind": "image", "limit": 2}).json()
    assert listed["total"] >= 3 and len(listed["works"]) == 2


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


def test_a_first_work_registers_and_matches_under_a_pq_factory(tmp_path, model_cache, photos):
    """A service configured for a large registry (refined PQ) starts empty: the first work
    posted cannot train PQ's quantisers, is searched exactly meanwhile, and says so."""
    from fastapi.testclient import TestClient

    from api.app import create_app
    from screening.access import AccessStore
    from screening.service import Workspace
    from tests.api.conftest import settings_for

    settings = settings_for(tmp_path / "data", model_cache, dense_factory="PQ64x4fs,RFlat")
    ws = Workspace(settings, create=True, progress=False)
    access = AccessStore(ws.registry.engine)
    key = access.create_key("ops", "acme", ["register", "screen"], 10_000)[0]
    ws.close()
    with TestClient(create_app(settings)) as c:
        r = c.post("/v1/works", headers=auth(key), data={"external_id": "IMG-rocket"},
                   files={"file": ("rocket.png", png_bytes(photos["rocket"]), "image/png")})
        assert r.status_code == 201, r.text
        copy = png_bytes(ImageOps.mirror(photos["rocket"]), "JPEG", quality=80)

        def first() -> dict:
            res = c.post("/v1/screen/image", headers=auth(key),
                         files=[("files", ("copy.jpg", copy, "image/jpeg"))])
            assert res.status_code == 200, res.text
            return res.json()["results"][0]

        wait_for(lambda: first()["decision"] == "block")
        search = first()["versions"]["search"]
        assert any("standing in for PQ64x4fs,RFlat" in v for v in search.values()), search


def test_storage_that_refuses_a_write_is_a_507_and_records_nothing(client, keys, service_dir,
                                                                   photos):
    """A full disk gave a bare 500 (writing the work's blob) or a 400 "error parsing the
    body" (spooling a large upload). Here the kernel refuses the writes for real: a
    file-size limit (RLIMIT_FSIZE, with SIGXFSZ ignored, so a write fails with EFBIG as it
    would with ENOSPC) set for the requests; the registry is untouched."""
    import resource
    import signal

    data_dir = service_dir[0]
    limit = (data_dir / "registry.sqlite3").stat().st_size + 256 * 1024
    # under 1 MB the upload stays in memory and the blob write fails; over it, the spool
    small = png_bytes(ImageOps.flip(photos["astronaut"]).resize((700, 700)))
    large = png_bytes(ImageOps.flip(photos["hubble_deep_field"]).resize((1600, 1600)))
    assert limit < len(small) < 1024 * 1024 < len(large)
    old_handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, hard))
    try:
        answers = [client.post("/v1/works", headers=auth(keys["register"]),
                               data={"external_id": f"IMG-noise-{i}", "title": "Noise"},
                               files={"file": ("noise.png", data, "image/png")})
                   for i, data in enumerate((small, large))]
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, old_handler)
    for i, r in enumerate(answers):
        body = problem(r, 507, "storage refused a write: File too large")
        assert body["title"] == "Insufficient Storage" and "intact" in body["detail"]
        problem(client.get(f"/v1/works/IMG-noise-{i}", headers=auth(keys["screen"])), 404)
    assert not list(data_dir.rglob("*.tmp"))


def test_a_background_set_added_while_serving_is_picked_up(service_dir, model_cache, photos,
                                                           tmp_path):
    """Workers reloaded only when the registry revision moved, so `ipscreen background add`
    on a running service changed nothing until the next registration or a restart."""
    import shutil

    from fastapi.testclient import TestClient

    from api.app import create_app
    from screening.service import Workspace
    from tests.api.conftest import settings_for

    data_dir = tmp_path / "data"
    shutil.copytree(service_dir[0], data_dir)
    copy = png_bytes(ImageOps.mirror(photos["astronaut"]).resize((256, 256)), "JPEG",
                     quality=70)
    with TestClient(create_app(settings_for(data_dir, model_cache))) as c:
        def top() -> dict:
            res = c.post("/v1/screen/image", headers=auth(service_dir[1]["screen"]),
                         files=[("files", ("q.jpg", copy, "image/jpeg"))])
            return res.json()["results"][0]

        before = top()
        assert before["versions"]["calibration"].startswith("image-accurate@")
        bg = tmp_path / "bg"
        bg.mkdir()
        photos["colorwheel"].save(bg / "a.png")
        photos["hubble_deep_field"].save(bg / "b.png")
        ws = Workspace(settings_for(data_dir, model_cache), progress=False)
        assert ws.add_background([bg / "a.png", bg / "b.png"], "accurate") == 2
        ws.close()
        wait_for(lambda: top()["versions"]["calibration"].startswith("image-accurate-bg@"))
        after = top()
        assert after["matches"][0]["external_id"] == "IMG-astronaut"
        assert "sscd_region_norm" in after["matches"][0]["signals"]
        assert c.get("/readyz").json()["registry_revision"] == before["versions"][
            "index_revision"]  # nothing was registered: the background alone reloaded


def test_import_jobs_are_bounded_per_worker(service_dir, model_cache, tmp_path):
    """Each import job held its upload and a thread until the registry's write lock let it
    run, with no bound, and finished jobs were kept for ever. Now a worker takes at most
    MAX_PENDING_JOBS unfinished ones (503 with Retry-After beyond, leaving nothing behind)
    and remembers the latest finished ones."""
    import shutil
    import tempfile

    from fastapi.testclient import TestClient

    from api.app import create_app
    from tests.api.conftest import settings_for

    data_dir = tmp_path / "data"
    shutil.copytree(service_dir[0], data_dir)
    h = auth(service_dir[1]["register"])
    rows = "\n".join(json.dumps({"external_id": f"KJV-PRO-{c}", "text": kjv(20, c)})
                     for c in (5, 6)).encode()

    def post(c: TestClient):  # type: ignore[no-untyped-def]
        return c.post("/v1/works/import", headers=h,
                      files={"file": ("w.jsonl", rows, "application/x-ndjson")})

    def spools() -> set[str]:
        return {p.name for p in Path(tempfile.gettempdir()).glob("ipscreen-import-*")}

    with TestClient(create_app(settings_for(data_dir, model_cache,
                                            max_pending_jobs=1))) as c:
        state = c.app.state.service
        with state.write_lock:  # the first job waits for the registry, as behind a long one
            first = post(c)
            assert first.status_code == 202, first.text
            held = spools()
            busy = problem(post(c), 503, "already has 1 import jobs queued or running")
            assert "IPSCREEN_MAX_PENDING_JOBS" in busy["detail"]
            assert spools() == held  # the refused upload was not kept
        job = first.json()["id"]
        wait_for(lambda: c.get(f"/v1/jobs/{job}", headers=h).json()["status"] == "done")
        assert post(c).status_code == 202  # a slot is free again


def test_a_worker_remembers_only_its_latest_finished_jobs():
    from api.jobs import JobStore

    store = JobStore(max_pending=10, max_kept=2)
    jobs = [store.start("import", lambda job: None) for _ in range(3)]
    wait_for(lambda: all(j.status == "done" for j in jobs))
    newest = store.start("import", lambda job: None)
    wait_for(lambda: newest.status == "done")
    assert [store.get(j.id) is not None for j in [*jobs, newest]] == [False, False, True,
                                                                       True]
