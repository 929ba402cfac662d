"""Settings, read only by the composition roots (CLI, API) and passed down explicitly.

Every field can be set through an environment variable prefixed IPSCREEN_ (for example
IPSCREEN_DATA_DIR, IPSCREEN_DATABASE_URL, IPSCREEN_BLOCK_THRESHOLD).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from platformdirs import user_data_dir
from pydantic import Field, ValidationInfo, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

if TYPE_CHECKING:
    from indexes.dense import SearchParams

Profile = Literal["accurate", "cascade", "fast", "hash"]


class Settings(BaseSettings):
    """ipscreen configuration."""

    model_config = SettingsConfigDict(env_prefix="IPSCREEN_", extra="ignore")

    data_dir: Path = Field(default_factory=lambda: Path(user_data_dir("ipscreen")))
    #: Any SQLAlchemy URL; empty means SQLite in the data dir (WAL mode).
    database_url: str = ""
    #: FAISS factory string for descriptor indexes: "auto" (exact Flat until an index holds
    #: auto_exact_vectors vectors, then refined 4-bit PQ: PQ64x4fs,RFlat for SSCD), or any
    #: factory FAISS builds: Flat (always exact), PQ64x4fs,RFlat, HNSW32, IVF1024,Flat, ...
    #: An index keeps the factory it was built with until it is rebuilt.
    dense_factory: str = "auto"
    #: How many vectors an "auto" index holds before it is rebuilt as refined PQ (its
    #: description and the README's index tables say what exact search costs beyond it).
    auto_exact_vectors: int = Field(default=20_000, ge=16, le=1_000_000_000)
    #: Search-time breadth of the approximate factories, for image and text indexes alike
    #: (Flat ignores both). HNSW's candidate list (FAISS's default 16 misses most moderately
    #: similar neighbours) and the IVF lists visited per query (FAISS's default 1); the
    #: defaults and their measured recall are in indexes/dense.py and the README.
    hnsw_ef_search: int = Field(default=256, ge=1, le=65_536)
    ivf_nprobe: int = Field(default=128, ge=1, le=65_536)
    #: A refined index ("PQ64x4fs,RFlat") re-ranks k x this many candidates exactly.
    refine_k_factor: int = Field(default=32, ge=1, le=4096)
    #: Calibrated copy probability at or above which an output is blocked / sent to review.
    #: 0.9 / 0.5: block only when a copy is at least nine times likelier than not (a blocked
    #: output is lost to the platform's user); review anything likelier than not. Chosen as
    #: policy on the calibrated scale, not tuned on a benchmark.
    block_threshold: float = Field(default=0.9, ge=0.0, le=1.0)
    review_threshold: float = Field(default=0.5, ge=0.0, le=1.0)
    #: Matches below this probability are not reported at all.
    report_threshold: float = Field(default=0.05, ge=0.0, le=1.0)
    max_matches: int = Field(default=5, ge=1, le=100)
    max_image_bytes: int = Field(default=50 * 1024 * 1024, ge=1024)
    max_image_pixels: int = Field(default=64_000_000, ge=64 * 64)
    default_profile: Profile = "accurate"
    #: Profiles whose indexes are kept up to date on every registry change.
    maintained_profiles: list[Profile] = ["accurate", "fast", "hash"]
    #: onnxruntime threads per session (0: onnxruntime's default, all cores).
    threads: int = Field(default=0, ge=0, le=256)

    # -- text ---------------------------------------------------------------------------------
    #: Largest text accepted (a work or an output), in bytes of UTF-8.
    max_text_bytes: int = Field(default=10 * 1024 * 1024, ge=1024, le=1024 * 1024 * 1024)
    #: Folder of a BERT-style sentence-transformers model; empty: the bundled
    #: all-MiniLM-L6-v2 (English only). A multilingual model can be dropped in here.
    text_model_dir: Path | None = None
    #: Where exported ONNX models are cached; empty: <data dir>/models.
    model_cache_dir: Path | None = None
    #: Embedding runtime: onnx-int8 (fastest), onnx, or torch (plain transformers).
    text_backend: Literal["onnx-int8", "onnx", "torch"] = "onnx-int8"
    #: Run the paraphrase layer (embeddings) when screening text.
    text_paraphrase: bool = True
    #: Shortest shared run reported as verbatim: 8 words, or 13 CJK characters (about the
    #: information of 8 English words). See screening/text_align.py for the reasoning.
    text_min_run_words: int = Field(default=8, ge=8, le=1000)
    text_min_run_cjk: int = Field(default=13, ge=8, le=1000)
    #: Words per sentence window of the paraphrase layer.
    text_window_words: int = Field(default=48, ge=8, le=160)
    #: FAISS factory string for the paraphrase layer's window index, as dense_factory:
    #: "auto" is exact Flat up to auto_exact_vectors windows (about 480,000 registered words),
    #: then PQ48x4fs,RFlat. At 10M registered words Flat takes ~220 ms of search per
    #: 1,000-word output, refined PQ ~9-16 ms with every planted window found; HNSW32 is
    #: faster than Flat but misses some paraphrased windows (text benchmark).
    text_window_factory: str = "auto"
    #: The paraphrase layer embeds a non-overlapping tiling of probe windows first, and every
    #: window only around probes with a registered window at least this similar (cosine).
    #: 0 embeds every window.
    text_probe_similarity: float = Field(default=0.45, ge=0.0, le=1.0)
    #: Word pieces of each probe window read (special tokens included; about 24 English
    #: words). Probes only say where to look; the windows there are embedded whole.
    #: 0 reads probes whole.
    text_probe_tokens: int = Field(default=32, ge=0, le=256)

    @field_validator("dense_factory", "text_window_factory")
    @classmethod
    def _faiss_factory(cls, value: str, info: ValidationInfo) -> str:
        """A factory string FAISS can build for the bundled models' vectors (SSCD 512-d,
        MiniLM 384-d), checked now rather than at the first index."""
        if value not in ("Flat", "auto"):
            from indexes.dense import faiss_index
            from indexes.errors import IndexConfigError

            try:
                faiss_index(512 if info.field_name == "dense_factory" else 384, value)
            except IndexConfigError as exc:
                raise ValueError(f"{exc}; use auto, or e.g. Flat, PQ64x4fs,RFlat, HNSW32 or "
                                 "IVF1024,Flat") from None
        return value

    @model_validator(mode="after")
    def _ordered_thresholds(self) -> Settings:
        if not self.report_threshold <= self.review_threshold <= self.block_threshold:
            raise ValueError("thresholds must satisfy report <= review <= block")
        if 0 < self.text_probe_tokens < 8:
            raise ValueError("text_probe_tokens must be 0 (probes read whole) or 8-256: "
                             "a probe of fewer word pieces says nothing")
        return self

    @property
    def search_params(self) -> SearchParams:
        from indexes.dense import SearchParams

        return SearchParams(self.hnsw_ef_search, self.ivf_nprobe, self.refine_k_factor)

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'registry.sqlite3'}"


@lru_cache
def get_settings() -> Settings:
    """Process-wide settings (the API overrides this dependency in tests)."""
    return Settings()
