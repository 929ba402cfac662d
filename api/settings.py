"""Service settings: everything ipscreen's Settings has, plus the service's own limits.

Read from IPSCREEN_* environment variables by the composition root (create_app) only.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

from pydantic import Field

from screening.settings import Settings


class ApiSettings(Settings):
    #: Largest request body accepted, in bytes (HTTP 413 above).
    max_request_bytes: int = Field(default=64 * 1024 * 1024, ge=1024)
    #: Images per screening request.
    max_files: int = Field(default=16, ge=1, le=1000)
    #: Texts per screening request, and characters per text.
    max_texts: int = Field(default=32, ge=1, le=10_000)
    max_text_chars: int = Field(default=200_000, ge=100)
    #: Bulk import jobs a worker holds unfinished at once (503 with Retry-After beyond).
    max_pending_jobs: int = Field(default=4, ge=1, le=1000)
    #: Results per underwriting request.
    max_sample: int = Field(default=100_000, ge=1)
    #: Default requests per minute for new API keys.
    default_rate_per_minute: int = Field(default=600, ge=1)
    #: Keep the screened input itself in the audit table (default: only its SHA-256).
    store_inputs: bool = False
    #: How often a worker checks the registry for a newer index (seconds; +-25% jitter so
    #: workers do not all reload at once).
    reload_interval_s: float = Field(default=5.0, gt=0, le=3600)
    #: /readyz answers 503 when the registry has been ahead of the loaded index this long.
    max_index_lag_s: float = Field(default=60.0, gt=0)
    #: Load models and indexes before serving (tests may turn it off to start instantly).
    preload: bool = True
    #: The scope the evidence routes need. Their answers show the registered work itself,
    #: so a registry that must not show its works to platforms sets "register" (or
    #: "admin"); the default lets any screening key see what it matched.
    evidence_scope: Literal["screen", "register", "underwrite", "admin"] = "screen"


@lru_cache
def get_api_settings() -> ApiSettings:
    return ApiSettings()
