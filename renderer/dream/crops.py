"""Random crops as a transform: the network sees boxes of the dream, never the whole of it.

MaCo's robustness: each step samples square boxes of a random size near the centre,
resamples them to the network's input size with ``torchvision.ops.roi_align`` (which
averages several bilinear samples per output pixel, so a large box is not aliased), and
adds a little Gaussian and uniform noise. The image itself can then be any size.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torchvision.ops import roi_align


@dataclass(frozen=True)
class CropSpec:
    """Box side as a fraction of the image's short side, uniform in [low, high]; box
    centres spread around the middle by a normal of ``spread`` (as a fraction of the side;
    0 = uniform), kept inside the image; ``count`` boxes per image, ``noise`` in [0, 1]
    pixel units."""

    count: int
    low: float
    high: float
    spread: float
    noise: float


def random_boxes(spec: CropSpec, n: int, h: int, w: int, generator: torch.Generator):
    """(count * n, 5) boxes ``[image, x0, y0, x1, y1]`` in pixels, crop-major: rows
    ``k * n .. k * n + n - 1`` are crop k of images 0 .. n - 1."""
    total = spec.count * n
    short = min(h, w)
    side = (spec.low + (spec.high - spec.low) * torch.rand(total, generator=generator)) * short
    centres = []
    for length in (w, h):
        half = side / 2
        if spec.spread > 0:
            c = length * (0.5 + spec.spread * torch.randn(total, generator=generator))
        else:
            c = half + (length - side) * torch.rand(total, generator=generator)
        centres.append(torch.minimum(torch.maximum(c, half), length - half))
    cx, cy = centres
    index = torch.arange(n, dtype=side.dtype).repeat(spec.count)
    return torch.stack([index, cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2], 1)


def crop(images: torch.Tensor, boxes: torch.Tensor, size: int) -> torch.Tensor:
    """Each box of ``images`` resampled to ``size`` x ``size``; pixel i of a box that starts
    at x0 is centred on x0 + (i + 0.5) * box / size, as a resize of the cut region.

    A box k times the output size is read from the image halved ``floor(log2 k)`` times
    (2 x 2 means), where it is 1-2x the output size, so ``roi_align`` averages at most
    2 x 2 bilinear samples per output pixel: the same antialiased resize as averaging
    k x k samples on the full image, at a fraction of the cost (its backward scatters every
    sample, and dominated a 1024 px dream's steps)."""
    boxes = boxes.to(device=images.device, dtype=images.dtype)
    side = (boxes[:, 3] - boxes[:, 1]).clamp(min=1e-6)
    levels = torch.floor(torch.log2(side / size + 1e-6)).clamp(min=0).long()
    out = images.new_empty((len(boxes), images.shape[1], size, size))
    level_image = images
    for level in range(int(levels.max()) + 1 if len(boxes) else 0):
        if level:
            level_image = F.avg_pool2d(level_image, 2, ceil_mode=True)
        chosen = (levels == level).nonzero()[:, 0]
        if len(chosen):
            scaled = boxes[chosen].clone()
            scaled[:, 1:] /= 2**level
            out[chosen] = roi_align(
                level_image, scaled, output_size=(size, size), spatial_scale=1.0, aligned=True
            )
    return out


def add_noise(crops: torch.Tensor, level: float, generator: torch.Generator) -> torch.Tensor:
    if level <= 0:
        return crops
    shape = crops.shape
    normal = torch.randn(shape, generator=generator).to(crops.device)
    uniform = torch.rand(shape, generator=generator).to(crops.device) - 0.5
    return crops + level * (normal + uniform)
