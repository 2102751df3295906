"""How long the jobs of a build will take, before starting them (``--dry-run``).

Each job is counted in pixel-steps (one gradient step over one pixel): its octaves' steps
times their pixels, from the photo's size in its header (nothing is decoded). One probe
step on this machine gives the seconds per pixel-step. Explanations are mostly forward
passes at 224 px (LIME's samples, the faithfulness curves), counted as a third of a step.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from PIL import Image

from .jobkind import KINDS
from .plan import Job

if TYPE_CHECKING:
    from ..dream.recipe import DreamRecipe
    from ..explain.settings import ExplainSettings
    from ..models import LoadedModel

MEASURE_STEPS = 2 / 3  # the objective before and after: two forward passes
FORWARD_STEPS = 1 / 3  # a forward pass, as a share of a gradient step
EXPLAIN_SIZE = 224
EXPLAIN_EXTRA_PASSES = 40  # Grad-CAM(++), guided backprop, robustness: a few dozen passes
ADAPTIVE_LIME_FLOORS = 5  # the adaptive default averaged about 1,000-1,250 samples on the bench


@dataclass(frozen=True)
class KindEstimate:
    kind: str
    jobs: int
    seconds: float


def _photo_size(job: Job) -> tuple[int, int] | None:
    if job.photo is None:
        return None
    try:
        with Image.open(job.photo.path) as img:  # reads the header only
            return img.size
    except (OSError, ValueError, Image.DecompressionBombError):
        return None  # the job itself says why


# A MaCo step's own pixel work (the spectrum to the picture, the crops' resampling), per
# pixel of the picture, in units of a network pixel-step (measured on Lite0, 1024 px).
MACO_IMAGE_SHARE = 0.1


def _dream_pixel_steps(
    recipe: DreamRecipe, width: int, height: int, min_size: int, input_size: int = 224
) -> float:
    from ..dream.engine import octave_plan

    plan = octave_plan(height, width, recipe, min_size)
    if recipe.param == "maco":  # the network sees only the crops
        crop = (recipe.crop_px or input_size) ** 2 * recipe.crops
        return sum(o.steps * (crop + MACO_IMAGE_SHARE * o.size[0] * o.size[1]) for o in plan)
    return sum(o.steps * o.size[0] * o.size[1] for o in plan)


def pixel_steps(job: Job, min_size: int) -> float:
    """The job's work in pixel-steps, as its kind counts it (0 when its photo cannot be
    read, or its kind has no estimate)."""
    kind = KINDS.get(job.kind)
    return kind.work(job, min_size) if kind and kind.work else 0.0


def photo_pixel_steps(job: Job, recipe: DreamRecipe, min_size: int) -> tuple[float, int] | None:
    """A dream of the job's photo: its pixel-steps and the pixels of its working size (None
    when the photo cannot be read)."""
    from ..sizes import working_size

    size = _photo_size(job)
    if size is None:
        return None
    width, height = working_size(*size, recipe.size, min_size)
    return _dream_pixel_steps(recipe, width, height, min_size), width * height


def photo_dream_work(job: Job, recipe: DreamRecipe, min_size: int) -> float:
    """A dream of the job's photo, measured before and after."""
    found = photo_pixel_steps(job, recipe, min_size)
    if found is None:
        return 0.0
    steps, pixels = found
    return steps + MEASURE_STEPS * pixels


def noise_dream_work(recipe: DreamRecipe, batch: int, min_size: int) -> float:
    """``batch`` dreams from noise at the recipe's size (layer or class dreams)."""
    side = recipe.size
    return batch * (_dream_pixel_steps(recipe, side, side, min_size) + side * side)


def explain_work(job: Job, settings: ExplainSettings) -> float:
    """An explanation: mostly forward passes at ``EXPLAIN_SIZE``."""
    if _photo_size(job) is None:
        return 0.0
    passes = (
        lime_samples_expected(settings) + 2 * settings.faithfulness_steps + EXPLAIN_EXTRA_PASSES
    )
    return passes * FORWARD_STEPS * EXPLAIN_SIZE**2


def lime_samples_expected(settings: ExplainSettings) -> int:
    """LIME's samples: exactly ``lime_samples`` when set, else a typical adaptive run."""
    if settings.lime_samples is not None:
        return settings.lime_samples
    return min(settings.lime_max_samples, ADAPTIVE_LIME_FLOORS * settings.lime_min_samples)


def estimate(
    jobs: Sequence[Job], seconds_per_pixel_step: float, min_size: int
) -> list[KindEstimate]:
    """Seconds of work per kind of job, in the order the kinds first appear."""
    totals: dict[str, list[float]] = {}
    for job in jobs:
        entry = totals.setdefault(job.kind, [0, 0.0])
        entry[0] += 1
        entry[1] += pixel_steps(job, min_size) * seconds_per_pixel_step
    return [KindEstimate(kind, int(n), s) for kind, (n, s) in totals.items()]


def probe_seconds_per_pixel_step(model: LoadedModel) -> float:
    """One classic-preset photo step at 256 x 192 px on this machine, per pixel."""
    from ..dream.engine import step_seconds
    from ..dream.objectives import layer_objective, resolve_terms
    from ..dream.presets import get_preset

    recipe = get_preset("classic").recipe
    objective = layer_objective(resolve_terms(model, recipe.terms))
    return step_seconds(model, objective, recipe, (192, 256)) / (192 * 256)


def duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def known_jobs(jobs: Sequence[Job]) -> list[Job]:
    """The jobs whose kinds estimate their work, with their real payloads (a test's fake
    toolkit has others)."""

    def known(job: Job) -> bool:
        kind = KINDS.get(job.kind)
        return bool(kind and kind.work and kind.payload and isinstance(job.payload, kind.real()))

    return [job for job in jobs if known(job)]


def estimate_lines(jobs: Sequence[Job], model: LoadedModel, workers: int = 1) -> list[str]:
    """``estimate  dream: 12 job(s), about 8 min`` per kind (the work of one worker), then
    the build's time with ``workers`` side by side. The probe runs with a worker's threads."""
    import torch

    from .run import threads_per_worker

    if not jobs:
        return []
    before = torch.get_num_threads()
    torch.set_num_threads(threads_per_worker(workers))
    try:
        rate = probe_seconds_per_pixel_step(model)
    finally:
        torch.set_num_threads(before)
    rows = estimate(jobs, rate, model.spec.min_size)
    lines = [f"estimate  {r.kind}: {r.jobs} job(s), about {duration(r.seconds)}" for r in rows]
    for kind in KINDS:  # a kind's own lines (a clip's frames, its join)
        mine = [job for job in jobs if job.kind == kind.name]
        if mine and kind.work_lines:
            lines += kind.work_lines(mine, rate, model.spec.min_size)
    total = sum(r.seconds for r in rows) / max(1, workers)
    lines.append(
        f"estimate  total: about {duration(total)} with {workers} worker(s) on this "
        f"{model.device.type} ({rate * 1e9:.0f} ns per pixel-step, measured now)"
    )
    return lines
