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


class DescriptorModel:
    """Filler registries larger than the real images at hand, modelled on real descriptors
    grouped by image (an image's whole view and windows). A synthetic image is a centre
    drawn from a Gaussian with the real images' centre mean and covariance, plus the view
    residuals (each view minus its image's centre) of a real image picked at random, with
    the sign of each of their principal components flipped at random. The flips are an
    orthogonal map of that image's residuals, so its views keep their real geometry (all
    distances between them: overlapping windows stay close), the residuals keep their
    covariance, and two synthetic images built on the same real one are unrelated.
    Isotropic random vectors, an approximate index's worst case, have neither the real
    spectrum nor this clustering by image. What the model does not keep is how alike some
    real images are (families of related clip art): its images' nearest other images are
    less similar than the real ones', so the benchmark compares its rows with the real
    filler's at the same size before using it at larger ones."""

    def __init__(self, groups: list[np.ndarray]) -> None:
        self.groups = [np.asarray(g, dtype=np.float32) for g in groups]
        means = np.stack([g.mean(axis=0) for g in self.groups]).astype(np.float64)
        self.residuals = [g - g.mean(axis=0) for g in self.groups]
        self.mean = means.mean(axis=0)
        self.centre_root = _sqrt_psd(np.cov(means, rowvar=False))
        _, self.basis = np.linalg.eigh(np.cov(np.vstack(self.residuals), rowvar=False))

    def sample(self, n: int, rng: np.random.Generator, chunk: int = 1_000) -> np.ndarray:
        """n unit vectors (float32): whole synthetic images, their views in a row, cut to n;
        made `chunk` images at a time to bound the temporaries."""
        d = len(self.mean)
        parts: list[np.ndarray] = []
        made = 0
        while made < n:
            picks = rng.integers(len(self.residuals), size=chunk)
            resid = np.vstack([self.residuals[j] for j in picks]).astype(np.float64)
            owner = np.repeat(np.arange(chunk), [len(self.residuals[j]) for j in picks])
            signs = rng.choice([-1.0, 1.0], size=(chunk, d))
            centres = self.mean + rng.standard_normal((chunk, d)) @ self.centre_root
            x = centres[owner] + ((resid @ self.basis) * signs[owner]) @ self.basis.T
            x /= np.linalg.norm(x, axis=1, keepdims=True)
            parts.append(x[: n - made].astype(np.float32))
            made += len(parts[-1])
        return np.vstack(parts)


def _sqrt_psd(cov: np.ndarray) -> np.ndarray:
    """A matrix R with R.T @ R == cov (symmetric square root; tiny negative eigenvalues from
    rounding are clipped), so z @ R has covariance cov for standard normal rows z."""
    w, v = np.linalg.eigh(cov)
    return (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T
