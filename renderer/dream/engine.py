"""The one octave loop behind photo, layer and class dreams.

A dream climbs the objective's gradient on a pyramid of sizes (the essay's Program 4.5):
at each octave the image is resized (photos re-inject the detail ``dream - photo`` on top
of the photo at the new size, as google/deepdream does, so the photo's structure survives),
wrapped in a parametrization, and stepped ``steps`` times. Each step jitters the image by a
random roll (the gradient comes back unrolled), computes the gradient through a forward pass
cut after the deepest target layer (in random-offset tiles for large photos), regularizes
it, normalizes it, and takes a step of ``lr``. A dream larger than ``BASE_SIZE`` is the
base-size dream followed by refining octaves that only sharpen it (``octave_plan``). The
network is the model's frozen twin with its BatchNorms folded into the convolutions
(``fusion``).
"""

from __future__ import annotations

import itertools
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from ..errors import RendererError
from ..fusion import dream_network
from ..models import LoadedModel
from . import regularizers as reg
from .memory import ALIGN, StepCost, choose_tile, default_budget, halo_for, probe_step_cost
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


# The long side the shipped presets' octaves were tuned at. A larger dream first dreams the
# recipe's octaves at this size (from the photo brought down to it), then refines upward:
# motifs keep their size relative to the photo, so a print looks like the preview, only
# sharper. Each refining octave takes ``MIN_TOP_STEPS`` steps that keep only the gradient's
# Laplacian bands no coarser than a base pixel: they sharpen what grew below and grow no
# new, smaller motifs (all the bands grew a carpet of small eyes between the big faces).
BASE_SIZE = 512
MIN_TOP_STEPS = 2


@dataclass(frozen=True)
class Octave:
    """One octave: its size, its steps and, for a refining octave above the base, how many
    of the gradient's finest Laplacian bands its steps keep (0: the whole gradient)."""

    size: tuple[int, int]
    steps: int
    bands: int = 0

    def __post_init__(self) -> None:
        if min(self.size) < 1 or self.steps < 0 or self.bands < 0:
            raise ValueError(f"bad octave {self}")


def scale_side(h: int, w: int) -> int:
    """The side that sets a picture's scale: its long side, or 4/3 of its short side when
    that is less (a 10:1 panorama is as fine-grained as its height, not its width)."""
    return min(max(h, w), round(min(h, w) * 4 / 3))


def base_size(h: int, w: int) -> tuple[int, int]:
    """(h, w) brought down so its scale side is ``BASE_SIZE``; (h, w) itself when it is
    within 5% of that or less."""
    side = scale_side(h, w)
    if side <= BASE_SIZE * 1.05:
        return h, w
    k = BASE_SIZE / side
    return max(1, round(h * k)), max(1, round(w * k))


def refine_sizes(h: int, w: int, base: tuple[int, int], scale: float) -> list[tuple[int, int]]:
    """Sizes above ``base`` up to (h, w), one for each ``scale`` (at least one), evenly
    spaced in log size; none when (h, w) is the base."""
    if (h, w) == base:
        return []
    ratio = scale_side(h, w) / scale_side(*base)
    count = max(1, round(math.log(ratio) / math.log(scale))) if scale > 1.0 else 1
    sizes = []
    for i in range(1, count):
        f = ratio ** (i / count) / ratio
        sizes.append((round(h * f), round(w * f)))
    return [*sizes, (h, w)]


def fine_bands(h: int, w: int) -> int:
    """How many of the gradient's finest Laplacian bands (band i holds detail of about
    2**(i + 1) px) a refining octave of (h, w) keeps: log2 of its scale over the base's,
    rounded down, at least one (1 up to 2047 px, 2 from 2048, 3 from 4096)."""
    return max(1, math.floor(math.log2(scale_side(h, w) / BASE_SIZE) + 1e-9))


def octave_plan(h: int, w: int, recipe: DreamRecipe, min_size: int) -> list[Octave]:
    """Every octave's size, steps and gradient bands, smallest first, for a dream of (h, w):
    the recipe's octaves up to the base size, then the refining ones. A recipe of one
    octave (a zoom's frames) has no pyramid to anchor: it stays one octave. A MaCo dream's
    network sees only crops, so each of its octaves is a full one (``refine_steps`` after
    the first, when set; the first counts the steps of all its ``starts``)."""
    if recipe.param == "maco":
        sizes = octave_sizes(h, w, recipe.octaves, recipe.octave_scale, min_size)
        first = recipe.steps + (recipe.starts - 1) * recipe.trial_steps  # every start's
        return [Octave(size, recipe.refining_steps if i else first) for i, size in enumerate(sizes)]
    if recipe.octaves == 1:
        return [Octave((h, w), recipe.steps)]
    base = base_size(h, w)
    below = octave_sizes(*base, recipe.octaves, recipe.octave_scale, min_size)
    steps = min(recipe.steps, MIN_TOP_STEPS)
    above = refine_sizes(h, w, base, recipe.octave_scale)
    return [Octave(size, recipe.steps) for size in below] + [
        Octave(size, steps, fine_bands(*size)) for size in above
    ]


