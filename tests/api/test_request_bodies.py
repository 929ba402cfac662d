"""Request bodies the service refuses where they are parsed, and what it says about them."""

from __future__ import annotations

import pytest

from tests.api.conftest import auth
from tests.api.helpers import problem
from tests.conftest import png_bytes


@pytest.mark.parametrize("method,path,scope,body,field", [
    ("post", "/v1/screen/text", "screen", '{"texts": ["hello \\udc00 world"]}', "body.texts.0"),
    ("post", "/v1/underwriting/profile", "underwrite",
     '{"results": [{"decision": "block", "input": "o\\udc00", "risk_score": 0.9, '
     '"matches": [], "versions": {"index_revision": 1, "kind": "image"}}]}',
     "body.results.0.input"),
    ("patch", "/v1/works/KJV-GEN-1", "register", '{"owner": "x\\ud800"}', "body.owner"),
    ("post", "/v1/works/KJV-GEN-1/withdraw", "register", '{"reason": "\\ud800"}',
     "body.reason"),
    ("post", "/v1/licences", "licence", '{"external_id": "K\\udfff"}', "body.external_id"),
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


@pytest.mark.parametrize("path,scope,body,literal,field", [
    ("/v1/pricing/quote", "underwrite",
     '{"applicant": {"name": "A", "annual_outputs": 1000, '
     '"jurisdictions": {"CN": NaN, "US": 1.0}}, "limit": 700000, '
     '"profile": {"outputs": 100, "expected_hits": 1}}', "NaN", "body.applicant.jurisdictions.CN"),
    ("/v1/pricing/quote", "underwrite",
     '{"applicant": {"name": "A", "annual_outputs": Infinity, '
     '"jurisdictions": {"CN": 1}}, "limit": 700000, '
     '"profile": {"outputs": 100, "expected_hits": 1}}', "Infinity",
     "body.applicant.annual_outputs"),
    ("/v1/pricing/quote", "underwrite",
     '{"applicant": {"name": "A", "annual_outputs": 1000, "jurisdictions": {"CN": 1}}, '
     '"limit": 1e999, "profile": {"outputs": 100, "expected_hits": 1}}', "1e999", "body.limit"),
    ("/v1/screen/text", "screen", '{"texts": ["hello"], "x": NaN}', "NaN", "body.x"),
    ("/v1/screen/text", "screen", '{"texts": ["hello"], "x": [1, -Infinity]}', "-Infinity",
     "body.x.1"),
])
def test_non_finite_json_numbers_are_a_400_not_a_nan_premium(client, keys, path, scope, body,
                                                              literal, field):
    """A NaN share passed the >= 0 and sum-to-1 checks (NaN compares false), priced the quote
    at NaN and answered 500 when the audit row refused the NaN score. JSON has no NaN or
    infinities; Python's parser took them, and 1e999 as infinity."""
    before = len(client.app.state.service.access.audit_entries())
    r = client.post(path, headers={**auth(keys[scope]), "Content-Type": "application/json"},
                    content=body.encode())
    got = problem(r, 400, literal)
    assert "finite" in got["detail"] and got["detail"].startswith(field + ": "), got
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
