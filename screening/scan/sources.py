"""What a scan screens: the items of a folder tree, a manifest, or WebDataset-style tar
shards, listed once into the scan's own `items.parquet` (so that a resumed run sees the same
items in the same order) and read one by one by the screening workers.

An item is one image or one text:
- a folder: every file with an image or text suffix, walked recursively in sorted order;
- a manifest (.csv, .jsonl / .ndjson, .parquet): one row per item with `path` (or `url`,
  file:// only: a scan never fetches from the network), optionally `id`, `kind` (image /
  text) and `text` (the text itself, inline);
- tar shards (a .tar file, or a folder of them): every member with an image or text suffix;
  members are read in place (offset and size), never unpacked.
A bad row is still an item: it becomes a result row with its error, never a failed scan.
"""

from __future__ import annotations

import csv
import json
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlparse

import pyarrow as pa
import pyarrow.parquet as pq

from screening.errors import InvalidInputError
from screening.inputs import IMAGE_SUFFIXES
from screening.registry.manifest import TEXT_SUFFIXES

MANIFEST_SUFFIXES = {".csv", ".jsonl", ".ndjson", ".parquet"}
#: Columns of items.parquet (and of what a worker is handed).
ITEM_SCHEMA = pa.schema([
    ("index", pa.int64()), ("item", pa.string()), ("kind", pa.string()),
    ("path", pa.string()), ("offset", pa.int64()), ("size", pa.int64()),
    ("text", pa.string()), ("error", pa.string())])


@dataclass
class Item:
    item: str            # the id reported for it
    kind: str            # image | text
    path: str = ""       # the file, or the tar shard holding it
    offset: int = -1     # a tar member's data offset in the shard (-1: a whole file)
    size: int = -1
    text: str | None = None   # inline text from a manifest
    error: str | None = None  # why it cannot be screened (kept as its result)


def kind_of(name: str) -> str | None:
    suffix = Path(name).suffix.lower()
    return "image" if suffix in IMAGE_SUFFIXES else "text" if suffix in TEXT_SUFFIXES \
        else None


def iter_items(source: Path) -> Iterator[Item]:
    """The items of a folder, a manifest or tar shards (see the module's docstring)."""
    if not source.exists():
        raise InvalidInputError(f"{source}: no such file or folder")
    if source.is_dir():
        for child in sorted(source.rglob("*")):
            if child.is_dir():
                continue
            if child.suffix.lower() == ".tar":
                yield from _tar_items(child, source)
            elif (kind := kind_of(child.name)) is not None:
                yield Item(str(child.relative_to(source)), kind, str(child))
        return
    suffix = source.suffix.lower()
    if suffix == ".tar":
        yield from _tar_items(source, source.parent)
    elif suffix in MANIFEST_SUFFIXES:
        yield from _manifest_items(source)
    else:
        raise InvalidInputError(
            f"{source}: not a folder, a manifest ({', '.join(sorted(MANIFEST_SUFFIXES))}) or "
            "a .tar shard")


def _tar_items(shard: Path, root: Path) -> Iterator[Item]:
    label = str(shard.relative_to(root)) if shard != root else shard.name
    try:
        with tarfile.open(shard, "r:") as tar:  # uncompressed: members are read in place
            for member in tar:
                if member.isfile() and (kind := kind_of(member.name)) is not None:
                    yield Item(f"{label}/{member.name}", kind, str(shard),
                               member.offset_data, member.size)
    except (tarfile.TarError, OSError) as exc:
        yield Item(label, "image", str(shard), error=f"unreadable tar shard: {exc}")


def _rows(manifest: Path) -> Iterator[tuple[int, dict]]:
    suffix = manifest.suffix.lower()
    try:
        if suffix == ".csv":
            with manifest.open(newline="", encoding="utf-8") as f:
                for n, row in enumerate(csv.DictReader(f), start=2):
                    yield n, row
        elif suffix == ".parquet":
            n = 0
            for batch in pq.ParquetFile(manifest).iter_batches(batch_size=4096):
                for row in batch.to_pylist():
                    n += 1
                    yield n, row
        else:
            with manifest.open(encoding="utf-8") as f:
                for n, line in enumerate(f, start=1):
                    if not line.strip():
                        continue
                    try:
                        row = json.loads(line)
                    except json.JSONDecodeError as exc:
                        yield n, {"_error": f"not JSON ({exc.msg})"}
                        continue
                    yield n, row if isinstance(row, dict) else {"_error": "not an object"}
    except UnicodeDecodeError:
        raise InvalidInputError(f"{manifest}: not UTF-8") from None
    except (OSError, pa.ArrowException) as exc:
        raise InvalidInputError(f"{manifest}: cannot read it: {exc}") from None


def _manifest_items(manifest: Path) -> Iterator[Item]:
    base = manifest.parent
    for n, row in _rows(manifest):
        ident = str(row.get("id") or row.get("path") or row.get("url") or f"row {n}")
        if "_error" in row:
            yield Item(f"row {n}", "text", error=f"{manifest.name} row {n}: {row['_error']}")
            continue
        text, where = row.get("text"), row.get("path") or row.get("url")
        kind = row.get("kind") or (kind_of(str(where)) if where else "text" if text else None)
        if kind not in ("image", "text"):
            yield Item(ident, "image", error=f"{manifest.name} row {n}: no kind (give "
                       "'kind' image or text, or a path with a known suffix)")
            continue
        if text is not None and kind == "text":
            yield Item(ident, "text", text=str(text))
            continue
        if not where:
            yield Item(ident, kind, error=f"{manifest.name} row {n}: no 'path', 'url' or "
                       "'text'")
            continue
        path, error = _local_path(str(where), base)
        yield Item(ident, kind, str(path) if path else "", error=error)


def _local_path(where: str, base: Path) -> tuple[Path | None, str | None]:
    parsed = urlparse(where)
    if parsed.scheme in ("", "file") or len(parsed.scheme) == 1:  # C:\... on Windows
        p = Path(unquote(parsed.path)) if parsed.scheme == "file" else Path(where)
        return (p if p.is_absolute() else base / p), None
    return None, f"{where}: only local files (a path or a file:// URL); a scan fetches nothing"


def read_item(row: dict) -> bytes | str:
    """An item's content: its bytes (a file or a tar member) or its inline text."""
    if row.get("text") is not None:
        return str(row["text"])
    path = Path(row["path"])
    if row.get("offset", -1) >= 0:
        with path.open("rb") as f:
            f.seek(row["offset"])
            data = f.read(row["size"])
        if len(data) != row["size"]:
            raise OSError(f"{path} ends inside this member (truncated shard)")
        return data
    return path.read_bytes()


def write_listing(items: Iterator[Item], out: Path, chunk: int = 65_536) -> int:
    """Write every item to `out` (Parquet, ITEM_SCHEMA, in chunks: flat memory whatever the
    count); returns how many."""
    n = 0
    with pq.ParquetWriter(out, ITEM_SCHEMA) as writer:
        rows: list[dict] = []
        for it in items:
            rows.append({"index": n, "item": it.item, "kind": it.kind, "path": it.path,
                         "offset": it.offset, "size": it.size, "text": it.text,
                         "error": it.error})
            n += 1
            if len(rows) >= chunk:
                writer.write_table(pa.Table.from_pylist(rows, ITEM_SCHEMA))
                rows = []
        if rows or n == 0:
            writer.write_table(pa.Table.from_pylist(rows, ITEM_SCHEMA))
    return n


__all__ = ["ITEM_SCHEMA", "Item", "iter_items", "read_item", "write_listing"]
