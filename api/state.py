"""What one service process holds: the writer workspace, read-only screening pipelines that
are replaced (never mutated) when the registry moves on, keys and audit, jobs, metrics.

Index updates while serving: registrations go through the writer, which saves each index as
a new immutable generation file. Every worker checks the registry revision every
`reload_interval_s` (with +-25% jitter, so workers never reload in step) and, when it has
moved, builds a complete new set of screeners from the saved indexes in a background thread
and swaps it in with one reference assignment. Requests in flight finish on the set they
started with; no request waits for a reload. A registration made through this worker wakes
its reloader at once. New works are therefore searchable within about one reload interval
plus the time to load the indexes.
"""

from __future__ import annotations

import random
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from api.settings import ApiSettings
from screening.access import AccessStore
from screening.calibration.versions import ActiveCalibrations, CalibrationStore
from screening.image.screening import ImageScreener
from screening.review.cases import CaseStore
from screening.review.sessions import SessionStore
from screening.service import Workspace
from screening.text.screening import TextScreener
from screening.underwriting.plan import RatingPlan, load_plan

#: How often the reloader deletes review cases past their retention, in seconds.
PURGE_EVERY_S = 300.0


@dataclass
class Screeners:
    """Screening pipelines over one registry revision. Built complete, then published."""

    revision: int
    workspace: Workspace
    image: dict[str, ImageScreener]
    text: TextScreener
    #: generation of each background set these screeners normalise with
    backgrounds: dict[str, int] = field(default_factory=dict)

    @classmethod
    def build(cls, settings: ApiSettings, embedder: Any) -> Screeners:
        ws = Workspace(settings, create=True, progress=False, text_embedder=embedder)
        revision = ws.registry.revision()
        # read before the screeners: a set saved meanwhile makes the next tick reload again
        backgrounds = ws.background_generations()
        image: dict[str, ImageScreener] = {p: ws.image_screener(p)
                                           for p in ws.servable_profiles()}
        if settings.default_profile not in image:
            image[settings.default_profile] = ws.image_screener(settings.default_profile)
        return cls(revision, ws, image, ws.texts.screener(), backgrounds)


@dataclass
class ServiceState:
    settings: ApiSettings
    writer: Workspace
    access: AccessStore
    plan: RatingPlan
    cases: CaseStore
    sessions: SessionStore
    calibration_store: CalibrationStore
    #: calibrators refitted from verdicts, in force (read again when a version is added)
    calibrations: ActiveCalibrations = field(default_factory=ActiveCalibrations)
    write_lock: threading.Lock = field(default_factory=threading.Lock)
    current: Screeners | None = None
    load_error: str | None = None
    stale_since: float | None = None
    embedder: Any = None  # one MiniLM session shared by every screener set
    _wake: threading.Event = field(default_factory=threading.Event)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    #: The reloader's own generator: drawing jitter from the random module's shared state
    #: would move every other user's sequence (and a seeded caller's results) in between.
    _jitter: random.Random = field(default_factory=random.Random)

    @classmethod
    def open(cls, settings: ApiSettings) -> ServiceState:
        writer = Workspace(settings, create=True, progress=False)
        engine = writer.registry.engine
        return cls(settings, writer, AccessStore(engine), load_plan(settings.plan_path),
                   CaseStore(engine, settings.review_retention_days),
                   SessionStore(engine, settings.ui_session_hours),
                   CalibrationStore(engine))

    @property
    def ready(self) -> bool:
        return self.current is not None

    def index_lag_s(self) -> float:
        return 0.0 if self.stale_since is None else time.monotonic() - self.stale_since

    def not_ready_detail(self) -> str | None:
        """Why this worker cannot serve screening yet (None when it can): still loading, or
        the last attempt failed and it is retrying."""
        if self.current is not None:
            return None
        if self.load_error is not None:
            return (f"models and indexes failed to load, retrying every "
                    f"{self.settings.reload_interval_s:g} s: {self.load_error}")
        return "models and indexes are still loading"

    def start(self) -> None:
        """Load the screeners (now, or in the background) and start the reloader."""
        self._calibrations()
        if self.settings.preload:
            self._reload()
        self._thread = threading.Thread(target=self._loop, name="ipscreen-reloader",
                                        daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self.writer.close()

    def changed(self) -> None:
        """This process changed the registry: reload now rather than at the next tick."""
        self._wake.set()

    def _loop(self) -> None:
        purged_at = 0.0
        while not self._stop.is_set():
            if time.monotonic() - purged_at > PURGE_EVERY_S:
                purged_at = time.monotonic()
                self._purge()
            self._calibrations()
            if self.current is None:
                self._reload()
            else:
                head = self.writer.registry.revision()
                if head != self.current.revision:
                    if self.stale_since is None:
                        self.stale_since = time.monotonic()
                    self._reload()
                elif self.writer.background_generations() != self.current.backgrounds:
                    self._reload()  # `ipscreen background add` while serving
            jitter = self._jitter.uniform(0.75, 1.25)
            self._wake.wait(self.settings.reload_interval_s * jitter)
            self._wake.clear()

    def recalibrated(self, result: dict, tenant: str) -> dict:
        """A result re-scored by the calibration version in force for the tenant."""
        return self.calibrations.apply(result, tenant, self.writer.thresholds)

    def _calibrations(self) -> None:
        """Read the calibration versions again when one was added or retired."""
        try:
            if self.calibration_store.stamp() != self.calibrations.stamp:
                self.calibrations = self.calibration_store.active()
        except Exception as exc:  # keep the versions in force; retry at the next tick
            print(f"ipscreen: reading calibration versions failed: {exc}", file=sys.stderr)

    def _purge(self) -> None:
        """Delete the review cases (inputs included) whose retention has ended."""
        try:
            self.cases.purge()
        except Exception as exc:  # a database hiccup must not stop the reloader
            print(f"ipscreen: purging expired review cases failed: {exc}", file=sys.stderr)

    def _reload(self) -> None:
        try:
            if self.embedder is None and self.settings.text_paraphrase:
                embedder = self.writer.texts.embedder()
                embedder.warm()  # readyz waits for the sessions, not the first request
                self.embedder = embedder
            fresh = Screeners.build(self.settings, self.embedder)
        except Exception as exc:  # keep serving the last good set; readyz reports it
            self.load_error = f"{type(exc).__name__}: {exc}"
            print(f"ipscreen: index reload failed: {self.load_error}", file=sys.stderr)
            return
        old, self.current = self.current, fresh
        self.load_error = None
        if self.writer.registry.revision() == fresh.revision:
            self.stale_since = None
        if old is not None:
            old.workspace.close()
