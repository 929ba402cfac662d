"""Two service nodes on one PostgreSQL registry under load, while works are registered.

A real PostgreSQL server (started here, as the tests do), a registry of scikit-image photos
and 50 Genesis chapters, and two `ipscreen serve` processes with data dirs (index replicas)
of their own. For --seconds, --clients threads screen images and texts, half against each
node; meanwhile a new image work is registered every --register-every seconds, through A
and B in turn, and right after each registration the *other* node is asked to screen the
new work's picture until it names the work: that wait is the cross-node lag, to compare
with MAX_INDEX_LAG_S. Every request counts: a failure is any answer but 200 (201 for a
registration) or no answer at all.

    python benchmarks/multi_node.py [--seconds 60] [--clients 32]
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from api_load import PHOTOS, free_port, pct, photo, png, queries  # noqa: E402
from machine import describe, line  # noqa: E402
from publish import publish  # noqa: E402

from screening.access import AccessStore  # noqa: E402
from screening.evaluation.bible import chapter as bible  # noqa: E402
from screening.registry.repository import WorkMeta  # noqa: E402
from screening.service import Workspace  # noqa: E402
from screening.settings import Settings  # noqa: E402
from tests.postgres import postgres_server  # noqa: E402

LAG_S = 30.0  # MAX_INDEX_LAG_S of both nodes (the service's default)
PROFILES = '["accurate", "fast", "hash"]'


def seed_registry(url: str, data: Path) -> str:
    ws = Workspace(Settings(data_dir=data, database_url=url), create=True, progress=True)
    for name in PHOTOS:
        ws.register_image(WorkMeta(f"IMG-{name}", "image", name, "skimage", "photo", "CN"),
                          png(photo(name)), sync=False)
    for chapter in range(1, 51):
        ws.register_text(WorkMeta(f"KJV-GEN-{chapter}", "text", f"Genesis {chapter}",
                                  "Crown", "literary", "GB"), bible(1, chapter), sync=False)
    key, _ = AccessStore(ws.registry.engine).create_key("load", "load", ["admin"], 1_000_000)
    ws.close()
    return key


def start_node(name: str, root: Path, url: str) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {**os.environ, "IPSCREEN_DATABASE_URL": url, "IPSCREEN_MAX_INDEX_LAG_S": str(LAG_S),
           "IPSCREEN_MAINTAINED_PROFILES": PROFILES, "HF_HUB_OFFLINE": "1"}
    log = (root / f"{name}.log").open("ab")
    proc = subprocess.Popen([sys.executable, "-m", "screening.cli", "--data-dir",
                             str(root / name), "serve", "--port", str(port), "--workers", "1"],
                            env=env, stdout=log, stderr=subprocess.STDOUT)
    log.close()
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit((root / f"{name}.log").read_text()[-3000:])
        try:
            if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                return proc, base
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise SystemExit(f"node {name} not ready in 600 s")


def pattern(seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    blocks = rng.integers(0, 256, size=(8, 8, 3), dtype=np.uint8)
    return png(Image.fromarray(blocks).resize((256, 256), Image.Resampling.NEAREST))


def load(nodes: list[str], key: str, seconds: float, n_clients: int,
         register_every: float) -> dict:
    images, texts = queries()
    headers = {"Authorization": f"Bearer {key}"}
    stop = time.monotonic() + seconds
    codes: dict[str, int] = {}
    lats: list[float] = []
    lags: list[float] = []
    lost: list[str] = []
    lock = threading.Lock()

    def count(code: str, took: float) -> None:
        with lock:
            codes[code] = codes.get(code, 0) + 1
            lats.append(took)

    def call(c: httpx.Client, method: str, path: str, ok: int = 200, **kw) -> httpx.Response | None:
        t = time.perf_counter()
        try:
            r = c.request(method, path, **kw)
        except httpx.HTTPError as exc:
            count(type(exc).__name__, time.perf_counter() - t)
            return None
        count(str(r.status_code) if r.status_code != ok else "ok", time.perf_counter() - t)
        return r

    def client(i: int) -> None:
        rng = random.Random(i)
        with httpx.Client(base_url=nodes[i % 2], headers=headers, timeout=600) as c:
            while time.monotonic() < stop:
                if rng.random() < 0.5:
                    call(c, "POST", "/v1/screen/text", json={"texts": [rng.choice(texts)]})
                else:
                    name, blob = rng.choice(images)
                    call(c, "POST", "/v1/screen/image", files={"files": (name, blob)})

    def registrar() -> None:
        clients = [httpx.Client(base_url=n, headers=headers, timeout=600) for n in nodes]
        n = 0
        while time.monotonic() < stop - LAG_S / 2:
            here, there = clients[n % 2], clients[1 - n % 2]
            work, blob = f"LOAD-{n:04d}", pattern(10_000 + n)
            r = call(here, "POST", "/v1/works", ok=201, data={"external_id": work},
                     files={"file": ("w.png", blob, "image/png")})
            n += 1
            if r is None or r.status_code != 201:
                continue
            t = time.monotonic()
            while True:  # the other node names the new work
                s = call(there, "POST", "/v1/screen/image", files={"files": ("q.png", blob)})
                matches = (s.json()["results"][0]["matches"]
                           if s is not None and s.status_code == 200 else [])
                if any(m["external_id"] == work and m["decision"] != "clear" for m in matches):
                    lags.append(time.monotonic() - t)
                    break
                if time.monotonic() - t > 3 * LAG_S:
                    lost.append(work)
                    break
                time.sleep(0.25)
            time.sleep(max(0.0, register_every - (time.monotonic() - t)))
        for c in clients:
            c.close()

    threads = [threading.Thread(target=client, args=(i,)) for i in range(n_clients)]
    threads.append(threading.Thread(target=registrar))
    start = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    took = time.monotonic() - start
    failed = sum(v for k, v in codes.items() if k != "ok")
    return {"seconds": took, "clients": n_clients, "requests": len(lats),
            "requests_per_s": len(lats) / took, "failed": failed, "codes": codes,
            "registered": len(lags) + len(lost), "not_seen_on_other_node": lost,
            "lag_s": {"n": len(lags), "max": max(lags, default=None),
                      "p50": float(np.median(lags)) if lags else None},
            "max_index_lag_s": LAG_S, **pct(lats)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--clients", type=int, default=32)
    ap.add_argument("--register-every", type=float, default=3.0)
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="ipscreen-nodes-"))
    pg = postgres_server()
    url = next(pg)
    procs: list[subprocess.Popen] = []
    try:
        key = seed_registry(url, root / "seed")
        nodes = []
        for name in ("a", "b"):
            proc, base = start_node(name, root, url)
            procs.append(proc)
            nodes.append(base)
        report = {"date": datetime.now(UTC).isoformat(timespec="seconds"),
                  "machine": describe(), "nodes": 2, "workers_per_node": 1,
                  **load(nodes, key, args.seconds, args.clients, args.register_every)}
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(timeout=30)
        pg.close()
    tracebacks = [n for n in ("a", "b") if "Traceback" in (root / f"{n}.log").read_text()]
    report["nodes_with_tracebacks"] = tracebacks
    shutil.rmtree(root, ignore_errors=True)
    publish("multi_node", report, render)


def render(r: dict) -> str:
    lag = r["lag_s"]
    return "\n".join([
        f"Two nodes on one PostgreSQL registry, {r['date']} ({line(r['machine'])}; both nodes "
        "and the database on this machine)", "",
        "| clients | seconds | requests | failed | requests/s | p50 ms | p95 ms | p99 ms | "
        "works registered | cross-node lag p50 / max s (bound) |",
        "|---|---|---|---|---|---|---|---|---|---|",
        f"| {r['clients']} | {r['seconds']:.0f} | {r['requests']} | {r['failed']} | "
        f"{r['requests_per_s']:.1f} | {r['p50_ms']:.0f} | {r['p95_ms']:.0f} | "
        f"{r['p99_ms']:.0f} | {r['registered']} | "
        f"{lag['p50'] or 0:.1f} / {lag['max'] or 0:.1f} ({r['max_index_lag_s']:.0f}) |", "",
        f"Answers: {r['codes']}; works not seen on the other node: "
        f"{len(r['not_seen_on_other_node'])}; node logs with a traceback: "
        f"{r['nodes_with_tracebacks'] or 'none'}."]) + "\n"


if __name__ == "__main__":
    main()
