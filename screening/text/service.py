"""The text half of a Workspace: registering text works, keeping text indexes, screening.

The CLI and the API reach it through Workspace only; it shares the registry, blob store and
index store with the image side, so one data dir holds both kinds of work.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

from indexes.dense import DenseIndex
from indexes.fingerprint import FingerprintIndex
from indexes.store import IndexStore
from models.base import SentenceEmbedder
from models.text_embedder import TextEmbedder
from models.text_normalize import normalize
from models.use_embedder import UseEmbedder
from screening.calibration import LogisticCalibrator, load_calibrator
from screening.decision import Thresholds
from screening.errors import InvalidInputError, IpscreenError
from screening.registry.blobs import BlobStore
from screening.registry.intake import store_and_register
from screening.registry.repository import (
    INDEXED_OUTCOMES,
    RegisterOutcome,
    WorkMeta,
    WorkRecord,
    WorksRegistry,
)
from screening.settings import Settings
from screening.text.align import AlignParams
from screening.text.indexes import (
    FINGERPRINT_INDEX,
    WINDOW_INDEX,
    TextFeature,
    TextIndexes,
    fingerprint_feature,
    window_feature,
)
from screening.text.input import check_text, read_text_file
from screening.text.paraphrase import ParaphraseParams
from screening.text.reproduction import ReproductionRule, load_stock_phrases
from screening.text.screening import TextResult, TextScreener

TEXT_CALIBRATION = "text"


#: The multilingual model's calibrator for outputs that are not mostly CJK is its own
#: calibrator's name with this suffix: fitted without the Chinese renderings, it ranks
#: English paraphrase better (docs/benchmarks/text-paraphrase-heldout.md).
ENGLISH_SUFFIX = "-en"


def text_calibration(settings: Settings) -> str:
    """The calibrator of the configured sentence model: its paraphrase signals are its own
    (`text` for MiniLM, `text-use-multilingual` for USE, the one for mostly-CJK outputs
    where the model has two; see text_calibrations)."""
    return TEXT_CALIBRATION if settings.text_model == "minilm" else \
        f"{TEXT_CALIBRATION}-{settings.text_model}"


def text_calibrations(settings: Settings) -> tuple[str, str | None]:
    """(the calibrator of outputs that are not mostly CJK, that of mostly-CJK outputs or
    None where one calibrator serves every output)."""
    name = text_calibration(settings)
    if settings.text_model == "minilm":
        return name, None
    return f"{name}{ENGLISH_SUFFIX}", name


class TextSide:
    """Text works, indexes and screening of one data dir."""

    def __init__(self, settings: Settings, data_dir: Path, registry: WorksRegistry,
                 blobs: BlobStore, store: IndexStore, thresholds: Thresholds,
                 progress: bool = True, embedder: SentenceEmbedder | None = None) -> None:
        self.settings = settings
        self.data_dir = data_dir
        self.registry = registry
        self.blobs = blobs
        self.thresholds = thresholds
        self.indexes = TextIndexes(store, registry, blobs, progress=progress, kind="text",
                                   max_text_bytes=settings.max_text_bytes,
                                   window_factory=settings.text_window_factory,
                                   auto_exact_vectors=settings.auto_exact_vectors,
                                   search=settings.search_params)
        self._embedder: SentenceEmbedder | None = embedder  # shared by long-lived servers
        self._screener: TextScreener | None = None
        self._rule: ReproductionRule | None = None

    def reproduction_rule(self) -> ReproductionRule:
        """The whole-work rule from the settings (the stock-phrase file read once)."""
        if self._rule is None:
            s = self.settings
            self._rule = ReproductionRule(s.text_whole_work_min_words, s.text_whole_work_min_cjk,
                                          s.text_near_whole_fraction, s.text_near_whole_edits,
                                          stock=load_stock_phrases(s.text_stock_phrases_file))
        return self._rule

    def embedder(self) -> SentenceEmbedder:
        if self._embedder is None and self.settings.text_model == "use-multilingual":
            self._embedder = UseEmbedder(threads=self.settings.threads)
        if self._embedder is None:
            self._embedder = TextEmbedder(self.settings.text_model_dir,
                                          self.settings.text_backend,
                                          cache_dir=self.settings.model_cache_dir
                                          or self.data_dir / "models",
                                          threads=self.settings.threads,
                                          device=self.settings.device)
        return self._embedder

    def features(self, paraphrase: bool | None = None) -> list[TextFeature]:
        feats = [fingerprint_feature()]
        if self.settings.text_paraphrase if paraphrase is None else paraphrase:
            feats.append(window_feature(self.embedder(), self.settings.text_window_words))
        return feats

    # -- registry ---------------------------------------------------------------------------
    def register(self, meta: WorkMeta, text: str, replace: bool = False, sync: bool = True
                 ) -> tuple[WorkRecord, RegisterOutcome]:
        text = check_text(text, self.settings.max_text_bytes)
        n = len(normalize(text))
        if n < self.settings.text_min_run_words:
            raise InvalidInputError(
                f"text has {n} words; a work needs at least {self.settings.text_min_run_words} "
                "(the shortest run that counts as copying)")
        record, outcome = store_and_register(self.registry, self.blobs, meta,
                                             text.encode("utf-8"), replace)
        if sync and outcome in INDEXED_OUTCOMES:
            self.sync()
        return record, outcome

    def read(self, path: Path) -> str:
        return read_text_file(path, self.settings.max_text_bytes)

    def sync(self) -> None:
        self.indexes.current(self.features())
        self._screener = None

    def rebuild(self) -> dict[str, int]:
        counts = self.indexes.rebuild(self.features())
        self._screener = None
        return counts

    # -- screening --------------------------------------------------------------------------
    def paraphrase_params(self, use_para: bool) -> ParaphraseParams:
        """The paraphrase layer's parameters for the configured model: its own similarity
        floor, TEXT_PROBE_SIMILARITY moved by as much as that floor differs from MiniLM's
        (the setting's scale; 0 still embeds every window), and probes cut short only where
        the model can cut."""
        s = self.settings
        if not use_para:
            return ParaphraseParams(max_words=s.text_window_words)
        emb = self.embedder()
        shift = emb.min_similarity - ParaphraseParams.min_similarity
        return ParaphraseParams(
            max_words=s.text_window_words, min_similarity=emb.min_similarity,
            probe_similarity=(s.text_probe_similarity + shift) if s.text_probe_similarity
            else None,
            probe_tokens=(s.text_probe_tokens or None) if emb.truncates else None)

    def screener(self, paraphrase: bool | None = None,
                 calibrator: LogisticCalibrator | None = None) -> TextScreener:
        """A screener over current indexes (calibrator: the packaged one unless given)."""
        use_para = self.settings.text_paraphrase if paraphrase is None else paraphrase
        live = self.indexes.current(self.features(use_para))
        fp = live[FINGERPRINT_INDEX]
        if not isinstance(fp, FingerprintIndex):
            raise IpscreenError("the text fingerprint index has an unexpected type")
        windows = live.get(WINDOW_INDEX)
        if windows is not None and not isinstance(windows, DenseIndex):
            raise IpscreenError("the text window index has an unexpected type")
        s = self.settings
        other, cjk = text_calibrations(s)
        return TextScreener(fp, windows, self.embedder() if use_para else None, self.registry,
                            self.blobs, calibrator or load_calibrator(other),
                            self.thresholds,
                            AlignParams(min_words=s.text_min_run_words,
                                        min_cjk=s.text_min_run_cjk),
                            self.paraphrase_params(use_para),
                            max_matches=s.max_matches, max_text_bytes=s.max_text_bytes,
                            index_revision=self.registry.revision(),
                            reproduction_rule=self.reproduction_rule(),
                            cjk_calibrator=None if calibrator is not None or cjk is None
                            else load_calibrator(cjk), cjk_paraphrase=s.text_cjk_paraphrase)

    def screen(self, inputs: Iterable[tuple[str, str | Path]], paraphrase: bool | None = None
               ) -> Iterator[TextResult]:
        """Screen (name, text) pairs; a Path is read first. A bad input yields an error
        result and the run goes on."""
        screener = self.screener(paraphrase)
        for name, item in inputs:
            try:
                text = self.read(item) if isinstance(item, Path) else \
                    check_text(item, self.settings.max_text_bytes)
            except InvalidInputError as exc:
                yield TextResult(input=name, error=str(exc).removeprefix(f"{name}: "))
                continue
            yield screener.screen_text(text, name, paraphrase=screener.paraphrase_enabled)
