"""A 1,000,000-item hash-profile scan on this machine: items/s and whether memory stays flat.

Items: --items distinct synthetic 64x64 JPEGs (random colour blocks) in WebDataset-style tar
shards of 10,000, written once into .cache/bench (about 2 GB). Registry: scan_throughput's
(api_load's photos and texts plus 10,000 synthetic image works). The scan is a real
`ipscreen scan` process on a local Ray; the resident memory of it and of everything it
started (Ray's processes and the workers) is sampled every second, and the peak of the
first and last tenth of the run are compared: flat memory means the last tenth needs no
more than the first.

    python benchmarks/scan_million.py [--items 1000000]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import sys
import tarfile
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from machine import describe, line  # noqa: E402
from proctree import run_measured  # noqa: E402
from publish import publish  # noqa: E402
from scan_throughput import registry  # noqa: E402

CACHE = Path(".cache/bench")
SHARD = 10_000
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "RAY_DISABLE_USAGE_STATS": "1",
       "IPSCREEN_MAINTAINED_PROFILES": '["accurate", "fast", "hash"]'}


def write_shard(args: tuple[Path, int]) -> int:
    path, first = args
    rng = np.random.default_rng(first)
    tmp = path.with_suffix(".tmp")
    with tarfile.open(tmp, "w") as tar:
        for i in range(first, first + SHARD):
            blocks = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
            buf = io.BytesIO()
            Image.fromarray(blocks).resize((64, 64), Image.Resampling.NEAREST).save(
                buf, "JPEG", quality=85)
            info = tarfile.TarInfo(f"{i:08d}.jpg")
            info.size = buf.tell()
            buf.seek(0)
            tar.addfile(info, buf)
    os.replace(tmp, path)
    return SHARD


def make_shards(folder: Path, n: int) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    todo = [(folder / f"shard-{s:05d}.tar", s * SHARD) for s in range(n // SHARD)
            if not (folder / f"shard-{s:05d}.tar").exists()]
    with ProcessPoolExecutor(os.cpu_count()) as pool, \
            tqdm(total=len(todo) * SHARD, desc="writing shards", unit="item",
                 file=sys.stderr) as bar:
        for done in pool.map(write_shard, todo):
            bar.update(done)
    return folder


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--items", type=int, default=1_000_000)
    ap.add_argument("--image-works", type=int, default=10000)
    args = ap.parse_args()
    if args.items % SHARD:
        raise SystemExit(f"--items must be a multiple of {SHARD}")
    data = registry(args.image_works)
    shards = make_shards(CACHE / f"scan-shards-{args.items}", args.items)
    out = CACHE / "scan-million-out"
    shutil.rmtree(out, ignore_errors=True)
    log = CACHE / "scan-million.log"
    r = run_measured([sys.executable, "-m", "screening.cli", "--data-dir", str(data), "scan",
                      str(shards), "--out", str(out), "--profile", "hash"], ENV, log)
    summary = json.loads((out / "summary.json").read_text())
    series = r.pop("rss_series_mb")
    private = r.pop("private_series_mb")
    tenth = max(1, len(series) // 10)
    parts = sorted((out / "parts").glob("part-*.parquet"), key=lambda p: p.stat().st_mtime)
    report = {"date": datetime.now(UTC).isoformat(timespec="seconds"), "machine": describe(),
              "items": args.items, "profile": "hash", "shards": args.items // SHARD,
              "registered_image_works": args.image_works, **r,
              "items_per_s": args.items / r["seconds"],
              "screened": summary["screened"], "by_decision": summary["by_decision"],
              "parts": len(parts),
              "peak_rss_first_tenth_mb": max(b for _, b in series[:tenth]),
              "peak_rss_last_tenth_mb": max(b for _, b in series[-tenth:]),
              "rss_every_tenth_mb": [b for _, b in series[::tenth]],
              # flat memory is judged on this: resident less the object store's shared pages
              "peak_private_first_tenth_mb": max(b for _, b in private[:tenth]),
              "peak_private_last_tenth_mb": max(b for _, b in private[-tenth:]),
              "private_every_tenth_mb": [b for _, b in private[::tenth]],
              "results_mb": sum(p.stat().st_size for p in parts) / 2**20}
    publish("scan_million", report, render)


def render(r: dict) -> str:
    return "\n".join([
        f"Hash-profile scan of {r['items']:,} items, {r['date']} ({r['shards']} tar shards of "
        f"synthetic 64x64 JPEGs; {r['registered_image_works']:,} registered image works; "
        f"{line(r['machine'])})", "",
        "| items | screened | seconds | items/s | peak RSS MB (all processes) | "
        "peak RSS MB, first / last tenth | less shared (object store) MB, first / last "
        "tenth | results MB |", "|---|---|---|---|---|---|---|---|",
        f"| {r['items']:,} | {r['screened']:,} | {r['seconds']:.0f} | {r['items_per_s']:.0f} "
        f"| {r['peak_rss_mb']:.0f} | {r['peak_rss_first_tenth_mb']} / "
        f"{r['peak_rss_last_tenth_mb']} | {r['peak_private_first_tenth_mb']} / "
        f"{r['peak_private_last_tenth_mb']} | {r['results_mb']:.0f} |", "",
        f"Resident memory at each tenth of the run (MB): {r['rss_every_tenth_mb']}; less "
        f"shared: {r['private_every_tenth_mb']}; decisions: {r['by_decision']}."]
    ) + "\n"


if __name__ == "__main__":
    main()
