"""Content-addressed storage of registered works' bytes under the data dir.

The registry row holds the SHA-256; the bytes live at blobs/ab/abcdef....  Indexes are
rebuilt from these bytes when an extractor changes, so they are written atomically and never
modified (same content, same path).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from indexes.store import atomic_write
from screening.errors import NotFoundError


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class BlobStore:
    """Immutable content-addressed files."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)

    def path(self, digest: str) -> Path:
        return self.directory / digest[:2] / digest

    def put(self, data: bytes) -> str:
        digest = sha256_hex(data)
        path = self.path(digest)
        if not path.exists():
            atomic_write(path, data)
        return digest

    def get(self, digest: str) -> bytes:
        path = self.path(digest)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise NotFoundError(f"content {digest} is missing from the blob store {path}") \
                from None
        if sha256_hex(data) != digest:
            raise NotFoundError(f"content {digest} in {path} is damaged (checksum mismatch)")
        return data
