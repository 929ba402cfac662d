"""Taking a work's content in: the one sequence every registration follows, whatever the
work's kind (the kind's own checks come first, in the image or text side)."""

from __future__ import annotations

from screening.registry.blobs import BlobStore, sha256_hex
from screening.registry.repository import RegisterOutcome, WorkMeta, WorkRecord, WorksRegistry


def store_and_register(registry: WorksRegistry, blobs: BlobStore, meta: WorkMeta, data: bytes,
                       replace: bool = False) -> tuple[WorkRecord, RegisterOutcome]:
    """Refuse a conflict before anything is stored (a refused upload used to leave its bytes
    in the blob store), then store the bytes, then register them."""
    registry.check_registrable(meta, sha256_hex(data), replace)
    digest = blobs.put(data)
    return registry.register(meta, digest, len(data), replace=replace)


def store_and_add_reference(registry: WorksRegistry, blobs: BlobStore, parent_external_id: str,
                            data: bytes) -> tuple[WorkRecord, RegisterOutcome]:
    """The same sequence for a further reference image of a work."""
    registry.check_reference(parent_external_id)
    digest = blobs.put(data)
    return registry.add_reference(parent_external_id, digest, len(data))
