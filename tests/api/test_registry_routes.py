"""The registry over HTTP: registration, withdrawal, licences, corrections, bulk jobs."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from PIL import ImageOps

from tests.api.conftest import auth
from tests.api.helpers import LICENCE, problem, wait_for
from tests.conftest import png_bytes
from tests.screening.text_fixtures import kjv


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
    assert not client.app.state.service.writer.blobs.contains(refused)  # not stored
    probe = {"texts": [" ".join(text.split()[:60])]}

    def top(key: str = "screen") -> dict:
        res = client.post("/v1/screen/text", headers=auth(keys[key]), json=probe)
        return res.json()["results"][0]

    wait_for(lambda: top()["decision"] == "block")  # searchable without a restart
    ready = client.get("/readyz").json()
    assert ready["ready"] and ready["index_revision"] <= ready["registry_revision"]
    # a tenant's licensed works do not count against it; other tenants are unaffected
    r = client.post("/v1/licences", headers=auth(keys["licence"]),
                    json={**LICENCE, "external_id": "KJV-EXO-20"})
    assert r.status_code == 201, r.text
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
    r = client.delete("/v1/licences/KJV-EXO-20", headers=auth(keys["licence"]))
    assert r.status_code == 200 and r.json()["removed"] is True
    again = top()
    assert again["decision"] == "block" and "licensed_matches" not in again
    problem(client.delete("/v1/licences/KJV-EXO-20", headers=auth(keys["licence"])), 404,
            "acme holds no licence for 'KJV-EXO-20'")
    for other in ("underwrite", "screen"):
        problem(client.delete("/v1/licences/KJV-EXO-20", headers=auth(keys[other])), 403,
                "scope")
    # both changes are in the audit table, with the key that made them
    # (the last two: other tests in this session record licences too)
    changes = [e for e in client.app.state.service.access.audit_entries()
               if e["route"] == "licences"][-2:]
    assert [e["decision"] for e in changes] == ["licence_added", "licence_removed"]
    assert {e["key"] for e in changes} == {keys["licence"].split("_")[1]}
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

    # a further reference image: indexed under the work, its copies reported as the work's
    rocket = photos["rocket"]
    r = client.post("/v1/works/IMG-chelsea/references", headers=h,
                    files={"file": ("pose2.png", png_bytes(rocket), "image/png")})
    assert r.status_code == 201 and r.json()["external_id"] == "IMG-chelsea#2", r.text
    problem(client.post("/v1/works/IMG-chelsea/references", headers=auth(keys["screen"]),
                        files={"file": ("p.png", png_bytes(rocket), "image/png")}), 403)
    problem(client.post("/v1/works/NO-SUCH/references", headers=h,
                        files={"file": ("p.png", png_bytes(rocket), "image/png")}), 404)
    refs = client.get("/v1/works/IMG-chelsea/references", headers=auth(keys["screen"])).json()
    assert [x["external_id"] for x in refs["references"]] == ["IMG-chelsea#2"]
    rocket_copy = png_bytes(ImageOps.mirror(rocket).resize((300, 200)), "JPEG", quality=75)

    def via_reference() -> bool:
        res = client.post("/v1/screen/image", headers=auth(keys["screen"]),
                          files=[("files", ("r.jpg", rocket_copy, "image/jpeg"))]
                          ).json()["results"][0]
        return bool(res["matches"]) and res["matches"][0].get("reference") == "IMG-chelsea#2"

    wait_for(via_reference)
    assert client.get("/v1/works", headers=auth(keys["screen"]),
                      params={"kind": "image"}).json()["total"] == listed["total"]


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


def test_a_short_poem_registered_over_http_blocks_when_reproduced_whole(client, keys):
    poem = "床前明月光，疑是地上霜。举头望明月，低头思故乡。"
    r = client.post("/v1/works", headers=auth(keys["register"]),
                    data={"external_id": "POEM-JYS", "title": "静夜思", "category": "poem"},
                    files={"file": ("poem.txt", poem.encode(), "text/plain")})
    assert r.status_code == 201, r.text
    answer = {"texts": [f"这首诗大家都会背：{poem}写的是思乡。",
                        f"这首诗大家都会背：{poem.replace('霜', '雪')}写的是思乡。"]}

    def results() -> list[dict]:
        return client.post("/v1/screen/text", headers=auth(keys["screen"]),
                           json=answer).json()["results"]

    wait_for(lambda: results()[0]["decision"] == "block")
    whole, edited = results()
    assert whole["matches"][0]["reproduction"] == "whole"
    assert whole["matches"][0]["decision"] == "block"
    assert edited["decision"] in ("review", "block")
    assert edited["matches"][0]["reproduction"] == "near_whole"
    assert whole["versions"]["whole_work"]["min_cjk"] == 15
