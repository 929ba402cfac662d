"""Reading a works manifest (CSV or JSON Lines) into rows, with a reason for every bad row.

CSV columns: path, external_id, title, owner, category (required header names) and optionally
jurisdiction, registration_no, kind. Paths are relative to the manifest's folder. A row's kind
is its `kind` column, else its file's suffix: .txt, .text and .md are text works, anything
else an image. Row numbers in messages are line numbers in the file (the header is row 1).

JSON Lines (a .jsonl file): one object per line with external_id and either "text" (the work
itself, a text work) or "path", plus the same optional metadata fields.

A row whose `reference_of` names a work (an optional column / field; its own external_id and
metadata are left empty) adds the row's image to that work's reference images (another pose,
a model sheet), after the rows before it: list a work, then its references.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from pathlib import Path

from screening.errors import InvalidInputError
from screening.files import read_file_limited
from screening.registry.repository import WorkMeta

REQUIRED = ("path", "external_id", "title", "owner", "category")
OPTIONAL = ("jurisdiction", "registration_no", "kind", "reference_of")
TEXT_SUFFIXES = {".txt", ".text", ".md"}
META_FIELDS = ("title", "owner", "category", "jurisdiction", "registration_no")


def kind_of(path: Path) -> str:
    """A work file's kind from its suffix."""
    return "text" if path.suffix.lower() in TEXT_SUFFIXES else "image"
MAX_MANIFEST_BYTES = 100 * 1024 * 1024


@dataclass(frozen=True)
class ManifestRow:
    row: int
    path: Path | None
    meta: WorkMeta | None
    error: str | None = None
    #: The work's text itself, when a JSON Lines row carries it inline.
    text: str | None = None
    #: The work this row's image is a further reference image of.
    reference_of: str | None = None


def read_manifest(manifest: Path) -> list[ManifestRow]:
    """Every data row, good or bad. Raises InvalidInputError when the file as a whole is
    unusable (missing, not UTF-8, no header, missing columns)."""
    text = _read(manifest)
    if manifest.suffix.lower() in (".jsonl", ".ndjson"):
        return _read_jsonl(manifest, text)
    return _read_csv(manifest, text)


def _read(manifest: Path) -> str:
    if not manifest.exists():
        raise InvalidInputError(f"{manifest}: no such manifest")
    raw = read_file_limited(manifest, MAX_MANIFEST_BYTES, "a manifest")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidInputError(
            f"{manifest}: not UTF-8 (byte {exc.start}: {raw[exc.start:exc.start + 1]!r})"
        ) from None
    if "\x00" in text:
        raise InvalidInputError(f"{manifest}: contains NUL bytes; is it really a manifest?")
    return text


def _read_csv(manifest: Path, text: str) -> list[ManifestRow]:
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
            rows.append(_row(record, line, base, seen))
    except csv.Error as exc:
        raise InvalidInputError(f"{manifest}: malformed CSV near row {reader.line_num}: {exc}") \
            from None
    return rows


def _read_jsonl(manifest: Path, text: str) -> list[ManifestRow]:
    rows: list[ManifestRow] = []
    seen: dict[str, int] = {}
    for line, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            record = json.loads(raw)
        except json.JSONDecodeError as exc:
            rows.append(ManifestRow(line, None, None, f"not JSON ({exc.msg} at column "
                                                      f"{exc.colno})"))
            continue
        if not isinstance(record, dict):
            rows.append(ManifestRow(line, None, None, "not a JSON object"))
            continue
        bad = [k for k, v in record.items() if v is not None and not isinstance(v, str)]
        if bad:
            rows.append(ManifestRow(line, None, None,
                                    f"field(s) {', '.join(sorted(bad))} must be strings"))
            continue
        inline = record.get("text")
        if inline is not None:
            if record.get("path"):
                rows.append(ManifestRow(line, None, None, "give either text or path, not both"))
                continue
            record = {**record, "path": "-", "kind": record.get("kind") or "text"}
            if record["kind"] != "text":
                rows.append(ManifestRow(line, None, None, "inline text needs kind text"))
                continue
        row = _row(record, line, manifest.parent, seen)
        if inline is not None and row.meta is not None:
            row = ManifestRow(row.row, None, row.meta, None, inline)
        rows.append(row)
    return rows


def _row(record: dict, line: int, base: Path, seen: dict[str, int]) -> ManifestRow:
    if None in record:
        return ManifestRow(line, None, None, "more fields than the header has columns")
    values = {k: (v or "").strip() for k, v in record.items() if k}
    if not values.get("path"):
        return ManifestRow(line, None, None, "empty path")
    if values.get("reference_of"):
        return _reference_row(values, line, base)
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
    kind = values.get("kind") or kind_of(path)
    if kind not in ("image", "text"):
        return ManifestRow(line, path, None, f"kind must be image or text, got {kind!r}")
    try:
        meta = WorkMeta(external_id=ext, kind=kind,  # type: ignore[arg-type]
                        **{f: values.get(f, "") for f in META_FIELDS}).validated()
    except InvalidInputError as exc:
        return ManifestRow(line, path, None, str(exc))
    return ManifestRow(line, path, meta)


def _reference_row(values: dict[str, str], line: int, base: Path) -> ManifestRow:
    parent = values["reference_of"]
    if values.get("text") or values["path"] == "-":
        return ManifestRow(line, None, None, "a reference is an image file (path), not text",
                           reference_of=parent)
    given = [f for f in ("external_id", *META_FIELDS) if values.get(f)]
    if given:
        return ManifestRow(line, None, None, f"a reference row takes its work's id and "
                           f"metadata; leave {', '.join(given)} empty", reference_of=parent)
    path = Path(values["path"])
    path = path if path.is_absolute() else base / path
    if (values.get("kind") or kind_of(path)) != "image":
        return ManifestRow(line, path, None, "only image works take reference images",
                           reference_of=parent)
    return ManifestRow(line, path, None, reference_of=parent)
