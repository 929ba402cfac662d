"""`ipscreen serve` as a real process (two workers) on a free local port: screening over
HTTP, registrations under traffic with zero failed requests and new works found by every
worker without a restart, and a bounded schemathesis run with no server errors."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import threading
import time

import httpx
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis.errors import Unsatisfiable

from tests.screening.text_fixtures import kjv


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def server(service_dir, model_cache, tmp_path_factory):
    data_dir, keys = service_dir
    d = tmp_path_factory.mktemp("served") / "data"
    shutil.copytree(data_dir, d)
    port = free_port()
    log = d.parent / "server.log"
    env = {**os.environ, "IPSCREEN_MODEL_CACHE_DIR": str(model_cache),
           "IPSCREEN_RELOAD_INTERVAL_S": "0.5",
           "IPSCREEN_MAINTAINED_PROFILES": '["accurate","hash"]', "HF_HUB_OFFLINE": "1"}
    with log.open("wb") as out:  # the child keeps its own copy of the descriptor
        proc = subprocess.Popen([sys.executable, "-m", "screening.cli", "--data-dir", str(d),
                                 "serve", "--port", str(port), "--workers", "2"], env=env,
                                stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if proc.poll() is not None:
            raise AssertionError(log.read_text())
        time.sleep(0.5)
    else:
        proc.kill()
        raise AssertionError("server did not become ready")
    # both workers must be ready, not just the first to answer
    for _ in range(10):
        httpx.get(f"{url}/readyz", timeout=5)
    yield url, keys
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    assert "Traceback" not in log.read_text(), log.read_text()[-3000:]


def test_registrations_under_traffic_fail_no_request(server):
    url, keys = server
    screen = {"Authorization": f"Bearer {keys['screen']}"}
    probe = {"texts": [" ".join(kjv(4, 6).split()[:60])], "paraphrase": False}
    stop = threading.Event()
    statuses: list[int] = []
    found_after: list[float] = []
    t0 = [0.0]

    def traffic() -> None:
        with httpx.Client(base_url=url, headers=screen, timeout=30) as c:
            while not stop.is_set():
                r = c.post("/v1/screen/text", json=probe)
                statuses.append(r.status_code)
                if r.status_code == 200 and t0[0] and not found_after and \
                        r.json()["results"][0]["decision"] == "block":
                    found_after.append(time.monotonic() - t0[0])

    def wait_until(condition, timeout: float = 60.0) -> bool:  # type: ignore[no-untyped-def]
        deadline = time.monotonic() + timeout
        while not condition() and time.monotonic() < deadline:
            time.sleep(0.1)
        return bool(condition())

    threads = [threading.Thread(target=traffic) for _ in range(4)]
    for t in threads:
        t.start()
    assert wait_until(lambda: len(statuses) >= 8)  # traffic is flowing before the writes
    reg = {"Authorization": f"Bearer {keys['register']}"}
    for book, chapter in ((4, 6), (5, 5), (6, 1)):
        r = httpx.post(f"{url}/v1/works", headers=reg, timeout=60,
                       data={"external_id": f"KJV-{book}-{chapter}", "category": "literary"},
                       files={"file": ("w.txt", kjv(book, chapter).encode(), "text/plain")})
        assert r.status_code == 201, r.text
        if not t0[0]:
            t0[0] = time.monotonic()
    # the new work is found (within the reload interval and MAX_INDEX_LAG_S, not a fixed
    # wait), and traffic keeps going on both workers through their reloads
    assert wait_until(lambda: bool(found_after)), "the registered work was never found"
    served = len(statuses)
    assert wait_until(lambda: len(statuses) >= served + 16)
    stop.set()
    for t in threads:
        t.join()
    assert statuses and set(statuses) == {200}, sorted(set(statuses))
    # every worker now has it: repeated requests land on both and all block
    with httpx.Client(base_url=url, headers=screen, timeout=30) as c:
        decisions = {c.post("/v1/screen/text", json=probe).json()["results"][0]["decision"]
                     for _ in range(12)}
    assert decisions == {"block"}


# schemathesis' generators use `random` inside strategies, which newer hypothesis releases
# deprecate with a warning; the warning is about schemathesis, not about our API
@pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisDeprecationWarning")
def test_schemathesis_finds_no_server_error(server):
    import schemathesis
    from schemathesis import GenerationMode

    url, keys = server
    schema = schemathesis.openapi.from_url(f"{url}/openapi.json")
    headers = {"Authorization": f"Bearer {keys['admin']}"}
    failures: list[str] = []
    for result in schema.get_all_operations():
        op = result.ok()
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @hsettings(max_examples=6, deadline=None, derandomize=True, database=None,
                       suppress_health_check=list(HealthCheck))
            @given(case=op.as_strategy(generation_mode=mode))
            def run(case) -> None:  # type: ignore[no-untyped-def]
                r = case.call(base_url=url, headers=headers, timeout=60)
                busy = r.status_code == 503 and "MAX_PENDING_JOBS" in r.text  # by design
                if r.status_code >= 500 and not busy:
                    failures.append(f"{case.method} {case.path}: {r.status_code} "
                                    f"{r.text[:200]}")

            try:
                run()
            except Unsatisfiable:  # e.g. no invalid input exists for GET /healthz
                continue
    assert not failures, "\n".join(failures[:10])


def test_serve_refuses_a_registry_it_cannot_open_with_one_line(tmp_path):
    """A damaged registry used to come out of every worker's lifespan as a traceback."""
    d = tmp_path / "data"
    d.mkdir()
    (d / "registry.sqlite3").write_bytes(b"not a database\n")
    r = subprocess.run([sys.executable, "-m", "screening.cli", "--data-dir", str(d), "serve",
                        "--port", str(free_port())], capture_output=True, text=True, timeout=120,
                       env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert r.returncode == 5, r.stderr
    assert "file is not a database" in r.stderr and "Traceback" not in r.stderr
