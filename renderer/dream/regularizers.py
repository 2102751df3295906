"""Blur, gradient smoothing and gradient normalization: pure tensor functions.

All work per image on (N, 3, H, W) tensors on whatever device the tensors live on; the
Gaussian blur is kornia's. Normalizing per image keeps a batch of dreams independent.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from kornia.filters import gaussian_blur2d

EPS = 1e-8


def kernel_size(sigma: float) -> int:
    """An odd kernel wide enough for ±3 sigma."""
    return 2 * max(1, math.ceil(3.0 * sigma)) + 1


def blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Gaussian blur with reflected borders; sigma 0 returns ``x`` itself."""
    if sigma <= 0:
        return x
    k = kernel_size(sigma)
    k = min(k, 2 * ((min(x.shape[-2:]) - 1) // 2) + 1)
    if k < 3:
        return x
    return gaussian_blur2d(x, (k, k), (sigma, sigma), border_type="reflect")


def smooth_gradient(g: torch.Tensor, sigma: float) -> torch.Tensor:
    """The mean of the gradient blurred at sigma/2, sigma and 2 sigma (a cascade): it keeps
    some fine detail while damping the pixel-level static plain gradients carry."""
    if sigma <= 0:
        return g
    return sum(blur(g, s) for s in (0.5 * sigma, sigma, 2.0 * sigma)) / 3.0


def _per_image(reduce: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return reduce.view(-1, *([1] * (like.dim() - 1)))


def normalize_std(g: torch.Tensor) -> torch.Tensor:
    """The essay's ``(g - mean) / std``, per image."""
    flat = g.flatten(1)
    return (g - _per_image(flat.mean(1), g)) / (_per_image(flat.std(1), g) + EPS)


def normalize_mean_abs(g: torch.Tensor) -> torch.Tensor:
    """google/deepdream's ``g / mean|g|``, per image."""
    return g / (_per_image(g.flatten(1).abs().mean(1), g) + EPS)


def _rms(g: torch.Tensor) -> torch.Tensor:
    return _per_image(g.flatten(1).square().mean(1).sqrt(), g)


_BINOMIAL = torch.tensor([1.0, 4.0, 6.0, 4.0, 1.0])


def _kernel(x: torch.Tensor, gain: float) -> torch.Tensor:
    k = torch.outer(_BINOMIAL, _BINOMIAL) / 256.0 * gain
    return k.to(device=x.device, dtype=x.dtype).expand(x.shape[1], 1, 5, 5)


def _down(x: torch.Tensor) -> torch.Tensor:
    """5x5 binomial blur and stride 2 (the TF1 notebook's pyramid), in one depthwise conv.
    kornia's pyrdown/pyrup (the same 5x5 kernel) measured slower for the same look: the
    normalization at 512 px 13-19 ms against 29-36 ms, at 2048 px 0.70 s against 1.29 s,
    a 512 px dream 1.2-1.3x slower; its build_laplacian_pyramid pads to powers of two."""
    padded = F.pad(x, (2, 2, 2, 2), mode="reflect")
    return F.conv2d(padded, _kernel(x, 1.0), stride=2, groups=x.shape[1])


def _up(x: torch.Tensor, size: torch.Size) -> torch.Tensor:
    """The matching expand: a transposed binomial conv to exactly ``size``."""
    h, w = size[-2], size[-1]
    extra = (h - (2 * x.shape[-2] - 1), w - (2 * x.shape[-1] - 1))
    return F.conv_transpose2d(
        x, _kernel(x, 4.0), stride=2, padding=2, output_padding=extra, groups=x.shape[1]
    )


def laplacian_split(x: torch.Tensor, levels: int) -> list[torch.Tensor]:
    """Band-pass images, finest first, ending with the low-pass residual."""
    bands = []
    for _ in range(levels - 1):
        if min(x.shape[-2:]) < 8:
            break
        low = _down(x)
        bands.append(x - _up(low, x.shape))
        x = low
    bands.append(x)
    return bands


def laplacian_merge(bands: list[torch.Tensor]) -> torch.Tensor:
    x = bands[-1]
    for band in reversed(bands[:-1]):
        x = _up(x, band.shape) + band
    return x


def _finest(bands: list[torch.Tensor], keep: int) -> list[torch.Tensor]:
    """``bands`` with all but the ``keep`` finest zeroed."""
    return [b if i < keep else torch.zeros_like(b) for i, b in enumerate(bands)]


def _fine_pass(g: torch.Tensor, keep: int, equalize: bool) -> torch.Tensor:
    """The ``keep`` finest bands of ``g`` (each to unit RMS if ``equalize``), merged, from a
    split one level deeper (the finest bands are the same however deep it goes). ``g`` is
    reflected out by a margin first: the pyramid's expand loses half its weight at a border,
    so a bare split leaks the coarse bands into the finest at the edges (a constant's
    finest band: 0.66 of it on the border rows)."""
    h, w = g.shape[-2:]
    m = min(4 << keep, h - 1, w - 1)
    bands = laplacian_split(F.pad(g, (m, m, m, m), mode="reflect"), keep + 1)
    if equalize:
        bands = [b / (_rms(b) + EPS) for b in bands]
    return laplacian_merge(_finest(bands, keep))[..., m : m + h, m : m + w]


def normalize_laplacian(g: torch.Tensor, levels: int = 4, keep: int = 0) -> torch.Tensor:
    """Laplacian-pyramid normalization (the TF1 DeepDream notebook): every frequency band
    gets equal energy, so the coarse structure is not drowned by pixel static. ``keep`` > 0
    keeps only the ``keep`` finest bands (with at least one coarser band to drop)."""
    if keep > 0:
        return normalize_std(_fine_pass(g, keep, equalize=True))
    bands = [b / (_rms(b) + EPS) for b in laplacian_split(g, levels)]
    return normalize_std(laplacian_merge(bands))


def high_pass(g: torch.Tensor, keep: int) -> torch.Tensor:
    """The ``keep`` finest Laplacian bands of ``g``, summed (``keep`` 0: ``g`` itself)."""
    if keep <= 0:
        return g
    return _fine_pass(g, keep, equalize=False)


def normalize(g: torch.Tensor, mode: str, levels: int = 4, keep: int = 0) -> torch.Tensor:
    """The step's direction by ``mode``, from only the ``keep`` finest bands when > 0."""
    if mode == "laplacian":
        return normalize_laplacian(g, levels, keep)
    g = high_pass(g, keep)
    if mode == "std":
        return normalize_std(g)
    if mode == "mean-abs":
        return normalize_mean_abs(g)
    raise ValueError(f"unknown gradient normalization {mode!r}")


def high_frequency_share(detail: torch.Tensor) -> float:
    """Share of spectral energy above half the Nyquist frequency (radially), all images and
    channels together: a static detector."""
    d = detail.float() - detail.float().mean(dim=(-2, -1), keepdim=True)
    power = torch.fft.rfft2(d).abs().square()
    h, w = d.shape[-2:]
    fy = torch.fft.fftfreq(h).abs().view(-1, 1)
    fx = torch.fft.rfftfreq(w).view(1, -1)
    radius = torch.sqrt(fy.square() + fx.square())
    high = power[..., radius > 0.25].sum()
    total = power.sum()
    return float(high / total) if total > 0 else 0.0
