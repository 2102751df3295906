"""Clips: each video file among the photos is dreamt in segments (jobs like any other),
joined once into its videos (``video.gallery``); a clip that cannot be read is skipped."""

from __future__ import annotations

from collections.abc import Mapping, Sequence, Set
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ...errors import BadInputError
from ...provenance import Record
from ...site.words import Description, Shown, legend_of
from ..config import GalleryConfig
from ..jobkind import KINDS, JobKind, Planned, SourcePlanner
from ..plan import Job, PhotoSource, Problem, Spec
from .common import preset_recipe

if TYPE_CHECKING:
    from ...models import LoadedModel

VIDEO_SEGMENT = "video-segment"
# The records a clip's jobs publish: its working source (its page's original) and its dreams.
VIDEO, VIDEO_DREAM, VIDEO_EXPLAIN = "video", "video-dream", "video-explain"


def video_specs(config: GalleryConfig, clip: PhotoSource) -> list[tuple[str, Spec]]:
    from ...video.gallery import segment_specs

    return segment_specs(config, clip, preset_recipe)


def plan(config: GalleryConfig, model: str, names: Set[str]) -> SourcePlanner:
    def each(clip: PhotoSource | None) -> Planned:
        assert clip is not None
        try:
            return Planned(video_specs(config, clip))
        except BadInputError as exc:
            return Planned((), [Problem(clip.path, exc.reason)])

    return each


def run(job: Job, model: LoadedModel, out_dir: Path, command: str) -> Sequence[Record]:
    from ...video.gallery import run_segment

    return run_segment(job, model, out_dir, command)


def _span(extra: Mapping[str, Any]) -> tuple[str, str]:
    seconds, fps = extra.get("seconds"), extra.get("fps")
    span = f"{seconds:g} s at {fps:g} fps" if seconds and fps else ""
    return span, "with sound" if extra.get("has_audio") else "silent"


def source_caption(shown: Shown) -> Description:
    """The clip itself, the original of its page."""
    extra, name = shown.extra, shown.name
    w, h = extra.get("width"), extra.get("height")
    size = f"{w} × {h} px" if w and h else ""
    text = " · ".join(x for x in (name, size, *_span(extra)) if x)
    return Description("original", "", "Original clip", f"The original clip {name}", text)


def explain_caption(shown: Shown) -> Description:
    target = shown.extra.get("target") or {}
    alt = f"Grad-CAM video of {shown.name}: where the network finds {target.get('name', '?')}"
    text = shown.text("caption", "Grad-CAM")
    legend = legend_of(shown.extra)
    return Description("video-gradcam", "", "Where it looks", alt, text, {}, legend)


def dream_caption(shown: Shown) -> Description:
    extra, layers = shown.extra, shown.layers
    preset = shown.text("preset", "?")
    title = f"Video · {preset.replace('-', ' ')}"
    alt = f"DeepDream video of {shown.name} at layer {layers or '?'}, preset {preset}"
    text = shown.text("caption", f"Preset {preset} · layer {layers}")
    _, sound = _span(extra)
    return Description(f"video-{preset}", "", title, alt, f"{text} · {sound}", {"preset": preset})


def work(job: Job, min_size: int) -> float:
    from ...video.estimate import segment_pixel_steps

    return segment_pixel_steps(job, min_size)


def work_lines(jobs: Sequence[Job], seconds_per_pixel_step: float, min_size: int) -> list[str]:
    from ...video.estimate import clip_lines

    return clip_lines(jobs, seconds_per_pixel_step, min_size)


def combine(plan: Any, cache: Any, ctx: Any) -> tuple[list[str], list[str], list[tuple[Path, str]]]:
    from ...video.gallery import join_clips

    return join_clips(plan, cache, ctx)


def combined_keys(plan: Any) -> Set[str]:
    from ...video.gallery import planned_joins

    return planned_joins(plan)


def payload() -> type:
    from ...video.gallery import SegmentPayload  # with kornia and PyAV: only when asked

    return SegmentPayload


KIND = KINDS.register(
    JobKind(
        VIDEO_SEGMENT,
        "clip",
        plan,
        run,
        long_rank=3,
        pending="the video dream",
        sections={VIDEO_DREAM: "videos", VIDEO_EXPLAIN: "videos"},
        page_kinds=frozenset({VIDEO_DREAM}),
        captions={
            VIDEO: source_caption,
            VIDEO_DREAM: dream_caption,
            VIDEO_EXPLAIN: explain_caption,
        },
        work=work,
        work_lines=work_lines,
        payload=payload,
        combine=combine,
        combined_keys=combined_keys,
    )
)
