"""`ipscreen scan` against the plain CLI, a scaling table, and a cascade-profile estimate.

Registry: api_load's (scikit-image photos, 50 Genesis chapters, synthetic image works up to
--image-works; kept in .cache/bench/scan-registry). Items: JPEGs, 1% of them edited copies of
the registered photos (mirrored, cropped, shrunk), the rest synthetic textures that match
nothing (random colour blocks, smoothed, with noise), written once into .cache/bench.

Measured, each a real process:
- `ipscreen screen image FOLDER --profile P --json` (the baseline) and `ipscreen scan FOLDER
  --profile P` on a local Ray, on the same items. Each is also run on 20 items, so its fixed
  cost (start, models, index, Ray) is known and the per-item rate excludes it:
  steady items/s = (N - 20) / (T(N) - T(20)).
- Scaling: a Ray cluster of single-CPU nodes started on this machine (`ray start`), the scan
  sent to it with --address and 1, 2 and 4 workers (one model thread each). Efficiency per
  worker = rate(n) / (n x rate(1)). This machine has 2 cores, so 4 workers cannot exceed 2x.
- --cascade-items items with the cascade profile (fast, then accurate on fast's candidates),
  and from that rate the time and cost of 100,000 items on 1, 4 and 16 such machines.

    python benchmarks/scan_throughput.py [--items 20000] [--cascade-items 10000]
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter, ImageOps
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from api_load import PHOTOS, build, photo  # noqa: E402
from machine import describe, line  # noqa: E402
from proctree import run_measured  # noqa: E402
from publish import publish  # noqa: E402

CACHE = Path(".cache/bench")
SMALL = 20
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "RAY_DISABLE_USAGE_STATS": "1",
       "IPSCREEN_MAINTAINED_PROFILES": '["accurate", "fast", "hash"]',
       # the cluster of the scaling table is local: no token authentication between its nodes
       "RAY_AUTH_MODE": "disabled"}


def registry(image_works: int) -> Path:
    """api_load's registry with image_works image works, built once into .cache/bench."""
    data = CACHE / f"scan-registry-{image_works}"
    if not (data / ".built").exists():
        shutil.rmtree(data, ignore_errors=True)
        build(data, image_works, "auto")
        (data / ".built").touch()
    return data


