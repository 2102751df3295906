"""How long a clip's dream takes, before it starts: ``renderer video --dry-run`` and
``renderer gallery build --dry-run`` (one line per clip, from its segment jobs).

Counted in pixel-steps (one gradient step over one pixel), as ``gallery/estimate.py``
counts photo dreams, and turned into seconds with the same probe step.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import Any

from ..dream.engine import octave_plan
from ..dream.recipe import DreamRecipe
from .decode import ClipInfo, probe
from .dream import fit_recipe
from .jobs import prepare_clip
from .settings import VideoSettings

# A frame after the first also computes two flows at half size and two warps: measured
# at about the cost of 1.5 full-size gradient steps at 512 x 384 (bench --only video), but
# never less than about 0.3 s of CPU (TV-L1's coarse-to-fine loops in Python: 0.18 s a
# flow at 256 x 176, as much as at 512 x 384), some 300,000 pixel-steps at ~1 us each.
FLOW_STEPS = 1.5
FLOW_FLOOR = 300_000


def flow_pixel_steps(width: int, height: int) -> float:
    """The two flows and warps of a frame after the first, in pixel-steps."""
    return max(FLOW_STEPS * width * height, FLOW_FLOOR)


# The join's Grad-CAM is one forward and backward pass per frame at the clip's size.
GRADCAM_STEPS = 1.0


def pixel_steps(
    width: int,
    height: int,
    frames: int,
    recipe: DreamRecipe,
    settings: VideoSettings,
    min_size: int = 32,
) -> float:
    """Gradient steps times pixels of a clip's dream: a photo dream for its first frame,
    the finest octaves' few steps (and the flow) for each later one."""
    fitted = fit_recipe(recipe, height, width, min_size)
    plan = octave_plan(height, width, fitted, min_size)
    first = sum(o.steps * o.size[0] * o.size[1] for o in plan)
    kept = plan[-settings.refine_octaves :]
    later = sum(settings.refine_steps * o.size[0] * o.size[1] for o in kept)
    later += flow_pixel_steps(width, height)
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


# ---------------------------------------------------------------- a gallery's clips


@cache
def _probed(path: Path, settings: VideoSettings) -> ClipInfo | None:
    try:
        return probe(path, settings)
    except Exception:  # the job itself says why
        return None


def segment_pixel_steps(job: Any, min_size: int) -> float:
    """A gallery segment job's work (0 when its clip cannot be read): its key frames, its
    frames continuing their chain, and the join's Grad-CAM of the frames it adds to the
    clip (those it does not share with the segment before)."""
    payload = job.payload
    info = _probed(Path(job.photo.path), payload.settings)
    if info is None:
        return 0.0
    segment = payload.segment
    frames = segment.stop - segment.start
    pixels = info.width * info.height
    # a later segment first dreams its key frames: the clip's first like a photo, one step
    # of the chain for each later segment's start before it (and its flows' trust check)
    keys = segment.index
    dream = pixel_steps(
        info.width, info.height, frames + keys, payload.recipe, payload.settings, min_size
    )
    checks = keys * flow_pixel_steps(info.width, info.height)
    return dream + checks + GRADCAM_STEPS * (frames - segment.fade) * pixels


def clip_lines(jobs: Sequence[Any], seconds_per_pixel_step: float, min_size: int) -> list[str]:
    """``estimate  video cat.mp4: 54 frames at 256x176 in 2 segment(s) to dream, and the
    join, about 40 s`` for each clip among ``jobs`` (its segments to render: the frames
    they share are counted in both; the join's Grad-CAM video)."""
    from ..gallery.estimate import duration

    clips: dict[str, list[Any]] = {}
    for job in jobs:
        if job.kind == "video-segment" and job.photo is not None:
            clips.setdefault(str(job.photo.path), []).append(job)
    lines = []
    for segments in clips.values():
        first = segments[0]
        info = _probed(Path(first.photo.path), first.payload.settings)
        if info is None:
            continue
        work = sum(segment_pixel_steps(j, min_size) for j in segments)
        frames = sum(j.payload.segment.stop - j.payload.segment.start for j in segments)
        lines.append(
            f"estimate  video {first.photo.name}: {frames} frames at {info.width}x{info.height} "
            f"in {len(segments)} segment(s) to dream, and the join, "
            f"about {duration(work * seconds_per_pixel_step)}"
        )
    return lines
