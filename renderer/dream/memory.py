"""The memory budget of a dream's gradient: tiles only when the whole image would not fit.

A gradient step keeps every activation the backward pass needs, so its memory grows with
the pixels. It is measured, not guessed: a probe records the bytes the forward pass saves
for backward (``saved_tensors_hooks``) at two small sizes, which gives bytes per pixel for
this network, cut, dtype and layout. A step that fits the budget runs whole (no halo, no
seams, fewer small kernels); one that does not is cut into the largest tiles that fit.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

from ..ram import available_ram

ALIGN = 32  # the network's total stride: tiles cut on its grid see the same sampling phase
MEMORY_SHARE = 0.25  # of the free memory, for one dream (a gallery runs a few at once)
# On the CPU at most this much: a 2048 x 1536 step (bf16, ~0.5 kB/px saved) fits whole, and
# the process stays under 3 GB at 2048 px and 4 GB at 4096 px (measured in `make bench`).
CPU_BUDGET_CAP = 2 * 2**30
# Backward holds the saved tensors plus a few gradients of the largest activations at once.
PEAK_FACTOR = 1.3
MIN_TILE = 128
MAX_HALO = 128  # px of context around an automatic tile (the 25% of a 512 px tile)
HALO = 0.25  # context around a tile as a fraction of its side, up to MAX_HALO


def halo_for(tile: int) -> int:
    """Context around each tile: a quarter of the tile, at most ``MAX_HALO``, on the grid."""
    return ALIGN * max(1, round(min(tile * HALO, MAX_HALO) / ALIGN))


def available_memory(device: torch.device) -> int:
    """Free bytes where the dream runs: the GPU's free memory, or the machine's available
    RAM (Linux ``MemAvailable``; elsewhere the free pages, else 8 GiB)."""
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return int(free)
    return available_ram()


def default_budget(device: torch.device) -> int:
    """``MEMORY_SHARE`` of the free memory; on the CPU at most ``CPU_BUDGET_CAP``."""
    budget = int(available_memory(device) * MEMORY_SHARE)
    return budget if device.type != "cpu" else min(budget, CPU_BUDGET_CAP)


@dataclass(frozen=True)
class StepCost:
    """Bytes one gradient step holds: ``fixed + per_pixel * pixels`` (the batch included)."""

    fixed: float
    per_pixel: float

    def bytes(self, pixels: int) -> float:
        return PEAK_FACTOR * (self.fixed + self.per_pixel * pixels)


def probe_step_cost(forward: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> StepCost:
    """Saved-for-backward bytes of ``forward`` at two small sizes of ``x``'s batch and
    channels: a line through them. No backward runs; it costs two tiny forward passes."""
    counts = []
    sides = (2 * ALIGN, 4 * ALIGN)

    def pack(t: torch.Tensor) -> torch.Tensor:
        counts[-1] += t.numel() * t.element_size()
        return t

    for side in sides:
        probe = torch.zeros(*x.shape[:2], side, side, device=x.device, requires_grad=True)
        counts.append(0)
        with torch.enable_grad(), torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            forward(probe)
    a, b = sides[0] ** 2, sides[1] ** 2
    per_pixel = max(0.0, (counts[1] - counts[0]) / (b - a))
    return StepCost(max(0.0, counts[0] - per_pixel * a), per_pixel)


def choose_tile(h: int, w: int, cost: StepCost, budget: float) -> int:
    """0 (whole image) when a step on (h, w) fits ``budget``; else the largest tile whose
    part, halo included, fits (at least ``MIN_TILE``)."""
    if cost.bytes(h * w) <= budget:
        return 0
    side = math.sqrt(max(0.0, budget / PEAK_FACTOR - cost.fixed) / max(cost.per_pixel, 1e-9))
    tile = MIN_TILE
    for candidate in range(ALIGN * int(side // ALIGN), MIN_TILE - 1, -ALIGN):
        if candidate + 2 * halo_for(candidate) <= side:
            tile = candidate
            break
    return tile if max(h, w) > tile else 0
