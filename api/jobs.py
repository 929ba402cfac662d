"""Background jobs (bulk imports) with progress, held in the worker that runs them."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class Job:
    id: str
    kind: str
    status: str = "queued"  # queued | running | done | failed
    total: int | None = None
    done: int = 0
    failed: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)
    errors: list[dict] = field(default_factory=list)
    notes: list[dict] = field(default_factory=list)
    detail: str = ""

    def public(self) -> dict:
        return {"id": self.id, "kind": self.kind, "status": self.status, "total": self.total,
                "done": self.done, "failed": self.failed, "outcomes": self.outcomes,
                "errors": self.errors[:100], "notes": self.notes[:100],
                "detail": self.detail}


class JobStore:
    def __init__(self) -> None:
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()

    def start(self, kind: str, work: Callable[[Job], None]) -> Job:
        job = Job(uuid.uuid4().hex, kind)
        with self._lock:
            self._jobs[job.id] = job

        def run() -> None:
            job.status = "running"
            try:
                work(job)
                job.status = "done"
            except Exception as exc:  # reported through the job, not lost in a thread
                job.status, job.detail = "failed", f"{type(exc).__name__}: {exc}"

        threading.Thread(target=run, name=f"job-{job.id[:8]}", daemon=True).start()
        return job

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            return self._jobs.get(job_id)
