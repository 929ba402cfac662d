"""The one code path behind every door: the CLI (and the API) call these functions only.

A Workspace is one data dir: registry database, blob store, index store, and the image
indexes kept current. It is cheap to open; models load on first use.
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image

from indexes.base import FeatureIndex
from indexes.store import IndexStore
from models.base import SentenceEmbedder
from models.imaging import DecodeLimits, decode_image, is_blank, read_image_bytes
from screening.decision import Thresholds
from screening.errors import (
    DataDirError,
    ImageDecodeError,
    InvalidInputError,
    IpscreenError,
    NotFoundError,
)
from screening.image.background import BackgroundSets
from screening.image.cascade import CascadeScreener
from screening.image.character import DerivativeRule
from screening.image.features import IndexedFeature, features_for
from screening.image.indexes import ImageIndexes
from screening.image.profiles import PROFILES, get_profile
from screening.image.screening import ImageResult, ImageScreener
from screening.registry.blobs import open_blob_store, sha256_hex
from screening.registry.database import open_engine
from screening.registry.intake import store_and_add_reference, store_and_register
from screening.registry.manifest import read_manifest
from screening.registry.repository import (
    INDEXED_OUTCOMES,
    RegisterOutcome,
    WorkMeta,
    WorkRecord,
    WorksRegistry,
)
from screening.settings import Settings
from screening.text.screening import TextResult
from screening.text.service import TextSide


@dataclass
class RowOutcome:
    row: int
    external_id: str
    outcome: str  # created | unchanged | replaced | reactivated | updated | error
    error: str | None = None
    #: For an unchanged row whose metadata differs from the registry's: which fields.
    note: str | None = None


@dataclass
class ImportReport:
    rows: list[RowOutcome] = field(default_factory=list)

    @property
    def failed(self) -> list[RowOutcome]:
        return [r for r in self.rows if r.outcome == "error"]


def prepare_data_dir(path: Path, create: bool) -> Path:
    """Check (and if asked, create) the data dir; DataDirError says what is wrong."""
    path = Path(path).expanduser()
    if path.exists() and not path.is_dir():
        raise DataDirError(f"data dir {path} exists but is not a directory")
    if not path.exists():
        if not create:
            raise DataDirError(
                f"data dir {path} does not exist; register works first (ipscreen works add / "
                "works import) or pass --data-dir")
        try:
            path.mkdir(parents=True)
        except OSError as exc:
            raise DataDirError(f"cannot create data dir {path}: {exc.strerror}") from None
    if create and not os.access(path, os.W_OK):
        raise DataDirError(f"data dir {path} is not writable")
    return path


#: Why a row naming a file is refused in an import that must carry its texts inline.
INLINE_ONLY = ('a "path" names a file on the server, which an import over HTTP may not read: '
               'give the text inline ("text"), or register files with POST /v1/works')


class Workspace:
    """Registry + blobs + indexes of one data dir."""

    def __init__(self, settings: Settings, create: bool = False, progress: bool = True,
                 text_embedder: SentenceEmbedder | None = None) -> None:
        self.settings = settings
        self.data_dir = prepare_data_dir(settings.data_dir, create)
        self.registry = WorksRegistry(open_engine(settings.resolved_database_url))
        self.blobs = open_blob_store(settings.content_store, self.registry.engine,
                                     self.data_dir)
        self.store = IndexStore(self.data_dir / "indexes")
        self.limits = DecodeLimits(settings.max_image_bytes, settings.max_image_pixels)
        self.progress = progress
        self.images = ImageIndexes(self.store, self.registry, self.blobs, progress=progress,
                                   kind="image", dense_factory=settings.dense_factory,
                                   auto_exact_vectors=settings.auto_exact_vectors,
                                   limits=self.limits, search=settings.search_params)
        self.thresholds = Thresholds(settings.block_threshold, settings.review_threshold,
                                     settings.report_threshold)
        self.texts = TextSide(settings, self.data_dir, self.registry, self.blobs, self.store,
                              self.thresholds, progress, text_embedder)
        self.backgrounds = BackgroundSets(self.store, self.registry, self.limits,
                                          settings.runtime)
        self._aspects: dict[int, float | None] = {}

    def close(self) -> None:
        """Release database connections (long-lived servers and tests call this)."""
        self.registry.engine.dispose()

    # -- registry ---------------------------------------------------------------------------
    def register_image(self, meta: WorkMeta, data: bytes, replace: bool = False,
                       sync: bool = True) -> tuple[WorkRecord, RegisterOutcome]:
        """Validate, store and register an image work; indexes catch up unless sync=False."""
        # refuse what we could never index, before any write
        if is_blank(decode_image(data, self.limits).image):
            raise InvalidInputError("image is blank (a plain field): nothing to register")
        record, outcome = store_and_register(self.registry, self.blobs, meta, data, replace)
        if sync and outcome in INDEXED_OUTCOMES:
            self.sync_indexes()
        return record, outcome

    def add_reference(self, external_id: str, data: bytes, sync: bool = True
                      ) -> tuple[WorkRecord, RegisterOutcome]:
        """Add a further reference image (another pose, a model sheet) to image work
        `external_id`; it is indexed under the work (see registry/references.py)."""
        if is_blank(decode_image(data, self.limits).image):
            raise InvalidInputError("image is blank (a plain field): nothing to register")
        record, outcome = store_and_add_reference(self.registry, self.blobs, external_id, data)
        if sync and outcome in INDEXED_OUTCOMES:
            self.sync_indexes()
        return record, outcome

    def register_text(self, meta: WorkMeta, text: str, replace: bool = False,
                      sync: bool = True) -> tuple[WorkRecord, RegisterOutcome]:
        """Validate, store and register a text work; indexes catch up unless sync=False."""
        return self.texts.register(meta, text, replace, sync)

    def register_file(self, meta: WorkMeta, path: Path, replace: bool = False,
                      sync: bool = True) -> tuple[WorkRecord, RegisterOutcome]:
        """Register a work read from a file of its kind (meta.kind)."""
        if meta.kind == "text":
            return self.register_text(meta, self.texts.read(path), replace, sync)
        data = read_image_bytes(path, self.limits)  # its errors already name the file
        try:
            return self.register_image(meta, data, replace, sync)
        except ImageDecodeError as exc:
            raise ImageDecodeError(f"{path}: {exc}") from None

    def import_manifest(self, manifest: Path, replace: bool = False,
                        on_row: Callable[[RowOutcome], None] | None = None,
                        on_rows: Callable[[int], None] | None = None,
                        inline_only: bool = False) -> ImportReport:
        """Register every good row of a CSV or JSON Lines manifest; bad rows are reported
        with their reason and the others still import. Indexes catch up once at the end.
        on_rows hears how many rows the manifest has before the first is registered.
        inline_only refuses rows that name a file (`path`): a manifest that arrives over the
        network must not make this machine read its own files into the registry."""
        report = ImportReport()
        rows = read_manifest(manifest)
        if on_rows:
            on_rows(len(rows))
        for row in rows:
            ext = row.meta.external_id if row.meta else (row.reference_of or "")
            if row.reference_of is not None and row.error is None and row.path is not None:
                outcome = self._import_reference(row.row, row.reference_of, row.path,
                                                 inline_only)
            elif row.error is not None or row.meta is None:
                outcome = RowOutcome(row.row, ext, "error", row.error or "invalid row")
            elif inline_only and row.text is None:
                outcome = RowOutcome(row.row, ext, "error", INLINE_ONLY)
            else:
                try:
                    if row.text is not None:
                        record, result = self.register_text(row.meta, row.text, replace,
                                                            sync=False)
                    else:
                        assert row.path is not None
                        record, result = self.register_file(row.meta, row.path, replace,
                                                            sync=False)
                    differs = (row.meta.validated().differs(record)
                               if result == "unchanged" else [])
                    note = (f"same content, registered with another {', '.join(differs)}; "
                            "kept the registry's (--replace updates it)" if differs else None)
                    if result in INDEXED_OUTCOMES:
                        note = note or self.twin_note(record)
                    outcome = RowOutcome(row.row, ext, result, note=note)
                except (IpscreenError, ImageDecodeError) as exc:
                    outcome = RowOutcome(row.row, ext, "error", str(exc))
            report.rows.append(outcome)
            if on_row:
                on_row(outcome)
        # Not only the kinds this run changed: rows an earlier, interrupted run committed are
        # "unchanged" now, and their indexes must still be brought up to date.
        self.catch_up()
        return report

    def _import_reference(self, row: int, parent: str, path: Path, inline_only: bool
                          ) -> RowOutcome:
        if inline_only:
            return RowOutcome(row, parent, "error", INLINE_ONLY)
        try:
            data = read_image_bytes(path, self.limits)  # its errors already name the file
            try:
                record, result = self.add_reference(parent, data, sync=False)
            except ImageDecodeError as exc:
                raise ImageDecodeError(f"{path}: {exc}") from None
        except (IpscreenError, ImageDecodeError) as exc:
            return RowOutcome(row, parent, "error", str(exc))
        return RowOutcome(row, parent, result, note=f"reference image {record.external_id}")

    def twin_note(self, record: WorkRecord) -> str | None:
        """A note when other active works have this one's content: a registry operator
        usually wants one registration per work, and copies will match all of them."""
        twins = self.registry.same_content(record)
        if not twins:
            return None
        return (f"the same content is also registered as {', '.join(twins)}; copies will "
                "match each of them")

    def update(self, external_id: str, **fields: str) -> tuple[WorkRecord, list[str]]:
        """Correct a work's metadata; indexes are untouched (see WorksRegistry.update)."""
        return self.registry.update(external_id, **fields)

    def withdraw(self, external_id: str, reason: str = "") -> WorkRecord:
        record = self.registry.withdraw(external_id, reason)
        self._sync_kinds({record.kind})
        return record

    def withdraw_many(self, external_ids: Iterable[str], reason: str = ""
                      ) -> list[WorkRecord | IpscreenError]:
        """Withdraw several works, each on its own (an unknown id is reported, the others
        are still withdrawn); the indexes catch up once at the end."""
        out: list[WorkRecord | IpscreenError] = []
        for ext in external_ids:
            try:
                out.append(self.registry.withdraw(ext, reason))
            except IpscreenError as exc:
                out.append(exc)
        self._sync_kinds({r.kind for r in out if isinstance(r, WorkRecord)})
        return out

    def _sync_kinds(self, kinds: set[str]) -> None:
        if "image" in kinds:
            self.sync_indexes()
        if "text" in kinds:
            self.texts.sync()

    # -- indexes ----------------------------------------------------------------------------
    def _features(self, profiles: Iterable[str]) -> list[IndexedFeature]:
        seen: dict[str, IndexedFeature] = {}
        for name in profiles:
            p = get_profile(name)
            stages = [p] if p.first_stage is None else [get_profile(p.first_stage), p]
            for stage in stages:
                for f in features_for(stage, self.settings.runtime):
                    seen.setdefault(f.index_name, f)
        return list(seen.values())

    def servable_profiles(self) -> list[str]:
        """Profiles whose every index is maintained (a cascade needs both of its stages')."""
        kept = {f.index_name for f in self._features(self.settings.maintained_profiles)}
        return [name for name in PROFILES
                if {f.index_name for f in self._features([name])} <= kept]

    def sync_indexes(self, profiles: Iterable[str] | None = None) -> None:
        self.images.current(self._features(profiles or self.settings.maintained_profiles))

    def index_states(self) -> dict[str, tuple[str, int | None]]:
        """Every maintained index (each maintained profile's, and the text ones) with its
        state ("current", "behind", "missing", "incompatible") and the revision it reflects."""
        out = {f.index_name: self.images.state(f)
               for f in self._features(self.settings.maintained_profiles)}
        if self.registry.revision("text"):  # (naming the text features loads the tokenizer)
            out.update((f.index_name, self.texts.indexes.state(f))
                       for f in self.texts.features())
        return out

    def catch_up(self) -> list[str]:
        """Bring every maintained index that is missing or behind up to the registry (only
        those: an index already current is not even loaded); returns their names. A run
        killed after its registrations committed but before its indexes caught up leaves
        them behind, and the next import finds every row unchanged."""
        images = self.images.behind(self._features(self.settings.maintained_profiles))
        if images:
            self.images.current(images)
        texts = (self.texts.indexes.behind(self.texts.features())
                 if self.registry.revision("text") else [])
        if texts:
            self.texts.sync()
        return [f.index_name for f in images] + [f.index_name for f in texts]

    def rebuild_indexes(self, profiles: Iterable[str] | None = None) -> dict[str, int]:
        return self.images.rebuild(self._features(profiles or self.settings.maintained_profiles))

    # -- background sets (score normalisation) ---------------------------------------------
    def background_generations(self) -> dict[str, int]:
        return self.backgrounds.generations()

    def background(self, profile: str) -> FeatureIndex | None:
        return self.backgrounds.load(profile)

    def add_background(self, paths: Iterable[Path], profile: str, batch_size: int = 64,
                       on_skip: Callable[[Path, str], None] | None = None,
                       on_error: Callable[[Path, str], None] | None = None) -> int:
        """See BackgroundSets.add."""
        return self.backgrounds.add(paths, profile, batch_size, on_skip, on_error)

    def clear_background(self, profile: str) -> int:
        return self.backgrounds.clear(profile)

    # -- screening --------------------------------------------------------------------------
    def work_aspect(self, work_id: int) -> float | None:
        """Width / height of a registered image work as it was indexed (EXIF orientation
        applied), read from its stored file's header and remembered; None if unknown."""
        if work_id in self._aspects:
            return self._aspects[work_id]
        record = self.registry.by_ids([work_id]).get(work_id)
        aspect = None
        if record is not None and record.kind == "image":
            try:
                with Image.open(io.BytesIO(self.blobs.get(record.content_sha256))) as im:
                    w, h = im.size
                    if im.getexif().get(0x0112, 1) in (5, 6, 7, 8):  # stored on its side
                        w, h = h, w
                aspect = w / h if w > 0 and h > 0 else None
            except (OSError, ValueError, Image.DecompressionBombError, NotFoundError):
                aspect = None
        if len(self._aspects) >= 200_000:  # bounded, whatever the registry's size
            self._aspects.clear()
        self._aspects[work_id] = aspect
        return aspect

    def image_screener(self, profile: str | None = None, use_background: bool = True
                       ) -> ImageScreener:
        p = get_profile(profile or self.settings.default_profile)
        features = features_for(p, self.settings.runtime)
        # every maintained profile catches up, not only the one screened: an index left
        # missing by an interrupted run stayed missing until something else touched it
        behind = self.images.behind(self._features(self.settings.maintained_profiles))
        if behind:
            self.images.current(behind)
        indexes = self.images.current(features)
        bg = self.background(p.name) if use_background else None
        if p.first_stage is not None:
            first = self.image_screener(p.first_stage, use_background)
            return CascadeScreener(p, features, indexes, self.registry, self.thresholds,
                                   first, bg, max_matches=self.settings.max_matches,
                                   index_revision=first.versions["index_revision"],
                                   work_aspect=self.work_aspect,
                                   derivative_rule=self.derivative_rule)
        return ImageScreener(p, features, indexes, self.registry, self.thresholds, bg,
                             max_matches=self.settings.max_matches,
                             index_revision=self.registry.revision(),
                             work_aspect=self.work_aspect, derivative_rule=self.derivative_rule)

    @property
    def derivative_rule(self) -> DerivativeRule:
        s = self.settings
        return DerivativeRule(frozenset(c.strip().lower() for c in s.derivative_categories),
                              s.derivative_review_threshold, s.derivative_block_threshold)

    def screen_images(self, paths: Iterable[Path], profile: str | None = None
                      ) -> Iterator[ImageResult]:
        return self.image_screener(profile).screen_paths(paths, self.limits)

    def screen_texts(self, inputs: Iterable[tuple[str, str | Path]],
                     paraphrase: bool | None = None) -> Iterator[TextResult]:
        """Screen (name, text-or-path) pairs against the registered text works."""
        return self.texts.screen(inputs, paraphrase)


__all__ = ["ImportReport", "RowOutcome", "Workspace", "sha256_hex"]
