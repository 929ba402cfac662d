"""What one registration or withdrawal costs as the registry grows, and what a service
worker pays to pick it up.

Registries of --works image works (scikit-image photos plus synthetic works whose SSCD
vectors and hashes are injected as cached features, as in benchmarks/api_load.py; the index
part is what registry size changes), with the service's maintained profiles (accurate, fast,
hash) on the default Flat index. For each size: register real images one at a time through
the library (decode, features, index catch-up, save), withdraw them again, and measure each
operation's time and the bytes it wrote under the index directory; then the time and memory
of what a worker does after a change: open the data dir and load the screeners of every
maintained profile (api/state.py Screeners.build).

    python benchmarks/index_updates.py [--works 10000 100000] [--ops 5]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from PIL import ImageOps

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from api_load import PROFILES, build, photo, png, settings_for  # noqa: E402
from machine import describe, line  # noqa: E402
from publish import RESULTS, publish  # noqa: E402

from screening.registry.repository import WorkMeta  # noqa: E402
from screening.service import Workspace  # noqa: E402


def written(index_dir: Path, before: dict[str, float]) -> int:
    """Bytes of the files under index_dir created or modified since `before` (name: mtime)."""
    total = 0
    for f in index_dir.iterdir():
        if f.is_file() and before.get(f.name) != f.stat().st_mtime:
            total += f.stat().st_size
    return total


def snapshot(index_dir: Path) -> dict[str, float]:
    return {f.name: f.stat().st_mtime for f in index_dir.iterdir() if f.is_file()}


def reload_probe(data: Path) -> dict:
    """What a service worker does when the registry moved (api/state.py): open the data dir
    and build a fresh set of screeners beside the one it serves with, in a new process so
    its memory is its own. Returns the seconds of the second build (the models are opened
    once per process, by the first) and the memory it added (RSS after minus before)."""
    here = Path(__file__).resolve().parent
    code = f"""
import json, sys, time
sys.path[:0] = [{str(here.parent)!r}, {str(here)!r}]
from pathlib import Path
from api_load import settings_for
from api.settings import ApiSettings
from api.state import Screeners
def rss():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
settings = ApiSettings(**settings_for(Path({str(data)!r})).model_dump())
first = Screeners.build(settings, None)  # models open once per process, as in the service
base = rss()
t = time.perf_counter()
fresh = Screeners.build(settings, None)
seconds = time.perf_counter() - t
print(json.dumps({{"seconds": round(seconds, 2), "rss_mb": round(rss() - base)}}))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def pct(xs: list[float]) -> dict:
    return {"p50_s": round(float(np.percentile(xs, 50)), 3),
            "max_s": round(float(np.max(xs)), 3)}


def measure(data: Path, works: int, ops: int, tag: int) -> dict:
    t0 = time.perf_counter()
    build(data, works)
    setup = time.perf_counter() - t0
    settings = settings_for(data)
    ws = Workspace(settings, create=True, progress=False)
    ws.sync_indexes()
    index_dir = ws.store.directory
    # new content on every run (`tag`), so a rerun on the same data dir registers new works
    images = [ImageOps.mirror(photo(name)).rotate(3 * (i + 1) + tag)
              for i, name in enumerate(["astronaut", "coffee", "chelsea", "rocket", "camera",
                                        "cat", "astronaut", "coffee"][:ops])]
    reg, reg_bytes, wd, wd_bytes = [], [], [], []
    for i, img in enumerate(images):
        meta = WorkMeta(f"UPD-{tag}-{works}-{i}", "image", f"update {i}", "bench", "photo",
                        "CN")
        before = snapshot(index_dir)
        t = time.perf_counter()
        ws.register_image(meta, png(img.convert("RGB")))
        reg.append(time.perf_counter() - t)
        reg_bytes.append(written(index_dir, before))
    for i in range(len(images)):
        before = snapshot(index_dir)
        t = time.perf_counter()
        ws.withdraw(f"UPD-{tag}-{works}-{i}", reason="benchmark")
        wd.append(time.perf_counter() - t)
        wd_bytes.append(written(index_dir, before))
    ws.close()
    reload = reload_probe(data)
    return {"works": works, "setup_s": round(setup, 1),
            "register": pct(reg), "register_kb_written": round(float(np.mean(reg_bytes)) / 1e3, 1),
            "withdraw": pct(wd), "withdraw_kb_written": round(float(np.mean(wd_bytes)) / 1e3, 1),
            "worker_reload_s": reload["seconds"], "worker_reload_rss_mb": reload["rss_mb"],
            "index_dir_mb": round(sum(f.stat().st_size for f in index_dir.iterdir()
                                      if f.is_file()) / 1e6)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--works", type=int, nargs="+", default=[10_000, 100_000])
    ap.add_argument("--ops", type=int, default=5, help="registrations (and withdrawals)")
    ap.add_argument("--work", type=Path, default=Path(".cache/bench/updates"))
    ap.add_argument("--tag", type=int, default=0, help="run number: new works each run")
    ap.add_argument("--baseline", type=Path, default=RESULTS / "index_updates_before.json",
                    help="an earlier run's JSON (other code) to show beside this one")
    ap.add_argument("--baseline-label", default="before deltas (commit 224d2c4)")
    args = ap.parse_args()
    if not 1 <= args.ops <= 8:
        sys.exit("--ops must be between 1 and 8")
    rows = []
    for n in args.works:
        row = measure(args.work / f"works-{n}", n, args.ops, args.tag)
        rows.append(row)
        print(json.dumps(row), file=sys.stderr)
    import indexes.store

    report = {"when": datetime.now(UTC).isoformat(timespec="seconds"), "machine": describe(),
              "profiles": PROFILES,
              "code": str(Path(indexes.store.__file__).resolve().parent.parent),
              "ops": args.ops, "rows": rows,
              "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}
    if args.baseline.exists():
        report["baseline"] = {"label": args.baseline_label,
                              **json.loads(args.baseline.read_text())}
    publish("index_updates", report, render)


def kb(row: dict, op: str) -> float:
    """KB written per operation (older runs recorded MB)."""
    if f"{op}_kb_written" in row:
        return float(row[f"{op}_kb_written"])
    return float(row[f"{op}_mb_written"]) * 1000


def render(r: dict) -> str:
    lines = [f"Index updates, {r['when']} (image works, profiles {', '.join(r['profiles'])}, "
             f"dense index Flat; {r['ops']} registrations and withdrawals one at a time; "
             f"{line(r.get('machine'))})", "",
             "| code | works | register p50 s | max s | written | withdraw p50 s | max s | "
             "written | worker reload s | reload adds RSS MB | index dir MB |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    runs = [("this run", r)]
    if "baseline" in r:
        runs.insert(0, (f"{r['baseline']['label']}, {r['baseline']['when']}", r["baseline"]))

    def size(k: float) -> str:
        return f"{k / 1000:,.0f} MB" if k >= 10_000 else f"{k:,.1f} KB"

    for label, run in runs:
        for x in run["rows"]:
            lines.append(
                f"| {label} | {x['works']:,} | {x['register']['p50_s']} | "
                f"{x['register']['max_s']} | {size(kb(x, 'register'))} | "
                f"{x['withdraw']['p50_s']} | {x['withdraw']['max_s']} | "
                f"{size(kb(x, 'withdraw'))} | {x['worker_reload_s']} | "
                f"{x['worker_reload_rss_mb']} | {x['index_dir_mb']:,} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
