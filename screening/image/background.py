"""Background sets: unrelated images whose SSCD descriptors normalise a profile's scores.

SSCD's score normalisation (sscd-copy-detection, docs/Evaluation.md) subtracts a query's mean
similarity to its nearest images in a set of unrelated ones: a view that resembles many
unrelated pictures (a plain sky, a template) scores less. One set per descriptor index, kept
in the index store beside the work indexes (`background_<index>`), with the SHA-256 of each
image in a `.contents` file so that the same image is never added twice.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from indexes.base import FeatureIndex
from indexes.dense import DenseIndex
from indexes.store import IndexStore, atomic_write
from models.imaging import DecodeLimits, decode_image, is_blank, read_image_bytes
from models.runtime import ON_CPU, Runtime
from screening.errors import ImageDecodeError, InvalidInputError, IpscreenError
from screening.image.features import IndexedFeature, features_for
from screening.image.profiles import get_profile
from screening.registry.blobs import sha256_hex
from screening.registry.repository import WorksRegistry


@dataclass
class BackgroundSets:
    """The background sets of one data dir's index store."""

    store: IndexStore
    registry: WorksRegistry
    limits: DecodeLimits
    runtime: Runtime = ON_CPU

    def feature(self, profile: str) -> tuple[str, IndexedFeature] | None:
        """The background index name and descriptor feature of a profile (None: hashes only)."""
        p = get_profile(profile)
        feats = [f for f in features_for(p, self.runtime) if f.descriptor]
        return (f"background_{p.descriptor_index}", feats[0]) if feats else None

    def generations(self) -> dict[str, int]:
        """The saved generation of every background set there is (by index name): a server
        reloads when one changes, as it does when the registry revision moves."""
        out: dict[str, int] = {}
        for path in sorted(self.store.directory.glob("background_*.json")):
            try:
                meta = self.store.read_sidecar(path.stem)
            except IpscreenError:  # a damaged sidecar: loading reports it
                meta = None
            out[path.stem] = int(meta["generation"]) if meta else -1
        return out

    def load(self, profile: str) -> FeatureIndex | None:
        found = self.feature(profile)
        if found is None:
            return None
        name, feat = found
        loaded = self.store.load(name, feat.spec)
        if loaded is None:
            return None
        assert isinstance(loaded.index, FeatureIndex)
        return loaded.index

    def add(self, paths: Iterable[Path], profile: str, batch_size: int = 64,
                       on_skip: Callable[[Path, str], None] | None = None,
                       on_error: Callable[[Path, str], None] | None = None) -> int:
        """Describe unrelated images into the profile's background set (score normalisation);
        returns how many were added. An image already in the set (same bytes) or that is a
        registered work's own content is skipped (on_skip: a duplicate would weigh twice in
        the mean of the nearest background images, and a registered work there would push
        its own copies' scores down); one that cannot be read or decoded is reported
        (on_error) and the others are still added. Without on_error the first bad image
        raises, before anything is saved."""
        found = self.feature(profile)
        if found is None:
            raise InvalidInputError(f"profile {profile!r} has no descriptor to normalise")
        name, feat = found
        assert feat.descriptor is not None
        descriptor = feat.descriptor
        with self.store.lock(name):
            loaded = self.store.load(name, feat.spec)
            index = loaded.index if loaded else DenseIndex(feat.spec, "Flat")
            next_id = max(index.work_ids(), default=-1) + 1
            contents = self._contents(name, next_id)
            seen = {c for c in contents if c}
            added = 0
            batch: list[Image.Image] = []
            digests: list[str] = []
            for path in [*paths, None]:  # None flushes the last batch
                if path is not None:
                    try:
                        candidate = self._candidate(path, seen)
                    except ImageDecodeError as exc:
                        if on_error is None:
                            raise
                        on_error(path, str(exc))
                        continue
                    if isinstance(candidate, str):
                        if on_skip is not None:
                            on_skip(path, candidate)
                        continue
                    digest, image = candidate
                    seen.add(digest)
                    batch.append(image)
                    digests.append(digest)
                if batch and (path is None or len(batch) == batch_size):
                    vectors = descriptor.extract(batch)
                    index.add_new(list(range(next_id, next_id + len(batch))),
                                  [v[None, :] for v in vectors])
                    next_id += len(batch)
                    added += len(batch)
                    contents += digests
                    batch, digests = [], []
            if added:
                self.store.save(name, index, self.registry.revision())
                # after the index: at worst a later run adds an image twice, never skips one
                atomic_write(self._contents_path(name),
                             json.dumps({"sha256": contents}).encode())
        return added

    def _candidate(self, path: Path, seen: set[str]
                              ) -> tuple[str, Image.Image] | str:
        """(SHA-256, image) of a background image to add, or why it is skipped;
        ImageDecodeError naming the file if it cannot be read. Read once, decoded from the
        bytes that were hashed."""
        data = read_image_bytes(path, self.limits)
        digest = sha256_hex(data)
        if digest in seen:
            return "already in the background set"
        if works := self.registry.with_content(digest):
            return (f"is the content of registered work {works[0]} (a background image "
                    "must be unrelated to the registry)")
        try:
            image = decode_image(data, self.limits).image
        except ImageDecodeError as exc:
            raise ImageDecodeError(f"{path}: {exc}") from None
        if is_blank(image):  # a plain field says nothing about how generic a view is
            return "blank (a plain field)"
        return digest, image

    def clear(self, profile: str) -> int:
        """Remove the profile's background set (its scores are then no longer normalised);
        returns how many images it held."""
        found = self.feature(profile)
        if found is None:
            raise InvalidInputError(f"profile {profile!r} has no descriptor to normalise")
        name, feat = found
        with self.store.lock(name):
            loaded = self.store.load(name, feat.spec)
            held = loaded.index.ntotal if loaded else 0
            self.store.drop(name)
            self._contents_path(name).unlink(missing_ok=True)
        return held

    def _contents_path(self, name: str) -> Path:
        return self.store.directory / f"{name}.contents"  # not *.json: those are sidecars

    def _contents(self, name: str, count: int) -> list[str | None]:
        """The SHA-256 of each background image by id (None where unknown: a set written
        before ipscreen recorded them), `count` long."""
        path = self._contents_path(name)
        try:
            known = json.loads(path.read_text())["sha256"]
        except (OSError, ValueError, KeyError, TypeError):
            known = []
        known = [k if isinstance(k, str) else None for k in known][:count]
        return known + [None] * (count - len(known))
