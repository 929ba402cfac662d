"""Whole and near-whole reproduction of a registered work: a rule, not a calibrated model.

A short work (a poem, a lyric, a slogan, a notice) reproduced whole is the clearest
infringement there is, yet its copy probability can be low: the calibrator weighs how long
the copied run is, and a 20-character poem is a short run. This rule looks from the work's
side instead: how much of the *work* the output reproduces, in order.

    fraction = work tokens found in the output in the work's order (the longest common
               subsequence with the stretch of output the shared k-grams point to)
               / tokens of the work

Decisions, whatever the work's length:

* fraction 1 (every token, in order): `block`;
* fraction >= `review_fraction` (0.8 by default: at most one token in five changed or
  dropped), or the work within `near_edits` (3) token edits of a stretch of the output (a
  token changed, dropped or added counts one; the works under 15 tokens are the ones this
  adds): at least `review`. Counting edits, not tokens missing, keeps a saying's function
  words from matching a sentence that shares only them ("The strength of the crocodile is
  in the water" and "the length of the tuple is the number of expressions in the list"
  share six of its nine tokens in order, with five edits).

Only works with enough content of their own are eligible, so that a stock phrase registered
as a work never blocks an output that says it: at least `min_words` words, or `min_cjk` CJK
characters for a mostly-CJK work (the issue's floor for a short work: a Chinese saying or
idiom is shorter), counted after removing every phrase of the operator's stock-phrase list
(TEXT_STOCK_PHRASES_FILE) that the work contains. The thresholds are definitions, not
fitted: nothing here was tuned on a benchmark.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from rapidfuzz.distance import Indel

from indexes.fingerprint import ALL_KGRAMS_BELOW
from models.text_fingerprint import token_hashes
from models.text_normalize import NormalizedText, normalize
from screening.errors import InvalidInputError

WHOLE = "whole"
NEAR_WHOLE = "near_whole"
#: Edits are counted only for works with at most this many tokens missing from the output
#: (each missing token is at least one edit, so the rest are farther than any rule asks).
MAX_EDITS_COUNTED = 8
#: Places in the output (distinct alignment diagonals) a short work is looked for.
MAX_PLACES = 16


@dataclass(frozen=True)
class Reproduction:
    """How much of one work an output reproduces, and where."""

    fraction: float
    matched: int  # work tokens found in order
    n: int  # tokens of the work
    q0: int  # output tokens [q0, q1)
    q1: int
    w0: int  # work tokens [w0, w1)
    w1: int
    #: Token edits between the work and the closest stretch of the output (None: not
    #: computed, as more than MAX_EDITS_COUNTED of its tokens are missing, or from passages).
    edits: int | None = None

    def kind(self, rule: ReproductionRule) -> str | None:
        if self.fraction >= 1.0:
            return WHOLE
        near = self.fraction >= rule.review_fraction or (
            self.edits is not None and self.edits <= rule.near_edits)
        return NEAR_WHOLE if near and self.matched > 0 else None


@dataclass(frozen=True)
class ReproductionRule:
    min_words: int = 8
    min_cjk: int = 15
    review_fraction: float = 0.8
    #: ... or at most this many token edits from the output (changed, dropped or added): "a
    #: few words or characters changed" of a short work, whatever its length (at most
    #: MAX_EDITS_COUNTED).
    near_edits: int = 3
    #: Works longer than this are measured from the literal passages already found (an
    #: alignment of the whole work would cost more than it tells); the shorter ones are the
    #: works the fingerprint index keeps every k-gram and 3-gram of.
    max_tokens: int = ALL_KGRAMS_BELOW
    #: Token-hash sequences of the stock phrases (from TEXT_STOCK_PHRASES_FILE).
    stock: tuple[tuple[int, ...], ...] = field(default=())

    def describe(self) -> dict:
        """The rule's parameters, for results' provenance."""
        return {"min_words": self.min_words, "min_cjk": self.min_cjk,
                "near_whole": self.review_fraction, "near_whole_edits": self.near_edits,
                "stock_phrases": len(self.stock)}

    def eligible(self, work: NormalizedText, hashes: np.ndarray) -> bool:
        """Whether the work has enough tokens of its own, beyond listed stock phrases."""
        keep = np.ones(len(hashes), dtype=bool)
        seq = hashes.tolist()
        for phrase in self.stock:
            n = len(phrase)
            first = phrase[0]
            for i in range(len(seq) - n + 1):
                if seq[i] == first and tuple(seq[i:i + n]) == phrase:
                    keep[i:i + n] = False
        if work.mostly_cjk():
            return int((keep & work.cjk).sum()) >= self.min_cjk
        return int(keep.sum()) >= self.min_words


def load_stock_phrases(path: Path | None) -> tuple[tuple[int, ...], ...]:
    """One phrase a line (UTF-8; blank lines and lines starting with # skipped)."""
    if path is None:
        return ()
    try:
        text = path.read_text("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInputError(f"stock phrases file {path}: {exc}") from exc
    out = []
    for line in text.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            norm = normalize(line)
            if len(norm):
                out.append(tuple(token_hashes(norm.tokens).tolist()))
    return tuple(out)


def reproduction(query: np.ndarray, work: np.ndarray, diagonals: Iterable[int]
                 ) -> Reproduction | None:
    """The work's tokens found in order in the stretch of output around where shared k-grams
    place it (`diagonals`: output position minus work position of each shared k-gram).

    The median diagonal is tried first (a stray k-gram elsewhere does not move it), then
    each other place the k-grams point to, up to MAX_PLACES: a 2-gram such as "to my" may
    occur in the output more often than the copy it belongs to. The place that finds the
    most of the work, in the fewest edits, is kept."""
    d = sorted(diagonals)
    n = len(work)
    if not d or n == 0:
        return None
    slack = max(4, n // 5)
    places: list[int] = []
    for start in (d[len(d) // 2], *d):
        if all(abs(start - p) > slack for p in places):
            places.append(start)
        if len(places) == MAX_PLACES:
            break
    best: Reproduction | None = None
    for start in places:
        rep = _around(query, work, start, slack)
        if rep is not None and (best is None or _better(rep, best)):
            best = rep
            if rep.fraction >= 1.0:
                break
    return best


def _better(a: Reproduction, b: Reproduction) -> bool:
    edits_a = a.edits if a.edits is not None else a.n
    edits_b = b.edits if b.edits is not None else b.n
    return (a.matched, -edits_a) > (b.matched, -edits_b)


def _around(query: np.ndarray, work: np.ndarray, start: int, slack: int
            ) -> Reproduction | None:
    n = len(work)
    a, b = max(0, start - slack), min(len(query), start + n + slack)
    if a >= b:
        return None
    window = query[a:b].tolist()
    ops = [op for op in Indel.opcodes(work.tolist(), window) if op.tag == "equal"]
    if not ops:
        return None
    matched = sum(op.src_end - op.src_start for op in ops)
    edits = None
    if 0 < n - matched <= MAX_EDITS_COUNTED:
        edits = edits_within(work, query[a:b])
    return Reproduction(matched / n, matched, n, a + ops[0].dest_start, a + ops[-1].dest_end,
                        ops[0].src_start, ops[-1].src_end, edits)


def edits_within(work: np.ndarray, text: np.ndarray) -> int:
    """The fewest token edits (change, drop or add one token) that turn `work` into some
    stretch of `text`: edit distance with the text's start and end free."""
    m = len(text)
    cols = np.arange(m + 1)
    row = np.zeros(m + 1, dtype=np.int64)  # a stretch may start anywhere: row 0 costs nothing
    for i, tok in enumerate(work.tolist(), start=1):
        diag = row[:-1] + (text != tok)  # keep or change work token i
        best = np.empty(m + 1, dtype=np.int64)
        best[0] = i
        best[1:] = np.minimum(diag, row[1:] + 1)  # ... or drop it
        # ... or add text tokens before it: best[j] = min over k <= j of best[k] + (j - k)
        row = np.minimum.accumulate(best - cols) + cols
    return int(row.min())


def from_passages(n_work: int, spans: Iterable[tuple[int, int, int, int, int]]
                  ) -> Reproduction | None:
    """A long work's reproduction from its literal passages (q0, q1, w0, w1, matched)."""
    ps = list(spans)
    if not ps or n_work == 0:
        return None
    matched = min(n_work, sum(p[4] for p in ps))
    return Reproduction(matched / n_work, matched, n_work, min(p[0] for p in ps),
                        max(p[1] for p in ps), min(p[2] for p in ps), max(p[3] for p in ps))
