"""Paraphrase layer: sentence windows, embedded, searched, and aligned in order.

A window is a run of whole sentences of at most `max_words` words, starting at every sentence
(stride one sentence); a longer sentence is cut into pieces of `max_words`. 48 words is about
64 word pieces for English, well inside MiniLM's 256 and short enough that one window says one
thing. Each output window is searched against the work windows; a paraphrase finding is a
chain of at least `min_windows` output windows, in order, whose nearest work windows are also
in order and near each other in the work. One similar sentence, a shared topic or shared
facts do not make such a chain.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from models.text_normalize import NormalizedText


@dataclass(frozen=True)
class ParaphraseParams:
    max_words: int = 48
    #: Work windows fetched per output window (neighbouring windows of one work overlap,
    #: so 16 leaves room for other works, which the margin signal needs).
    k: int = 16
    #: Cosine similarity below which a window hit is not evidence (MiniLM scores unrelated
    #: English sentences 0.0-0.4 and topical neighbours ~0.5; the calibrated score decides).
    min_similarity: float = 0.55
    #: Windows aligned in order before a paraphrase is reported.
    min_windows: int = 2
    #: Largest step between consecutive aligned windows, in windows, on each side.
    max_step: int = 3
    #: Probe first: embed only windows that tile the output without overlap; where one of
    #: them has a work window at least this similar, embed every window around it (see
    #: tiling, around and TextScreener._paraphrase). None embeds every window. Below
    #: min_similarity, so that a probe straddling the edge of a paraphrase still opens its
    #: neighbourhood.
    probe_similarity: float | None = 0.45
    #: Probes are read only this far (word pieces, special tokens included): a probe only
    #: decides where to look, and the model's cost grows with every word piece. Every window
    #: of a hot neighbourhood, its probes included, is then embedded whole, so the evidence
    #: is unchanged. None reads probes whole.
    probe_tokens: int | None = 32


def windows(norm: NormalizedText, max_words: int) -> list[tuple[int, int]]:
    """Token ranges [start, end) of the sentence windows of a text."""
    return [(s, e) for s, e, _ in windows_with_heads(norm, max_words)]


def windows_with_heads(norm: NormalizedText, max_words: int) -> list[tuple[int, int, int]]:
    """(start, end, head_end) per window, head_end ending its first sentence (or piece).
    A window runs on past its first sentence into whatever follows, so where a paraphrase
    ends is best told by the head of its last aligned window."""
    if len(norm) == 0:
        return []
    pieces: list[tuple[int, int]] = []
    start = 0
    for end in norm.sentence_ends().tolist():
        for s in range(start, end + 1, max_words):
            pieces.append((s, min(end + 1, s + max_words)))
        start = end + 1
    out = []
    for i, (s, head) in enumerate(pieces):
        e, j = head, i + 1
        while j < len(pieces) and pieces[j][1] - s <= max_words:
            e = pieces[j][1]
            j += 1
        out.append((s, e, head))
    return out


def tiling(spans: list[tuple[int, int, int]]) -> list[int]:
    """Indices of windows that cover the text without overlapping: each starts where the
    previous one ended (or at the next window start after it)."""
    out: list[int] = []
    end = -1
    for i, (s, e, _) in enumerate(spans):
        if s >= end:
            out.append(i)
            end = e
    return out


def around(spans: list[tuple[int, int, int]], probes: list[int], hot: list[int]) -> list[int]:
    """Indices of every window that starts between the start of the probe before a hot probe
    and the end of the probe after it."""
    at = {p: t for t, p in enumerate(probes)}
    ranges = []
    for h in hot:
        t = at[h]
        lo = spans[probes[max(t - 1, 0)]][0]
        hi = spans[probes[min(t + 1, len(probes) - 1)]][1]
        ranges.append((lo, hi))
    return [i for i, (s, _, _) in enumerate(spans) if any(lo <= s < hi for lo, hi in ranges)]


def window_texts(norm: NormalizedText, spans: list[tuple[int, int]]) -> list[str]:
    """The original text of each window (the model reads what was written)."""
    return [norm.text[int(norm.starts[s]):int(norm.ends[e - 1])] for s, e in spans]


@dataclass(frozen=True)
class WindowChain:
    """Output windows q[i] aligned to work windows w[i], in order."""

    work_id: int
    q: tuple[int, ...]
    w: tuple[int, ...]
    sims: tuple[float, ...]
    #: Per aligned window: its similarity minus the best similarity of any *other* work to
    #: the same output window (SSCD-style margin: a paraphrase stands out from its topic).
    margins: tuple[float, ...] = ()

    @property
    def mean(self) -> float:
        return float(np.mean(self.sims))

    @property
    def margin(self) -> float:
        return float(np.mean(self.margins)) if self.margins else 0.0


def best_chains(works: np.ndarray, variants: np.ndarray, sims: np.ndarray,
                p: ParaphraseParams,
                content_groups: Callable[[list[int]], dict[int, int]] | None = None
                ) -> dict[int, WindowChain]:
    """The best ordered chain per work from window search results (arrays (nq, k)).
    `content_groups` maps work ids to one id per distinct content: works registered twice
    with the same text are not "other works" in each other's margins (set against its twin,
    every window of a copy had a margin of 0 and the copy scored as if generic)."""
    by_work: dict[int, list[tuple[int, int, float]]] = {}
    nq = works.shape[0]
    for qi in range(nq):
        for wk, wv, s in zip(works[qi].tolist(), variants[qi].tolist(), sims[qi].tolist(),
                             strict=True):
            if wk >= 0 and s >= p.min_similarity:
                by_work.setdefault(wk, []).append((qi, wv, s))
    out: dict[int, WindowChain] = {}
    chains = {wk: c for wk, hits in by_work.items() if (c := _longest_chain(hits, p.max_step))}
    group: dict[int, int] = {}
    if content_groups is not None and chains:
        group = content_groups(np.unique(works[works >= 0]).tolist())
    grouped = works
    if any(g != w for w, g in group.items()):
        lookup = np.vectorize(lambda w: group.get(w, w), otypes=[works.dtype])
        grouped = lookup(works)
    for wk, chain in chains.items():
        if chain:
            margins = []
            mine = group.get(wk, wk)
            for qi, _, s in chain:
                others = sims[qi][(grouped[qi] != mine) & (works[qi] >= 0)]
                margins.append(s - float(others.max()) if len(others) else s - p.min_similarity)
            out[wk] = WindowChain(wk, tuple(h[0] for h in chain), tuple(h[1] for h in chain),
                                  tuple(h[2] for h in chain), tuple(margins))
    return out


def _longest_chain(hits: list[tuple[int, int, float]], max_step: int
                   ) -> list[tuple[int, int, float]]:
    """Chain maximising the summed similarity: output windows strictly increasing, work
    windows non-decreasing, steps of at most max_step on both sides (dynamic programming)."""
    hits = sorted(hits)
    n = len(hits)
    score = [h[2] for h in hits]
    prev = [-1] * n
    for i in range(n):
        qi, wi, si = hits[i]
        for j in range(i):
            qj, wj, _ = hits[j]
            if qj < qi <= qj + max_step and wj <= wi <= wj + max_step \
                    and score[j] + si > score[i]:
                score[i], prev[i] = score[j] + si, j
    i = int(np.argmax(score))
    chain = []
    while i >= 0:
        chain.append(hits[i])
        i = prev[i]
    return chain[::-1]
