"""How fast the workbench's pages render with a full queue: 10,000 open review cases.

A registry of `--works` clip-art works (Debian's openclipart-png, `make data`) is screened
with the accurate profile on an edited copy of each (crop, scene, rotate, caption in turn);
those real results, cycled, with each copy as the kept input, become `--cases` open review
cases. A real `ipscreen serve` serves them; a signed-in client asks for the queue's first
page, a deep page, a filtered page and a case (the output beside its work, region drawn),
`--repeat` times each, and the latency percentiles are written to benchmarks/results/.
Target (issue 29): the queue page in under 300 ms.

    python benchmarks/workbench_queue.py --data .cache/data/root
"""

from __future__ import annotations

import argparse
import io
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import numpy as np
from PIL import Image
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).parent))

from machine import describe, line  # noqa: E402
from publish import save  # noqa: E402

from models.imaging import is_blank, load_image  # noqa: E402
from screening.access import AccessStore  # noqa: E402
from screening.evaluation.edits import EDITS  # noqa: E402
from screening.registry.repository import WorkMeta  # noqa: E402
from screening.review.cases import CaseStore  # noqa: E402
from screening.service import Workspace  # noqa: E402
from screening.settings import Settings  # noqa: E402

QUERY_EDITS = ("crop", "scene", "rotate", "colour_caption")


