"""The text benchmark's speed figures: embedding windows/s per backend, window search at
corpus scale, and the literal layers' latency against a large registry (synthetic token
sequences for the index part). Called by text_copy_detection.py."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
from synthetic import planted
from text_data import Query


def embedding_speed(queries: list[Query], n: int = 384) -> dict:
    from models.text_embedder import TextEmbedder
    from models.text_normalize import normalize
    from screening.text.paraphrase import window_texts, windows

    texts: list[str] = []
    for q in queries:
        norm = normalize(q.text)
        texts += window_texts(norm, windows(norm, 48))
        if len(texts) >= n:
            break
    texts = texts[:n]
    out: dict = {"windows": len(texts)}
    ref = None
    for backend in ("torch", "onnx", "onnx-int8"):
        emb = TextEmbedder(backend=backend, cache_dir=Path(".cache/models"))  # type: ignore[arg-type]
        emb.embed(texts[:32])
        t = time.perf_counter()
        v = emb.embed(texts)
        dt = time.perf_counter() - t
        ref = v if ref is None else ref
        out[backend] = {"windows_per_s": len(texts) / dt,
                        "min_cosine_to_torch": float((v * ref).sum(1).min())}
    # the other packaged model (TEXT_MODEL=use-multilingual): another embedding space, so
    # no cosine to MiniLM's
    from models.use_embedder import UseEmbedder

    use = UseEmbedder()
    use.embed(texts[:32])
    t = time.perf_counter()
    use.embed(texts)
    out["use-multilingual"] = {"windows_per_s": len(texts) / (time.perf_counter() - t),
                               "min_cosine_to_torch": None}
    return out


def window_search_scale(total_words: int, windows_per_word: float, dim: int,
                        factories: tuple[str, ...] | None = None,
                        outputs: int = 20,
                        probes: int = 25, k: int = 16, seed: int = 9) -> list[dict]:
    """The paraphrase layer's window search at `total_words` registered words: synthetic unit
    vectors (as many windows per word as the real registry has), one search of `probes`
    windows per 1,000-word output (its probe tiling), k neighbours each. Times the search
    only (embedding is measured above), and reports the share of planted neighbours found.
    Factories: Flat, HNSW32 and what "auto" builds for `dim` once the index is large."""
    from indexes.dense import DenseIndex
    from indexes.factories import auto_factory
    from indexes.ids import TEXT_WINDOWS_PER_WORK
    from models.base import FeatureSpec

    factories = factories or ("Flat", "HNSW32", auto_factory(dim))
    rng = np.random.default_rng(seed)
    n = int(total_words * windows_per_word)
    per_work = 200  # windows per synthetic work (~4,700 words)
    blocks = []
    for lo in range(0, n, 100_000):
        b = rng.standard_normal((min(100_000, n - lo), dim), dtype=np.float32)
        blocks.append(b / np.linalg.norm(b, axis=1, keepdims=True))
    x = np.vstack(blocks)
    del blocks
    # every query has one planted neighbour at cosine 0.7, like a paraphrased window (the
    # layer counts a window from 0.55); the rest of the index is noise to it
    target = rng.integers(0, n, outputs * probes)
    q = planted(x[target], rng.standard_normal((outputs * probes, dim), dtype=np.float32),
                0.7)
    out = []
    for factory in factories:
        index = DenseIndex(FeatureSpec("synthetic_windows", "1", "dense", dim), factory,
                           variants_per_work=TEXT_WINDOWS_PER_WORK)
        t0 = time.perf_counter()
        starts = range(0, n, per_work)
        index.add_new(list(range(len(starts))), [x[s:s + per_work] for s in starts])
        build = time.perf_counter() - t0
        index.search_vectors(q[:probes], k)
        times, found = [], []
        for i in range(outputs):
            t = time.perf_counter()
            works, variants, _ = index.search_vectors(q[i * probes:(i + 1) * probes], k)
            times.append(time.perf_counter() - t)
            found.append(works * TEXT_WINDOWS_PER_WORK + variants)
        ids = np.vstack(found)
        planted_ids = (target // per_work) * TEXT_WINDOWS_PER_WORK + target % per_work
        out.append({"factory": factory, "search": index.search_description(),
                    "windows": n, "build_s": round(build, 1),
                    "p50_ms": 1000 * float(np.percentile(times, 50)),
                    "p95_ms": 1000 * float(np.percentile(times, 95)),
                    "planted_found": float(np.mean((ids == planted_ids[:, None]).any(axis=1)))})
        print(out[-1], file=sys.stderr)
        del index
    return out


def scale_latency(total_words: int, queries: list[Query], registered_tokens: list[np.ndarray],
                  seed: int = 5) -> dict:
    """Verbatim + near-verbatim layers of 1,000-word outputs against `total_words` registered
    tokens: the benchmark's real chapters plus synthetic works drawn from the KJV's word
    frequencies (so common words are as common as in real text)."""
    from indexes.fingerprint import FingerprintIndex
    from models.text_fingerprint import fingerprint_spec, token_hashes
    from models.text_normalize import normalize
    from screening.text.align import AlignParams, exact_runs, passages

    rng = np.random.default_rng(seed)
    vocab_counts: dict[int, int] = {}
    for toks in registered_tokens:
        for h in toks.tolist():
            vocab_counts[h] = vocab_counts.get(h, 0) + 1
    vocab = np.array(list(vocab_counts), dtype=np.uint64)
    p = np.array(list(vocab_counts.values()), dtype=np.float64)
    p /= p.sum()
    idx = FingerprintIndex(fingerprint_spec(5, 4))
    t0 = time.perf_counter()
    works, n = list(registered_tokens), sum(len(t) for t in registered_tokens)
    per = 5000
    while n < total_words:
        works.append(rng.choice(vocab, size=per, p=p))
        n += per
    idx.add_new(list(range(len(works))), works)
    build = time.perf_counter() - t0
    params = AlignParams()
    times = []
    sample = [q for q in queries if q.case in ("verbatim", "near_verbatim")][:100]
    found = 0
    filler = " ".join(q.text for q in queries if q.case == "neg_filler")
    for q in sample:
        words = q.text.split()
        text = " ".join(words + filler.split()[: max(0, 1000 - len(words))])
        t = time.perf_counter()
        norm = normalize(text)
        qh = token_hashes(norm.tokens)
        seeds = idx.seeds(qh)
        hits = 0
        if len(seeds):
            ids, counts = np.unique(seeds.work_ids, return_counts=True)
            for w in ids[np.argsort(-counts)][:50].tolist():
                runs = exact_runs(seeds, w, qh, idx.tokens_of(w), idx.k)
                hits += len(passages(runs, qh, idx.tokens_of(w), norm.cjk, params))
        times.append(time.perf_counter() - t)
        found += hits > 0
    return {"registered_words": n, "works": len(works), "build_s": build,
            "index_memory_mb": idx.memory_bytes() / 2**20,
            "serialized_bytes_per_word": len(idx.serialize()) / n,
            "queries": len(sample), "query_words": 1000, "found": found,
            "p50_ms": 1000 * float(np.percentile(times, 50)),
            "p95_ms": 1000 * float(np.percentile(times, 95)),
            "p99_ms": 1000 * float(np.percentile(times, 99))}


# -- report --------------------------------------------------------------------------------
