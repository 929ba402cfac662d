"""Synthetic vectors for the index benchmarks: queries with one planted neighbour."""

from __future__ import annotations

import numpy as np


def planted(targets: np.ndarray, noise: np.ndarray, cosine: float) -> np.ndarray:
    """Unit queries at exactly `cosine` to each row of `targets` (unit vectors): each target
    plus the part of its `noise` row orthogonal to it, normalised. Random high-dimensional
    vectors are nearly orthogonal to each other, so the target is each query's nearest
    neighbour by far, and an index that misses it misses a real match."""
    r = noise - (noise * targets).sum(axis=1, keepdims=True) * targets
    r /= np.linalg.norm(r, axis=1, keepdims=True)
    return (cosine * targets + np.sqrt(1 - cosine ** 2) * r).astype(np.float32)
