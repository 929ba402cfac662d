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


def _refuse_constant(name: str) -> float:
    raise NonFiniteNumberError(f"{name} is not a JSON number; every number must be finite")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise NonFiniteNumberError(f"{text[:40]} is beyond the range of a finite number")
    return value


def loads_finite(text: bytes | str) -> Any:
    """`json.loads` that raises NonFiniteNumberError for NaN, Infinity, -Infinity and
    numbers that overflow to infinity."""
    return json.loads(text, parse_constant=_refuse_constant, parse_float=_finite_float)
