"""Running a profile over a labelled set through the real Workspace, and scoring the output."""

from __future__ import annotations

import pickle
import resource
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from image_data import LabelledSet
from tqdm import tqdm

from screening.service import Workspace
from screening.settings import Settings


def open_workspace(data_dir: Path, labelled: LabelledSet, profiles: list[str]) -> Workspace:
    """A workspace with every candidate reported (report threshold 0, 100 matches)."""
    settings = Settings(data_dir=data_dir, report_threshold=0.0, review_threshold=0.5,
                        block_threshold=0.9, max_matches=100,
                        maintained_profiles=profiles)  # type: ignore[arg-type]
    ws = Workspace(settings, create=True, progress=True)
    if not ws.registry.list_works():
        report = ws.import_manifest(labelled.manifest)
        if report.failed:
            sys.exit(f"import failed: {[(r.row, r.error) for r in report.failed[:5]]}")
        for profile in profiles:
            if profile != "hash" and labelled.background:
                ws.add_background(labelled.background, profile)
    if len(ws.registry.list_works(status="active")) != len(labelled.works):
        sys.exit(f"{data_dir}: registry does not hold exactly the set's works; delete it")
    if labelled.background and any(p != "hash" and ws.background(p) is None for p in profiles):
        sys.exit(f"{data_dir}: background set missing; delete the folder and rerun")
    return ws


@dataclass
class Run:
    profile: str
    background: bool
    results: list[dict]  # one per query, ImageResult.to_dict()
    seconds: float
    peak_rss_mb: float

    @property
    def images_per_s(self) -> float:
        return len(self.results) / self.seconds


def run_profile(ws: Workspace, labelled: LabelledSet, profile: str, background: bool) -> Run:
    screener = ws.image_screener(profile, use_background=background)
    paths = [q.path for q in labelled.queries]
    # warm-up (ONNX session first-run allocations) outside the timed loop
    list(screener.screen_paths(paths[:4], ws.limits))
    start = time.perf_counter()
    results = [r.to_dict() for r in tqdm(screener.screen_paths(paths, ws.limits),
                                         total=len(paths), desc=f"{profile} bg={background}",
                                         file=sys.stderr)]
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return Run(profile, background, results, seconds, peak)


def cached_run(ws: Workspace, labelled: LabelledSet, profile: str, background: bool,
               cache: Path, refresh: bool) -> Run:
    """run_profile, kept in `cache` (a pickle) so reports and fits can be redone without
    re-screening; refresh re-measures and overwrites it."""
    if cache.exists() and not refresh:
        return pickle.loads(cache.read_bytes())
    run = run_profile(ws, labelled, profile, background)
    cache.write_bytes(pickle.dumps(run))
    return run


def pairs(labelled: LabelledSet, run: Run, signal: str | None = None
          ) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """(query index, score, is_true) for every reported (query, work) pair, scored by the
    fused probability or by one raw signal; plus the number of positive queries."""
    qi, scores, truth = [], [], []
    for i, (q, r) in enumerate(zip(labelled.queries, run.results, strict=True)):
        for m in r.get("matches", []):
            qi.append(i)
            scores.append(m["score"] if signal is None else m["signals"][signal])
            truth.append(m["external_id"] == q.source)
    n_pos = sum(1 for q in labelled.queries if q.source)
    return np.array(qi), np.array(scores, dtype=float), np.array(truth, dtype=bool), n_pos


def micro_ap(scores: np.ndarray, truth: np.ndarray, n_pos: int) -> float:
    """ISC/DISC micro average precision over one global ranking of all predictions."""
    order = np.argsort(-scores, kind="stable")
    t = truth[order]
    tp = np.cumsum(t)
    precision = tp / np.arange(1, len(t) + 1)
    return float(np.sum(precision[t]) / max(n_pos, 1))


def threshold_at_precision(scores: np.ndarray, truth: np.ndarray, target: float) -> float:
    """Lowest score threshold whose predictions above it have precision >= target (inf if
    none)."""
    order = np.argsort(-scores, kind="stable")
    s, t = scores[order], truth[order]
    tp = np.cumsum(t)
    precision = tp / np.arange(1, len(t) + 1)
    ok = np.nonzero(precision >= target)[0]
    if len(ok) == 0:
        return float("inf")
    # the deepest rank where precision still holds, cut at a score boundary
    k = ok[-1]
    return float(s[k])


def recall_at(qi: np.ndarray, scores: np.ndarray, truth: np.ndarray, labelled: LabelledSet,
              threshold: float, edit: str | None = None) -> float:
    pos = [i for i, q in enumerate(labelled.queries) if q.source and (edit in (None, q.edit))]
    if not pos:
        return float("nan")
    found = set(qi[(scores >= threshold) & truth].tolist())
    return sum(1 for i in pos if i in found) / len(pos)


def false_positive_rate(qi: np.ndarray, scores: np.ndarray, labelled: LabelledSet,
                        threshold: float) -> float:
    neg = [i for i, q in enumerate(labelled.queries) if not q.source]
    if not neg:
        return float("nan")
    flagged = set(qi[scores >= threshold].tolist())
    return sum(1 for i in neg if i in flagged) / len(neg)


def decided(labelled: LabelledSet, run: Run, edit: str | None = None) -> float:
    """Share of the copies (of one edit, or all) that the shipped decision sends to review or
    block with the right work among the matches it flags: what a platform sees."""
    pos = [(q, r) for q, r in zip(labelled.queries, run.results, strict=True)
           if q.source and edit in (None, q.edit)]
    if not pos:
        return float("nan")
    return sum(1 for q, r in pos if r.get("decision") in ("review", "block") and any(
        m["external_id"] == q.source and m.get("decision") in ("review", "block")
        for m in r.get("matches", []))) / len(pos)


def flagged(labelled: LabelledSet, run: Run) -> float:
    """Share of the distractor queries the shipped decision sends to review or block."""
    neg = [r for q, r in zip(labelled.queries, run.results, strict=True) if not q.source]
    return sum(1 for r in neg if r.get("decision") in ("review", "block")) / max(len(neg), 1)
