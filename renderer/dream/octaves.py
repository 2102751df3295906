"""The pyramid a dream climbs: which octaves, at which sizes, with how many steps.

Shared by the photo/layer dream loop (``engine``) and MaCo's (``maco``): both ask
``octave_plan`` for their octaves and carry the picture between them with ``resize``,
``shrink`` and ``enlarge``. A photo dream larger than ``BASE_SIZE`` is the base-size dream
followed by refining octaves that only sharpen it; a MaCo dream's octaves are all full ones.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .recipe import DreamRecipe

log = logging.getLogger("renderer.dream")


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
