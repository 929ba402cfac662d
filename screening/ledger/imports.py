"""Policies and claims from CSV: an insurer's existing book, or a bordereau from a broker.

One row per policy or claim, columns named as the fields (docs/reference/ledger.md). An
import is all or nothing: every row is validated first and the errors, by row number, are
reported together; nothing is written unless every row is good.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from screening.errors import InvalidInputError
from screening.files import read_file_limited
from screening.ledger.records import ClaimIn, PolicyIn, parse

T = TypeVar("T")
MAX_CSV_BYTES = 256 * 1024 * 1024
MAX_ERRORS = 20
SUMMARY = ("annual_outputs", "outputs", "expected_hits", "hit_rate", "expected_claims",
           "expected_loss")
POLICY_COLUMNS = ("policy_no", "applicant", "plan_id", "plan_version", "currency", "limit",
                  "premium", "period_start", "hit_rate", "expected_claims", "expected_loss")
CLAIM_COLUMNS = ("claim_no", "policy_no", "loss_date")


def _rows(path: Path, required: tuple[str, ...]) -> list[tuple[int, dict[str, str]]]:
    data = read_file_limited(path, MAX_CSV_BYTES, "a CSV file")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InvalidInputError(f"{path}: not UTF-8 text") from None
    try:
        reader = csv.DictReader(io.StringIO(text, newline=""))
        header = reader.fieldnames or []
        missing = [c for c in required if c not in header]
        if missing:
            raise InvalidInputError(f"{path}: missing column(s) {', '.join(missing)}")
        rows = [(n, {k: (v or "").strip() for k, v in row.items() if k is not None})
                for n, row in enumerate(reader, start=2)]
    except csv.Error as exc:
        raise InvalidInputError(f"{path}: not a readable CSV file ({exc})") from None
    if not rows:
        raise InvalidInputError(f"{path}: no rows")
    return rows


def _pairs(text: str, what: str) -> dict[str, float]:
    """'CN:0.7 US:0.3' -> {'CN': 0.7, 'US': 0.3}."""
    out = {}
    for item in text.split():
        code, _, share = item.partition(":")
        try:
            out[code] = float(share)
        except ValueError:
            raise InvalidInputError(f"{what}: {item!r} is not CODE:SHARE") from None
    return out


def _collect(path: Path, rows: list[tuple[int, dict[str, str]]],
             build: Callable[[dict[str, str], str], T]) -> list[T]:
    good, errors = [], []
    for n, row in rows:
        try:
            good.append(build(row, f"{path}: row {n}"))
        except InvalidInputError as exc:
            errors.append(str(exc))
    if errors:
        more = f" (and {len(errors) - MAX_ERRORS} more)" if len(errors) > MAX_ERRORS else ""
        raise InvalidInputError("; ".join(errors[:MAX_ERRORS]) + more + "; nothing imported")
    return good


def read_policies(path: Path) -> list[PolicyIn]:
    def build(row: dict[str, str], where: str) -> PolicyIn:
        summary: dict = {k: row[k] for k in SUMMARY if row.get(k)}
        if row.get("jurisdictions"):
            summary["jurisdictions"] = _pairs(row["jurisdictions"], f"{where}: jurisdictions")
        if row.get("owners"):
            summary["owners"] = _pairs(row["owners"], f"{where}: owners")
        if row.get("controls"):
            summary["controls"] = row["controls"].split()
        mix = {c: row[c] for c in ("severe", "major", "minor") if row.get(c)}
        if mix:
            summary["severity_mix"] = mix
        fields = {k: v for k, v in row.items() if v and k not in SUMMARY and k not in (
            "jurisdictions", "owners", "controls", "severe", "major", "minor")}
        return parse(PolicyIn, {**fields, "summary": summary}, where)

    return _collect(path, _rows(path, POLICY_COLUMNS), build)


def read_claims(path: Path) -> list[ClaimIn]:
    def build(row: dict[str, str], where: str) -> ClaimIn:
        return parse(ClaimIn, {k: v for k, v in row.items() if v}, where)

    return _collect(path, _rows(path, CLAIM_COLUMNS), build)
