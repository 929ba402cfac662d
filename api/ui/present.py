"""What a case page shows, put in a reviewer's words: signals explained, the matched region
as a box over the image, a text's copied spans as numbered highlights."""

from __future__ import annotations

from dataclasses import dataclass

#: What each signal measures, for a reviewer (names as screening reports them).
SIGNAL_WORDS = {
    "hash": "perceptual hash agreement, the better of pHash and PDQ (1 = identical)",
    "phash": "pHash agreement (1 = identical)",
    "pdq": "PDQ hash agreement (1 = identical)",
    "sscd_whole": "copy-detection similarity of the whole image to the work",
    "sscd_region": "copy-detection similarity of the best window of the image",
    "sscd_region2": "copy-detection similarity of the second-best window",
    "sscd_margin": "how far the work stands above the next-best work",
    "sscd_whole_norm": "whole-image similarity above what unrelated images reach",
    "sscd_region_norm": "window similarity above what unrelated images reach",
    "sscd_refined": "similarity after the window was refined around the work",
    "refine_gain": "what refining the window added",
    "char_trunk": "same-character similarity (shape and drawing)",
    "char_colour": "same-character similarity (colours)",
    "char_trunk_margin": "how far the character stands above the next-best work",
    "char_colour_margin": "how far its colours stand above the next-best work",
    "run": "longest run copied word for word (1 = 50 words)",
    "matched": "words aligned with the work (1 = 100 words)",
    "passage": "the largest single aligned passage (1 = 100 words)",
    "near_similarity": "similarity of the best near-verbatim passage",
    "para_windows": "paraphrased windows in order with the work (1 = 10)",
    "para_mean": "mean meaning similarity of those windows",
    "para_max": "best meaning similarity of one window",
    "para_margin": "how far the paraphrase stands above the work's neighbours",
}


def signals_in_words(signals: dict[str, float]) -> list[tuple[str, float, str]]:
    """(name, value, what it measures), strongest first."""
    rows = [(k, float(v), SIGNAL_WORDS.get(k, "")) for k, v in signals.items()]
    return sorted(rows, key=lambda r: -r[1])


@dataclass(frozen=True)
class Box:
    """A region as percentages of the image, for an outline drawn over it."""

    left: float
    top: float
    width: float
    height: float


def region_box(region: list[int] | None, size: list[int] | None) -> Box | None:
    if not region or not size or len(region) != 4 or min(size) <= 0:
        return None
    x0, y0, x1, y1 = region
    w, h = size
    clamp = lambda v: max(0.0, min(100.0, v))  # noqa: E731
    return Box(clamp(100 * x0 / w), clamp(100 * y0 / h), clamp(100 * (x1 - x0) / w),
               clamp(100 * (y1 - y0) / h))


@dataclass(frozen=True)
class Piece:
    text: str
    #: the span's number (1-based), None for text outside every span
    span: int | None = None
    kind: str = ""


def marked(text: str, spans: list[tuple[int, int, str]]) -> list[Piece]:
    """`text` cut into pieces, each inside one numbered span or outside all. Spans are
    (start, end, kind) numbered in the given order; where two overlap, the earlier keeps
    the overlap."""
    order = sorted(((max(0, a), min(len(text), b), k, n)
                    for n, (a, b, k) in enumerate(spans, start=1)), key=lambda s: s[0])
    out, at = [], 0
    for a, b, kind, n in order:
        a = max(a, at)
        if b <= a:
            continue
        if a > at:
            out.append(Piece(text[at:a]))
        out.append(Piece(text[a:b], n, kind))
        at = b
    if at < len(text):
        out.append(Piece(text[at:]))
    return out
