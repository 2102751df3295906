"""When LIME has drawn enough samples: the stopping rule of an adaptive run.

The rule and its values were chosen by replaying the product's loop (``lime.settle``) on
cached scores against the answer LIME converges to (``renderer.bench.lime``; the figures
are in docs/explain.md): 10 sample photos, 20 seeds each, every round of 50 samples
compared with the top 5 of a 16,000-sample fit that shares no sample with the run.

* The share of 100 bootstrap refits that keep at least 4 of the fit's top 5
  (``Settledness.within_one``) is calibrated where it matters: rounds stating 0.8-1.0
  kept 4 of the converged 5 as often as they said (within 2 points) or more often;
  0.5-0.8 overstates by 4 points, below 0.5 by 5 (0.24 stated, 0.19 measured).
* Stopping at the first round that reaches a share, the chance of a lucky crossing adds up
  over the looks: at 0.8 (issue 15's rule) only 84% of the "settled" runs kept 4 of the
  converged 5, at 0.97 96%, at 0.99 all 116. Widening the bootstrap (x1.25-1.75), 400
  replicates instead of 100, 0.97 two rounds in a row, a floor per superpixel or a higher
  floor bought the same reliability for about as many samples (within 5%) or more.
* The cap decides how often a run that never settles still matches lime: at 1,000 the
  replays shared fewer of the converged 5 on average than lime at 1,000 samples, at 2,000
  more.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import RecipeError
from .surrogate import Settledness, settledness

STOP_REASONS = ("stable", "cap", "fixed")
PROJECTIONS = (1.25, 1.5, 2.0, 3.0, 4.0, 6.0, 8.0, 12.0, 16.0)


@dataclass(frozen=True)
class StopRule:
    """When an adaptive run has enough samples: after at least ``min_samples``, at the end
    of the first round where the share of bootstrap refits keeping at least 4 of the fit's
    top 5 (``Settledness.within_one``) reaches ``stability``; else at ``max_samples``.
    ``samples`` set means exactly that many."""

    stability: float = 0.99
    min_samples: int = 200
    max_samples: int = 2000
    samples: int | None = None

    def __post_init__(self) -> None:
        if not 0.0 < self.stability <= 1.0:
            raise RecipeError(f"LIME stability must lie in (0, 1], got {self.stability}")
        if self.min_samples < 2:
            raise RecipeError(f"LIME's floor must be at least 2 samples, got {self.min_samples}")
        if self.min_samples > self.max_samples:
            raise RecipeError(
                f"LIME's floor ({self.min_samples} samples) is above its cap "
                f"({self.max_samples} samples)"
            )
        if self.samples is not None and self.samples < 2:
            raise RecipeError(f"lime_samples must be at least 2, got {self.samples}")

    @property
    def cap(self) -> int:
        return self.samples if self.samples is not None else self.max_samples

    def to_settle(self, coef: np.ndarray, boot: np.ndarray, drawn: int) -> int | None:
        """How many samples in all would settle this top 5, if more samples only narrowed
        the bootstrap (its spread falls as 1/sqrt(samples)): the first of 1.25x, 1.5x, ...
        16x ``drawn`` whose narrowed replicates reach ``stability``; None beyond 16x."""
        for factor in PROJECTIONS:
            narrowed = settledness(coef, boot, widen=1.0 / np.sqrt(factor))
            if narrowed.within_one >= self.stability:
                return int(np.ceil(drawn * factor / 50.0) * 50)
        return None

    def verdict(self, drawn: int, settled: Settledness) -> str | None:
        """Why to stop after ``drawn`` samples, or None to draw another round."""
        if (
            self.samples is None
            and drawn >= self.min_samples
            and settled.within_one >= self.stability
        ):
            return "stable"
        if drawn >= self.cap:
            return "fixed" if self.samples is not None else "cap"
        return None
