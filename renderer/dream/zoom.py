"""Infinite-zoom dreams: an animated WebP that keeps falling into its own dream.

The first frame is the photo's dream, exactly as ``renderer dream`` makes it with the same
preset and seed. Each next frame is the previous one with its centre ``1/zoom`` scaled back
up to full size, dreamed a few more steps at one octave without detail re-injection, with
seed ``seed + index``: the dream keeps growing new detail where the zoom stretches the old.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from ..clikit import Stopwatch, progress
from ..errors import RecipeError
from ..imageio import pil_to_tensor, save_animation_atomic, tensor_to_pil
from ..models import LoadedModel
from ..naming import slug
from ..photos import WorkingPhoto, publish_photo
from ..provenance import Record, publish
from .engine import render
from .jobs import dream_objective, guided_suffix
from .objectives import Objective, resolve_terms
from .recipe import DreamRecipe

WEBP_QUALITY = 90


@dataclass(frozen=True)
class ZoomSettings:
    """How the animation moves: its length, the zoom per frame, the dreaming between frames
    and the playback rate."""

    frames: int = 24
    zoom: float = 1.05
    steps_per_frame: int = 4
    fps: int = 12

    def __post_init__(self) -> None:
        for name in ("frames", "steps_per_frame", "fps"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool):
                raise RecipeError(f"zoom: {name} must be a whole number, got {value!r}")
        checks = [
            (2 <= self.frames <= 600, f"frames must be 2..600, got {self.frames}"),
            (1.0 < self.zoom <= 2.0, f"zoom must be in (1, 2], got {self.zoom}"),
            (
                1 <= self.steps_per_frame <= 100,
                f"steps-per-frame must be 1..100, got {self.steps_per_frame}",
            ),
            (1 <= self.fps <= 60, f"fps must be 1..60, got {self.fps}"),
        ]
        for ok, message in checks:
            if not ok:
                raise RecipeError(f"zoom: {message}")

    @property
    def duration_ms(self) -> int:
        """How long each frame shows; WebP counts whole milliseconds."""
        return round(1000 / self.fps)

    def to_params(self) -> dict[str, Any]:
        return asdict(self)


def zoom_in(images: torch.Tensor, factor: float) -> torch.Tensor:
    """The centre ``1/factor`` of each (N, 3, H, W) image scaled back up to (H, W): bicubic
    and sub-pixel exact, so the zoom stays centred where a crop of whole pixels would wander."""
    scale = 1.0 / factor
    theta = torch.tensor(
        [[scale, 0.0, 0.0], [0.0, scale, 0.0]], dtype=images.dtype, device=images.device
    ).expand(images.shape[0], 2, 3)
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    zoomed = F.grid_sample(images, grid, mode="bicubic", padding_mode="border", align_corners=False)
    return zoomed.clamp(0, 1)


def zoom_frames(
    model: LoadedModel,
    objective: Objective,
    recipe: DreamRecipe,
    settings: ZoomSettings,
    *,
    seed: int,
    photo: torch.Tensor,
    on_frame: Callable[[], None] | None = None,
) -> list[torch.Tensor]:
    """The animation's frames, each (1, 3, H, W) in [0, 1] on the CPU."""
    frame = render(model, objective, recipe, seed=seed, photo=photo, measure=False).images
    frames = [frame]
    if on_frame is not None:
        on_frame()
    between = recipe.replace(octaves=1, steps=settings.steps_per_frame)
    for index in range(1, settings.frames):
        start = zoom_in(frame, settings.zoom)
        frame = render(
            model, objective, between, seed=seed + index, start=start, measure=False
        ).images
        frames.append(frame)
        if on_frame is not None:
            on_frame()
    return frames


def dream_zoom(
    model: LoadedModel,
    photo: WorkingPhoto,
    recipe: DreamRecipe,
    settings: ZoomSettings,
    out_dir: Path,
    *,
    preset: str,
    seed: int,
    command: str,
) -> list[Record]:
    """An infinite zoom into one photo's dream: ``<key>/zoom-<preset>.webp`` (with the
    guide's name after it for a guided preset, as ``dream_photo`` names its files)."""
    clock = Stopwatch()
    out_dir = Path(out_dir)
    terms = resolve_terms(model, recipe.terms)
    objective, guide = dream_objective(model, recipe, terms)
    bar = progress(total=settings.frames, desc=photo.path.name, unit="frame", leave=False)
    try:
        frames = zoom_frames(
            model,
            objective,
            recipe,
            settings,
            seed=seed,
            photo=pil_to_tensor(photo.image),
            on_frame=bar.update,
        )
    finally:
        bar.close()
    output = f"{photo.key}/zoom-{slug(preset)}{guided_suffix(recipe)}.webp"
    pictures = [tensor_to_pil(f) for f in frames]
    save_animation_atomic(
        pictures, out_dir / output, settings.duration_ms, quality=WEBP_QUALITY, loop=0
    )
    layers = [str(t) for t in terms]
    width, height = pictures[0].size
    caption = (
        f"{preset} · zoom ×{settings.zoom:g} a frame · {settings.frames} frames at "
        f"{settings.fps} fps · {' + '.join(layers)} · {recipe.describe()}"
    )
    extra = {
        "preset": preset,
        "layers": layers,
        "width": width,
        "height": height,
        "frame_count": settings.frames,
        "duration_ms": settings.duration_ms,
        "loop": 0,
        "caption": caption,
    }
    record = model.record(
        "zoom",
        output,
        command,
        inputs=(photo.input, *guide),
        params={**recipe.to_params(), **settings.to_params()},
        seed=seed,
        wall_time_s=clock.seconds,
        extra=extra,
    )
    records = [publish_photo(out_dir, photo, model, command), record]
    publish(out_dir, records)
    return records
