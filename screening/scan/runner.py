"""The driver of a scan: list the items once, skip what earlier runs finished, stream the
rest through Ray Data's screening actors, and write each finished chunk as a Parquet part.

Layout of a scan's --out folder:
    scan.json            what was scanned (source, profile, item count), written first
    items.parquet        every item, numbered (sources.ITEM_SCHEMA)
    parts/*.parquet      results (worker.RESULT_SCHEMA), each part written atomically
    summary.json         counts by decision, kind, work, owner and category
    report.html          the same for a reader

Resuming: a part is whole or absent (temp file, fsync, rename), so the items of the parts
present are done and the rest are screened again: Ctrl-C, a killed driver or a lost worker
(Ray restarts actors and retries their batches) loses at most the chunks in flight.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from tqdm import tqdm

from indexes.store import atomic_write
from screening.errors import InvalidInputError
from screening.scan.sources import iter_items, write_listing
from screening.scan.summary import write_summary
from screening.service import Workspace

SCAN_FORMAT = 1
#: Most items per block of the pending list. A worker hands back a block's results only when
#: the whole block is screened, so blocks are kept small enough for every worker to get
#: several and for results to arrive (and be written as parts) steadily: an interruption
#: loses at most the blocks in flight.
MAX_BLOCK_ROWS = 1024


@dataclass
class ScanOptions:
    source: Path
    out: Path
    profile: str | None = None        # image profile (the settings' default when None)
    paraphrase: bool | None = None    # text paraphrase layer (the settings' when None)
    workers: int = 0                  # screening actors (0: one per CPU Ray sees)
    batch_size: int = 64              # items per actor call
    part_rows: int = 2048             # items per result part
    address: str | None = None        # a Ray cluster (ray://...); None: RAY_ADDRESS or local


@dataclass
class ScanOutcome:
    total: int
    screened: int      # this run
    skipped: int       # done by earlier runs
    seconds: float
    summary: dict


def _plan(opts: ScanOptions, profile: str) -> int:
    """Create or check the scan's plan; returns the item count."""
    out = opts.out
    plan_path = out / "scan.json"
    want = {"format": SCAN_FORMAT, "source": str(opts.source.resolve()), "profile": profile,
            "paraphrase": opts.paraphrase}
    if plan_path.exists():
        try:
            have = json.loads(plan_path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise InvalidInputError(f"{plan_path} is damaged ({exc}); use another "
                                    "--out") from None
        differs = [k for k in want if have.get(k) != want[k]]
        if differs:
            raise InvalidInputError(
                f"{out} holds a scan with another {', '.join(differs)} "
                f"({', '.join(f'{k}={have.get(k)!r}' for k in differs)}); resume it with the "
                "same options or use another --out")
        if (out / "items.parquet").exists():
            return int(have["items"])
    out.mkdir(parents=True, exist_ok=True)
    (out / "parts").mkdir(exist_ok=True)
    tmp = out / "items.parquet.tmp"
    with tqdm(iter_items(opts.source), desc="listing", unit="item", file=sys.stderr,
              disable=not _progress()) as listed:
        n = write_listing(listed, tmp)
    os.replace(tmp, out / "items.parquet")
    atomic_write(plan_path, json.dumps({**want, "items": n,
                                        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                                                 time.gmtime())},
                                       indent=1).encode())
    return n


def _progress() -> bool:
    return sys.stderr.isatty() or bool(os.environ.get("IPSCREEN_PROGRESS"))


def done_mask(parts: Path, total: int) -> np.ndarray:
    """Which item indexes the parts present hold. A part that cannot be read is moved aside
    (its items are screened again), never half counted."""
    done = np.zeros(total, dtype=bool)
    for part in sorted(parts.glob("part-*.parquet")):
        try:
            idx = pq.read_table(part, columns=["index"]).column("index").to_numpy()
        except (OSError, pa.ArrowException) as exc:
            print(f"warning: {part} is unreadable ({exc}); its items are screened again",
                  file=sys.stderr)
            os.replace(part, part.with_suffix(".bad"))
            continue
        done[idx[(idx >= 0) & (idx < total)]] = True
    return done


def _pending(opts: ScanOptions, done: np.ndarray, workers: int) -> list[pa.Table]:
    """The items still to screen, in blocks of block_rows() items. They travel in Ray's
    object store, so a cluster's workers need no shared folder for them."""
    items = pq.read_table(opts.out / "items.parquet")
    todo = items.filter(pa.array(~done[items.column("index").to_numpy()]))
    rows = block_rows(opts, todo.num_rows, workers)
    return [todo.slice(start, rows) for start in range(0, todo.num_rows, rows)]