def make_items(folder: Path, n: int, seed: int = 11) -> Path:
    """n JPEGs, 1% edited copies of the registered photos; reused when already there."""
    done = folder / ".done"
    if done.exists():
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    pick = random.Random(seed)
    photos = {name: photo(name) for name in PHOTOS}
    for i in tqdm(range(n), desc=f"writing {n} items", file=sys.stderr):
        if i % 100 == 0:
            im = photos[pick.choice(PHOTOS)]
            w, h = im.size
            edit = pick.choice(("mirror", "crop", "shrink"))
            im = (ImageOps.mirror(im) if edit == "mirror" else
                  im.crop((w // 6, h // 6, w, h)) if edit == "crop" else
                  im.resize((w // 3, h // 3)))
            im.convert("RGB").save(folder / f"{i:07d}-copy.jpg", quality=88)
            continue
        blocks = rng.integers(0, 256, (rng.integers(3, 9), rng.integers(3, 9), 3), np.uint8)
        im = Image.fromarray(blocks).resize((int(rng.integers(96, 320)),
                                             int(rng.integers(96, 320))), Image.BILINEAR)
        im = im.filter(ImageFilter.GaussianBlur(2))
        arr = np.asarray(im, np.int16) + rng.integers(-12, 13, (im.height, im.width, 3))
        Image.fromarray(arr.clip(0, 255).astype(np.uint8)).save(folder / f"{i:07d}.jpg",
                                                                 quality=85)
    done.touch()
    return folder


def subset(src: Path, n: int) -> Path:
    dst = src.parent / f"{src.name}-first{n}"
    if not dst.exists():
        dst.mkdir()
        for p in sorted(src.glob("*.jpg"))[:n]:
            os.link(p, dst / p.name)
    return dst


def ipscreen(data: Path, *args: object) -> list[str]:
    return [sys.executable, "-m", "screening.cli", "--data-dir", str(data), *map(str, args)]


def timed(args: list[str], env: dict, log: Path) -> dict:
    r = run_measured(args, env, log)
    r.pop("rss_series_mb")
    return r


def steady(big: dict, small: dict, n: int) -> dict:
    rate = (n - SMALL) / max(1e-9, big["seconds"] - small["seconds"])
    return {"items": n, "seconds": big["seconds"], "fixed_seconds": small["seconds"],
            "items_per_s": n / big["seconds"], "steady_items_per_s": rate,
            "peak_rss_mb": big["peak_rss_mb"]}


def scan(data: Path, items: Path, out: Path, env: dict, log: Path, *extra: object) -> dict:
    shutil.rmtree(out, ignore_errors=True)
    return timed(ipscreen(data, "scan", items, "--out", out, *extra), env, log)


def start_cluster(nodes: int) -> tuple[str, dict]:
    """A head and nodes-1 more nodes on this machine, one CPU slot each (the head's slot is
    left to the driver's side: 0 CPUs there)."""
    ray = str(Path(sys.executable).parent / "ray")
    subprocess.run([ray, "stop", "--force"], env=ENV, capture_output=True)
    port = 6390
    r = subprocess.run([ray, "start", "--head", f"--port={port}", "--num-cpus=0",
                        "--include-dashboard=false", "--disable-usage-stats"], env=ENV,
                       capture_output=True, text=True)
    if r.returncode:
        raise SystemExit(r.stderr[-2000:])
    address = f"127.0.0.1:{port}"
    for _ in range(nodes):
        r = subprocess.run([ray, "start", f"--address={address}", "--num-cpus=1"], env=ENV,
                           capture_output=True, text=True)
        if r.returncode:
            raise SystemExit(r.stderr[-2000:])
    return address, {**ENV, "RAY_ADDRESS": address, "IPSCREEN_THREADS": "1"}



def stop_cluster() -> None:
    subprocess.run([str(Path(sys.executable).parent / "ray"), "stop", "--force"], env=ENV,
                   capture_output=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--items", type=int, default=20000)
    ap.add_argument("--cascade-items", type=int, default=10000)
    ap.add_argument("--profile", default="hash")
    ap.add_argument("--image-works", type=int, default=10000)
    ap.add_argument("--usd-per-machine-hour", type=float, default=0.09,
                    help="price of a machine like this one (2 vCPU); default: an on-demand "
                    "compute-optimised 2-vCPU cloud VM")
    args = ap.parse_args()
    work = CACHE / "scan-bench"
    work.mkdir(parents=True, exist_ok=True)
    data = registry(args.image_works)
    items = make_items(CACHE / f"scan-items-{args.items}", args.items)
    small = subset(items, SMALL)
    logs = work / "logs"
    logs.mkdir(exist_ok=True)
    p = args.profile
    report: dict = {"date": datetime.now(UTC).isoformat(timespec="seconds"),
                    "machine": describe(), "profile": p, "items": args.items,
                    "registered_image_works": args.image_works}

    print("baseline: ipscreen screen image", file=sys.stderr)
    cli_small = timed(ipscreen(data, "screen", "image", small, "--profile", p, "--json"),
                      ENV, logs / "cli-small.log")
    cli = timed(ipscreen(data, "screen", "image", items, "--profile", p, "--json"), ENV,
                logs / "cli.log")
    report["cli"] = steady(cli, cli_small, args.items)
    print("ipscreen scan, local Ray", file=sys.stderr)
    s_small = scan(data, small, work / "out-small", ENV, logs / "scan-small.log", "--profile", p)
    s_big = scan(data, items, work / "out", ENV, logs / "scan.log", "--profile", p)
    report["scan_local"] = steady(s_big, s_small, args.items)
    report["scan_vs_cli"] = (report["scan_local"]["steady_items_per_s"]
                             / report["cli"]["steady_items_per_s"])
    report["scan_vs_cli_total"] = cli["seconds"] / s_big["seconds"]

    scaling = []
    try:
        address, cenv = start_cluster(4)
        for workers in (1, 2, 4):
            print(f"cluster scan, {workers} workers", file=sys.stderr)
            sm = scan(data, small, work / "out-small", cenv, logs / f"cl{workers}-small.log",
                      "--profile", p, "--workers", workers)
            big = scan(data, items, work / "out", cenv, logs / f"cl{workers}.log",
                       "--profile", p, "--workers", workers)
            scaling.append({"workers": workers, **steady(big, sm, args.items)})
    finally:
        stop_cluster()
    one = scaling[0]["steady_items_per_s"]
    for row in scaling:
        row["efficiency"] = row["steady_items_per_s"] / (row["workers"] * one)
    report["scaling"] = scaling
    report["cluster"] = "head (0 CPUs) + 4 nodes of 1 CPU, on this machine"

    if args.cascade_items:
        citems = subset(items, args.cascade_items) if args.cascade_items < args.items \
            else items
        print(f"cascade scan, {args.cascade_items} items", file=sys.stderr)
        c_small = scan(data, small, work / "out-small", ENV, logs / "cascade-small.log",
                       "--profile", "cascade")
        c_big = scan(data, citems, work / "out", ENV, logs / "cascade.log",
                     "--profile", "cascade")
        c = steady(c_big, c_small, args.cascade_items)
        est = []
        for machines in (1, 4, 16):
            hours = (c["fixed_seconds"] + 100_000 / (c["steady_items_per_s"] * machines)) / 3600
            est.append({"machines": machines, "hours": hours,
                        "machine_hours": hours * machines,
                        "usd": hours * machines * args.usd_per_machine_hour})
        report["cascade"] = {**c, "estimate_100k": est,
                             "usd_per_machine_hour": args.usd_per_machine_hour}
    publish("scan_throughput", report, render)


def render(r: dict) -> str:
    c, s = r["cli"], r["scan_local"]
    out = [f"Scan throughput, {r['date']} ({r['items']:,} JPEG items, {r['profile']} profile, "
           f"{r['registered_image_works']:,} registered image works; {line(r['machine'])})",
           "", "| run | total s | fixed s | items/s (total) | items/s (steady) | "
           "peak RSS MB |", "|---|---|---|---|---|---|"]
    for name, x in (("`ipscreen screen image` (baseline)", c),
                    ("`ipscreen scan`, local Ray, 2 workers", s)):
        out.append(f"| {name} | {x['seconds']:.1f} | {x['fixed_seconds']:.1f} | "
                   f"{x['items_per_s']:.0f} | {x['steady_items_per_s']:.0f} | "
                   f"{x['peak_rss_mb']:.0f} |")
    out += ["", f"Scan / CLI, steady items/s: {r['scan_vs_cli']:.2f}; whole run: "
            f"{r['scan_vs_cli_total']:.2f}.", "",
            f"Scaling on a Ray cluster started on this machine ({r['cluster']}):", "",
            "| workers | items/s (steady) | efficiency per worker | total s |",
            "|---|---|---|---|"]
    for row in r["scaling"]:
        out.append(f"| {row['workers']} | {row['steady_items_per_s']:.0f} | "
                   f"{row['efficiency']:.2f} | {row['seconds']:.1f} |")
    if "cascade" in r:
        k = r["cascade"]
        out += ["", f"Cascade profile, {k['items']:,} items measured: "
                f"{k['steady_items_per_s']:.1f} items/s steady, {k['seconds']:.0f} s in all "
                f"({k['fixed_seconds']:.0f} s fixed). 100,000 items estimated at "
                f"${k['usd_per_machine_hour']:.2f} per machine-hour:", "",
                "| machines like this | hours | machine-hours | cost USD |", "|---|---|---|---|"]
        for e in k["estimate_100k"]:
            out.append(f"| {e['machines']} | {e['hours']:.2f} | {e['machine_hours']:.2f} | "
                       f"{e['usd']:.2f} |")
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    main()
