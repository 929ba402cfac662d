"""From shared k-grams to findings: exact runs (verbatim) and edited passages (near-verbatim).

Verbatim: each seed (a k-gram shared with a work) is extended left and right while the
normalised tokens agree; overlapping seeds on the same diagonal collapse into one maximal run.
A run is a verbatim finding when it has at least `min_words` words (8), or `min_cjk` (13)
characters when most of it is CJK text.

Near-verbatim: runs of one work that follow each other in the same order in the output and
in the work, with gaps of at most `max_gap` tokens on both sides, are chained into one
passage; rapidfuzz's Levenshtein alignment of the passage counts the tokens that still match,
and the passage's ends are extended through small edits. A lightly edited passage is one
finding with its similarity, not ten fragments.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from rapidfuzz.distance import Levenshtein

from indexes.fingerprint import Seeds


@dataclass(frozen=True)
class Run:
    """Tokens [q0, q1) of the output equal tokens [w0, w1) of the work."""

    q0: int
    q1: int
    w0: int
    w1: int

    @property
    def length(self) -> int:
        return self.q1 - self.q0


@dataclass(frozen=True)
class Passage:
    """A copied passage: output tokens [q0, q1) against work tokens [w0, w1)."""

    kind: str  # "verbatim" | "near_verbatim"
    q0: int
    q1: int
    w0: int
    w1: int
    matched: int  # tokens aligned as equal
    longest_run: int  # longest exact run inside, in tokens
    longest_run_span: tuple[int, int]  # its output tokens [start, end)
    similarity: float  # matched / longer side


@dataclass(frozen=True)
class AlignParams:
    k: int = 5
    #: A verbatim run has at least 8 words. CopyBench calls ROUGE-L >= 0.8 over 50 words
    #: literal copying; 8 words is below any quotation a reviewer would act on alone, so a
    #: shorter run is noise and a longer one is evidence, weighed by the calibrated score.
    min_words: int = 8
    #: 13 CJK characters: about the information of 8 English words (1.6 characters a word in
    #: Chinese text is the usual estimate).
    min_cjk: int = 13
    #: Tokens that may separate two found runs of one passage (on each side). Runs shorter
    #: than k are never seeds and one of 5-7 tokens is found only when winnowing kept one of
    #: its k-grams, so at 10-15% edits found runs lie up to ~15 tokens apart.
    max_gap: int = 15
    #: How far two runs of one passage may drift apart in alignment (inserted minus dropped
    #: tokens between them); unrelated quotations of one work almost never line up this well.
    max_shift: int = 8
    #: Tokens tried beyond a passage's ends when extending it through edits.
    extend: int = 12


def exact_runs(seeds: Seeds, work_id: int, query: np.ndarray, work: np.ndarray,
               k: int) -> list[Run]:
    """Maximal runs of equal tokens that contain at least one seed of `work_id`."""
    sel = seeds.work_ids == work_id
    qp, wp = seeds.query_pos[sel], seeds.work_pos[sel]
    order = np.lexsort((qp, wp - qp))
    runs: list[Run] = []
    covered_until: dict[int, int] = {}  # diagonal -> end of the last run on it (query tokens)
    nq, nw = len(query), len(work)
    for i in order:
        q, w = int(qp[i]), int(wp[i])
        diag = w - q
        if covered_until.get(diag, -1) > q:
            continue
        if not np.array_equal(query[q:q + k], work[w:w + k]):
            continue  # a hash collision: the tokens differ
        q0, w0 = q, w
        while q0 > 0 and w0 > 0 and query[q0 - 1] == work[w0 - 1]:
            q0, w0 = q0 - 1, w0 - 1
        q1, w1 = q + k, w + k
        step = 64
        while q1 < nq and w1 < nw:
            n = min(step, nq - q1, nw - w1)
            diff = np.flatnonzero(query[q1:q1 + n] != work[w1:w1 + n])
            if len(diff):
                q1, w1 = q1 + int(diff[0]), w1 + int(diff[0])
                break
            q1, w1 = q1 + n, w1 + n
        covered_until[diag] = q1
        runs.append(Run(q0, q1, w0, w1))
    return runs


def _min_len(cjk: np.ndarray, q0: int, q1: int, p: AlignParams) -> int:
    return p.min_cjk if cjk[q0:q1].mean() > 0.5 else p.min_words


def passages(runs: list[Run], query: np.ndarray, work: np.ndarray, cjk: np.ndarray,
             p: AlignParams) -> list[Passage]:
    """Chain runs into passages and keep those long enough to be evidence."""
    out: list[Passage] = []
    for chain in _chains(runs, p.max_gap, p.max_shift):
        q0, q1, w0, w1 = chain[0].q0, chain[-1].q1, min(r.w0 for r in chain), \
            max(r.w1 for r in chain)
        q0, w0 = _extend_left(query, work, q0, w0, p.extend)
        q1, w1 = _extend_right(query, work, q1, w1, p.extend)
        longest = max(chain, key=lambda r: r.length)
        if len(chain) == 1 and (q0, q1) == (chain[0].q0, chain[0].q1):
            matched, kind = longest.length, "verbatim"
        else:
            matched = _matched(query[q0:q1], work[w0:w1])
            kind = "near_verbatim"
        need = _min_len(cjk, q0, q1, p)
        if matched < need or (kind == "verbatim" and longest.length < need):
            continue
        out.append(Passage(kind, q0, q1, w0, w1, matched, longest.length,
                           (longest.q0, longest.q1), matched / max(q1 - q0, w1 - w0)))
    return _dedupe(out)


def _dedupe(found: list[Passage]) -> list[Passage]:
    """Keep the best passage for each stretch of output. A phrase the work repeats (a refrain,
    "and the evening and the morning were the ... day") matches at several places in the work;
    the output copied it once."""
    kept: list[Passage] = []
    for ps in sorted(found, key=lambda x: (-x.matched, x.q0)):
        overlap = sum(max(0, min(ps.q1, k.q1) - max(ps.q0, k.q0)) for k in kept)
        if overlap < 0.5 * (ps.q1 - ps.q0):
            kept.append(ps)
    return sorted(kept, key=lambda x: x.q0)


def _chains(runs: list[Run], max_gap: int, max_shift: int) -> list[list[Run]]:
    """Runs grouped into passages: each next run starts after the previous one in both texts
    (small overlaps allowed: a shared word at an edit), within max_gap tokens, on nearly the
    same alignment diagonal."""
    chains: list[list[Run]] = []
    for r in sorted(runs, key=lambda r: (r.q0, r.w0)):
        best = None
        for c in chains:
            last = c[-1]
            dq, dw = r.q0 - last.q1, r.w0 - last.w1
            shift = (r.w0 - r.q0) - (last.w0 - last.q0)
            if -max_gap <= dq <= max_gap and -max_gap <= dw <= max_gap \
                    and abs(shift) <= max_shift and r.q1 > last.q1 and r.w1 > last.w1:
                best = c
                break
        if best is None:
            chains.append([r])
        else:
            best.append(r)
    return chains


def _matched(a: np.ndarray, b: np.ndarray) -> int:
    """Tokens aligned as equal by a Levenshtein alignment of two token sequences."""
    ops = Levenshtein.opcodes(a.tolist(), b.tolist())
    return sum(op.src_end - op.src_start for op in ops if op.tag == "equal")


def _extend_right(query: np.ndarray, work: np.ndarray, q1: int, w1: int,
                  reach: int) -> tuple[int, int]:
    """Move a passage's end past edits while more tokens agree than were skipped."""
    a, b = query[q1:q1 + reach].tolist(), work[w1:w1 + reach].tolist()
    if not a or not b:
        return q1, w1
    best, cost = (q1, w1), 0
    for op in Levenshtein.opcodes(a, b):
        if op.tag == "equal":
            gained = op.src_end - op.src_start
            if gained > cost:
                best, cost = (q1 + op.src_end, w1 + op.dest_end), 0
        else:
            cost += max(op.src_end - op.src_start, op.dest_end - op.dest_start)
            if cost > 3:
                break
    return best


def _extend_left(query: np.ndarray, work: np.ndarray, q0: int, w0: int,
                 reach: int) -> tuple[int, int]:
    a0, b0 = max(0, q0 - reach), max(0, w0 - reach)
    rq, rw = query[a0:q0][::-1], work[b0:w0][::-1]
    nq, nw = _extend_right(rq, rw, 0, 0, reach)
    return q0 - nq, w0 - nw
