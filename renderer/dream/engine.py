"""The one octave loop behind photo, layer and class dreams.

A dream climbs the objective's gradient on a pyramid of sizes (the essay's Program 4.5):
at each octave the image is resized (photos re-inject the detail ``dream - photo`` on top
of the photo at the new size, as google/deepdream does, so the photo's structure survives),
wrapped in a parametrization, and stepped ``steps`` times. Each step jitters the image by a
random roll (the gradient comes back unrolled), computes the gradient through a forward pass
cut after the deepest target layer (in random-offset tiles for large photos), regularizes
it, normalizes it, and takes a step of ``lr``. The network is the model's frozen twin with
its BatchNorms folded into the convolutions (``fusion``).
"""

from __future__ import annotations

import itertools
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from ..errors import RendererError
from ..fusion import dream_network
from ..models import LoadedModel
from . import regularizers as reg
from .objectives import Objective, evaluate
from .parametrization import FFTParam, PixelParam, initial_image, make_param
from .recipe import DreamRecipe

log = logging.getLogger("renderer.dream")


class DreamDivergedError(RendererError):
    """NaN or Inf appeared during the ascent; nothing is written."""


@dataclass
class DreamResult:
    images: torch.Tensor  # (N, 3, H, W) in [0, 1], on the CPU
    objective_start: list[float]
    objective_end: list[float]
    frames: list[torch.Tensor] = field(default_factory=list)  # one (N, 3, h, w) per octave
    attribution: torch.Tensor | None = None  # MaCo's |gradient| maps, (N, H, W) in [0, 1]


def octave_sizes(
    h: int, w: int, octaves: int, scale: float, min_size: int
) -> list[tuple[int, int]]:
    """Sizes from the smallest octave up to (h, w); none with a side under ``min_size``
    (clamped, with a warning: a too-small octave crashes or dreams nothing)."""
    sizes = []
    clamped = False
    for level in range(octaves - 1, -1, -1):
        f = scale ** (-level)
        sh, sw = max(1, round(h * f)), max(1, round(w * f))
        if min(sh, sw) < min_size:
            clamped = True
            k = min_size / min(sh, sw)
            sh, sw = min(h, math.ceil(sh * k)), min(w, math.ceil(sw * k))
        sizes.append((sh, sw))
    if clamped:
        log.warning(
            "smallest octave clamped to the model's minimum input size (%d px); "
            "use fewer octaves or a smaller --octave-scale",
            min_size,
        )
    return sizes


def resize(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=False)


def use_channels_last(device: torch.device) -> bool:
    """channels_last measured faster for Lite0 on the CPU (a cut forward+backward at
    512x340 px, one thread: 0.445 s against 0.467 s) and is the native layout of CUDA
    tensor cores; MPS gains nothing from it."""
    return device.type in ("cpu", "cuda")


HALO = 0.25  # context around each tile, as a fraction of the tile size
ALIGN = 32  # the network's total stride: tiles cut on its grid see the same sampling phase


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

    def __post_init__(self) -> None:
        self.net = dream_network(self.model, self.objective.layers)

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return evaluate(self.model, self.objective, x, self.net)

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
        tile = self.recipe.tile
        return tile > 0 and max(x.shape[-2:]) > tile

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
        halo = ALIGN * max(1, round(self.recipe.tile * HALO / ALIGN))
        grad = torch.zeros_like(rolled)
        total = torch.zeros(rolled.shape[0], device=rolled.device)
        for y0, y1 in _tiles(h, self.recipe.tile):
            for x0, x1 in _tiles(w, self.recipe.tile):
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

    def regularize(self, grad: torch.Tensor, spatial: bool) -> torch.Tensor:
        r = self.recipe
        if not spatial:
            return reg.normalize_std(grad)
        if r.blur_mode == "gradient" and r.blur_sigma > 0:
            grad = reg.smooth_gradient(grad, r.blur_sigma)
        return reg.normalize(grad, r.grad_norm, r.laplacian_levels)

    @torch.no_grad()
    def measure(self, images: torch.Tensor) -> list[float]:
        """The objective on whole images; large photos in tiles of twice the side (without
        gradients, four times the area fits in the memory one gradient tile needs)."""
        tile = 2 * self.recipe.tile
        if self.recipe.tile <= 0 or max(images.shape[-2:]) <= tile:
            return [float(v) for v in self._forward(images)]
        h, w = images.shape[-2:]
        total = torch.zeros(images.shape[0], device=images.device)
        for y0, y1 in _tiles(h, tile):
            for x0, x1 in _tiles(w, tile):
                share = (y1 - y0) * (x1 - x0) / (h * w)
                total += self._forward(images[..., y0:y1, x0:x1]) * share
        return [float(v) for v in total]


