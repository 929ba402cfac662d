"""Service settings: everything ipscreen's Settings has, plus the service's own limits.

Read from IPSCREEN_* environment variables by the composition root (create_app) only.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

from pydantic import Field

from screening.settings import Settings


class ApiSettings(Settings):
    """The service's own settings (also IPSCREEN_*), beside everything in Settings."""

    max_request_bytes: int = Field(
        default=64 * 1024 * 1024, ge=1024,
        description="Largest request body accepted, in bytes (HTTP 413 above).")
    max_files: int = Field(default=16, ge=1, le=1000,
                           description="Images per screening request.")
    max_texts: int = Field(default=32, ge=1, le=10_000,
                           description="Texts per screening request.")
    max_text_chars: int = Field(default=200_000, ge=100,
                                description="Characters per text in a screening request.")
    max_pending_jobs: int = Field(
        default=4, ge=1, le=1000, description="Bulk import jobs a worker holds unfinished at "
        "once (503 with Retry-After beyond).")
    max_sample: int = Field(default=100_000, ge=1,
                            description="Screening results per underwriting request.")
    store_inputs: bool = Field(
        default=False, description="Keep the screened input itself in the audit table "
        "(default: only its SHA-256).")
    review_retention_days: float = Field(
        default=30.0, ge=0, le=3650,
        description="Days a `review` decision's input is kept for the workbench's queue "
        "(`block` decisions are listed without their input); 0 keeps no cases.")
    ui_session_hours: float = Field(
        default=12.0, gt=0, le=24 * 30,
        description="How long a workbench sign-in lasts, in hours.")
    ui_secure_cookie: bool = Field(
        default=True, description="Mark the workbench's session cookie Secure (sent over "
        "HTTPS only; browsers also send it to http://localhost). Turn off only behind a "
        "proxy that terminates TLS and forwards plain HTTP on another host name.")
    #: +-25% jitter, so that workers do not all reload at once.
    reload_interval_s: float = Field(
        default=5.0, gt=0, le=3600,
        description="How often a worker checks the registry for a newer index, in seconds.")
    max_index_lag_s: float = Field(
        default=60.0, gt=0, description="/readyz answers 503 when the registry has been "
        "ahead of the loaded index this long, in seconds.")
    preload: bool = Field(
        default=True, description="Load models and indexes before serving (tests may turn "
        "it off to start at once).")
    #: Their answers show the registered work itself, so a registry that must not show its
    #: works to platforms sets "register" (or "admin"); the default lets any screening key see
    #: what it matched.
    evidence_scope: Literal["screen", "register", "underwrite", "admin"] = Field(
        default="screen", description="The scope the evidence routes need.")


@lru_cache
def get_api_settings() -> ApiSettings:
    return ApiSettings()