def block_rows(opts: ScanOptions, count: int, workers: int) -> int:
    """Items per block: about four blocks per worker, at least a worker's batch, at most a
    result part (so parts are written as blocks finish) and MAX_BLOCK_ROWS."""
    share = -(-count // (4 * workers))
    return max(1, min(MAX_BLOCK_ROWS, opts.part_rows, max(opts.batch_size, share)))


def run_scan(ws: Workspace, opts: ScanOptions) -> ScanOutcome:
    """Screen every item of opts.source not yet done in opts.out (see the module docstring)."""
    start = time.perf_counter()
    profile = opts.profile or ws.settings.default_profile
    total = _plan(opts, profile)
    # indexes current once here, not by every worker at once
    ws.catch_up()
    ws.sync_indexes([profile])
    done = done_mask(opts.out / "parts", total)
    skipped = int(done.sum())
    screened = 0
    if skipped < total:
        screened = _screen(ws, opts, profile, done)
    summary = write_summary(opts.out, total)
    return ScanOutcome(total, screened, skipped, time.perf_counter() - start, summary)


def _screen(ws: Workspace, opts: ScanOptions, profile: str, done: np.ndarray) -> int:
    import ray

    from screening.scan.worker import ScreenWorker

    address = opts.address or os.environ.get("RAY_ADDRESS")
    if not ray.is_initialized():
        ray.init(address=address, include_dashboard=False, log_to_driver=False,
                 configure_logging=False, **({} if address else _local_resources(opts)))
    # one CPU is left to the driver, which gathers the results and writes the parts
    workers = opts.workers or max(1, int(ray.cluster_resources().get("CPU", 2)) - 1)
    pending = _pending(opts, done, workers)
    count = sum(block.num_rows for block in pending)
    settings = ws.settings.model_copy(update=_worker_settings(ws, workers, address))
    ctx = ray.data.DataContext.get_current()
    _quiet_ray()  # after ray.data is imported: importing it sets its loggers up
    ctx.enable_progress_bars = False
    ctx.verbose_progress = False
    ds = ray.data.from_arrow(pending).map_batches(
        ScreenWorker, fn_constructor_args=(settings.model_dump_json(), profile, opts.paraphrase),
        batch_size=opts.batch_size, batch_format="pyarrow", num_cpus=1,
        # Ray Data restarts a lost actor and retries its batch (its defaults for actor pools)
        compute=ray.data.ActorPoolStrategy(size=workers))
    run = time.strftime("%Y%m%dT%H%M%S") + f"-{os.getpid()}"
    bar = tqdm(total=count, desc=f"scanning ({workers} workers)", unit="item",
               file=sys.stderr, disable=not _progress())
    written = 0
    try:
        for n, batch in enumerate(ds.iter_batches(batch_size=opts.part_rows,
                                                  batch_format="pyarrow")):
            assert isinstance(batch, pa.Table)
            data = _parquet_bytes(batch)
            atomic_write(opts.out / "parts" / f"part-{run}-{n:06d}.parquet", data)
            written += batch.num_rows
            bar.update(batch.num_rows)
    finally:
        bar.close()
    return written


def _quiet_ray() -> None:
    """Ray Data's execution notes are for Ray developers; the progress bar and the summary
    are the user's. Ray's warnings still show; Ray Data's (about its own tuning) do not."""
    logging.getLogger("ray").setLevel(logging.WARNING)
    logging.getLogger("ray.data").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", category=UserWarning, module=r"ray\.data\..*")


def _parquet_bytes(table: pa.Table) -> bytes:
    from screening.scan.worker import RESULT_SCHEMA

    sink = pa.BufferOutputStream()
    pq.write_table(table.cast(RESULT_SCHEMA), sink, compression="zstd")
    return bytes(sink.getvalue().to_pybytes())


def _local_resources(opts: ScanOptions) -> dict:
    """A local Ray with a worker per core, and one slot more for the driver."""
    cpus = os.cpu_count() or 1
    return {"num_cpus": max(cpus, opts.workers or 0) + 1}


def _worker_settings(ws: Workspace, workers: int, address: str | None) -> dict:
    """On this machine, split its cores between the workers' model threads."""
    if address or ws.settings.threads:
        return {}
    return {"threads": max(1, (os.cpu_count() or 1) // workers)}


__all__ = ["ScanOptions", "ScanOutcome", "done_mask", "run_scan"]
