"""Dreaming a clip's frames so that the dream moves with the picture instead of flickering.

Frame 0 is dreamt like a photo. Each later frame starts from the previous dream's residual
(dream - source), carried onto the new frame by the optical flow between the two *source*
frames (the dream's own motifs would fool a flow), and takes a few steps at the finest
octaves only: enough to sharpen what the warp blurred and to grow the dream into what
came into view, too few to grow new motifs where the old ones still fit. Where the flow
fails its forward-backward check (occluded, revealed or off-frame pixels) no residual is
carried: those pixels start from the source and dream only a little, in those few steps.
The carried residual is scaled down, when it must be, to the first frame's strength (its
mean |dream - source|): each frame's steps add to it, and uncapped a 4-second clip grew
from a dream into saturated creatures (steps add faster than the warp blurs).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

import numpy as np
import torch

from ..dream.engine import octave_plan, render
from ..dream.objectives import Objective
from ..dream.recipe import DreamRecipe
from ..models import LoadedModel
from . import flow as fl
from .decode import ClipFrame
from .settings import VideoSettings

KEY_TRUST = 0.5  # a key frame whose flow is trusted on less than this is dreamt afresh


def to_tensor(rgb: np.ndarray) -> torch.Tensor:
    """(H, W, 3) uint8 to (1, 3, H, W) float in [0, 1]."""
    return torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1)[None].float() / 255.0


def to_rgb(image: torch.Tensor) -> np.ndarray:
    """(1, 3, H, W) in [0, 1] to (H, W, 3) uint8, rounded as the photo dreams' PNGs are."""
    return (image[0].clamp(0, 1) * 255.0).round().to(torch.uint8).permute(1, 2, 0).numpy()


def fit_recipe(recipe: DreamRecipe, height: int, width: int, min_size: int) -> DreamRecipe:
    """``recipe`` with no more octaves than fit a clip of (height, width): a small clip's
    smallest octave would otherwise be clamped (and warned about) on every frame."""
    octaves = recipe.octaves
    while octaves > 1 and min(height, width) / recipe.octave_scale ** (octaves - 1) < min_size:
        octaves -= 1
    return recipe.replace(octaves=octaves)


def cap_strength(residual: torch.Tensor, where: torch.Tensor, strength: float) -> torch.Tensor:
    """``residual`` scaled so its mean magnitude over the pixels ``where`` (bool, H x W) is
    at most ``strength``."""
    if not bool(where.any()) or strength <= 0:
        return residual
    mean = float(residual.abs().mean(1)[0][where].mean())
    return residual * (strength / mean) if mean > strength else residual


def _soften(mask: np.ndarray) -> torch.Tensor:
    """The trusted-flow mask as a (1, 1, H, W) weight, its edges blurred over a few px so
    an occlusion leaves no hard seam in the carried residual."""
    m = torch.from_numpy(mask.astype(np.float32))[None, None]
    kernel = torch.ones(1, 1, 5, 5) / 25.0
    return torch.nn.functional.conv2d(m, kernel, padding=2).clamp(0, 1) * m


@dataclass
class TemporalDreamer:
    """Dreams frames in order; ``step`` is called once per gradient step (progress)."""

    model: LoadedModel
    objective: Objective
    recipe: DreamRecipe
    settings: VideoSettings
    seed: int
    flow: fl.FlowSettings = field(default_factory=fl.FlowSettings)
    on_step: Callable[[], None] | None = None

    def __post_init__(self) -> None:
        self._source: torch.Tensor | None = None
        self._grey: np.ndarray | None = None
        self._residual: torch.Tensor | None = None
        self._strength = 0.0  # the first frame's mean |dream - source|
        self.trusted = 1.0  # the share of pixels whose residual was carried, last frame

    @property
    def refine(self) -> DreamRecipe:
        return self.recipe.replace(steps=self.settings.refine_steps)

    def steps(self, height: int, width: int, first: bool) -> int:
        """Gradient steps of a frame: for a progress bar."""
        plan = octave_plan(height, width, self.recipe, self.model.spec.min_size)
        if first:
            return sum(o.steps for o in plan)
        kept = plan[-self.settings.refine_octaves :]
        return len(kept) * self.settings.refine_steps

    def reset(self) -> None:
        """Forget the previous frame: the next one is dreamt like a photo."""
        self._source = self._grey = self._residual = None

    def dream(self, frame: ClipFrame) -> np.ndarray:
        """The dream of ``frame`` (H, W, 3) uint8, continuing the previous frame's."""
        source = to_tensor(frame.rgb)
        grey = fl.grey(frame.rgb)
        seed = self.seed + frame.index
        first = self._residual is None or self._grey is None
        if first:
            result = render(
                self.model,
                self.objective,
                self.recipe,
                seed=seed,
                photo=source,
                on_step=self.on_step,
                measure=False,
            )
            self.trusted = 1.0
        else:
            assert self._grey is not None and self._residual is not None
            backward = fl.estimate(grey, self._grey, self.flow)
            forward = fl.estimate(self._grey, grey, self.flow)
            trusted = fl.consistent(backward, forward)
            self.trusted = float(trusted.mean())
            carried = fl.warp(self._residual, backward) * _soften(trusted)
            carried = cap_strength(carried, torch.from_numpy(trusted), self._strength)
            result = render(
                self.model,
                self.objective,
                self.refine,
                seed=seed,
                photo=source,
                detail=carried,
                finest=self.settings.refine_octaves,
                on_step=self.on_step,
                measure=False,
            )
        image = result.images
        self._residual = image - source
        if first:
            self._strength = float(self._residual.abs().mean())
        self._source, self._grey = source, grey
        return to_rgb(image)

    def start_from_keys(self, keys: Iterable[ClipFrame], first: ClipFrame | None = None) -> None:
        """Begin the chain where the clip's key frames lead: the first key (the clip's
        first frame) dreamt like a photo, its residual carried to each later key by one
        flow and refined there, so a segment that starts at the last key shares the
        motifs of the segment before it (which started at the key before), and their
        cross-fade dissolves between two versions of one dream, not two dreams. A key, or
        the segment's ``first`` frame, whose flow is trusted on less than ``KEY_TRUST`` of
        its pixels (a cut, fast motion) starts afresh, dreamt like a photo."""
        self.reset()
        for frame in keys:
            self._restart_unless_followed(frame)
            self.dream(frame)
        if first is not None:
            self._restart_unless_followed(first)

    def _restart_unless_followed(self, frame: ClipFrame) -> None:
        if self._grey is None:
            return
        grey = fl.grey(frame.rgb)
        back = fl.estimate(grey, self._grey, self.flow)
        fore = fl.estimate(self._grey, grey, self.flow)
        if float(fl.consistent(back, fore).mean()) < KEY_TRUST:
            self.reset()

    def frames(self, frames: Iterable[ClipFrame]) -> Iterator[tuple[ClipFrame, np.ndarray]]:
        for frame in frames:
            yield frame, self.dream(frame)
