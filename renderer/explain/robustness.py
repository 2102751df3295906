"""Essay §3.5: Grad-CAM as the photo degrades, for the then-top class and the original one.

Three degradations at four increasing levels each, in image space [0, 1], clamped:

* ``noise``: additive Gaussian noise with standard deviation 0.05, 0.1, 0.2, 0.4 (seeded);
* ``brightness``: every pixel raised by 0.15, 0.3, 0.5, 0.7 (towards a washed-out white,
  the essay's red-fox "envelope" case);
* ``contrast``: pixels pulled towards the image's mean grey, keeping 70, 50, 30, 15 %.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

KINDS = ("noise", "brightness", "contrast")
LEVELS: dict[str, tuple[float, ...]] = {
    "noise": (0.05, 0.1, 0.2, 0.4),
    "brightness": (0.15, 0.3, 0.5, 0.7),
    "contrast": (0.7, 0.5, 0.3, 0.15),
}
DESCRIBE = {
    "noise": "Gaussian noise, sd {:g}",
    "brightness": "brightness +{:g}",
    "contrast": "contrast x{:g}",
}


@dataclass(frozen=True)
class Degradation:
    kind: str
    level: int  # 1..4, increasing damage
    amount: float

    @property
    def method(self) -> str:
        return f"robustness-{self.kind}-{self.level}"

    @property
    def description(self) -> str:
        return DESCRIBE[self.kind].format(self.amount)


def degradations() -> list[Degradation]:
    return [
        Degradation(kind, level, amount)
        for kind in KINDS
        for level, amount in enumerate(LEVELS[kind], start=1)
    ]


def degrade(image: torch.Tensor, step: Degradation, seed: int = 0) -> torch.Tensor:
    """One degraded copy of a (3, H, W) or (1, 3, H, W) image in [0, 1]."""
    if step.kind == "noise":
        # Drawn on the CPU so the same seed gives the same noise on every device.
        generator = torch.Generator().manual_seed(seed * 1009 + step.level)
        noise = torch.randn(image.shape, generator=generator).to(image.device, image.dtype)
        out = image + step.amount * noise
    elif step.kind == "brightness":
        out = image + step.amount
    elif step.kind == "contrast":
        mean = image.mean(dim=(-3, -2, -1), keepdim=True)
        out = mean + step.amount * (image - mean)
    else:
        raise ValueError(f"unknown degradation {step.kind!r}")
    return out.clamp(0.0, 1.0)


def degraded_batch(image: torch.Tensor, seed: int = 0) -> tuple[list[Degradation], torch.Tensor]:
    """Every degradation of a (3, H, W) image, stacked in the order of :func:`degradations`."""
    steps = degradations()
    return steps, torch.stack([degrade(image, s, seed) for s in steps])