def _check_finite(*tensors: torch.Tensor, where: str) -> None:
    for t in tensors:
        if not bool(torch.isfinite(t).all()):
            raise DreamDivergedError(
                f"the dream diverged (NaN or Inf {where}); try a lower --lr or another layer"
            )


def stretch_contrast(images: torch.Tensor, percent: float) -> torch.Tensor:
    """Per-image levels: the ``percent`` darkest and brightest values go to 0 and 1."""
    if percent <= 0:
        return images
    flat = images.flatten(1)
    step = max(1, flat.shape[1] // (1 << 22))  # torch.quantile takes at most 2**24 values
    flat = flat[:, ::step]
    q = torch.tensor([percent / 100.0, 1.0 - percent / 100.0], device=images.device)
    lo_hi = torch.quantile(flat, q, dim=1)
    lo, hi = lo_hi[0].view(-1, 1, 1, 1), lo_hi[1].view(-1, 1, 1, 1)
    return ((images - lo) / (hi - lo).clamp(min=1e-3)).clamp(0, 1)


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
) -> DreamResult:
    """Dream ``batch`` images of ``size`` (H, W).

    ``photo`` (1, 3, H, W) in [0, 1] makes a photo dream with detail re-injection; ``start``
    starts a dream from that picture without re-injection; neither starts from
    ``recipe.init`` (noise or gray). Equal arguments give equal pixels on the CPU.
    ``measure=False`` skips the objective before and after, leaving those lists empty: two
    forward passes that cost a short dream much (a zoom frame at 384 px: 0.84 s -> 0.62 s).
    """
    if recipe.param == "maco":
        from .maco import render_maco

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
    device = model.device
    generator = torch.Generator().manual_seed(seed)
    base = None
    if photo is not None:
        base = photo.to(device).float()
        batch = base.shape[0]
        size = tuple(base.shape[-2:])
    elif start is not None:
        start = start.to(device).float()
        size = size or tuple(start.shape[-2:])
        start = start.expand(batch, -1, -1, -1) if start.shape[0] == 1 else start
    if size is None:
        size = (recipe.size, recipe.size)
    h, w = size
    sizes = octave_sizes(h, w, recipe.octaves, recipe.octave_scale, model.spec.min_size)
    ascent = _Ascent(model, objective, recipe, generator, use_channels_last(device))

    if base is not None:
        first = base  # each octave starts from the photo at its size, below
    elif start is not None:
        image = resize(start, sizes[0])
        first = resize(start, size)
    else:
        image = initial_image(recipe.param, recipe.init, batch, *sizes[0], generator, device)
        first = resize(image, size)
    objective_start = ascent.measure(first) if measure else []

    detail: torch.Tensor | None = None
    kept: list[torch.Tensor] = []
    for level, octave in enumerate(sizes):
        if base is not None:
            image = resize(base, octave)
            if detail is not None:
                image = (image + resize(detail, octave)).clamp(0, 1)
        elif level > 0:
            image = resize(image, octave)
        param = make_param(recipe.param, image)
        for _ in range(recipe.steps):
            if recipe.blur_mode == "image" and recipe.blur_sigma > 0 and param.spatial:
                param.leaf = reg.blur(param.leaf, recipe.blur_sigma)
            grad, values = ascent.gradient(param)
            _check_finite(values, grad, where=f"at octave {level + 1}")
            param.leaf = param.leaf + recipe.lr * ascent.regularize(grad, param.spatial)
            param.after_step()
            if on_step is not None:
                on_step()
        image = param.image().detach()
        _check_finite(image, where=f"in the image at octave {level + 1}")
        if base is not None:
            detail = image - resize(base, octave)
        if frames:
            kept.append(stretch_contrast(image, recipe.stretch).cpu())
    image = stretch_contrast(image.clamp(0, 1), recipe.stretch)
    objective_end = ascent.measure(image) if measure else []
    _check_finite(torch.tensor(objective_end), where="in the final objective")
    return DreamResult(image.cpu(), objective_start, objective_end, kept)
