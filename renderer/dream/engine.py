"""The one octave loop behind photo, layer and class dreams.

A dream climbs the objective's gradient on a pyramid of sizes (the essay's Program 4.5):
at each octave the image is resized (photos re-inject the detail ``dream - photo`` on top
of the photo at the new size, as google/deepdream does, so the photo's structure survives),
wrapped in a parametrization, and stepped ``steps`` times. Each step jitters the image by a
random roll (the gradient comes back unrolled), computes the gradient through a forward pass
cut after the deepest target layer (in random-offset tiles for large photos), regularizes
it, normalizes it, and takes a step of ``lr``. A dream larger than ``BASE_SIZE`` is the
base-size dream followed by refining octaves that only sharpen it (``octaves.octave_plan``).
The network is the model's frozen twin with its BatchNorms folded into the convolutions
(``fusion``). ``render`` is every dream's one entry: a MaCo recipe climbs MaCo's own loop
(``maco``), a sibling of this one that shares the octave plan (``octaves``) and the result
(``result``); neither loop imports the other's module back.
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch

from ..fusion import dream_network
from ..models import LoadedModel
from . import regularizers as reg
from .layout import use_bf16, use_channels_last
from .maco import render_maco
from .memory import ALIGN, StepCost, choose_tile, default_budget, halo_for, probe_step_cost
from .objectives import Objective, evaluate
from .octaves import (
    Octave,
    base_size,
    enlarge,
    mask_at,
    octave_plan,
    octave_sizes,
    resize,
    shrink,
)
from .parametrization import FFTParam, PixelParam, initial_image, make_param
from .recipe import DreamRecipe
from .result import DreamResult, check_finite, stretch_contrast

# This module's own names (masked_step, render, step_seconds), and five that moved to
# ``octaves``, ``result`` and ``layout`` and are still imported from here by callers outside
# ``dream/`` (jobs, video, estimates, bench); new code imports them from where they live.
__all__ = [
    "DreamResult",
    "masked_step",
    "octave_plan",
    "octave_sizes",
    "render",
    "resize",
    "step_seconds",
    "use_channels_last",
]


# The most a masked step is raised: a mask over a flat, dark region (a black helmet) would
# otherwise ask for a step many times a plain one, and grow noise there.
MAX_MASK_GAIN = 3.0


def masked_step(step: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """The step weighted by the octave's mask, raised (up to ``MAX_MASK_GAIN``) so that
    inside the mask it is as large on average as over the whole image: a normalized step
    is large where the gradient is, and a mask on a quiet part of the photo (the network
    looking at a helmet while the gradient lives in the faces) dreamt it only faintly.
    A mask of ones returns the step itself, exactly."""
    if bool((weight >= 1.0).all()):
        return step
    size = step.abs().mean(dim=(1, 2, 3))
    area = (weight.sum() * step.shape[1]).clamp(min=1e-12)  # an empty mask: no step at all
    inside = (step.abs() * weight).sum(dim=(1, 2, 3)) / area
    gain = (size / inside.clamp(min=1e-12)).clamp(1.0, MAX_MASK_GAIN)
    return step.mul_(weight).mul_(gain.view(-1, 1, 1, 1))  # in place: the layout stays


def _tiles(length: int, tile: int) -> list[tuple[int, int]]:
    """Near-equal spans covering ``length``, with inner edges on multiples of ``ALIGN``."""
    count = math.ceil(length / tile)
    edges = [0, *(ALIGN * round(i * length / count / ALIGN) for i in range(1, count)), length]
    return [(a, b) for a, b in itertools.pairwise(edges) if b > a]


@dataclass
class _Ascent:
    model: LoadedModel
    objective: Objective
    recipe: DreamRecipe
    generator: torch.Generator
    channels_last: bool
    bf16: bool = False
    budget: float | None = None  # bytes for one gradient step; None: the device's default

    def __post_init__(self) -> None:
        self.net = dream_network(self.model, self.objective.layers)
        self.tile = self.recipe.tile
        self._cost: StepCost | None = None

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=self.bf16):
            return evaluate(self.model, self.objective, x, self.net).float()

    def plan_tiles(self, image: torch.Tensor) -> int:
        """Set and return the tile for gradient steps on ``image``: 0 (whole) when a step
        fits the memory budget, else the largest tile that fits (or the recipe's tile)."""
        h, w = image.shape[-2:]
        if self.recipe.tile > 0:
            self.tile = self.recipe.tile if max(h, w) > self.recipe.tile else 0
            return self.tile
        if self._cost is None:
            self._cost = probe_step_cost(self._forward, image)
        budget = default_budget(image.device) if self.budget is None else self.budget
        self.tile = choose_tile(h, w, self._cost, budget)
        return self.tile

    def _shift(self) -> tuple[int, int]:
        j = self.recipe.jitter
        if j == 0:
            return 0, 0
        dy, dx = torch.randint(-j, j + 1, (2,), generator=self.generator).tolist()
        return dy, dx

    def _scale(self, x: torch.Tensor) -> torch.Tensor:
        s = self.recipe.scale_jitter
        if s <= 0:
            return x
        f = 1.0 + (torch.rand((), generator=self.generator).item() * 2 - 1) * s
        h, w = x.shape[-2:]
        return resize(x, (max(8, round(h * f)), max(8, round(w * f))))

    def tiled(self, x: torch.Tensor) -> bool:
        return self.tile > 0 and max(x.shape[-2:]) > self.tile

    def gradient(self, param: PixelParam | FFTParam) -> tuple[torch.Tensor, torch.Tensor]:
        """The objective's gradient with respect to ``param.leaf``, and the objective."""
        dy, dx = self._shift()
        if isinstance(param, PixelParam) and self.tiled(param.leaf):
            return self._tiled_gradient(param.leaf, dy, dx)
        leaf = param.leaf.detach().requires_grad_(True)
        param.leaf = leaf
        x = param.image()
        if dy or dx:
            x = torch.roll(x, (dy, dx), dims=(-2, -1))
        values = self._forward(self._scale(x))
        (grad,) = torch.autograd.grad(values.sum(), leaf)
        param.leaf = leaf.detach()
        return grad, values.detach()

    def _tiled_gradient(self, image: torch.Tensor, dy: int, dx: int):
        """Tiles with a halo of context, at offsets that move every step (the roll), so no
        seam stays in one place; the halo makes each tile's gradient near the untiled one."""
        rolled = torch.roll(image, (dy, dx), dims=(-2, -1))
        h, w = rolled.shape[-2:]
        halo = halo_for(self.tile)
        grad = torch.zeros_like(rolled)
        total = torch.zeros(rolled.shape[0], device=rolled.device)
        for y0, y1 in _tiles(h, self.tile):
            for x0, x1 in _tiles(w, self.tile):
                hy0, hy1 = max(0, y0 - halo), min(h, y1 + halo)
                hx0, hx1 = max(0, x0 - halo), min(w, x1 + halo)
                part = rolled[..., hy0:hy1, hx0:hx1].detach().requires_grad_(True)
                share = (y1 - y0) * (x1 - x0) / (h * w)
                weight = (hy1 - hy0) * (hx1 - hx0) / (h * w)  # a mean over the part, as a sum
                values = self._forward(self._scale(part))
                (g,) = torch.autograd.grad(values.sum() * weight, part)
                grad[..., y0:y1, x0:x1] = g[..., y0 - hy0 : y1 - hy0, x0 - hx0 : x1 - hx0]
                total += values.detach() * share
        return torch.roll(grad, (-dy, -dx), dims=(-2, -1)), total

    def regularize(self, grad: torch.Tensor, spatial: bool, bands: int = 0) -> torch.Tensor:
        """The step's direction; ``bands`` > 0 keeps only the gradient's finest bands."""
        r = self.recipe
        if not spatial:
            return reg.normalize_std(grad)
        if r.blur_mode == "gradient" and r.blur_sigma > 0:
            grad = reg.smooth_gradient(grad, r.blur_sigma)
        return reg.normalize(grad, r.grad_norm, r.laplacian_levels, bands)

    @torch.no_grad()
    def measure(self, images: torch.Tensor) -> list[float]:
        """The objective on whole images; large photos in tiles of twice the gradient's side
        (without gradients, four times the area fits in the memory one gradient tile needs)."""
        tile = 2 * self.plan_tiles(images)
        if tile <= 0 or max(images.shape[-2:]) <= tile:
            return [float(v) for v in self._forward(images)]
        h, w = images.shape[-2:]
        total = torch.zeros(images.shape[0], device=images.device)
        for y0, y1 in _tiles(h, tile):
            for x0, x1 in _tiles(w, tile):
                share = (y1 - y0) * (x1 - x0) / (h * w)
                total += self._forward(images[..., y0:y1, x0:x1]) * share
        return [float(v) for v in total]


def step_seconds(
    model: LoadedModel,
    objective: Objective,
    recipe: DreamRecipe,
    size: tuple[int, int] = (192, 256),
    repeats: int = 2,
) -> float:
    """Seconds of one photo-dream step (forward, backward, normalization) at ``size`` on
    the model's device, the best of ``repeats`` after a warm-up: a probe for estimates."""
    device = model.device
    generator = torch.Generator().manual_seed(0)
    bf16 = use_bf16(device)
    ascent = _Ascent(model, objective, recipe, generator, use_channels_last(device), bf16)
    param = make_param("pixel", torch.rand(1, 3, *size, generator=ascent.generator).to(device))
    best = math.inf
    for _ in range(repeats + 1):
        start = time.perf_counter()
        grad, _values = ascent.gradient(param)
        ascent.regularize(grad, True)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        best = min(best, time.perf_counter() - start)
    return best


def render(
    model: LoadedModel,
    objective: Objective,
    recipe: DreamRecipe,
    *,
    seed: int,
    photo: torch.Tensor | None = None,
    start: torch.Tensor | None = None,
    batch: int = 1,
    size: tuple[int, int] | None = None,
    on_step: Callable[[], None] | None = None,
    frames: bool = False,
    measure: bool = True,
    max_memory: float | None = None,
    mask: torch.Tensor | None = None,
    detail: torch.Tensor | None = None,
    finest: int = 0,
) -> DreamResult:
    """Dream ``batch`` images of ``size`` (H, W): the one entry to every dream, which sends
    a MaCo recipe to MaCo's loop (``maco.render_maco``) and the others to this module's.

    ``photo`` (1, 3, H, W) in [0, 1] makes a photo dream with detail re-injection; ``start``
    starts a dream from that picture without re-injection; neither starts from
    ``recipe.init`` (noise or gray). Equal arguments give equal pixels on the CPU.
    ``measure=False`` skips the objective before and after, leaving those lists empty: two
    forward passes that cost a short dream much (a zoom frame at 384 px: 0.84 s -> 0.62 s).
    ``max_memory`` bounds one gradient step's bytes (None: a share of the free memory);
    a step that fits runs on the whole image, one that does not in tiles.
    ``mask`` (1, 1, H, W) in [0, 1] confines a photo dream: every step and the detail
    carried up each octave are weighted by it (at that octave's size), and the result is
    the photo where it is 0, the dream where it is 1 and a blend on its soft edge.
    ``finest`` > 0 dreams only that many of the finest octaves, and ``detail`` (with a
    photo) is the ``dream - photo`` the first of them starts from: a video frame goes on
    from the previous frame's dream, warped onto it.
    """
    if recipe.param == "maco":
        return render_maco(
            model,
            objective,
            recipe,
            seed=seed,
            batch=batch,
            size=size,
            on_step=on_step,
            measure_objective=measure,
        )
    if mask is not None and photo is None:
        raise ValueError("a mask confines photo dreams; give a photo")
    device = model.device
    generator = torch.Generator().manual_seed(seed)
    canvas = _Canvas.of(photo, start, batch, size, recipe, device, mask)
    octaves = octave_plan(*canvas.size, recipe, model.spec.min_size)
    if finest > 0:
        octaves = octaves[-finest:]
    ascent = _Ascent(
        model, objective, recipe, generator, use_channels_last(device), use_bf16(device), max_memory
    )
    image, first = canvas.first_image(recipe, octaves[0].size, generator, device)
    objective_start = ascent.measure(first) if measure else []
    if detail is not None and canvas.photo is not None:
        detail = shrink(detail.to(device).float(), octaves[0].size)
    image, kept = _climb(ascent, canvas, octaves, image, detail, on_step, frames)
    image = stretch_contrast(image.clamp(0, 1), recipe.stretch)
    if canvas.mask is not None:
        image = canvas.photo * (1.0 - canvas.mask) + image * canvas.mask
    objective_end = ascent.measure(image) if measure else []
    check_finite(torch.tensor(objective_end), where="in the final objective")
    return DreamResult(image.cpu(), objective_start, objective_end, kept)


@dataclass(frozen=True)
class _Canvas:
    """What a dream starts from, on the device: the ``photo`` (a photo dream, which every
    octave re-reads), or a ``start`` picture, or neither (``recipe.init``); its ``size``
    and ``batch``, and the photo dream's ``mask``."""

    size: tuple[int, int]
    batch: int
    photo: torch.Tensor | None = None
    start: torch.Tensor | None = None
    mask: torch.Tensor | None = None

    @classmethod
    def of(
        cls,
        photo: torch.Tensor | None,
        start: torch.Tensor | None,
        batch: int,
        size: tuple[int, int] | None,
        recipe: DreamRecipe,
        device: torch.device,
        mask: torch.Tensor | None,
    ) -> _Canvas:
        """Moved to ``device`` as float; a photo sets the size and batch, a start picture
        the size unless one is given (and is repeated to ``batch``)."""
        if photo is not None:
            photo = photo.to(device).float()
            mask = None if mask is None else mask.to(device).float()
            return cls(tuple(photo.shape[-2:]), photo.shape[0], photo=photo, mask=mask)
        if start is not None:
            start = start.to(device).float()
            size = size or tuple(start.shape[-2:])
            start = start.expand(batch, -1, -1, -1) if start.shape[0] == 1 else start
        return cls(size or (recipe.size, recipe.size), batch, start=start)

    def first_image(
        self,
        recipe: DreamRecipe,
        first_size: tuple[int, int],
        generator: torch.Generator,
        device: torch.device,
    ) -> tuple[torch.Tensor | None, torch.Tensor]:
        """The first octave's picture (None for a photo: each octave reads it at its size)
        and the picture at full size the objective is first measured on."""
        if self.photo is not None:
            return None, self.photo
        if self.start is not None:
            return resize(self.start, first_size), resize(self.start, self.size)
        image = initial_image(recipe.param, recipe.init, self.batch, *first_size, generator, device)
        return image, resize(image, self.size)


def _climb(
    ascent: _Ascent,
    canvas: _Canvas,
    octaves: list[Octave],
    image: torch.Tensor | None,
    detail: torch.Tensor | None,
    on_step: Callable[[], None] | None,
    frames: bool,
) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """Every octave in turn, smallest first; returns the last one's picture and, with
    ``frames``, each octave's (levels stretched). A photo dream starts each octave from the
    photo at its size plus the ``detail`` dreamt so far (masked, if the canvas is), carried
    up; any other dream from the previous octave's picture, enlarged."""
    photo, mask = canvas.photo, canvas.mask
    # the base octaves see the photo as a base-size dream does; refining ones, their own
    photo_at_base = shrink(photo, base_size(*canvas.size)) if photo is not None else None
    kept: list[torch.Tensor] = []
    for level, octave in enumerate(octaves):
        grow = enlarge if octave.bands else resize
        if photo is not None:
            here = (
                shrink(photo, octave.size) if octave.bands else resize(photo_at_base, octave.size)
            )
            image = here if detail is None else (here + grow(detail, octave.size)).clamp(0, 1)
        elif level > 0:
            image = grow(image, octave.size)
        weight = None if mask is None else mask_at(mask, octave.size)
        image = _octave(ascent, octave, level, image, weight, on_step)
        if photo is not None:
            detail = image - here if weight is None else (image - here).mul_(weight)
        if frames:
            kept.append(stretch_contrast(image, ascent.recipe.stretch).cpu())
    return image, kept


def _octave(
    ascent: _Ascent,
    octave: Octave,
    level: int,
    image: torch.Tensor,
    weight: torch.Tensor | None,
    on_step: Callable[[], None] | None,
) -> torch.Tensor:
    """``octave.steps`` steps up the objective from ``image``, in the recipe's
    parametrization, each weighted by the octave's mask ``weight`` if there is one."""
    recipe = ascent.recipe
    param = make_param(recipe.param, image)
    if param.spatial:
        ascent.plan_tiles(image)
    blur = recipe.blur_mode == "image" and recipe.blur_sigma > 0 and param.spatial
    for _ in range(octave.steps):
        if blur:
            param.leaf = reg.blur(param.leaf, recipe.blur_sigma)
        grad, values = ascent.gradient(param)
        check_finite(values, grad, where=f"at octave {level + 1}")
        step = ascent.regularize(grad, param.spatial, octave.bands)
        if weight is not None:
            step = masked_step(step, weight)
        param.leaf = param.leaf + recipe.lr * step
        param.after_step()
        if on_step is not None:
            on_step()
    image = param.image().detach()
    check_finite(image, where=f"in the image at octave {level + 1}")
    return image