def screened(data: Path, data_dir: Path, n_works: int) -> tuple[Workspace, list[tuple]]:
    """Register n clip-art works and screen an edited copy of each with the accurate
    profile: [(result dict, the copy's PNG bytes)] for copies with a reported match."""
    clip = sorted((data / "usr/share/openclipart/png").rglob("*.png"))
    if not clip:
        sys.exit(f"no clip art under {data}: run `make data` first")
    ws = Workspace(Settings(data_dir=data_dir, maintained_profiles=["accurate", "hash"]),
                   create=True, progress=False)
    rng = np.random.default_rng(29)
    picked: list[tuple[str, Image.Image]] = []
    for path in clip[:: max(1, len(clip) // (4 * n_works))]:
        img = load_image(path).image
        if min(img.size) < 128 or is_blank(img):
            continue
        ext = f"clip-{len(picked):04d}"
        buf = io.BytesIO()
        img.convert("RGB").save(buf, "PNG")
        ws.register_image(WorkMeta(ext, "image", path.stem[:80], f"owner-{len(picked) % 7}",
                                   "artwork", "CN"), buf.getvalue())
        picked.append((ext, img))
        if len(picked) == n_works:
            break
    queries = data_dir / "queries"
    queries.mkdir(exist_ok=True)
    paths = []
    for i, (ext, img) in enumerate(tqdm(picked, desc="copies", file=sys.stderr)):
        scene = Image.new("RGB", (1024, 768), (90, 140, 200))
        edited = EDITS[QUERY_EDITS[i % len(QUERY_EDITS)]](img, rng, scene)
        paths.append(queries / f"{ext}.png")
        edited.convert("RGB").save(paths[-1], "PNG")
    out = []
    for path, r in zip(paths, tqdm(ws.screen_images(paths, "accurate"), total=len(paths),
                                   desc="screening", file=sys.stderr), strict=True):
        d = r.to_dict()
        if d.get("matches"):
            out.append((d, path.read_bytes()))
    return ws, out


def fill(data: Path, data_dir: Path, n: int, n_works: int) -> tuple[str, int]:
    """A registry with n review cases for tenant 'bench'; returns a screen key and how many
    distinct screened copies they cycle through."""
    if data_dir.exists():
        shutil.rmtree(data_dir)
    data_dir.mkdir(parents=True)
    ws, results = screened(data, data_dir, n_works)
    if not results:
        sys.exit("no screened copy matched a work")
    access = AccessStore(ws.registry.engine)
    key, info = access.create_key("bench reviewer", "bench", ["screen"], 1_000_000)
    cases = CaseStore(ws.registry.engine, 30)
    for i in tqdm(range(n), desc="cases", file=sys.stderr):
        r, png = results[i % len(results)]
        r = {**r, "decision": "review", "input": f"out-{i:05d}.png"}
        cases.keep(f"req{i:08d}", info, "screen/image", r, png, f"{i:064x}")
    ws.close()
    return key, len(results)


def percentiles(xs: list[float]) -> dict[str, float]:
    a = np.array(xs) * 1000
    return {"p50_ms": round(float(np.percentile(a, 50)), 1),
            "p95_ms": round(float(np.percentile(a, 95)), 1), "max_ms": round(float(a.max()), 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--data", type=Path, required=True, help="make data's unpacked root")
    ap.add_argument("--cases", type=int, default=10_000)
    ap.add_argument("--works", type=int, default=120)
    ap.add_argument("--repeat", type=int, default=30)
    ap.add_argument("--work", type=Path, default=Path(".cache/bench/workbench"))
    args = ap.parse_args()
    key, distinct = fill(args.data, args.work / "data", args.cases, args.works)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "IPSCREEN_PRELOAD": "false",
           "IPSCREEN_MAINTAINED_PROFILES": '["hash"]'}
    log = (args.work / "server.log").open("wb")
    proc = subprocess.Popen([sys.executable, "-m", "screening.cli", "--data-dir",
                             str(args.work / "data"), "serve", "--port", str(port),
                             "--workers", "1"], env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://localhost:{port}"
    try:
        for _ in range(240):
            try:
                httpx.get(f"{url}/healthz", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.5)
        # the cookies are Secure, which a client keeps for https only: carry them by hand
        c = httpx.Client(base_url=url, timeout=30)
        page = c.get("/ui/login")
        login = re.search(r"ipscreen_login=([^;]+)", page.headers["set-cookie"])
        token = re.search(r'name="csrf" value="([^"]+)"', page.text)
        assert login is not None and token is not None
        r = c.post("/ui/login", data={"key": key, "csrf": token.group(1)},
                   headers={"Cookie": f"ipscreen_login={login.group(1)}"})
        session = re.search(r"ipscreen_session=([^;]+)", r.headers.get("set-cookie", ""))
        assert session is not None, r.text[:500]
        jar = {"Cookie": f"ipscreen_session={session.group(1)}"}
        first = c.get("/ui/queue", headers=jar)
        assert first.status_code == 200 and f"{args.cases} cases" in first.text
        case_id = re.search(r'data-href="/ui/cases/(\d+)"', first.text).group(1)  # type: ignore[union-attr]
        pages = {"queue, first page": "/ui/queue",
                 "queue, page 100": "/ui/queue?page=100",
                 "queue, filtered (score >= 0.9, image)": "/ui/queue?min_score=0.9&kind=image",
                 "case page": f"/ui/cases/{case_id}"}
        figures = {}
        for name, path in pages.items():
            times = []
            for _ in range(args.repeat):
                start = time.perf_counter()
                resp = c.get(path, headers=jar)
                times.append(time.perf_counter() - start)
                assert resp.status_code == 200, (path, resp.status_code)
            figures[name] = percentiles(times)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    now = datetime.now(UTC).isoformat(timespec="seconds")
    lines = [f"Workbench pages, {now} ({line(describe())}); {args.cases} open review cases "
             f"in SQLite ({distinct} accurate-profile screens of edited copies of {args.works} "
             f"registered clip-art works, cycled), one `ipscreen serve` worker, "
             f"{args.repeat} requests each over HTTP",
             "", "| page | p50 ms | p95 ms | max ms |", "|---|---|---|---|"]
    lines += [f"| {k} | {v['p50_ms']} | {v['p95_ms']} | {v['max_ms']} |"
              for k, v in figures.items()]
    save("workbench", {"date": now, "machine": describe(), "cases": args.cases,
                       "repeat": args.repeat, "works": args.works,
                       "distinct_results": distinct, "pages": figures},
         "\n".join(lines) + "\n", append=True)


if __name__ == "__main__":
    main()
