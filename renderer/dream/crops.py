"""Random crops as a transform: the network sees boxes of the dream, never the whole of it.

MaCo's robustness: each step samples square boxes of a random size near the centre,
resamples them to the network's input size as ``torchvision.ops.roi_align`` does (several
bilinear samples averaged per output pixel, so a large box is not aliased), and adds a
little Gaussian and uniform noise. The image itself can then be any size.

roi_align is separable: its samples lie on a grid, and a bilinear sample is a product of
a row weight and a column weight. So a crop here is a row pass then a column pass, each
output reading a few consecutive inputs ("taps"), with the same sample points and weights
as roi_align. Its gradient is the same two passes transposed, summed into one image. On
one CPU thread torchvision's roi_align backward (a scalar scatter per sample, and a
zero-filled image per call) was a quarter of a 1024 px MaCo class dream; with the halving
below, a step's 8 crops forward and backward take 32 ms at 512 px and 28-35 ms at 1024 px,
against 63-67 and 78-80 ms with roi_align and avg_pool2d (one thread, a busy machine).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


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


def axis_taps(
    start: torch.Tensor, length: torch.Tensor, size: int, extent: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """roi_align's resampling along one axis (aligned, adaptive sampling) as taps.

    ``start`` and ``length`` (B,) place each box on an axis of ``extent`` pixels, in
    pixel-centre coordinates (roi_align's ``aligned=True`` half-pixel shift already
    applied). Output i of box b is ``sum_k weights[b, i, k] * input[first[b, i] + k]``:
    the mean of ``ceil(length / size)`` bilinear samples spread evenly over its bin, with
    roi_align's edge rules (clamped to the edge, zero beyond one pixel outside)."""
    dtype = start.dtype
    grid = torch.ceil(length / size).clamp(min=1)  # samples per bin, per box
    most = int(grid.max())
    step = length / size
    bins = torch.arange(size, dtype=dtype)[None, :, None]
    sample = torch.arange(most, dtype=dtype)
    at = start[:, None, None] + bins * step[:, None, None]
    at = at + (sample + 0.5) * (step / grid)[:, None, None]  # (B, size, most)
    valid = (sample < grid[:, None, None]) & (at >= -1.0) & (at <= extent)
    at = at.clamp(min=0)
    low = at.long()
    top = low >= extent - 1
    low = torch.where(top, extent - 1, low)
    high = torch.where(top, low, low + 1)
    frac = torch.where(top, 0.0, at - low)
    share = valid.to(dtype) / grid[:, None, None]
    first = torch.where(valid, low, extent).amin(2)
    first = torch.where(valid.any(2), first, low[..., 0])  # a bin wholly outside: weight 0
    span = (torch.where(valid, high, 0) - first[..., None]).amax() if valid.any() else 0
    taps = int(span) + 1
    first = first.clamp(max=max(0, extent - taps))  # every tap inside the axis
    k = torch.arange(taps)
    near = ((low - first[..., None])[..., None] == k) * ((1 - frac) * share)[..., None]
    far = ((high - first[..., None])[..., None] == k) * (frac * share)[..., None]
    return first, (near + far).sum(2)


