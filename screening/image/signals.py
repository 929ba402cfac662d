"""A candidate work's raw evidence for one query, before calibration, and the signals
derived from it: what an index's hits say (with the floor for works it did not return), the
margin a copy stands above the rest of the registry, and the boxes a window is refined to.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from indexes.base import WorkHit
from screening.image.views import WHOLE, Box

#: Candidates taken from each index per query view. Beyond the top 20 a work's similarity is
#: far below any copy in every benchmark we ran, so deeper lists only cost time.
K_PER_VIEW = 20
#: Background neighbours averaged for score normalisation (SSCD's authors use 3).
BACKGROUND_K = 3
#: Window refinement (profiles with `refine`): boxes shaped like the leading candidate work,
#: of 0.7, 1 and 1.4 times the best window's area, centred on it and shifted by a fifth of
#: their size along both diagonals. The grid's square windows cut a pasted work off-centre
#: and squash it to another aspect; a box that frames it as it was registered describes it
#: far better (calibration split, scene copies: median similarity 0.73 -> 0.82, unrelated
#: scenes 0.34 -> 0.31), and held-out recall at precision 0.99 rose from 0.930 to 0.962
#: (scenes 0.72 -> 0.88) for the accurate profile, 0.859 -> 0.904 for the fast one.
REFINE_SCALES = (0.7, 1.0, 1.4)
REFINE_SHIFTS = ((0.0, 0.0), (-0.2, -0.2), (0.2, -0.2), (-0.2, 0.2), (0.2, 0.2))
#: The work's vectors a refined box is compared with: the whole work and its mirror image.
REFINE_VARIANTS = (0, 1)


@dataclass
class Signals:
    """Raw per-work evidence for one query, before calibration."""

    values: dict[str, float] = field(default_factory=dict)
    box: Box = WHOLE
    #: The work's content group among the query's best works (see derive_signals): works with
    #: one content share their margin and their refinement.
    group: int | None = None
    #: The calibrated probability that the output depicts this work anew (None: the
    #: character signal did not run).
    derivative: float | None = None


def refined_boxes(box: Box, aspect: float, width: int, height: int) -> list[Box]:
    """Boxes around `box` (fractions of a width x height image) with a work's aspect
    (width / height, in pixels): REFINE_SCALES times its area, moved by REFINE_SHIFTS of
    their own size, clipped to the image; boxes under 8 pixels a side are left out."""
    x0, y0, x1, y1 = box[0] * width, box[1] * height, box[2] * width, box[3] * height
    cx, cy, area = (x0 + x1) / 2, (y0 + y1) / 2, (x1 - x0) * (y1 - y0)
    out: list[Box] = []
    for scale in REFINE_SCALES:
        h = float(np.sqrt(area * scale / aspect))
        w = h * aspect
        for dx, dy in REFINE_SHIFTS:
            mx, my = cx + dx * w, cy + dy * h
            bx0, by0 = max(0.0, mx - w / 2), max(0.0, my - h / 2)
            bx1, by1 = min(float(width), mx + w / 2), min(float(height), my + h / 2)
            if bx1 - bx0 >= 8 and by1 - by0 >= 8:
                out.append((bx0 / width, by0 / height, bx1 / width, by1 / height))
    return out


#: How many of a query's best works by SSCD have their content compared for the margin.
MARGIN_GROUP_TOP = 8


def derive_signals(per_work: dict[int, Signals],
            content_groups: Callable[[list[int]], dict[int, int]] | None = None) -> None:
    """Signals computed from the others, per query:
    - sscd: the best of the whole-image and window similarities;
    - sscd_margin: how far this work's sscd stands above the query's next-best work with
      other content. A copy stands out from the rest of the registry; a generic image (a
      plain star, a white page) is similar to many works at once. It is a per-query
      normalisation that needs no background set. Works registered with the same content
      (`content_groups`, asked about the MARGIN_GROUP_TOP best works) are one image: set
      against each other, a copy of either had a margin of 0 and scored as if generic;
    - hash: the best of the pHash and PDQ similarities."""
    for sig in per_work.values():
        v = sig.values
        if "sscd_whole" in v:
            v["sscd"] = max(v["sscd_whole"], v.get("sscd_region", -1.0))
        if "phash" in v or "pdq" in v:
            v["hash"] = max(v.get("phash", 0.0), v.get("pdq", 0.0))
    ranked = sorted(((s.values["sscd"], wid) for wid, s in per_work.items()
                     if "sscd" in s.values), key=lambda t: (-t[0], t[1]))
    group = (content_groups([w for _, w in ranked[:MARGIN_GROUP_TOP]])
             if content_groups is not None and len(ranked) > 1 else {})
    for sim, wid in ranked:
        mine = group.get(wid, wid)
        other = next((s for s, w in ranked if group.get(w, w) != mine), 0.0)
        per_work[wid].values["sscd_margin"] = sim - max(other, 0.0)
        per_work[wid].group = mine


@dataclass
class Evidence:
    """One signal's scores for the works an index returned, and the floor for the others:
    the k-th hit's score (the best an unreturned work could have), or 0 when the index
    returned fewer than k, so absence is never read as a match."""

    scores: dict[int, float] = field(default_factory=dict)
    floor: float = 0.0

    @classmethod
    def of(cls, hits: list[WorkHit], shift: float = 0.0) -> Evidence:
        floor = hits[-1].score if len(hits) >= K_PER_VIEW else 0.0
        return cls({h.work_id: h.score - shift for h in hits}, floor - shift)
