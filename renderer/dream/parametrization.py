"""How the dreamt image is represented while it is optimized.

The convention follows lucent's ``param_f() -> (params, image_f)`` in small classes: ``leaf``
is the tensor that receives the step, ``image()`` the picture in [0, 1] the network sees.
``PixelParam`` is the image itself (DeepDream on photos); ``FFTParam`` is lucent/Lucid's
scaled Fourier spectrum in a decorrelated colour space behind a sigmoid, which lets dreams
from noise grow smooth, saturated structure instead of grey static. Between octaves the
engine reads the picture, resizes it and builds a new parametrization from it
(``from_image`` inverts ``image()``), so one octave loop serves both.
"""

from __future__ import annotations

import torch

# Lucid's square root of ImageNet's colour correlation matrix, normalized by its largest
# column norm.
_COLOR_SQRT = torch.tensor(
    [[0.26, 0.09, 0.02], [0.27, 0.00, -0.05], [0.27, -0.09, 0.03]], dtype=torch.float64
)
COLOR_MATRIX = (_COLOR_SQRT / _COLOR_SQRT.norm(dim=0).max()).float()
FFT_MAGIC = 4.0
SIGMOID_EPS = 1e-3


class PixelParam:
    """The image is the parameter; the step is clamped back into [0, 1]."""

    spatial = True

    def __init__(self, image: torch.Tensor) -> None:
        self.leaf = image.detach().clone().clamp_(0, 1)

    def image(self) -> torch.Tensor:
        return self.leaf

    def after_step(self) -> None:
        self.leaf.clamp_(0, 1)


def _frequency_scale(h: int, w: int, device: torch.device, decay: float = 1.0) -> torch.Tensor:
    fy = torch.fft.fftfreq(h, device=device).view(-1, 1)
    fx = torch.fft.rfftfreq(w, device=device).view(1, -1)
    freqs = torch.sqrt(fy.square() + fx.square())
    return 1.0 / freqs.clamp(min=1.0 / max(h, w)).pow(decay)


class FFTParam:
    """A 1/f-scaled spectrum of decorrelated colour, mapped to [0, 1] by a sigmoid."""

    spatial = False

    def __init__(self, spectrum: torch.Tensor, h: int, w: int) -> None:
        self.leaf = spectrum  # (N, 3, H, W//2+1, 2): real and imaginary parts
        self.h, self.w = h, w
        self.scale = _frequency_scale(h, w, spectrum.device)[None, None, :, :, None]
        self.matrix = COLOR_MATRIX.to(spectrum.device)

    def image(self) -> torch.Tensor:
        scaled = torch.view_as_complex((self.leaf * self.scale).contiguous())
        spatial = torch.fft.irfftn(scaled, s=(self.h, self.w), norm="ortho") / FFT_MAGIC
        rgb = torch.einsum("nchw,dc->ndhw", spatial, self.matrix)
        return torch.sigmoid(rgb)

    def after_step(self) -> None:
        pass

    @classmethod
    def from_image(cls, image: torch.Tensor) -> FFTParam:
        """The parametrization whose ``image()`` is ``image`` (up to the sigmoid's clamp)."""
        h, w = image.shape[-2:]
        x = image.detach().clamp(SIGMOID_EPS, 1 - SIGMOID_EPS)
        logits = torch.log(x) - torch.log1p(-x)
        inverse = torch.linalg.inv(COLOR_MATRIX.double()).float().to(image.device)
        spatial = torch.einsum("nchw,dc->ndhw", logits, inverse) * FFT_MAGIC
        spectrum = torch.fft.rfftn(spatial, s=(h, w), norm="ortho")
        scale = _frequency_scale(h, w, image.device)
        leaf = torch.view_as_real(spectrum / scale).contiguous()
        return cls(leaf, h, w)

    @classmethod
    def random(cls, n: int, h: int, w: int, generator: torch.Generator, device, sd=0.01):
        """Lucid's start: a faint 1/f colour noise around mid-grey."""
        shape = (n, 3, h, w // 2 + 1, 2)
        leaf = (torch.randn(shape, generator=generator) * sd).to(device)
        return cls(leaf, h, w)


def make_param(kind: str, image: torch.Tensor) -> PixelParam | FFTParam:
    if kind == "pixel":
        return PixelParam(image)
    if kind == "fft":
        return FFTParam.from_image(image)
    raise ValueError(f"unknown parametrization {kind!r}")


def initial_image(
    kind: str, init: str, n: int, h: int, w: int, generator: torch.Generator, device
) -> torch.Tensor:
    """The start of a dream from nothing: uniform noise (the essay), or mid-grey with a
    faint noise so the symmetry breaks; with ``fft``, noise is Lucid's faint 1/f colour."""
    if init == "noise" and kind == "fft":
        return FFTParam.random(n, h, w, generator, device).image().detach()
    if init == "noise":
        return torch.rand((n, 3, h, w), generator=generator).to(device)
    if init == "gray":
        noise = torch.randn((n, 3, h, w), generator=generator) * 0.01
        return (0.5 + noise).clamp(0, 1).to(device)
    raise ValueError(f"unknown init {init!r}")


__all__ = ["FFTParam", "PixelParam", "initial_image", "make_param"]
