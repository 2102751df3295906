"""LIME's surrogate: a weighted least-squares line with an intercept, fitted round by round.

The fit keeps the normal equations ``X'WX b = X'Wy`` (``X`` = [1, z]) and adds each round's
samples to them, so a refit after a round costs one small solve instead of a pass over every
sample so far. Beside them it keeps the same sums for ``resamples`` bootstrap replicates:
each sample (or antithetic pair, resampled whole) enters replicate ``b`` with a Poisson(1)
count drawn once, when it arrives. That is the online ("Poisson") bootstrap: the same law as
drawing n rows with replacement, up to O(1/n), but accumulated like the fit and solved for
all replicates in one batched call. The counts come from their own generator, so they never
change which samples are drawn.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class LinearFit:
    coef: np.ndarray
    intercept: float
    r2: float


def weighted_linear_fit(x: np.ndarray, y: np.ndarray, w: np.ndarray) -> LinearFit:
    """Weighted least squares with an intercept from scratch (lstsq on centred data), and
    its weighted R^2: the reference the running fit must match."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    w = np.asarray(w, dtype=np.float64)
    total = w.sum()
    x_mean = (w[:, None] * x).sum(0) / total
    y_mean = float((w * y).sum() / total)
    root = np.sqrt(w)
    coef, *_ = np.linalg.lstsq(root[:, None] * (x - x_mean), root * (y - y_mean), rcond=None)
    intercept = y_mean - float(x_mean @ coef)
    return LinearFit(coef, intercept, weighted_r2(x, y, w, coef, intercept))


def weighted_r2(x: np.ndarray, y: np.ndarray, w: np.ndarray, coef: np.ndarray, intercept: float):
    """1 - SS_res / SS_tot, both weighted: how well the line fits the samples it saw."""
    y_mean = float((w * y).sum() / w.sum())
    ss_res = float((w * (y - (x @ coef + intercept)) ** 2).sum())
    ss_tot = float((w * (y - y_mean) ** 2).sum())
    return 1.0 - ss_res / ss_tot if ss_tot > 0 else (1.0 if ss_res == 0 else 0.0)


def _solve(gram: np.ndarray, moment: np.ndarray) -> np.ndarray:
    """Solve (..., d, d) @ b = (..., d); the least-norm answer where a system is singular
    (fewer distinct samples than superpixels)."""
    try:
        return np.linalg.solve(gram, moment[..., None])[..., 0]
    except np.linalg.LinAlgError:
        return (np.linalg.pinv(gram, hermitian=True) @ moment[..., None])[..., 0]


class RunningFit:
    """The surrogate's normal equations and those of its bootstrap replicates, accumulated."""

    def __init__(self, n_features: int, resamples: int = 100, seed: int = 0) -> None:
        d = n_features + 1
        self.gram = np.zeros((d, d))
        self.moment = np.zeros(d)
        self.boot_gram = np.zeros((resamples, d, d))
        self.boot_moment = np.zeros((resamples, d))
        self.rng = np.random.default_rng(seed)

    def add(self, z: np.ndarray, y: np.ndarray, w: np.ndarray, unit: np.ndarray) -> None:
        """Add samples: masks ``z`` (m, n), scores ``y``, kernel weights ``w`` and the
        bootstrap unit of each row (rows of one unit share their Poisson counts)."""
        x = np.hstack([np.ones((len(z), 1)), np.asarray(z, dtype=np.float64)])
        y = np.asarray(y, dtype=np.float64)
        w = np.asarray(w, dtype=np.float64)
        self.gram += x.T @ (w[:, None] * x)
        self.moment += x.T @ (w * y)
        _, row_unit = np.unique(unit, return_inverse=True)
        counts = self.rng.poisson(1.0, (len(self.boot_gram), row_unit.max() + 1))[:, row_unit]
        cw = counts * w  # (B, m)
        self.boot_gram += (x.T[None] * cw[:, None, :]) @ x
        self.boot_moment += (cw * y) @ x

    def solve(self) -> tuple[float, np.ndarray]:
        """(intercept, coefficients) of the fit to every sample added so far."""
        b = _solve(self.gram, self.moment)
        return float(b[0]), b[1:]

    def bootstrap(self) -> np.ndarray:
        """(resamples, n) coefficients of every bootstrap replicate: one batched solve."""
        return _solve(self.boot_gram, self.boot_moment)[:, 1:]


def top_segments(weights: np.ndarray, k: int) -> np.ndarray:
    """The k superpixels with the largest weights, largest first (ties by label)."""
    return np.lexsort((np.arange(len(weights)), -np.asarray(weights)))[:k]


@dataclass(frozen=True)
class Settledness:
    """How settled a fit's top k is, judged by its bootstrap replicates (no model calls).

    ``within_one``: the share of replicates whose top k keeps at least k - 1 of the full
    fit's (4 of 5): what adaptive LIME stops on;
    ``overlap``: the replicates' mean share of the full fit's top k (4.5 of 5 is 0.9);
    ``same``: the share of replicates with exactly the full fit's top-k set (strict);
    ``gap_z``: the k-th minus the (k+1)-th coefficient (labels of the full fit) over the
    replicates' standard deviation of that difference: a z-score that they are ordered.
    """

    within_one: float
    overlap: float
    same: float
    gap_z: float


def settledness(coef: np.ndarray, boot: np.ndarray, k: int = 5, widen: float = 1.0) -> Settledness:
    """The four measures of ``Settledness`` for coefficients ``coef`` and replicates ``boot``,
    each replicate first moved ``widen`` times as far from ``coef`` (1: as drawn)."""
    if widen != 1.0:
        boot = coef + widen * (boot - coef)
    n = len(coef)
    k = min(k, n)
    order = top_segments(coef, n)
    full = np.zeros(n, dtype=bool)
    full[order[:k]] = True
    # each replicate's top k by the same (weight desc, label asc) order
    ranks = np.lexsort((np.broadcast_to(np.arange(n), boot.shape), -boot), axis=1)[:, :k]
    hits = full[ranks].sum(1)
    if k < n:
        gap = boot[:, order[k - 1]] - boot[:, order[k]]
        full_gap = coef[order[k - 1]] - coef[order[k]]
        spread = float(gap.std())
        gap_z = float(full_gap / spread) if spread > 0 else float("inf")
    else:
        gap_z = float("inf")
    return Settledness(
        within_one=float((hits >= k - 1).mean()),
        overlap=float(hits.mean() / k),
        same=float((hits == k).mean()),
        gap_z=gap_z,
    )
