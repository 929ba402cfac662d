"""Resident memory of a process and everything it started (its session), sampled from /proc:
a scan's driver, its local Ray (raylet, GCS, object store) and its screening workers."""

from __future__ import annotations

import os
import subprocess
import threading
import time
from pathlib import Path


def session_rss(sid: int) -> int:
    """Bytes resident in the processes of session `sid` now (shared pages counted per
    process, so an upper bound)."""
    total = 0
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if os.getsid(int(proc.name)) != sid:
                continue
            for line in (proc / "status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
                    break
        except (OSError, ValueError):
            continue
    return total


class RssSampler:
    """Samples session_rss(sid) every `every` seconds in a thread; .peak and .series."""

    def __init__(self, sid: int, every: float = 0.5) -> None:
        self.sid, self.every = sid, every
        self.peak = 0
        self.series: list[tuple[float, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._t0 = time.monotonic()

    def _run(self) -> None:
        while not self._stop.is_set():
            rss = session_rss(self.sid)
            self.peak = max(self.peak, rss)
            self.series.append((time.monotonic() - self._t0, rss))
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
            "rss_series_mb": [(round(s, 1), round(b / 2**20)) for s, b in rss.series]}
