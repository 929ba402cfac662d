"""The aggregate annual loss of one policy: the exact compound distribution, not a simulation.

The rating plan prices the expected loss; an insurer also needs the spread around it (capital,
reinsurance, the chance that the aggregate limit is used up). Claims arrive as a Poisson count
N with rate `lam`; each claim X is lognormal (the plan's severity curve) and the policy pays
Y = min(max(X - D, 0), L) per claim, with the year's total S = Y_1 + ... + Y_N capped at the
aggregate limit A.

How the distribution is computed (Klugman, Panjer and Willmot, "Loss Models", 4th ed.):

* Y is put on a grid 0, h, 2h, ... by local moment matching of order 1 (sec. 9.6.5): the mass
  of each interval [jh, (j+1)h] is split between its two ends so that its mean is kept. The
  discrete mean then equals E[Y] = lev(D + L) - lev(D) to rounding, and the atom P(X >= D + L)
  lands whole on the point L when L is a multiple of h (the policy's grid makes it so).
* S follows from Panjer's recursion for the Poisson (sec. 9.6.1, with severity mass at zero),
  exact on the grid, O(n * L/h); or from the FFT of the probability generating function with
  exponential tilting (Grubel and Hermesmeier 1999) so that wrap-around is suppressed, O(n log n).
  Both give the same numbers; a test holds them to it.
* The grid of a policy reaches max(A, L, x) + k h, with L a multiple of the span h, where
  P(N > k) <= 5e-10 and P(S > x) <= 5e-10 (the smaller of k * y with lam P(Y > y) <= 5e-10,
  and a Chernoff bound); the k h covers the discretisation, which moves each claim up by < h.
  So less than 1e-9 of probability lies beyond the grid; it is kept on its last point, read as
  "that much or more". `points` (2^16) spans share that reach.

TVaR is the expected shortfall VaR_q + E[(S - VaR_q)+] / (1 - q): the mean of the worst 1 - q of
years. It equals E[S | S >= VaR_q] for a continuous S and stays right with atoms (the point mass
at S = 0 of a policy that rarely has a claim), where the plain conditional mean does not.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
from scipy.special import logsumexp, ndtr, ndtri
from scipy.stats import poisson

from screening.errors import InvalidInputError

Array = npt.NDArray[np.floating[Any]]
Method = Literal["panjer", "fft"]

#: P(S beyond the grid) stays below this; split evenly between "too many claims" and "a claim
#: too large" in the grid rule.
TAIL_PROBABILITY = 1e-9
#: Above this lam * (1 - f0) the Panjer start value exp(-lam * (1 - f0)) underflows a double.
PANJER_MAX_RATE = 700.0
#: Exponential tilt of the FFT, as theta * n: on a grid padded to 4n, mass that wraps around is
#: damped by exp(-4 * 4) ~ 1e-7, while rounding on the grid is amplified by at most exp(4) ~ 55.
FFT_TILT = 4.0
DEFAULT_POINTS = 2**16
#: Beyond this lam * (1 - f0), P(S = 0) < 1e-20 and the FFT needs no care for it (below it,
#: g_0 expm1(...) keeps the digits of a policy that rarely claims; above ~700 g_0 underflows).
_FFT_PLAIN_RATE = 50.0
#: cdf ties within this of q count as reaching q (cumulative sums round).
_CDF_TOLERANCE = 1e-12


def _number(name: str, value: float, low: float, strict: bool) -> float:
    value = float(value)
    ok = math.isfinite(value) and (value > low if strict else value >= low)
    if not ok:
        raise InvalidInputError(f"{name} must be a finite number {'>' if strict else '>='} "
                                f"{low:g}, got {value}")
    return value


def check_policy_terms(lam: float, median: float, sigma: float, deductible: float,
                       limit: float, aggregate_limit: float) -> None:
    """Raise InvalidInputError naming the first term that cannot describe a policy."""
    _number("lam (expected claims a year)", lam, 0.0, strict=False)
    _check_layer(median, sigma, deductible, limit)
    _number("aggregate_limit", aggregate_limit, 0.0, strict=True)


def _check_layer(median: float, sigma: float, deductible: float, limit: float) -> None:
    _number("median (severity)", median, 0.0, strict=True)
    _number("sigma (severity)", sigma, 0.0, strict=True)
    _number("deductible", deductible, 0.0, strict=False)
    _number("limit (per claim)", limit, 0.0, strict=True)


def _between(lo: Array, hi: Array) -> Array:
    """P(lo < Z < hi) for a standard normal Z, lo <= hi, with digits kept in either tail."""
    upper = lo > 0
    return np.where(upper, ndtr(-lo) - ndtr(-hi), ndtr(hi) - ndtr(lo))


def lev_increments(median: float, sigma: float, a: Array, width: Array) -> Array:
    """E[min(X, a + w)] - E[min(X, a)] = integral of P(X > x) over [a, a + w], X lognormal.

    Written as E[(X - a); a < X <= a + w] + w P(X > a + w), never as a difference of two
    limited expected values: those are of the order of E[X] (1e9 for a wide curve) while the
    increment is at most w, and subtracting them lost 1e-9 of probability on a fine grid. The
    width is passed, not b - a, so that equal intervals have exactly equal widths.
    """
    mu = math.log(median)
    b = a + width
    with np.errstate(divide="ignore"):  # log(0) = -inf is the right z for x = 0
        za = (np.log(a) - mu) / sigma
        zb = (np.log(b) - mu) / sigma
    mean = math.exp(mu + sigma * sigma / 2)
    below = mean * _between(za - sigma, zb - sigma) - a * _between(za, zb)
    return np.maximum(below, 0.0) + width * ndtr(-zb)


def layer_severity(median: float, sigma: float, deductible: float, limit: float, span: float,
                   n: int) -> Array:
    """Probabilities of the per-claim payment Y = min(max(X - D, 0), L) at 0, h, ..., (n-1)h.

    Local moment matching of order 1 from the increments d_j = E[min(Y, jh)] -
    E[min(Y, (j-1)h)] = lev(D + min(jh, L)) - lev(D + min((j-1)h, L)): f_0 = 1 - d_1 / h and
    f_j = (d_j - d_(j+1)) / h, which telescopes to a discrete mean of d_1 + d_2 + ... = E[Y].
    If the grid ends before L, the mass above its last point is put on that point (the mean
    then falls short by E[(Y - end)+]).
    """
    _check_layer(median, sigma, deductible, limit)
    h = _number("span", span, 0.0, strict=True)
    if n < 2:
        raise InvalidInputError(f"a grid needs at least 2 points, got {n}")
    steps = limit / h
    m = round(steps) if abs(steps - round(steps)) <= 1e-9 * steps else math.ceil(steps)
    top = min(m, n - 1)
    # Interval j runs from D + (j-1)h to D + jh; the last one, m, ends at D + L; beyond m
    # there is nothing (Y <= L), so d[m + 1] = 0.
    width = np.full(top + 1, h)
    if top + 1 > m:
        width[m - 1] = max(0.0, limit - (m - 1) * h)
        width[m:] = 0.0
    d = np.zeros(top + 2)  # d[j] for j = 1 .. top + 1
    d[1:] = lev_increments(median, sigma, deductible + np.arange(top + 1) * h, width)
    f = np.zeros(n)
    f[0] = 1.0 - d[1] / h
    f[1:top + 1] = (d[1:top + 1] - d[2:top + 2]) / h
    # P(X > x) falls, so d_j >= d_(j+1); rounding can still leave -1e-17.
    np.maximum(f, 0.0, out=f)
    if top < m:
        f[top] = max(0.0, 1.0 - f[:top].sum())
    return f


def compound_poisson(lam: float, severity_pmf: npt.ArrayLike, n: int,
                     method: Method = "panjer") -> Array:
    """Probabilities of S = Y_1 + ... + Y_N, N ~ Poisson(lam), at the first n grid points.

    Exact on the grid: a claim at or beyond point n only moves S beyond it, so the points below
    n depend only on severity_pmf[:n]. The result sums to 1 - P(S beyond the grid).
    """
    lam = _number("lam (expected claims a year)", lam, 0.0, strict=False)
    if n < 1:
        raise InvalidInputError(f"a grid needs at least 1 point, got {n}")
    f = np.asarray(severity_pmf, dtype=np.float64)
    if f.ndim != 1 or f.size == 0 or not np.all(np.isfinite(f)) or f.min() < 0:
        raise InvalidInputError("severity_pmf must be a non-empty vector of probabilities >= 0")
    if f.sum() > 1 + 1e-9:
        raise InvalidInputError(f"severity_pmf sums to {f.sum():.12g}, above 1")
    f = f[:n]
    if method == "panjer":
        return _panjer(lam, f, n)
    if method == "fft":
        return _fft(lam, f, n)
    raise InvalidInputError(f"method must be 'panjer' or 'fft', got {method!r}")


def _panjer(lam: float, f: Array, n: int) -> Array:
    """g_0 = exp(-lam (1 - f_0)), g_k = lam / k * sum_{j=1..k} j f_j g_(k-j) (Poisson: a = 0)."""
    rate = lam * (1.0 - f[0])
    if rate > PANJER_MAX_RATE:
        raise InvalidInputError(f"Panjer's start value exp(-{rate:.0f}) underflows; use "
                                "method='fft'")
    g = np.zeros(n)
    g[0] = math.exp(-rate)
    top = int(np.flatnonzero(f)[-1]) if f.any() else 0
    jf = np.arange(top + 1) * f[:top + 1]
    for k in range(1, n):
        j = min(k, top)
        if j:
            # g[k-1], g[k-2], ..., g[k-j] against 1 f_1, ..., j f_j
            g[k] = lam / k * np.dot(jf[1:j + 1], g[k - j:k][::-1])
    return g


def _fft(lam: float, f: Array, n: int) -> Array:
    """exp(lam (P_Y(z) - 1)) at tilted roots of unity, on a grid padded to >= 4n.

    Written as g_0 (1 + expm1(lam sum_{j>=1} f_j z^j)) with g_0 = exp(-lam (1 - f_0)): the
    transform then carries only the mass of S > 0, so rounding scales with P(S > 0) instead of
    with 1 (a policy with lam = 1e-6 kept a 3% error in its mean the plain way).
    """
    size = 1 << max(2, (4 * n - 1).bit_length())
    theta = FFT_TILT / n
    tilted = f * np.exp(-theta * np.arange(f.size))
    rate = lam * (1.0 - f[0])
    if rate > _FFT_PLAIN_RATE:  # g_0 is negligible (or underflows): the plain form is exact
        g = np.fft.irfft(np.exp(lam * (np.fft.rfft(tilted, size) - 1.0)), size)[:n]
        return np.maximum(g * np.exp(theta * np.arange(n)), 0.0)
    g0 = math.exp(-rate)
    tilted[0] = 0.0
    transform = g0 * np.expm1(lam * np.fft.rfft(tilted, size))
    g = np.fft.irfft(transform, size)[:n] * np.exp(theta * np.arange(n))
    g[0] += g0
    return np.maximum(g, 0.0)


def value_at_risk(x: Array, p: Array, q: float) -> float:
    """The q-quantile of a discrete distribution (x ascending, p its probabilities): the
    least x_k with P(S <= x_k) >= q."""
    _check_level(q)
    cdf = np.cumsum(p)
    k = int(np.searchsorted(cdf, q - _CDF_TOLERANCE, side="left"))
    if k >= x.size:
        raise InvalidInputError(f"level {q} lies beyond the distribution's grid")
    return float(x[k])


def tail_value_at_risk(x: Array, p: Array, q: float) -> float:
    """Expected shortfall VaR_q + E[(S - VaR_q)+] / (1 - q): the mean of the worst 1 - q."""
    v = value_at_risk(x, p, q)
    above = x > v
    return v + float(np.dot(x[above] - v, p[above])) / (1.0 - q)


def _check_level(q: float) -> None:
    if not (math.isfinite(q) and 0 < q < 1):
        raise InvalidInputError(f"a quantile level must lie strictly between 0 and 1, got {q}")


def cap_pmf(pmf: Array, span: float, cap: float) -> Array:
    """The distribution of min(S, cap) on the same grid.

    Points below the cap keep their mass; the rest (including what pmf lacks, S beyond its grid)
    is the mass at the cap. A cap between grid points has that mass split between the two so
    that E[min(S, cap)] is kept exactly.
    """
    position = _number("cap", cap, 0.0, strict=True) / _number("span", span, 0.0, strict=True)
    j, frac = round(position), 0.0
    if abs(position - j) > 1e-9 * max(1.0, position):  # not on a grid point
        j = math.floor(position)
        frac = position - j
    keep = j + 1 if frac > 0 else j  # the points strictly below the cap
    if keep > pmf.size:
        raise InvalidInputError("the cap lies beyond the distribution's grid")
    out = np.zeros(j + 2 if frac > 0 else j + 1)
    out[:keep] = pmf[:keep]
    rest = max(0.0, 1.0 - float(out[:keep].sum()))
    out[j] += rest * (1.0 - frac)
    if frac > 0:
        out[j + 1] += rest * frac
    return out


def grid_reach(lam: float, median: float, sigma: float, deductible: float, limit: float,
               ) -> tuple[float, int]:
    """(x, k) with P(S > x) <= TAIL_PROBABILITY / 2 and P(N > k) <= TAIL_PROBABILITY / 2.

    x is the smaller of two bounds, each valid alone: k * y with lam * P(Y > y) <= half the
    tail (a year above it needs more than k claims or a claim above y), which is tight for a
    few heavy claims; and Chernoff's, which is tight for many claims.
    """
    if lam == 0:
        return 0.0, 0
    half = TAIL_PROBABILITY / 2
    k = int(poisson.isf(half, lam))
    while poisson.sf(k, lam) > half:  # isf is the least such k; guard against its rounding
        k += 1
    s = half / lam  # wanted P(X > D + y)
    y = 0.0 if s >= 1 else math.exp(math.log(median) - sigma * float(ndtri(s))) - deductible
    by_count = k * min(limit, max(0.0, y))
    return min(by_count, _chernoff_reach(lam, median, sigma, deductible, limit, half)), k


def _chernoff_reach(lam: float, median: float, sigma: float, deductible: float, limit: float,
                    eps: float) -> float:
    """The least x over a ladder of theta with exp(-theta x) E[exp(theta S)] <= eps.

    E[exp(theta S)] = exp(lam (M_Y(theta) - 1)), with M_Y taken from Y discretised on 1024
    steps: the discretisation spreads each interval's mass to its ends, so it can only raise
    E[exp(theta Y)] (exp is convex), and the bound stays a bound.
    """
    steps = 1024
    f = layer_severity(median, sigma, deductible, limit, limit / steps, steps + 1)
    t = np.geomspace(1e-3, 700.0, 64)  # theta * L
    with np.errstate(divide="ignore", over="ignore"):
        log_m = logsumexp(t[:, None] * np.linspace(0.0, 1.0, steps + 1) + np.log(f), axis=1)
        x = (lam * np.expm1(log_m) - math.log(eps)) / t
    return float(np.min(x)) * limit


@dataclass(frozen=True, eq=False)
class AggregateLoss:
    """One policy's annual loss S on the grid 0, span, 2 span, ...; pmf sums to 1 (its last
    point also holds the < 1e-9 beyond the grid)."""

    lam: float
    median: float
    sigma: float
    deductible: float
    limit: float
    aggregate_limit: float
    span: float
    pmf: Array
    method: Method
    tail_mass: float  # what the recursion/FFT left beyond the grid, now on its last point

    @classmethod
    def from_policy(cls, lam: float, median: float, sigma: float, deductible: float,
                    limit: float, aggregate_limit: float, points: int = DEFAULT_POINTS,
                    method: Method = "fft") -> AggregateLoss:
        """Build the grid (module docstring: it reaches max(A, L, x) + k h, with L a multiple of
        the span h) and compute the compound distribution on it."""
        check_policy_terms(lam, median, sigma, deductible, limit, aggregate_limit)
        beyond, k = grid_reach(lam, median, sigma, deductible, limit)
        free = points - 1 - k  # intervals left once k spans of margin are set aside
        if free < (points - 1) / 2 or points < 16:
            raise InvalidInputError(f"{points} points are too few for {lam:g} claims a year; "
                                    f"use at least {max(16, 2 * k + 2)}")
        reach = max(aggregate_limit, limit, beyond)
        steps = max(1, math.floor(free * limit / reach))  # per-claim limit = steps spans
        span = limit / steps
        sev = layer_severity(median, sigma, deductible, limit, span, points)
        pmf = compound_poisson(lam, sev, points, method)
        tail = max(0.0, 1.0 - float(pmf.sum()))
        pmf[-1] += tail
        pmf.flags.writeable = False  # the figures below are read from it
        return cls(float(lam), float(median), float(sigma), float(deductible), float(limit),
                   float(aggregate_limit), span, pmf, method, tail)

    @property
    def points(self) -> int:
        return int(self.pmf.size)

    @property
    def grid(self) -> Array:
        return np.arange(self.points) * self.span

    @property
    def mean(self) -> float:
        """E[S] with no aggregate limit: lam * E[Y] up to the mass beyond the grid."""
        return float(np.dot(self.grid, self.pmf))

    @property
    def sd(self) -> float:
        return math.sqrt(max(0.0, float(np.dot((self.grid - self.mean) ** 2, self.pmf))))

    @property
    def mean_capped(self) -> float:
        """E[min(S, A)]: the most the insurer pays on average under the aggregate limit."""
        return float(np.dot(np.minimum(self.grid, self.aggregate_limit), self.pmf))

    @property
    def prob_exhaust(self) -> float:
        """P(S >= A): the chance the aggregate limit is used up within the year."""
        below = self.grid < self.aggregate_limit * (1 - 1e-12)
        return min(1.0, max(0.0, 1.0 - float(self.pmf[below].sum())))

    def var(self, q: float) -> float:
        """Value at risk: the q-quantile of S."""
        return value_at_risk(self.grid, self.pmf, q)

    def tvar(self, q: float) -> float:
        """Tail value at risk (expected shortfall; module docstring)."""
        return tail_value_at_risk(self.grid, self.pmf, q)

    def cdf_points(self, k: int) -> list[tuple[float, float]]:
        """k evenly spaced (x, P(S <= x)) pairs from 0 to 1.1 x max(A, VaR 99.9%), for charts."""
        if k < 2:
            raise InvalidInputError(f"cdf_points needs k >= 2, got {k}")
        end = self.grid[-1]
        top = min(end, 1.1 * max(self.aggregate_limit, self.var(0.999)))
        xs = np.linspace(0.0, top, k)
        cdf = np.minimum(np.cumsum(self.pmf), 1.0)
        idx = np.minimum(np.floor(xs / self.span + 1e-9).astype(int), self.points - 1)
        return [(float(x), float(c)) for x, c in zip(xs, cdf[idx], strict=True)]

    def to_dict(self) -> dict:
        levels = (0.99, 0.995)
        return {
            "method": self.method,
            "span": round(self.span, 6),
            "points": self.points,
            "mean": round(self.mean, 2),
            "sd": round(self.sd, 2),
            "aggregate_limit": round(self.aggregate_limit, 2),
            "mean_capped": round(self.mean_capped, 2),
            "prob_exhaust": _sig(self.prob_exhaust),
            "var": {str(q): round(self.var(q), 2) for q in levels},
            "tvar": {str(q): round(self.tvar(q), 2) for q in levels},
            "tail_mass": _sig(self.tail_mass),
        }


def _sig(p: float) -> float:
    """Probabilities to 6 significant digits: a rounding to fixed places would zero 1e-8."""
    return float(f"{p:.6g}")
