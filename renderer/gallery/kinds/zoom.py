"""Infinite zooms: the photos named in ``[zoom] photos`` (the sample gallery: one), each an
animation dreamt frame by frame."""

from __future__ import annotations

from collections.abc import Sequence, Set
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ...dream.recipe import DreamRecipe
from ...provenance import Record
from ...site.words import Description, Shown
from ..config import GalleryConfig
from ..jobkind import KINDS, JobKind, Planned, SourcePlanner, no_jobs
from ..plan import Job, PhotoSource, Spec
from .common import (
    QUICK_ZOOM_FRAMES,
    ZOOM_SIZE,
    Limits,
    preset_recipe,
    recipe_params,
    require_named,
    working_photo,
)

if TYPE_CHECKING:
    from ...dream.zoom import ZoomSettings
    from ...models import LoadedModel

ZOOM = "zoom"


@dataclass(frozen=True)
class ZoomPayload:
    preset: str
    recipe: DreamRecipe
    settings: ZoomSettings
    seed: int
    limits: Limits | None = None


def zoom_spec(config: GalleryConfig) -> Spec | None:
    """One spec for every photo the gallery zooms into (``config.zooms``); a preview keeps
    8 frames."""
    from ...dream.zoom import ZoomSettings

    if not config.zooms:
        return None
    size = config.dream_size
    if isinstance(size, str):  # "auto" or "full": see ZOOM_SIZE
        size = ZOOM_SIZE
    recipe = preset_recipe(config.zoom_preset, config, size=size)
    frames = min(config.zoom_frames, QUICK_ZOOM_FRAMES) if config.quick else config.zoom_frames
    settings = ZoomSettings(frames=frames)
    payload = ZoomPayload(config.zoom_preset, recipe, settings, config.seed, Limits.of(config))
    params = {
        "preset": config.zoom_preset,
        "recipe": recipe_params(recipe),
        "zoom": settings.to_params(),
        "seed": config.seed,
    }
    return Spec(payload, params)


def plan(config: GalleryConfig, model: str, names: Set[str]) -> SourcePlanner:
    spec = zoom_spec(config)
    if spec is None:
        return no_jobs
    zoomed = set(config.zooms)
    require_named("photo in [zoom] photos", zoomed, names)

    def each(photo: PhotoSource | None) -> Planned:
        assert photo is not None
        return Planned([(f"zoom {photo.name}", spec)] if photo.name in zoomed else [])

    return each


def run(job: Job, model: LoadedModel, out_dir: Path, command: str) -> Sequence[Record]:
    from ...dream.zoom import dream_zoom

    p: ZoomPayload = job.payload
    photo = working_photo(job, model, p.recipe.size, p.limits)
    return dream_zoom(
        model, photo, p.recipe, p.settings, out_dir, preset=p.preset, seed=p.seed, command=command
    )


def caption(shown: Shown) -> Description:
    extra, layers = shown.extra, shown.layers
    preset = shown.text("preset", shown.stem.removeprefix("zoom-"))
    count = extra.get("frame_count") or shown.params.get("frames")
    details = {"preset": preset, "frame_count": count, "duration_ms": extra.get("duration_ms")}
    title = f"Zoom · {preset.replace('-', ' ')}"
    frames_text = f", {count} frames" if count else ""
    alt = (
        f"Infinite-zoom animation into the DeepDream of {shown.name} at layer {layers or '?'}, "
        f"preset {preset}{frames_text}"
    )
    text = shown.text("caption", f"Preset {preset} · layer {layers}")
    return Description(f"zoom-{preset}", "", title, alt, text.removeprefix(f"{preset} · "), details)


def work(job: Job, min_size: int) -> float:
    from ..estimate import photo_pixel_steps

    p: ZoomPayload = job.payload
    found = photo_pixel_steps(job, p.recipe, min_size)
    if found is None:
        return 0.0
    steps, pixels = found
    return steps + (p.settings.frames - 1) * p.settings.steps_per_frame * pixels


KIND = KINDS.register(
    JobKind(
        ZOOM,
        "photo",
        plan,
        run,
        long_rank=1,
        pending="the zoom animation",
        sections={ZOOM: "zooms"},
        page_kinds=frozenset({ZOOM}),
        captions={ZOOM: caption},
        work=work,
        payload=ZoomPayload,
    )
)