def _gather(x: torch.Tensor, first: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """(C, L, M) -> (C, P, M): row i is ``sum_k weights[i, k] * x[:, first[i] + k]``."""
    count, taps = weights.shape
    rows = x.index_select(1, (first[:, None] + torch.arange(taps)).flatten())
    return (rows.view(x.shape[0], count, taps, x.shape[2]) * weights[:, :, None]).sum(2)


def _scatter(g: torch.Tensor, first: torch.Tensor, weights: torch.Tensor, length: int):
    """The transpose of ``_gather``: (C, P, M) -> (C, length, M)."""
    count, taps = weights.shape
    spread = (g[:, :, None, :] * weights[:, :, None]).reshape(g.shape[0], count * taps, -1)
    out = g.new_zeros((g.shape[0], length, g.shape[2]))
    return out.index_add_(1, (first[:, None] + torch.arange(taps)).flatten(), spread)


class _TapCrop(torch.autograd.Function):
    """Boxes of ``image`` through their row and column taps; each box reads only the
    window its taps touch, and the gradient of every box lands in one image."""

    @staticmethod
    def forward(ctx, image, index, rows, row_weights, cols, col_weights):
        size = rows.shape[1]
        out = image.new_empty((len(rows), image.shape[1], size, size))
        windows = []
        for b in range(len(rows)):
            n = int(index[b])
            y0, y1 = int(rows[b].min()), int(rows[b].max()) + row_weights.shape[-1]
            x0, x1 = int(cols[b].min()), int(cols[b].max()) + col_weights.shape[-1]
            across = _gather(image[n, :, y0:y1, x0:x1], rows[b] - y0, row_weights[b])
            out[b] = _gather(across.transpose(1, 2), cols[b] - x0, col_weights[b]).transpose(1, 2)
            windows.append((n, y0, y1, x0, x1))
        ctx.save_for_backward(rows, row_weights, cols, col_weights)
        ctx.windows, ctx.shape = windows, image.shape
        return out

    @staticmethod
    def backward(ctx, grad):
        rows, row_weights, cols, col_weights = ctx.saved_tensors
        out = grad.new_zeros(ctx.shape)
        for b, (n, y0, y1, x0, x1) in enumerate(ctx.windows):
            across = _scatter(grad[b].transpose(1, 2), cols[b] - x0, col_weights[b], x1 - x0)
            out[n, :, y0:y1, x0:x1] += _scatter(
                across.transpose(1, 2), rows[b] - y0, row_weights[b], y1 - y0
            )
        return out, None, None, None, None, None


def resample_boxes(image: torch.Tensor, boxes: torch.Tensor, size: int) -> torch.Tensor:
    """``roi_align(image, boxes, size, spatial_scale=1, sampling_ratio=-1, aligned=True)``,
    equal up to float rounding, gradient included. Off the CPU it is roi_align itself (its
    GPU kernels are fast; the tap passes loop over the boxes)."""
    if image.device.type != "cpu":
        from torchvision.ops import roi_align

        return roi_align(image, boxes, (size, size), 1.0, -1, aligned=True)
    h, w = image.shape[-2:]
    side_y, side_x = boxes[:, 4] - boxes[:, 2], boxes[:, 3] - boxes[:, 1]
    rows, row_weights = axis_taps(boxes[:, 2] - 0.5, side_y, size, h)
    cols, col_weights = axis_taps(boxes[:, 1] - 0.5, side_x, size, w)
    return _TapCrop.apply(image, boxes[:, 0].long(), rows, row_weights, cols, col_weights)


class _Halve(torch.autograd.Function):
    """2 x 2 means, a last odd row or column averaged on its own: ``avg_pool2d(x, 2,
    ceil_mode=True)`` in two strided sums (avg_pool2d's CPU kernel and its backward took
    5x and 2x longer on a 1024 px image)."""

    @staticmethod
    def forward(ctx, x):
        h, w = x.shape[-2:]
        ctx.size = (h, w)
        if h % 2:
            x = torch.cat([x, x[..., -1:, :]], -2)
        pairs = x[..., ::2, :] + x[..., 1::2, :]
        if w % 2:
            pairs = torch.cat([pairs, pairs[..., -1:]], -1)
        return (pairs[..., ::2] + pairs[..., 1::2]) * 0.25

    @staticmethod
    def backward(ctx, g):
        h, w = ctx.size
        lead, (gh, gw) = g.shape[:-2], g.shape[-2:]
        spread = (g * 0.25)[..., :, None, :, None].expand(*lead, gh, 2, gw, 2)
        spread = spread.reshape(*lead, 2 * gh, 2 * gw)
        if h % 2 == 0 and w % 2 == 0:
            return spread
        out = spread[..., :h, :w].clone()
        if h % 2:
            out[..., h - 1, :] += spread[..., h, :w]
        if w % 2:
            out[..., :, w - 1] += spread[..., :h, w]
        if h % 2 and w % 2:
            out[..., h - 1, w - 1] += spread[..., h, w]
        return out


def halve(x: torch.Tensor) -> torch.Tensor:
    """(..., H, W) -> (..., ceil(H/2), ceil(W/2)): the pyramid's next level."""
    return _Halve.apply(x)


def crop(images: torch.Tensor, boxes: torch.Tensor, size: int) -> torch.Tensor:
    """Each box of ``images`` resampled to ``size`` x ``size``; pixel i of a box that starts
    at x0 is centred on x0 + (i + 0.5) * box / size, as a resize of the cut region.

    A box k times the output size is read from the image halved ``floor(log2 k)`` times
    (2 x 2 means), where it is 1-2x the output size, so each output pixel averages at most
    2 x 2 bilinear samples: the same antialiased resize as averaging k x k samples on the
    full image, at a fraction of the cost."""
    boxes = boxes.to(device=images.device, dtype=images.dtype)
    side = (boxes[:, 3] - boxes[:, 1]).clamp(min=1e-6)
    levels = torch.floor(torch.log2(side / size + 1e-6)).clamp(min=0).long()
    out = images.new_empty((len(boxes), images.shape[1], size, size))
    level_image = images
    for level in range(int(levels.max()) + 1 if len(boxes) else 0):
        if level:
            level_image = halve(level_image)
        chosen = (levels == level).nonzero()[:, 0]
        if len(chosen):
            scaled = boxes[chosen].clone()
            scaled[:, 1:] /= 2**level
            out[chosen] = resample_boxes(level_image, scaled, size)
    return out


def add_noise(crops: torch.Tensor, level: float, generator: torch.Generator) -> torch.Tensor:
    if level <= 0:
        return crops
    shape = crops.shape
    normal = torch.randn(shape, generator=generator).to(crops.device)
    uniform = torch.rand(shape, generator=generator).to(crops.device) - 0.5
    return crops + level * (normal + uniform)
