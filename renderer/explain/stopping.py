"""When LIME has drawn enough samples: the stopping rule of an adaptive run.

The rule was chosen by measurement (``renderer/bench/explain.py`` and the README): of the
bootstrap mean top-5 overlap, the strict share of identical top-5 sets and a z-score
separating the 5th and 6th coefficients, the mean overlap predicted agreement with
lime's 4,000-sample top 5 at the fewest samples.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import RecipeError
from .surrogate import Settledness

STOP_REASONS = ("stable", "cap", "fixed")


@dataclass(frozen=True)
class StopRule:
    """When an adaptive run has enough samples: after at least ``min_samples``, at the end
    of the first round whose bootstrap mean top-5 overlap (``Settledness.overlap``) reaches
    ``stability``; else at ``max_samples``. ``samples`` set means exactly that many."""

    stability: float = 0.8
    min_samples: int = 200
    max_samples: int = 3000
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

    def verdict(self, drawn: int, settled: Settledness) -> str | None:
        """Why to stop after ``drawn`` samples, or None to draw another round."""
        if self.samples is None and drawn >= self.min_samples and settled.overlap >= self.stability:
            return "stable"
        if drawn >= self.cap:
            return "fixed" if self.samples is not None else "cap"
        return None
