"""``renderer video --dry-run``: each clip checked and its dreaming time estimated."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from ..dream.engine import octave_plan
from ..dream.recipe import DreamRecipe
from .jobs import prepare_clip
from .settings import VideoSettings

# A frame after the first also computes two flows at half size and two warps: measured
# at about the cost of 1.5 full-size gradient steps (bench --only video).
FLOW_STEPS = 1.5


def pixel_steps(
    width: int, height: int, frames: int, recipe: DreamRecipe, settings: VideoSettings
) -> float:
    """Gradient steps times pixels of a clip's dream: a photo dream for its first frame,
    the finest octaves' few steps (and the flow) for each later one."""
    plan = octave_plan(height, width, recipe, 32)
    first = sum(o.steps * o.size[0] * o.size[1] for o in plan)
    kept = plan[-settings.refine_octaves :]
    later = sum(settings.refine_steps * o.size[0] * o.size[1] for o in kept)
    later += FLOW_STEPS * width * height
    return first + (frames - 1) * later


@cache
def _seconds_per_pixel_step() -> float:
    from ..gallery.estimate import probe_seconds_per_pixel_step
    from ..models import load_model

    return probe_seconds_per_pixel_step(load_model())


def estimate_clip(path: Path, recipe: DreamRecipe, settings: VideoSettings) -> str:
    """One line: the clip, its plan and about how long its dream takes here."""
    from ..gallery.estimate import duration

    clip = prepare_clip(path, settings)
    info = clip.info
    work = pixel_steps(info.width, info.height, info.frames, recipe, settings)
    seconds = work * _seconds_per_pixel_step()
    cut = f" (cut from {info.source_seconds:.1f} s)" if info.cut else ""
    return (
        f"{path}: {info.width}x{info.height}, {info.frames} frames at {float(info.rate):g} fps, "
        f"{info.seconds:.1f} s{cut}, sound: {'yes' if info.has_audio else 'no'}; "
        f"about {duration(seconds)}"
    )
