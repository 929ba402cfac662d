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

    def error(self, row: dict) -> None:
        self.failed += 1
        if len(self.errors) < KEPT_ROWS:
            self.errors.append(row)

    def note(self, row: dict) -> None:
        if len(self.notes) < KEPT_ROWS:
            self.notes.append(row)

    def public(self) -> dict:
        return {"id": self.id, "kind": self.kind, "status": self.status, "total": self.total,
                "done": self.done, "failed": self.failed, "outcomes": self.outcomes,
                "errors": self.errors[:100], "notes": self.notes[:100],
                "detail": self.detail}


#: Errors and notes a job keeps (its counts go on; the job's answer shows the first 100).
KEPT_ROWS = 1000


class JobsBusy(Exception):
    """This worker already has as many unfinished jobs as it takes (HTTP 503)."""

    def __init__(self, pending: int) -> None:
        super().__init__(f"this worker already has {pending} import jobs queued or running "
                         "(setting IPSCREEN_MAX_PENDING_JOBS); retry when one has finished")


class JobStore:
    """Jobs of one worker. At most `max_pending` unfinished at once (each holds its upload
    and a thread, and imports run one at a time behind the registry's write lock, so more
    would only pile up), and the latest `max_kept` finished ones are remembered."""

    def __init__(self, max_pending: int = 4, max_kept: int = 1000) -> None:
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()
        self.max_pending, self.max_kept = max_pending, max_kept

    def start(self, kind: str, work: Callable[[Job], None]) -> Job:
        job = Job(uuid.uuid4().hex, kind)
        with self._lock:
            pending = sum(j.status in ("queued", "running") for j in self._jobs.values())
            if pending >= self.max_pending:
                raise JobsBusy(pending)
            finished = [k for k, j in self._jobs.items() if j.status in ("done", "failed")]
            for k in finished[:max(0, len(finished) - self.max_kept + 1)]:
                del self._jobs[k]  # oldest first: dicts keep insertion order
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
