"""Resident memory of a process and everything it started (its session), sampled from /proc:
a scan's driver, its local Ray (raylet, GCS, object store) and its screening workers."""

from __future__ import annotations

import os
import subprocess
import threading
import time
from pathlib import Path


def session_memory(sid: int) -> tuple[int, int]:
    """(resident, shared) bytes of the processes of session `sid` now. Resident counts
    shared pages per process (an upper bound). Shared is the part in shared memory: Ray's
    object store, which each worker maps and touches page by page as results pass through it.
    Those pages belong to the store, whose size is fixed, not to the process."""
    total = shared = 0
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if os.getsid(int(proc.name)) != sid:
                continue
            for line in (proc / "status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
                elif line.startswith("RssShmem:"):
                    shared += int(line.split()[1]) * 1024
        except (OSError, ValueError):
            continue
    return total, shared


class RssSampler:
    """Samples session_rss(sid) every `every` seconds in a thread; .peak and .series."""

    def __init__(self, sid: int, every: float = 0.5) -> None:
        self.sid, self.every = sid, every
        self.peak = 0
        self.series: list[tuple[float, int]] = []
        #: resident less shared memory (the object store's pages), per sample
        self.private: list[tuple[float, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._t0 = time.monotonic()

    def _run(self) -> None:
        while not self._stop.is_set():
            rss, shared = session_memory(self.sid)
            self.peak = max(self.peak, rss)
            at = time.monotonic() - self._t0
            self.series.append((at, rss))
            self.private.append((at, rss - shared))
            self._stop.wait(self.every)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def run_measured(args: list[str], env: dict, log: Path) -> dict:
    """Run a command in a session of its own; wall seconds, exit code and peak RSS of all it
    started."""
    with log.open("w") as out:
        t = time.perf_counter()
        proc = subprocess.Popen(args, env=env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
        with RssSampler(proc.pid) as rss:
            rc = proc.wait()
        seconds = time.perf_counter() - t
    if rc != 0:
        raise SystemExit(f"{' '.join(args[:6])} ... failed ({rc}); see {log}")
    return {"seconds": seconds, "peak_rss_mb": rss.peak / 2**20,
            "peak_private_mb": max((b for _, b in rss.private), default=0) / 2**20,
            "rss_series_mb": [(round(s, 1), round(b / 2**20)) for s, b in rss.series],
            "private_series_mb": [(round(s, 1), round(b / 2**20)) for s, b in rss.private]}
