"""Operating the service: health, readiness and failed loads, metrics, storage that
refuses writes, background sets picked up while serving."""

from __future__ import annotations

import json

from PIL import ImageOps

from tests.api.conftest import auth
from tests.api.helpers import problem, wait_for
from tests.conftest import png_bytes


def test_health_readiness_metrics_and_openapi(client, keys):
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["ready"]
    # one screening first: the stage timings exist once a request has gone through them (the
    # test passed alone only after other modules' requests)
    assert client.post("/v1/screen/text", headers=auth(keys["screen"]),
                       json={"texts": ["a b c d e f g h i"]}).status_code == 200
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
        # ready means the text model is loaded, not loaded by the first request
        assert app.state.service.embedder.loaded
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
    small = png_bytes(ImageOps.flip(photos["astronaut"]).resize((800, 800)))
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
