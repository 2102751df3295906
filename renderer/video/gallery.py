"""Clips in a gallery: each clip's segments are jobs (cached by content, run by any
executor, the clip's bytes travelling with them as a photo's do), and a finished clip's
segments are joined once into its videos, cached under a key made of theirs.

Planning probes each clip (one frame decoded, its packets demuxed up to ``max_seconds``):
a bad clip is a problem of the plan, shown as "skipped: reason". The gallery dreams each
clip with its first preset only (``PRESET_NOTE``: why).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ..dream.recipe import DreamRecipe
from ..provenance import Record, publish
from .decode import probe
from .jobs import WorkingClip, clip_segments, dream_clip, dream_segment_file, explain_clip
from .segments import SEGMENT_FILE, Segment
from .settings import GALLERY_SEGMENT_SECONDS, QUICK_SIZE, VideoSettings

SEGMENT_VERSION = 2  # 2: a later segment continues the key frames' chain
JOIN_VERSION = 3  # 2: the sound copied when it fits; 3: the caption says "first preset only"
# A clip is dreamt with the gallery's first preset only: each preset is a whole clip's
# dream again (3x the sample clip's time with the sample gallery's three), and the page
# shows one dream beside the source and its Grad-CAM.
PRESET_NOTE = " · first preset only"


@dataclass(frozen=True)
class SegmentPayload:
    preset: str
    recipe: DreamRecipe
    settings: VideoSettings
    segment: Segment
    seed: int


def gallery_settings(config: Any) -> VideoSettings:
    """The gallery's clip settings (``[video]`` in gallery.toml): 4 s segments; a preview
    at 256 px."""
    default = VideoSettings()
    size = getattr(config, "video_size", None) or (
        QUICK_SIZE if getattr(config, "quick", False) else default.size
    )
    return VideoSettings(
        size=size,
        max_seconds=getattr(config, "video_max_seconds", None) or default.max_seconds,
        fps=getattr(config, "video_fps", None) or 0.0,
        segment_seconds=GALLERY_SEGMENT_SECONDS,
    )


def segment_specs(config: Any, clip: Any, preset_recipe: Callable[..., DreamRecipe]):
    """One spec per segment of ``clip`` (a planned ``PhotoSource``)."""
    from ..errors import BadInputError, RendererError
    from ..gallery.plan import Spec

    settings = gallery_settings(config)
    try:
        info = probe(clip.path, settings)
    except BadInputError:
        raise
    except RendererError as exc:  # no PyAV here: the clip is skipped, the gallery goes on
        raise BadInputError(clip.path, str(exc)) from None
    preset = config.presets[0]
    recipe = preset_recipe(preset, config)
    segments = clip_segments(info, settings)
    specs = []
    for segment in segments:
        params = {
            "version": SEGMENT_VERSION,
            "preset": preset,
            "recipe": recipe.to_params(),
            "video": asdict(settings),
            "segment": [segment.index, segment.start, segment.stop, segment.fade],
            "seed": config.seed,
        }
        payload = SegmentPayload(preset, recipe, settings, segment, config.seed)
        label = f"video {clip.name} [{preset}] segment {segment.index + 1}/{len(segments)}"
        specs.append((label, Spec(payload, params)))
    return specs


def _working_clip(job: Any, settings: VideoSettings) -> WorkingClip:
    return WorkingClip(probe(job.photo.path, settings), job.photo.sha256)


def run_segment(job: Any, model: Any, out_dir: Path, command: str) -> Sequence[Record]:
    """A segment job: its dream frames, losslessly, and a record of them."""
    p: SegmentPayload = job.payload
    clip = _working_clip(job, p.settings)
    dream_segment_file(model, clip, p.recipe, p.settings, p.segment, out_dir, seed=p.seed)
    record = model.record(
        "video-segment",
        SEGMENT_FILE,
        command,
        inputs=(clip.input,),
        params=dict(job.params),
        seed=p.seed,
        extra={"name": clip.info.path.name, "segment": asdict(p.segment)},
    )
    publish(out_dir, [record])
    return [record]


def join_key(keys: Sequence[str]) -> str:
    text = "\n".join([f"video-join-{JOIN_VERSION}", *keys])
    return hashlib.sha256(text.encode("ascii")).hexdigest()


def _clip_jobs(plan: Any) -> list[list[Any]]:
    """The plan's segment jobs, one list per clip, in segment order."""
    by_clip: dict[tuple[str, str], list[Any]] = {}
    for job in plan.jobs:
        if job.kind == "video-segment" and job.photo is not None:
            by_clip.setdefault((job.photo.sha256, str(job.photo.path)), []).append(job)
    return [sorted(jobs, key=lambda j: j.payload.segment.index) for jobs in by_clip.values()]


def planned_joins(plan: Any) -> set[str]:
    """The keys of the joined clips the plan makes (``gallery prune`` keeps them)."""
    return {join_key([j.key for j in jobs]) for jobs in _clip_jobs(plan)}


def join_clips(
    plan: Any, cache: Any, ctx: Any | None
) -> tuple[list[str], list[str], list[tuple[Path, str]]]:
    """Join every clip whose segments are all finished (once: the join is cached too);
    without ``ctx``, only list the joins already made. Returns the segment keys (not
    published: the site shows the joined clip), the keys of the joined clips, and each
    clip whose join failed, with why. The join runs here, on this machine's device (a
    cluster's ``ctx`` names the workers' setting, "auto": resolved here)."""
    segment_keys: list[str] = []
    joined: list[str] = []
    failed: list[tuple[Path, str]] = []
    for jobs in _clip_jobs(plan):
        keys = [j.key for j in jobs]
        segment_keys += keys
        if not all(cache.is_done(k) for k in keys):
            continue
        key = join_key(keys)
        if not cache.is_done(key) and ctx is None:
            continue
        if not cache.is_done(key):
            first = jobs[0]

            def work(folder: Path, first: Any = first, keys: list[str] = keys) -> dict[str, Any]:
                p: SegmentPayload = first.payload
                device = ctx.toolkit.device(ctx.device)
                model = ctx.toolkit.load_model(first.model, device, ctx.weights)
                files = [cache.folder(k) / SEGMENT_FILE for k in keys]
                clip = _working_clip(first, p.settings)
                dream_clip(
                    model,
                    clip,
                    p.recipe,
                    p.settings,
                    folder,
                    preset=p.preset,
                    seed=p.seed,
                    command=ctx.command,
                    segment_files=files,
                    note=PRESET_NOTE,
                )
                explain_clip(model, clip, folder, command=ctx.command)
                photo = first.photo
                return {
                    "status": "rendered",
                    "kind": "video",
                    "label": f"video {photo.name} [{p.preset}]",
                    "photo": {"path": str(photo.path), "name": photo.name, "sha256": photo.sha256},
                    "segments": keys,
                }

            try:
                cache.render(key, work)
            except Exception as exc:  # one clip's join must not stop the gallery
                failed.append((first.photo.path, f"its segments could not be joined: {exc}"))
                continue
        joined.append(key)
    return segment_keys, joined, failed
