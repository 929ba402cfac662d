"""Screening generated images against the registered works: views, search, fusion, decision.

For each input: decode safely, hash it (pHash, PDQ), describe the whole image and a grid of
windows with SSCD, search every index, gather the candidate works, turn each candidate's
signals into a calibrated copy probability, and map the best one to clear / review / block.
The window that matched best (or the refined box around it, see _refine) is reported as the
region, in the input's own pixels.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from itertools import islice
from pathlib import Path

import numpy as np
from PIL import Image

from indexes.base import FeatureIndex
from indexes.dense import DenseIndex
from models.imaging import DecodedImage, DecodeLimits, decode_image, is_blank, load_image
from screening.calibration import LogisticCalibrator, load_calibrator
from screening.decision import Decision, Thresholds, dense_search, screening_versions, worst
from screening.errors import ImageDecodeError
from screening.image.character import (
    CHARACTER_SIGNALS,
    DerivativeRule,
    character_evidence,
    derivative_calibrator,
    derivative_probabilities,
    margins,
    match_decision,
    with_derivative_of,
)
from screening.image.features import IndexedFeature
from screening.image.profiles import ImageProfile
from screening.image.results import ImageMatch, ImageResult
from screening.image.signals import (
    BACKGROUND_K,
    K_PER_VIEW,
    REFINE_VARIANTS,
    Evidence,
    Signals,
    derive_signals,
    refined_boxes,
)
from screening.image.views import WHOLE, Box, informative_views, pixel_box
from screening.registry.repository import WorkRecord, WorksRegistry

#: Per image: every candidate work's signals, and its calibrated probability.
Scored = tuple[dict[int, Signals], dict[int, float]]


class ImageScreener:
    """Screens decoded images with one profile against loaded, current indexes."""

    def __init__(self, profile: ImageProfile, features: Sequence[IndexedFeature],
                 indexes: dict[str, FeatureIndex], registry: WorksRegistry,
                 thresholds: Thresholds, background: FeatureIndex | None = None,
                 calibrator: LogisticCalibrator | None = None, max_matches: int = 5,
                 index_revision: int = 0,
                 work_aspect: Callable[[int], float | None] | None = None,
                 derivative_rule: DerivativeRule | None = None,
                 character_calibrator: LogisticCalibrator | None = None) -> None:
        self.profile = profile
        #: width / height of a registered work (None if unknown); needed to refine windows
        self.work_aspect = work_aspect
        self.features = list(features)
        self.indexes = indexes
        self.registry = registry
        self.thresholds = thresholds
        self.background = background if background is not None and background.ntotal else None
        suffix = "-bg" if self.background is not None else ""
        family = profile.calibration or profile.name
        self.calibrator = calibrator or load_calibrator(f"image-{family}{suffix}")
        self.max_matches = max_matches
        self.versions = screening_versions(
            "image", profile.name, [f.spec for f in self.features], self.calibrator,
            index_revision, thresholds,
            dense_search((f.index_name, indexes[f.index_name]) for f in self.features))
        self.derivative_rule = derivative_rule or DerivativeRule()
        self.character = any(f.character is not None for f in self.features)
        self.derivative_calibrator = (character_calibrator or derivative_calibrator()) \
            if self.character else None
        if self.derivative_calibrator is not None:
            r, c = self.derivative_rule, self.derivative_calibrator
            self.versions["derivative"] = {
                "calibration": f"{c.name}@{c.version}", "review": r.review, "block": r.block,
                "categories": sorted(r.categories)}

    # -- public -----------------------------------------------------------------------------
    def screen_paths(self, paths: Iterable[Path], limits: DecodeLimits,
                     batch_size: int = 16) -> Iterator[ImageResult]:
        """Results in input order; undecodable inputs give a result with `error` set."""
        def load(path: Path) -> tuple[str, DecodedImage | str]:
            try:
                return str(path), load_image(path, limits)
            except ImageDecodeError as exc:
                return str(path), str(exc)

        # Decoding releases the GIL in PIL, so two threads decode the next batch while the
        # models run on this one. Only two batches are in memory at a time, whatever the
        # number of inputs, and results come back in input order.
        it = iter(paths)
        with ThreadPoolExecutor(max_workers=2) as pool:
            pending = [pool.submit(load, p) for p in islice(it, batch_size)]
            while pending:
                upcoming = [pool.submit(load, p) for p in islice(it, batch_size)]
                yield from self._screen_batch([f.result() for f in pending])
                pending = upcoming

    def screen_decoded(self, batch: list[tuple[str, DecodedImage | str]]) -> list[ImageResult]:
        """Results for already decoded images (name, image or the reason it could not be
        decoded), in order."""
        return self._screen_batch(batch)

    def screen_bytes(self, name: str, data: bytes, limits: DecodeLimits) -> ImageResult:
        return self.screen_many_bytes([(name, data)], limits)[0]

    def screen_many_bytes(self, items: Sequence[tuple[str, bytes]],
                          limits: DecodeLimits) -> list[ImageResult]:
        """Results for encoded images (name, bytes), in order, screened as one batch (one
        model call for all their views: what keeps a GPU busy); an image that cannot be
        decoded gives a result with `error` set."""
        batch: list[tuple[str, DecodedImage | str]] = []
        for name, data in items:
            try:
                batch.append((name, decode_image(data, limits)))
            except ImageDecodeError as exc:
                batch.append((name, str(exc)))
        return self._screen_batch(batch)

    def signals(self, images: Sequence[DecodedImage]) -> list[dict[int, Signals]]:
        """Per image, the raw signals of every candidate work (used by calibration fits).
        A blank image (a plain field) has no candidates: it cannot copy anything."""
        return [per_work for per_work, _ in self.scored(images)]

    def scored(self, images: Sequence[DecodedImage]) -> list[Scored]:
        """Per image, every candidate work's signals and calibrated probability."""
        keep = [i for i, d in enumerate(images) if not is_blank(d.image)]
        found = self._scored([images[i] for i in keep]) if keep else []
        out: list[Scored] = [({}, {}) for _ in images]
        for i, item in zip(keep, found, strict=True):
            out[i] = item
        return out

    def _scored(self, images: Sequence[DecodedImage],
                hashed: list[dict[str, Evidence]] | None = None) -> list[Scored]:
        return [(per_work, self._probabilities(per_work))
                for per_work in self._signals(images, hashed)]

    def _probabilities(self, per_work: dict[int, Signals]) -> dict[int, float]:
        ids = list(per_work)
        probs = self.calibrator.probabilities_of([per_work[w].values for w in ids])
        return dict(zip(ids, probs.tolist(), strict=True))

    def _hash_evidence(self, images: Sequence[DecodedImage]) -> list[dict[str, Evidence]]:
        """Per image, the evidence of every hash index and of the character signal (the
        same in every profile that has them, so a cascade finds them once)."""
        raw: list[dict[str, Evidence]] = [dict() for _ in images]
        for feat in self.features:
            if feat.hasher is not None:
                self._hash_signals(feat, self.indexes[feat.index_name], images, raw)
        if self.character:
            character_evidence(self.features, self.indexes, images, raw,
                               self.registry.work_images)
        return raw

    def _signals(self, images: Sequence[DecodedImage],
                 hashed: list[dict[str, Evidence]] | None = None) -> list[dict[int, Signals]]:
        """`hashed`: the images' hash evidence when already found (a cascade's first stage)."""
        raw = [dict(h) for h in hashed] if hashed is not None else self._hash_evidence(images)
        boxes: list[dict[int, Box]] = [dict() for _ in images]
        for feat in self.features:
            if feat.descriptor is not None:
                self._descriptor_signals(feat, self.indexes[feat.index_name], images, raw,
                                         boxes)
        out = []
        for ev, bx in zip(raw, boxes, strict=True):
            works = {wid for e in ev.values() for wid in e.scores}
            per_work = {}
            for wid in works:
                values = {name: e.scores.get(wid, e.floor) for name, e in ev.items()
                          if name not in CHARACTER_SIGNALS}
                # the character signals only for works their indexes returned: a floor
                # stood in for the others and blurred the margins between characters
                if any(wid in ev[n].scores for n in CHARACTER_SIGNALS if n in ev):
                    values.update((n, ev[n].scores.get(wid, ev[n].floor))
                                  for n in CHARACTER_SIGNALS if n in ev)
                box = WHOLE
                if wid in bx and values.get("sscd_region", -1) > values.get("sscd_whole", -1):
                    box = bx[wid]
                per_work[wid] = Signals(values, box)
            derive_signals(per_work, self.registry.content_groups)
            if self.derivative_calibrator is not None:
                margins(per_work)
                derivative_probabilities(self.derivative_calibrator, per_work)
            out.append(per_work)
        if self.profile.refine:
            self._refine(images, out)
        return out

    # -- internals --------------------------------------------------------------------------
    def _screen_batch(self, batch: list[tuple[str, DecodedImage | str]]) -> list[ImageResult]:
        good = [(i, d) for i, (_, d) in enumerate(batch) if isinstance(d, DecodedImage)]
        found = self.scored([d for _, d in good]) if good else []
        results = [ImageResult(input=name, error=d) if isinstance(d, str)
                   else ImageResult(input=name, width=d.width, height=d.height,
                                    versions=self.versions)
                   for name, d in batch]
        # probabilities first: only works worth reporting are read from the registry (a big
        # registry returns hundreds of candidates per image, and reading them all cost more
        # than the search)
        sigs = [per_work for per_work, _ in found]
        scored = [[(w, p) for w, p in probs.items()
                   if max(p, per_work[w].derivative or 0.0) >= self.thresholds.report]
                  for per_work, probs in found]
        works = self.registry.by_ids(sorted({w for sc in scored for w, _ in sc}))
        # a match on a further reference image is a match of its work
        works.update(self.registry.by_ids(sorted(
            {w.parent_id for w in works.values() if w.parent_id is not None} - set(works))))
        for (i, decoded), per_work, sc in zip(good, sigs, scored, strict=True):
            results[i] = self._fuse(results[i], decoded, per_work, sc, works)
        return results

    def _fuse(self, result: ImageResult, decoded: DecodedImage, per_work: dict[int, Signals],
              scored: list[tuple[int, float]], works: dict[int, WorkRecord]) -> ImageResult:
        best: dict[int, ImageMatch] = {}
        for wid, p in scored:
            image = works.get(wid)
            work = image if image is None or image.parent_id is None else \
                works.get(image.parent_id)
            # withdrawn between index sync and now: never report it
            if image is None or work is None or "withdrawn" in (image.status, work.status):
                continue
            sig = per_work[wid]
            derivative = sig.derivative if self.derivative_rule.applies(work.category) \
                else None
            match = ImageMatch(
                work, p, pixel_box(sig.box, decoded.width, decoded.height), dict(sig.values),
                image if image.parent_id is not None else None, derivative)
            if work.id in best:  # one match a work: its best image
                kept, other = (best[work.id], match) if best[work.id].risk >= match.risk \
                    else (match, best[work.id])
                best[work.id] = with_derivative_of(kept, other)
                continue
            best[work.id] = match
        matches = sorted(best.values(), key=lambda m: (-m.risk, m.work.external_id))
        decision: Decision = "clear"
        for m in matches:
            m.decision, m.similarity_kind = match_decision(
                m.score, m.derivative_score, self.thresholds, self.derivative_rule)
            decision = worst(decision, m.decision)
        result.matches = [m for m in matches if m.risk >= self.thresholds.report
                          ][: self.max_matches]
        result.risk_score = result.matches[0].risk if result.matches else 0.0
        result.decision = decision if result.matches else "clear"
        return result

    def _hash_signals(self, feat: IndexedFeature, index: FeatureIndex,
                      images: Sequence[DecodedImage], out: list[dict[str, Evidence]]) -> None:
        assert feat.hasher is not None
        codes = feat.hasher.extract([d.image for d in images])
        for hits, ev in zip(index.search(codes, K_PER_VIEW), out, strict=True):
            ev[feat.spec.name] = Evidence.of(hits)

    def _descriptor_signals(self, feat: IndexedFeature, index: FeatureIndex,
                            images: Sequence[DecodedImage], out: list[dict[str, Evidence]],
                            boxes: list[dict[int, Box]]) -> None:
        whole, flat, regions = self.view_descriptors(feat, images)
        # one search for every view: a Flat index is read once, by one matrix product
        found = index.search(np.vstack([whole, regions]), K_PER_VIEW)
        whole_hits, region_hits = found[:len(whole)], found[len(whole):]
        by_image: list[list[int]] = [[] for _ in images]
        for row, (i, _, _) in enumerate(flat):
            by_image[i].append(row)
        bg_whole, bg_regions = self._background(whole, regions)
        for i, ev in enumerate(out):
            ev["sscd_whole"] = Evidence.of(whole_hits[i])
            if bg_whole is not None:
                ev["sscd_whole_norm"] = Evidence.of(whole_hits[i], shift=bg_whole[i])
            if not by_image[i]:
                continue
            region = Evidence(floor=-1.0)
            # A pasted work shows in several overlapping windows; a chance likeness in one.
            # The second-best window's similarity to the same work measures that support.
            support = Evidence(floor=-1.0)
            region_norm = Evidence(floor=-2.0)
            for row in by_image[i]:
                box = flat[row][1]
                hits = region_hits[row]
                ej = Evidence.of(hits)
                region.floor = max(region.floor, ej.floor)
                support.floor = max(support.floor, ej.floor)
                for wid, score in ej.scores.items():
                    if score > region.scores.get(wid, -2.0):
                        if wid in region.scores:
                            support.scores[wid] = region.scores[wid]
                        region.scores[wid] = score
                        boxes[i][wid] = box
                    elif score > support.scores.get(wid, -2.0):
                        support.scores[wid] = score
                if bg_regions is not None:
                    en = Evidence.of(hits, shift=bg_regions[row])
                    region_norm.floor = max(region_norm.floor, en.floor)
                    for wid, score in en.scores.items():
                        region_norm.scores[wid] = max(score, region_norm.scores.get(wid, -2.0))
            ev["sscd_region"] = region
            ev["sscd_region2"] = support
            if bg_regions is not None:
                ev["sscd_region_norm"] = region_norm

    def view_descriptors(self, feat: IndexedFeature, images: Sequence[DecodedImage]
                         ) -> tuple[np.ndarray, list[tuple[int, Box, Image.Image]], np.ndarray]:
        """The descriptors this profile searches for a batch: one row per image for the whole
        image; the informative windows of every image, flattened as (image index, box, crop),
        and one row per window."""
        ex = feat.descriptor
        assert ex is not None
        whole = ex.extract_arrays([ex.prepare(d.image, self.profile.whole_size) for d in images])
        flat = [(i, box, v) for i, d in enumerate(images)
                for box, v in informative_views(d.image, self.profile.views.query_windows)]
        regions = ex.extract_arrays([ex.prepare(v, self.profile.window_size) for _, _, v in flat])
        return whole, flat, regions

    def _refine(self, images: Sequence[DecodedImage], out: list[dict[int, Signals]]) -> None:
        """Signals `sscd_refined` (the best similarity of refined boxes to the leading
        candidate, its sscd elsewhere) and `refine_gain` (how much refining added), and the
        refined box as that candidate's region when it matched better. The leading candidate
        is the work with the highest sscd; it is refined only when one of the grid's windows,
        not the whole image, matched it best. All images' boxes go through the model in one
        batch."""
        feat = next((f for f in self.features if f.descriptor is not None), None)
        jobs: list[tuple[int, int, list[Box], np.ndarray]] = []
        crops: list[np.ndarray] = []
        for i, per_work in enumerate(out):
            for sig in per_work.values():
                sig.values["sscd_refined"] = sig.values.get("sscd", 0.0)
                sig.values["refine_gain"] = 0.0
            if feat is None or self.work_aspect is None or not per_work:
                continue
            wid = max(per_work, key=lambda w: (per_work[w].values.get("sscd", -1.0), -w))
            lead = per_work[wid]
            if lead.box == WHOLE or "sscd" not in lead.values:
                continue
            aspect = self.work_aspect(wid)
            index = self.indexes[feat.index_name]
            vectors = (index.work_vectors(wid, REFINE_VARIANTS)
                       if isinstance(index, DenseIndex) else None)
            if aspect is None or vectors is None or not len(vectors):
                continue
            found = informative_views(
                images[i].image, refined_boxes(lead.box, aspect, images[i].width,
                                               images[i].height))
            if not found:
                continue
            boxes = [box for box, _ in found]
            assert feat.descriptor is not None
            crops.extend(feat.descriptor.prepare(v, self.profile.window_size) for _, v in found)
            jobs.append((i, wid, boxes, vectors))
        if not jobs:
            return
        assert feat is not None and feat.descriptor is not None
        descs = feat.descriptor.extract_arrays(crops)
        row = 0
        for i, wid, boxes, vectors in jobs:
            sims = (descs[row: row + len(boxes)] @ vectors.T).max(axis=1)
            row += len(boxes)
            best = int(np.argmax(sims))
            lead = out[i][wid]
            # the lead's twins (same content, matched by the same window) are refined alike
            for sig in [lead] + [s for w, s in out[i].items() if w != wid
                                 and lead.group is not None and s.group == lead.group
                                 and s.box == lead.box
                                 and s.values.get("sscd") == lead.values["sscd"]]:
                sig.values["sscd_refined"] = float(sims[best])
                sig.values["refine_gain"] = max(0.0, float(sims[best]) - sig.values["sscd"])
                if sims[best] > sig.values.get("sscd_region", -1.0):
                    sig.box = boxes[best]

    def _background(self, whole: np.ndarray,
                    regions: np.ndarray) -> tuple[np.ndarray | None, np.ndarray | None]:
        if self.background is None:
            return None, None

        def mean_top(q: np.ndarray) -> np.ndarray:
            hits = self.background.search(q, BACKGROUND_K) if len(q) else []  # type: ignore[union-attr]
            return np.array([np.mean([h.score for h in hs]) if hs else 0.0 for hs in hits])

        return mean_top(whole), mean_top(regions)
