"""Crash-safe persistence of feature indexes: data file + sidecar JSON, two generations kept.

Layout under the index dir, for an index named NAME:
    NAME.json               sidecar: the commit point (written last, atomically)
    NAME.<generation>.faiss data file named by its generation, never overwritten
The sidecar records the feature (extractor name, version, kind, dim), metric, build params,
count, registry revision, the data file's SHA-256, and the previous generation's entry. A save
writes the new data file (temp, fsync, rename), then the sidecar (temp, fsync, rename, fsync
dir), then deletes generations older than the previous one. A crash at any point leaves a
sidecar that names a complete file. Loading verifies the checksum; if the current data file is
damaged it falls back to the previous generation (whose older registry revision tells the
caller what to catch up), and refuses an index built with another feature or metric.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from indexes.base import PersistentIndex
from indexes.binary import BinaryHashIndex
from indexes.dense import DenseIndex
from indexes.errors import IndexCompatibilityError, IndexCorruptError
from indexes.fingerprint import FingerprintIndex
from models.base import FeatureSpec

SIDECAR_FORMAT = 1


@dataclass(frozen=True)
class LoadedIndex:
    """An index read from disk and the registry revision it reflects."""

    index: PersistentIndex
    revision: int
    generation: int
    recovered: bool  # True when the current generation was damaged and the previous one used


def index_class(spec: FeatureSpec) -> type[PersistentIndex]:
    """The index implementation for a feature kind."""
    classes: dict[str, type[PersistentIndex]] = {
        "binary": BinaryHashIndex, "dense": DenseIndex, "tokens": FingerprintIndex}
    return classes[spec.kind]


def atomic_write(path: Path, data: bytes) -> None:
    """Write data to path so that readers see the old or the new content, never a mix."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


class IndexStore:
    """Reads and writes named indexes in one directory."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)

    def sidecar_path(self, name: str) -> Path:
        return self.directory / f"{name}.json"

    def data_path(self, name: str, generation: int) -> Path:
        return self.directory / f"{name}.{generation}.faiss"

    @contextmanager
    def lock(self, name: str) -> Iterator[None]:
        """Exclusive lock for writers of one index (other processes wait)."""
        self.directory.mkdir(parents=True, exist_ok=True)
        with open(self.directory / f".{name}.lock", "a+") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def read_sidecar(self, name: str) -> dict[str, Any] | None:
        path = self.sidecar_path(name)
        if not path.exists():
            return None
        try:
            meta = json.loads(path.read_text())
            if not isinstance(meta, dict) or meta.get("format") != SIDECAR_FORMAT:
                raise ValueError("unknown sidecar format")
            return meta
        except (ValueError, OSError) as exc:
            raise IndexCorruptError(
                f"index sidecar {path} is unreadable ({exc}); run `ipscreen index rebuild`"
            ) from None

    def save(self, name: str, index: PersistentIndex, revision: int) -> int:
        """Persist index as a new generation reflecting registry `revision`; returns it."""
        data = index.serialize()
        old = self.read_sidecar(name)
        generation = (old["generation"] + 1) if old else 1
        data_file = self.data_path(name, generation)
        atomic_write(data_file, data)
        entry = {
            "generation": generation,
            "file": data_file.name,
            "sha256": hashlib.sha256(data).hexdigest(),
            "bytes": len(data),
            "count": index.ntotal,
            "works": len(index.work_ids()),
            "revision": revision,
        }
        meta = {
            "format": SIDECAR_FORMAT,
            "name": name,
            "feature": {"name": index.spec.name, "version": index.spec.version,
                        "kind": index.spec.kind, "dim": index.spec.dim},
            "metric": index.metric,
            "params": index.build_params(),
            **entry,
            "previous": _entry_of(old) if old else None,
        }
        atomic_write(self.sidecar_path(name), json.dumps(meta, indent=2).encode())
        keep = {generation, old["generation"]} if old else {generation}
        for stale in self.directory.glob(f"{name}.*.faiss"):
            gen = stale.name[len(name) + 1:-len(".faiss")]
            if gen.isdigit() and int(gen) not in keep:
                stale.unlink(missing_ok=True)
        return generation

    def load(self, name: str, spec: FeatureSpec) -> LoadedIndex | None:
        """The stored index, or None if none was ever saved. Raises on incompatibility, or
        when neither generation is intact."""
        meta = self.read_sidecar(name)
        if meta is None:
            return None
        feature = meta.get("feature", {})
        expected = {"name": spec.name, "version": spec.version, "kind": spec.kind,
                    "dim": spec.dim}
        if feature != expected:
            raise IndexCompatibilityError(
                f"index {name!r} was built with {feature}, but this configuration uses "
                f"{expected}; run `ipscreen index rebuild` to rebuild it from the registry")
        cls = index_class(spec)
        if meta.get("metric") != cls.metric:
            raise IndexCompatibilityError(
                f"index {name!r} uses metric {meta.get('metric')!r}, expected {cls.metric!r}")
        problems = []
        for entry, recovered in ((meta, False), (meta.get("previous"), True)):
            if not entry:
                continue
            try:
                index = self._read_entry(cls, spec, entry, meta.get("params", {}))
            except IndexCorruptError as exc:
                problems.append(str(exc))
                continue
            return LoadedIndex(index=index, revision=int(entry["revision"]),
                               generation=int(entry["generation"]), recovered=recovered)
        raise IndexCorruptError(
            f"index {name!r} has no intact generation ({'; '.join(problems)}); "
            "run `ipscreen index rebuild`")

    def _read_entry(self, cls: type[PersistentIndex], spec: FeatureSpec, entry: dict,
                    params: dict) -> PersistentIndex:
        path = self.directory / entry["file"]
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise IndexCorruptError(f"{path.name}: cannot read ({exc.strerror})") from None
        if hashlib.sha256(data).hexdigest() != entry["sha256"]:
            raise IndexCorruptError(f"{path.name}: checksum mismatch (damaged or half-written)")
        try:
            return cls.deserialize(spec, data, params)
        except (ValueError, RuntimeError) as exc:
            raise IndexCorruptError(f"{path.name}: cannot parse ({exc})") from None


def _entry_of(meta: dict) -> dict:
    return {k: meta[k] for k in ("generation", "file", "sha256", "bytes", "count", "works",
                                 "revision")}
