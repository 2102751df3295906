"""Which superpixels each LIME sample keeps: i.i.d. Bernoulli(p) masks and three
variance-reduced schemes that keep every mask's marginal law (each superpixel visible with
probability p, independently of the others' marginals), so that they estimate the same
surrogate as lime's i.i.d. masks, only with less noise per model call.

* ``bernoulli``: the essay's i.i.d. Bernoulli(p) presence.
* ``antithetic``: pairs ``u < p`` and ``1 - u < p`` from one uniform draw ``u``; at p = 0.5
  each mask's partner is its complement (a foldover design: the main effects are no longer
  aliased with two-superpixel interactions).
* ``stratified``: the number of visible superpixels is drawn stratified over its
  Binomial(n, p) law (one draw per 1/m quantile band of the round), then a uniform subset of
  that size stays visible.
* ``sobol``: a scrambled Sobol sequence (``scipy.stats.qmc``) thresholded at p.

A sampler is a stream: ``draw(m)`` returns the next ``m`` masks and the unit (pair or single
sample) each row belongs to, for a bootstrap that must resample pairs whole. The first row
it ever returns is the original image (every superpixel visible); for ``antithetic`` its
partner is the all-hidden image. Equal seeds give equal streams.
"""

from __future__ import annotations

import numpy as np

SAMPLINGS = ("bernoulli", "antithetic", "stratified", "sobol")


class MaskSampler:
    """The next masks of one explanation, round after round, from one seeded generator."""

    def __init__(self, scheme: str, n_segments: int, p: float, seed: int) -> None:
        if scheme not in SAMPLINGS:
            raise ValueError(f"sampling must be one of {SAMPLINGS}, got {scheme!r}")
        self.scheme, self.n, self.p = scheme, n_segments, p
        self.rng = np.random.default_rng(seed)
        self.drawn = 0  # rows returned so far
        self.units = 0  # bootstrap units returned so far
        self._sobol = None
        if scheme == "sobol":
            from scipy.stats import qmc

            self._sobol = qmc.Sobol(d=n_segments, scramble=True, seed=self.rng)

    def draw(self, m: int) -> tuple[np.ndarray, np.ndarray]:
        """(m, n) bool masks and (m,) int unit ids (global, increasing)."""
        if self.scheme == "antithetic":
            pairs = (m + 1) // 2
            u = self.rng.random((pairs, self.n))
            z = np.stack([u < self.p, (1.0 - u) < self.p], axis=1).reshape(-1, self.n)[:m]
            if self.drawn == 0:
                z[0] = True
                z[1:2] = False
            unit = self.units + np.arange(m) // 2
            self.units += pairs
        else:
            z = self._singles(m)
            if self.drawn == 0:
                z[0] = True
            unit = self.units + np.arange(m)
            self.units += m
        self.drawn += m
        return z, unit

    def _singles(self, m: int) -> np.ndarray:
        if self.scheme == "bernoulli":
            return self.rng.random((m, self.n)) < self.p
        if self.scheme == "sobol":
            import warnings

            with warnings.catch_warnings():  # rounds are not powers of two; the stream is
                warnings.simplefilter("ignore", UserWarning)
                return self._sobol.random(m) < self.p
        return stratified_masks(self.rng, m, self.n, self.p)


def stratified_masks(rng: np.random.Generator, m: int, n: int, p: float) -> np.ndarray:
    """m masks whose visible counts are stratified over Binomial(n, p): the i-th count is
    the quantile of a uniform draw in [i/m, (i+1)/m); each keeps a uniform subset that size."""
    from scipy.stats import binom

    bands = (np.arange(m) + rng.random(m)) / m
    counts = binom.ppf(bands, n, p).astype(np.int64)
    rng.shuffle(counts)
    order = np.argsort(rng.random((m, n)), axis=1)  # a random permutation per row
    return order < counts[:, None]
