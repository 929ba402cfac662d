"""The "same character" signal: is the output the registered character or artwork drawn
anew (another pose, another rendering), not a copy of its pixels?

Courts have ruled on exactly that for generative AI (Guangzhou Internet Court, Ultraman,
2024; Hangzhou, Ultraman LoRA, 2025). Copy detection (SSCD's descriptor) is trained to
ignore what a picture shows, so it cannot say it. Here, for the whole image (one more SSCD
pass, models/character.py): the trunk's similarity to each work's images and the palette's,
each with its margin over the best work with other content, turned into a calibrated
probability (the "image-character" calibrator, fitted by benchmarks/fit_character_calibration.py
on the training games of benchmarks/character_data.py, never the benchmark's). Works whose
category is not a character, logo or artwork (setting DERIVATIVE_CATEGORIES) keep copy
detection only: a new photograph of the same subject is not a derivative of a photograph.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from indexes.base import FeatureIndex
from indexes.dense import DenseIndex
from models.imaging import DecodedImage
from screening.calibration import LogisticCalibrator, load_calibrator
from screening.decision import DECISIONS, Decision, Thresholds, decide
from screening.image.features import CHARACTER_COLOUR, CHARACTER_TRUNK, IndexedFeature
from screening.image.results import ImageMatch
from screening.image.signals import K_PER_VIEW, Evidence, Signals
from screening.settings import Settings

#: The signals the character calibrator reads, and their margins (see margins()).
CHARACTER_SIGNALS = ("char_trunk", "char_colour")
CALIBRATION = "image-character"
#: The registry's work_images: id -> all active images of its work, for works with several.
WorkImages = Callable[[list[int]], dict[int, list[int]]]
_DEFAULTS = Settings.model_fields


def character_evidence(features: Sequence[IndexedFeature], indexes: dict[str, FeatureIndex],
                       images: Sequence[DecodedImage], out: list[dict[str, Evidence]],
                       work_images: WorkImages | None = None) -> None:
    """Add each image's `char_trunk` and `char_colour` evidence (whole image, one pass).
    `work_images` (the registry's): works with several images are scored by their centroid
    (see fold_references)."""
    by_name = {f.index_name: f for f in features if f.character is not None}
    if CHARACTER_TRUNK not in by_name or CHARACTER_COLOUR not in by_name:
        return
    ex = by_name[CHARACTER_TRUNK].character
    assert ex is not None
    trunk, colour = ex.extract([d.image for d in images])
    for name, index, vectors in (("char_trunk", CHARACTER_TRUNK, trunk),
                                 ("char_colour", CHARACTER_COLOUR, colour)):
        for hits, ev in zip(indexes[index].search(vectors, K_PER_VIEW), out, strict=True):
            ev[name] = Evidence.of(hits)
    if work_images is not None:
        fold_references(out, {"char_trunk": trunk, "char_colour": colour},
                        {"char_trunk": indexes[CHARACTER_TRUNK],
                         "char_colour": indexes[CHARACTER_COLOUR]}, work_images)


def _unit(x: np.ndarray) -> np.ndarray:
    return x / max(float(np.linalg.norm(x)), 1e-12)


def fold_references(out: list[dict[str, Evidence]], queries: dict[str, np.ndarray],
                    indexes: dict[str, FeatureIndex], work_images: WorkImages) -> None:
    """A work with further reference images is one candidate of the character signals,
    scored against the centroid of its images' features (own images and mirror images
    apart, the better of the two for the trunk), not against its closest image.

    A character's poses differ, and another character caught in the same pose as one
    reference scored as high as its own new pose did: with three references, the best
    reference's similarity ranked worse than one reference alone (plain retrieval on the
    character data's training games, micro-AP 0.46 against 0.70). The centroid keeps what
    the poses share (0.70 there; benchmarks/character_backbones.py, and the benchmark
    page's "Several reference images"). The centroid's scores go to the work's image that
    was closest by trunk, so evidence still names the nearest reference; the other images
    leave the character evidence, and the margins set the work against other works only
    (the work's match carries them whichever image leads it: ImageScreener._fuse). A work
    with one image keeps the index's own scores."""
    wanted = sorted({w for ev in out for n in CHARACTER_SIGNALS if n in ev
                     for w in ev[n].scores})
    members = work_images(wanted) if wanted else {}
    if not members:
        return
    centroids: dict[tuple[str, tuple[int, ...]], list[np.ndarray]] = {}

    def centroid(name: str, work: tuple[int, ...]) -> list[np.ndarray]:
        """One unit centroid per stored variant (trunk: image, mirror; colour: image)."""
        key = (name, work)
        if key not in centroids:
            index = indexes[name]
            rows = []
            if isinstance(index, DenseIndex):  # it keeps each image's vectors
                for v in ((0, 1) if name == "char_trunk" else (0,)):
                    got = [g for w in work if len(g := index.work_vectors(w, (v,)))]
                    if got:
                        rows.append(_unit(np.vstack(got).mean(axis=0)))
            centroids[key] = rows
        return centroids[key]

    for i, ev in enumerate(out):
        if any(n not in ev for n in CHARACTER_SIGNALS):
            continue
        t, c = ev["char_trunk"].scores, ev["char_colour"].scores
        works = {tuple(members[w]) for scores in (t, c) for w in scores if w in members}
        for work in works:
            lead = max(work, key=lambda w: (t.get(w, -np.inf), c.get(w, -np.inf), -w))
            for name in CHARACTER_SIGNALS:
                rows = centroid(name, work)
                if not rows:  # no stored vectors to read: the index's own scores stand
                    continue
                scores = ev[name].scores
                for w in work:
                    scores.pop(w, None)
                scores[lead] = max(float(r @ queries[name][i]) for r in rows)


def with_derivative_of(kept: ImageMatch, other: ImageMatch) -> ImageMatch:
    """`kept` (a work's best image by risk), carrying the work's character signals when
    `other` (another image of the work) holds them: a work with several images has them on
    one image only (fold_references), which another image may beat by its copy signals."""
    if other.derivative_score is not None and \
            other.derivative_score > (kept.derivative_score or -1.0):
        kept.derivative_score = other.derivative_score
        kept.signals.update((k, v) for k, v in other.signals.items()
                            if k.startswith(CHARACTER_SIGNALS))
    return kept


def margins(per_work: dict[int, Signals]) -> None:
    """`<signal>_margin`: how far a work stands above the best work of other content (its
    group, see derive_signals) on each character signal. One character is like its other
    poses more than the rest of the registry is; a style shared by many works lifts them
    all together."""
    for name in CHARACTER_SIGNALS:
        ranked = sorted(((s.values[name], s.group if s.group is not None else wid)
                         for wid, s in per_work.items() if name in s.values), reverse=True)
        for wid, sig in per_work.items():
            if name not in sig.values:
                continue
            mine = sig.group if sig.group is not None else wid
            other = next((v for v, g in ranked if g != mine), 0.0)
            sig.values[f"{name}_margin"] = sig.values[name] - max(other, 0.0)


@dataclass(frozen=True)
class DerivativeRule:
    """Which works the signal applies to and when it decides review or block."""

    # the settings' defaults (DERIVATIVE_CATEGORIES, _REVIEW_THRESHOLD, _BLOCK_THRESHOLD),
    # written once there: a refit moves the review threshold in one place
    categories: frozenset[str] = frozenset(_DEFAULTS["derivative_categories"].default)
    review: float = _DEFAULTS["derivative_review_threshold"].default
    #: 1 (the default) never blocks on this signal alone: courts weigh a derivative case
    #: by case, so it goes to a person.
    block: float = _DEFAULTS["derivative_block_threshold"].default

    def applies(self, category: str) -> bool:
        return category.lower() in self.categories

    def decide(self, p: float) -> Decision:
        if self.block < 1.0 and p >= self.block:
            return "block"
        return "review" if p >= self.review else "clear"


def derivative_calibrator() -> LogisticCalibrator:
    return load_calibrator(CALIBRATION)


def derivative_probabilities(calibrator: LogisticCalibrator,
                             per_work: dict[int, Signals]) -> None:
    """Each candidate's calibrated probability that the output depicts its work anew."""
    ids = [w for w, s in per_work.items() if "char_trunk" in s.values]
    if not ids:
        return
    probs = calibrator.probabilities_of([per_work[w].values for w in ids])
    for wid, p in zip(ids, probs.tolist(), strict=True):
        per_work[wid].derivative = p


def match_decision(copy: float, derivative: float | None, t: Thresholds,
                   rule: DerivativeRule) -> tuple[Decision, str]:
    """(the match's decision, "copy" or "derivative": which probability decided it)."""
    by_copy = decide(copy, t)
    if derivative is None:
        return by_copy, "copy"
    by_derivative = rule.decide(derivative)
    if DECISIONS.index(by_derivative) > DECISIONS.index(by_copy):
        return by_derivative, "derivative"
    return by_copy, "copy"


__all__ = ["CHARACTER_SIGNALS", "DerivativeRule", "character_evidence", "fold_references",
           "margins", "derivative_probabilities", "match_decision", "with_derivative_of"]
