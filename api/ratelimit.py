"""Per-key token buckets: `rate_per_minute` requests a minute, bursts up to that many; per
process (one machine) or in the registry database (several nodes)."""

from __future__ import annotations

import math
import threading
import time

from sqlalchemy import Engine, select, update
from sqlalchemy.dialects import postgresql, sqlite

from screening.registry.models import RateBucket


class RateLimiter:
    def __init__(self) -> None:
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, last time)
        self._lock = threading.Lock()

    def take(self, key: str, rate_per_minute: int) -> float:
        """0 if the request may proceed, else the seconds until it may."""
        now = time.monotonic()
        per_s = rate_per_minute / 60.0
        with self._lock:
            tokens, last = self._buckets.get(key, (float(rate_per_minute), now))
            tokens = min(float(rate_per_minute), tokens + (now - last) * per_s)
            if tokens >= 1:
                self._buckets[key] = (tokens - 1, now)
                return 0.0
            self._buckets[key] = (tokens, now)
            return max(1.0, math.ceil((1 - tokens) / per_s))


class DatabaseRateLimiter:
    """The same buckets in the registry database (table rate_buckets), so that a key's
    limit holds across every node serving it, not per node. Each request locks its key's
    row for one short transaction; time is each node's wall clock (keep nodes on NTP)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        if engine.dialect.name not in ("postgresql", "sqlite"):
            raise ValueError(f"no shared rate limits on {engine.dialect.name}")

    def take(self, key: str, rate_per_minute: int) -> float:
        now = time.time()
        per_s = rate_per_minute / 60.0
        cap = float(rate_per_minute)
        with self.engine.begin() as conn:
            insert = (postgresql.insert if self.engine.dialect.name == "postgresql"
                      else sqlite.insert)
            conn.execute(insert(RateBucket).values(key=key, tokens=cap, updated=now)
                         .on_conflict_do_nothing(index_elements=["key"]))
            tokens, last = conn.execute(
                select(RateBucket.tokens, RateBucket.updated).where(RateBucket.key == key)
                .with_for_update()).one()
            tokens = min(cap, tokens + max(0.0, now - last) * per_s)
            wait = 0.0 if tokens >= 1 else max(1.0, math.ceil((1 - tokens) / per_s))
            conn.execute(update(RateBucket).where(RateBucket.key == key).values(
                tokens=tokens - 1 if wait == 0 else tokens, updated=max(now, last)))
        return wait


def rate_limiter(engine: Engine) -> RateLimiter | DatabaseRateLimiter:
    """Per-process buckets for an embedded SQLite registry (one machine), shared ones in
    the database for a registry that several nodes serve."""
    return RateLimiter() if engine.dialect.name == "sqlite" else DatabaseRateLimiter(engine)
