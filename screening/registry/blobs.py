"""Content-addressed storage of registered works' bytes.

The registry row holds the SHA-256; the bytes live in a blob store, written once and never
modified (same content, same key). Indexes are rebuilt from these bytes when an extractor
changes, and evidence sheets show them, so every node that screens against a registry must
read the same store:

- `DirectoryBlobStore`: files at blobs/ab/abcdef... under the data dir, written atomically.
  The embedded default (a SQLite registry): one machine, one data dir.
- `DatabaseBlobStore`: a `contents` table in the registry database itself, so that several
  service nodes with data dirs of their own, on one PostgreSQL registry, all read what any of
  them registered. Content a node stored in its directory before it shared the database is
  still read from there, and copied into the database the first time it is read.

`open_blob_store` picks one from the CONTENT_STORE setting ("auto": the database when the
registry is not SQLite).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from sqlalchemy import Engine, insert, select
from sqlalchemy.exc import IntegrityError

from indexes.store import atomic_write
from screening.errors import NotFoundError
from screening.registry.models import Content


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class BlobStore:
    """Immutable content-addressed bytes: put returns the SHA-256, get verifies it."""

    where = "blob store"

    def put(self, data: bytes) -> str:
        raise NotImplementedError

    def _read(self, digest: str) -> bytes | None:
        raise NotImplementedError

    def contains(self, digest: str) -> bool:
        return self._read(digest) is not None

    def get(self, digest: str) -> bytes:
        data = self._read(digest)
        if data is None:
            raise NotFoundError(f"content {digest} is missing from the {self.where}")
        if sha256_hex(data) != digest:
            raise NotFoundError(f"content {digest} in the {self.where} is damaged "
                                "(checksum mismatch)")
        return data


class DirectoryBlobStore(BlobStore):
    """Files under one directory, two hex digits of fan-out."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self.where = f"blob store {self.directory}"

    def path(self, digest: str) -> Path:
        return self.directory / digest[:2] / digest

    def put(self, data: bytes) -> str:
        digest = sha256_hex(data)
        path = self.path(digest)
        if not path.exists():
            atomic_write(path, data)
        return digest

    def contains(self, digest: str) -> bool:
        return self.path(digest).is_file()

    def _read(self, digest: str) -> bytes | None:
        try:
            return self.path(digest).read_bytes()
        except FileNotFoundError:
            return None


class DatabaseBlobStore(BlobStore):
    """Rows of the registry database's `contents` table, shared by every node.

    A put commits before the work's registration that names it, so a node that sees the
    registration can always read its content. `legacy` is the directory a node used before
    its content moved into the database: read from there (and copied over) when a digest is
    not yet in the table."""

    where = "registry database's contents table"

    def __init__(self, engine: Engine, legacy: DirectoryBlobStore | None = None) -> None:
        self.engine = engine
        self.legacy = legacy

    def put(self, data: bytes) -> str:
        digest = sha256_hex(data)
        if self._stored(digest):  # a cheap check spares sending the bytes again
            return digest
        try:
            with self.engine.begin() as conn:
                conn.execute(insert(Content).values(sha256=digest, size=len(data), data=data))
        except IntegrityError:  # another node stored the same bytes meanwhile
            pass
        return digest

    def _stored(self, digest: str) -> bool:
        with self.engine.connect() as conn:
            return conn.execute(select(Content.size).where(Content.sha256 == digest)
                                ).first() is not None

    def contains(self, digest: str) -> bool:
        return self._stored(digest) or (self.legacy is not None
                                        and self.legacy.contains(digest))

    def _read(self, digest: str) -> bytes | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(Content.data).where(Content.sha256 == digest)).first()
        if row is not None:
            return bytes(row[0])
        if self.legacy is None:
            return None
        data = self.legacy._read(digest)
        if data is not None and sha256_hex(data) == digest:
            self.put(data)  # the other nodes can read it from now on
        return data


def open_blob_store(choice: str, engine: Engine, data_dir: Path) -> BlobStore:
    """The blob store a CONTENT_STORE setting names: "directory", "database" or "auto"
    (the database for a shared registry such as PostgreSQL, the data dir for SQLite)."""
    directory = DirectoryBlobStore(Path(data_dir) / "blobs")
    if choice == "auto":
        choice = "directory" if engine.dialect.name == "sqlite" else "database"
    if choice == "database":
        return DatabaseBlobStore(engine, legacy=directory)
    return directory
