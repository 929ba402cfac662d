"""Reading a works manifest (CSV) into rows, with a precise reason for every bad row.

Columns: path, external_id, title, owner, category (required header names) and optionally
jurisdiction, registration_no. Paths are relative to the manifest's folder. Row numbers in
messages are line numbers in the file (the header is row 1).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

from screening.errors import InvalidInputError
from screening.registry.repository import WorkMeta

REQUIRED = ("path", "external_id", "title", "owner", "category")
OPTIONAL = ("jurisdiction", "registration_no")
MAX_MANIFEST_BYTES = 100 * 1024 * 1024


@dataclass(frozen=True)
class ManifestRow:
    row: int
    path: Path | None
    meta: WorkMeta | None
    error: str | None = None


def read_manifest(manifest: Path, kind: str = "image") -> list[ManifestRow]:
    """Every data row, good or bad. Raises InvalidInputError when the file as a whole is
    unusable (missing, not UTF-8, no header, missing columns)."""
    try:
        raw = manifest.read_bytes()
    except FileNotFoundError:
        raise InvalidInputError(f"{manifest}: no such manifest") from None
    except OSError as exc:
        raise InvalidInputError(f"{manifest}: cannot read ({exc.strerror})") from None
    if len(raw) > MAX_MANIFEST_BYTES:
        raise InvalidInputError(f"{manifest}: larger than {MAX_MANIFEST_BYTES} bytes")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidInputError(
            f"{manifest}: not UTF-8 (byte {exc.start}: {raw[exc.start:exc.start + 1]!r})"
        ) from None
    if "\x00" in text:
        raise InvalidInputError(f"{manifest}: contains NUL bytes; is it really a CSV file?")
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = [h.strip() for h in (reader.fieldnames or [])]
    if not header:
        raise InvalidInputError(f"{manifest}: empty manifest (no header row)")
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise InvalidInputError(
            f"{manifest}: header lacks column(s) {', '.join(missing)}; expected "
            f"{','.join(REQUIRED)} plus optional {','.join(OPTIONAL)}")
    reader.fieldnames = header
    base = manifest.parent
    rows: list[ManifestRow] = []
    seen: dict[str, int] = {}
    try:
        for record in reader:
            line = reader.line_num
            rows.append(_row(record, line, base, kind, seen))
    except csv.Error as exc:
        raise InvalidInputError(f"{manifest}: malformed CSV near row {reader.line_num}: {exc}") \
            from None
    return rows


def _row(record: dict, line: int, base: Path, kind: str, seen: dict[str, int]) -> ManifestRow:
    if None in record:
        return ManifestRow(line, None, None, "more fields than the header has columns")
    values = {k: (v or "").strip() for k, v in record.items() if k}
    if not values.get("path"):
        return ManifestRow(line, None, None, "empty path")
    ext = values.get("external_id", "")
    if not ext:
        return ManifestRow(line, None, None, "empty external_id")
    if ext in seen:
        return ManifestRow(line, None, None,
                           f"external_id {ext!r} already used on row {seen[ext]}")
    seen[ext] = line
    path = Path(values["path"])
    if not path.is_absolute():
        path = base / path
    try:
        meta = WorkMeta(external_id=ext, kind=kind,  # type: ignore[arg-type]
                        title=values.get("title", ""), owner=values.get("owner", ""),
                        category=values.get("category", ""),
                        jurisdiction=values.get("jurisdiction", ""),
                        registration_no=values.get("registration_no", "")).validated()
    except InvalidInputError as exc:
        return ManifestRow(line, path, None, str(exc))
    return ManifestRow(line, path, meta)
