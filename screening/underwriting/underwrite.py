"""One underwriting job, shared by the CLI and the API: sample -> profile -> quote."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from screening.errors import InvalidInputError
from screening.inputs import expand_image_paths, expand_text_paths
from screening.underwriting.applicant import Applicant
from screening.underwriting.plan import RatingPlan
from screening.underwriting.pricing import Quote, SampleSummary, quote
from screening.underwriting.profile import (
    RiskProfile,
    build_profile,
    read_sample,
    validate_result,
)


def screen_folder(folder: Path, screen_images: Callable, screen_texts: Callable) -> list[dict]:
    """Screen every image and text file under `folder` (sorted) and return the results."""
    images = list(expand_image_paths([folder]))
    texts = list(expand_text_paths([folder]))
    if not images and not texts:
        raise InvalidInputError(f"{folder}: no image or text outputs to screen")
    results = [r.to_dict() for r in screen_images(images)] if images else []
    if texts:
        results += [r.to_dict() for r in screen_texts([(str(p), p) for p in texts])]
    return results


def load_results(sample: Path, screen_images: Callable | None = None,
                 screen_texts: Callable | None = None) -> list[dict]:
    """A sample is a JSON Lines file of screening results, or a folder of outputs that is
    screened first (then the two callables are needed), or the --out folder of a scan."""
    from screening.scan.summary import is_scan, scan_results

    if sample.is_dir() and is_scan(sample):
        results = [validate_result(r, f"{sample}: item {i}")
                   for i, r in enumerate(scan_results(sample))]
        if not results:
            raise InvalidInputError(f"{sample}: the scan has no results yet")
        return results
    if sample.is_dir():
        if screen_images is None or screen_texts is None:
            raise InvalidInputError("screening a folder needs a data dir with registered works")
        return screen_folder(sample, screen_images, screen_texts)
    if not sample.exists():
        raise InvalidInputError(f"{sample}: no such sample file or folder")
    return read_sample(sample)


def underwrite(results: list[dict], applicant: Applicant, plan: RatingPlan, limit: float,
               deductible: float, currency: str | None = None,
               index_revision: int | None = None, aggregate_limit: float | None = None
               ) -> tuple[RiskProfile, Quote]:
    profile = build_profile(results, plan, index_revision)
    q = quote(plan, applicant,
              SampleSummary(profile.outputs, profile.expected_hits, profile.severity_mix),
              limit, deductible, currency, aggregate_limit=aggregate_limit)
    q.screening_versions = profile.versions
    q.profile = profile.to_dict()
    return profile, q
