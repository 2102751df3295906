"""One frozen, validated settings object for every explanation of a photo."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from ..errors import RecipeError, UnknownNameError
from .sampling import SAMPLINGS
from .stopping import StopRule

METHODS = ("gradcam", "gradcam++", "guided-backprop", "guided-gradcam", "lime", "robustness")
DEFAULT_METHODS = ("gradcam", "guided-backprop", "guided-gradcam", "lime", "robustness")
HIDES = ("black", "mean")
COLORMAPS = ("inferno", "viridis", "magma", "cividis")
SEGMENTERS = {"quickshift": 3, "slic": 2}


@dataclass(frozen=True)
class SegmentSpec:
    """``quickshift:kernel_size,max_dist,ratio`` or ``slic:n_segments,compactness``."""

    algorithm: str
    values: tuple[float, ...]

    @classmethod
    def parse(cls, text: str) -> SegmentSpec:
        name, _, rest = text.strip().lower().partition(":")
        if name not in SEGMENTERS:
            raise UnknownNameError("segmentation", name, SEGMENTERS)
        defaults = {"quickshift": (4.0, 200.0, 0.2), "slic": (100.0, 10.0)}[name]
        if not rest:
            return cls(name, defaults)
        try:
            values = tuple(float(v) for v in rest.split(","))
        except ValueError:
            raise RecipeError(f"segmentation {text!r}: values must be numbers") from None
        if len(values) != SEGMENTERS[name]:
            raise RecipeError(
                f"segmentation {text!r}: {name} takes {SEGMENTERS[name]} values, "
                f"e.g. {name}:{','.join(f'{v:g}' for v in defaults)}"
            )
        if any(v <= 0 for v in values):
            raise RecipeError(f"segmentation {text!r}: values must be positive")
        return cls(name, values)

    def __str__(self) -> str:
        return f"{self.algorithm}:{','.join(f'{v:g}' for v in self.values)}"


def parse_methods(text: str | tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """``"gradcam,lime"`` (or a sequence) to a tuple of known method names, in order."""
    words = text.split(",") if isinstance(text, str) else list(text)
    methods: list[str] = []
    for word in (w.strip().lower() for w in words):
        if not word:
            continue
        if word == "all":
            methods.extend(DEFAULT_METHODS)
            continue
        if word not in METHODS:
            raise UnknownNameError("explanation method", word, METHODS)
        methods.append(word)
    if not methods:
        raise RecipeError("no explanation method given")
    return tuple(dict.fromkeys(methods))


@dataclass(frozen=True)
class ExplainSettings:
    """What to explain and how; every value lands in the manifest's ``params``."""

    methods: tuple[str, ...] = DEFAULT_METHODS
    target: str | None = None
    layer: str | None = None
    lime_samples: int | None = None  # exactly this many; None: adaptive (stop when settled)
    lime_stability: float = 0.99  # adaptive: stop once this share of refits keep 4 of 5
    lime_min_samples: int = 200
    lime_max_samples: int = 2000
    lime_sampling: str = "antithetic"
    lime_p: float = 0.5
    lime_hide: str = "black"
    lime_kernel: float = 0.25
    lime_segments: str = "quickshift:4,200,0.2"
    lime_batch: int = 8
    seed: int = 0
    raw: bool = False
    sanity: bool = False
    alpha: float = 0.5
    colormap: str = "inferno"
    faithfulness_steps: int = 20

    def __post_init__(self) -> None:
        object.__setattr__(self, "methods", parse_methods(self.methods))
        _ = self.stop_rule  # validates the sample count, floor, cap and stability
        if self.lime_sampling not in SAMPLINGS:
            raise UnknownNameError("LIME sampling", self.lime_sampling, SAMPLINGS)
        if not 0.0 < self.lime_p < 1.0:
            raise RecipeError(f"lime_p must lie in (0, 1), got {self.lime_p}")
        if self.lime_hide not in HIDES:
            raise RecipeError(f"lime_hide must be black or mean, got {self.lime_hide!r}")
        if not 0.0 < self.lime_kernel <= 1.0:
            raise RecipeError(f"lime_kernel must lie in (0, 1], got {self.lime_kernel}")
        SegmentSpec.parse(self.lime_segments)
        if self.lime_batch < 1:
            raise RecipeError(f"lime_batch must be positive, got {self.lime_batch}")
        if not 0.0 <= self.alpha <= 1.0:
            raise RecipeError(f"alpha must lie in [0, 1], got {self.alpha}")
        if self.colormap not in COLORMAPS:
            raise UnknownNameError("colormap", self.colormap, COLORMAPS)
        if self.faithfulness_steps < 2:
            raise RecipeError("faithfulness_steps must be at least 2")
        if self.seed < 0:
            raise RecipeError(f"seed must be non-negative, got {self.seed}")

    @property
    def stop_rule(self) -> StopRule:
        return StopRule(
            stability=self.lime_stability,
            min_samples=self.lime_min_samples,
            max_samples=self.lime_max_samples,
            samples=self.lime_samples,
        )

    @property
    def lime_draws(self) -> dict[str, Any]:
        """How ``lime.explain`` perturbs and weighs its samples, as its keyword arguments:
        the explain job and a LIME mask draw them alike."""
        return {
            "sampling": self.lime_sampling,
            "p": self.lime_p,
            "hide": self.lime_hide,
            "kernel_width": self.lime_kernel,
            "batch": self.lime_batch,
        }

    @property
    def segments(self) -> SegmentSpec:
        return SegmentSpec.parse(self.lime_segments)

    def params(self) -> dict[str, Any]:
        """Every value, JSON-ready, for the manifest."""
        return {
            **asdict(self),
            "methods": list(self.methods),
            "lime_segments": str(self.segments),
        }
