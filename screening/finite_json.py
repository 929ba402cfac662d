"""JSON with finite numbers only.

Python's `json.loads` accepts the literals `NaN`, `Infinity` and `-Infinity`, which JSON does
not have, and turns `1e999` into infinity. A NaN compares false with everything, so it passed
every `>= 0` check: a NaN jurisdiction share priced a quote at NaN (printed as the invalid
JSON `NaN`), and over HTTP the audit row refused it and the client got a 500. Request bodies
(`api.strict_json`) and the CLI's JSON inputs (screening samples) are parsed here instead.
"""

from __future__ import annotations

import json
import math
from typing import Any


class NonFiniteNumberError(ValueError):
    """A JSON text holds NaN, an infinity, or a number too large for a float."""


class _NonFinite:
    """What a non-finite number parses to, until its place in the value is known."""

    def __init__(self, text: str) -> None:
        self.text = text


def _find(value: Any, where: str) -> tuple[str, _NonFinite] | None:
    if isinstance(value, _NonFinite):
        return where, value
    items = value.items() if isinstance(value, dict) else \
        enumerate(value) if isinstance(value, list) else ()
    for key, item in items:
        found = _find(item, f"{where}.{key}" if where else str(key))
        if found:
            return found
    return None


def loads_finite(text: bytes | str, where: str = "") -> Any:
    """`json.loads` that raises NonFiniteNumberError naming the field (`where` and the path
    below it, e.g. "body.applicant.jurisdictions.CN") for NaN, Infinity, -Infinity and
    numbers that overflow to infinity."""
    seen: list[_NonFinite] = []

    def constant(name: str) -> _NonFinite:
        seen.append(_NonFinite(name))
        return seen[-1]

    def number(digits: str) -> float | _NonFinite:
        value = float(digits)
        if math.isfinite(value):
            return value
        seen.append(_NonFinite(digits[:40]))
        return seen[-1]

    value = json.loads(text, parse_constant=constant, parse_float=number)
    found = _find(value, where) if seen else None  # walked only when there is one
    if found is not None:
        place, bad = found
        what = "is not a JSON number" if bad.text in ("NaN", "Infinity", "-Infinity") \
            else "is beyond the range of a finite number"
        raise NonFiniteNumberError(f"{place + ': ' if place else ''}{bad.text} {what}; "
                                   "every number must be finite")
    return value