def resize(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=False)


def shrink(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """``x`` brought down to ``size`` without aliasing (a 2048 px photo brought to a
    512 px base octave unfiltered grows stripes from its fine texture)."""
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=True)


def enlarge(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """``x`` brought up to a refining octave's ``size``, bicubic: bilinear steps from the
    base to 2048 px lose a third of the detail's finest band at the base's scale."""
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    return F.interpolate(x, size=size, mode="bicubic", align_corners=False)


def mask_at(mask: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """A mask brought down to an octave's ``size`` by area averaging: a mean of ones is
    exactly one and of zeros exactly zero, so a mask's two ends stay exact at every octave
    (a bilinear filter's weights can sum to 0.99999994)."""
    if tuple(mask.shape[-2:]) == tuple(size):
        return mask
    return F.interpolate(mask, size=size, mode="area")


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


def use_channels_last(device: torch.device) -> bool:
    """channels_last measured faster for Lite0 on the CPU (a cut forward+backward at
    512x340 px, one thread: 0.445 s against 0.467 s) and is the native layout of CUDA
    tensor cores; MPS gains nothing from it."""
    return device.type in ("cpu", "cuda")


def use_bf16(device: torch.device) -> bool:
    """bf16 autocast for the gradient's forward pass on CPUs with native bf16 (AVX512-BF16
    or AMX, as oneDNN reports): with channels_last it measured 1.3x faster at 512 px and 2x
    at 1024 px (two threads), and it halves the saved activations. The image, the gradient
    and its normalization stay float32. Elsewhere float32: not measured on GPUs here."""
    if device.type != "cpu":
        return False
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


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
    max_memory: float | None = None,
    mask: torch.Tensor | None = None,
    detail: torch.Tensor | None = None,
    finest: int = 0,
) -> DreamResult:
    """Dream ``batch`` images of ``size`` (H, W).

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
    octaves = octave_plan(h, w, recipe, model.spec.min_size)
    if finest > 0:
        octaves = octaves[-finest:]
    sizes = [o.size for o in octaves]
    ascent = _Ascent(
        model, objective, recipe, generator, use_channels_last(device), use_bf16(device), max_memory
    )

    if mask is not None:
        if base is None:
            raise ValueError("a mask confines photo dreams; give a photo")
        mask = mask.to(device).float()
    if base is not None:
        first = base  # each octave starts from the photo at its size, below
    elif start is not None:
        image = resize(start, sizes[0])
        first = resize(start, size)
    else:
        image = initial_image(recipe.param, recipe.init, batch, *sizes[0], generator, device)
        first = resize(image, size)
    objective_start = ascent.measure(first) if measure else []

    if detail is not None and base is not None:
        detail = shrink(detail.to(device).float(), sizes[0])
    kept: list[torch.Tensor] = []
    photo_at_base = shrink(base, base_size(h, w)) if base is not None else None
    for level, octave in enumerate(octaves):
        grow = enlarge if octave.bands else resize
        if base is not None:
            # the base octaves see the photo as a base-size dream does; refining ones, their own
            here = shrink(base, octave.size) if octave.bands else resize(photo_at_base, octave.size)
            image = here if detail is None else (here + grow(detail, octave.size)).clamp(0, 1)
        elif level > 0:
            image = grow(image, octave.size)
        param = make_param(recipe.param, image)
        weight = None if mask is None else mask_at(mask, octave.size)
        if param.spatial:
            ascent.plan_tiles(image)
        for _ in range(octave.steps):
            if recipe.blur_mode == "image" and recipe.blur_sigma > 0 and param.spatial:
                param.leaf = reg.blur(param.leaf, recipe.blur_sigma)
            grad, values = ascent.gradient(param)
            _check_finite(values, grad, where=f"at octave {level + 1}")
            step = ascent.regularize(grad, param.spatial, octave.bands)
            if weight is not None:
                step = masked_step(step, weight)
            param.leaf = param.leaf + recipe.lr * step
            param.after_step()
            if on_step is not None:
                on_step()
        image = param.image().detach()
        _check_finite(image, where=f"in the image at octave {level + 1}")
        if base is not None:
            detail = image - here if weight is None else (image - here).mul_(weight)
        if frames:
            kept.append(stretch_contrast(image, recipe.stretch).cpu())
    image = stretch_contrast(image.clamp(0, 1), recipe.stretch)
    if mask is not None:
        image = base * (1.0 - mask) + image * mask
    objective_end = ascent.measure(image) if measure else []
    _check_finite(torch.tensor(objective_end), where="in the final objective")
    return DreamResult(image.cpu(), objective_start, objective_end, kept)
