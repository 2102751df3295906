"""What a dream returns, and the two checks every dream loop ends with.

``DreamResult`` is shared by the photo/layer dream loop (``engine``) and MaCo's (``maco``),
so it lives apart from both: neither loop imports the other for it. ``stretch_contrast`` is
the levels every finished dream gets; ``check_finite`` stops a diverged dream before any
file is written.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from ..errors import RendererError


class DreamDivergedError(RendererError):
    """NaN or Inf appeared during the ascent; nothing is written."""


@dataclass
class DreamResult:
    images: torch.Tensor  # (N, 3, H, W) in [0, 1], on the CPU
    objective_start: list[float]
    objective_end: list[float]
    frames: list[torch.Tensor] = field(default_factory=list)  # one (N, 3, h, w) per octave
    attribution: torch.Tensor | None = None  # MaCo's |gradient| maps, (N, H, W) in [0, 1]


def check_finite(*tensors: torch.Tensor, where: str) -> None:
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
