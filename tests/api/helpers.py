"""What the API tests share: reading a problem+json answer, and waiting for a condition."""

from __future__ import annotations

import time

PROBLEM = "application/problem+json"


def problem(r, status: int, fragment: str = "") -> dict:  # type: ignore[no-untyped-def]
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith(PROBLEM)
    body = r.json()
    assert body["status"] == status and fragment in body["detail"]
    return body


def wait_for(pred, timeout: float = 30.0) -> None:  # type: ignore[no-untyped-def]
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return
        time.sleep(0.2)
    raise AssertionError("condition not met in time")


#: A licence with its evidence, as POST /v1/licences takes it (external_id to add).
LICENCE = {"licensor": "The Crown", "contract_ref": "KJV-LIC-7", "valid_from": "2026-01-01",
           "perpetual": True, "expires": None, "territory": ["GB", "cn"], "media": "all"}
