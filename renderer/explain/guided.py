"""Guided Backpropagation and Guided Grad-CAM, without touching the caller's model.

Guided Backprop lets only positive gradients through every rectifier: at a ReLU the incoming
gradient g becomes ``relu'(x) * max(g, 0)``. Rather than swapping modules or flipping their
``inplace`` flags (what the essay's listing does, permanently), a ``TorchFunctionMode`` sees
every rectifier call while the forward pass runs, module or functional, in-place or not
(``nn.ReLU``, timm's in-place ``nn.ReLU6`` via ``F.hardtanh(x, 0, 6)``, ``F.relu`` in
torchvision's GoogLeNet...) and puts a tensor hook on its output that clamps the gradient at
zero. The rectifier's own backward then applies relu'(x). The hooks belong to this forward
pass's graph and disappear with it; the model is never modified.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.overrides import TorchFunctionMode

DISPLAY_PERCENTILE = 99.5

_RECTIFIERS = {
    F.relu,
    F.relu_,
    F.relu6,
    torch.relu,
    torch.relu_,
    torch.Tensor.relu,
    torch.Tensor.relu_,
    torch.nn.functional.threshold,
    torch.nn.functional.threshold_,
}
_HARDTANH = {F.hardtanh, F.hardtanh_}


def _clamp_positive(grad: torch.Tensor) -> torch.Tensor:
    return grad.clamp(min=0)


class _GuidedMode(TorchFunctionMode):
    """Clamp the gradient flowing back into every rectifier's output at zero."""

    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        result = func(*args, **kwargs)
        rectifier = func in _RECTIFIERS or (func in _HARDTANH and _hardtanh_rectifies(args, kwargs))
        if rectifier and isinstance(result, torch.Tensor) and result.requires_grad:
            result.register_hook(_clamp_positive)
            self.count += 1
        return result


def _hardtanh_rectifies(args: tuple, kwargs: dict) -> bool:
    """``hardtanh(x, 0, 6)`` is ReLU6; a hardtanh with a negative floor is no rectifier."""
    low = args[1] if len(args) > 1 else kwargs.get("min_val", -1.0)
    return float(low) >= 0.0


def guided_backprop(net: nn.Module, inputs: torch.Tensor, targets) -> torch.Tensor:
    """d logit / d input for a batch of network inputs, gradients guided through rectifiers.

    Returns (N, C, H, W) gradients with respect to the network's (normalized) input.
    """
    targets = torch.as_tensor(targets, device=inputs.device).long().view(-1)
    targets = targets.expand(inputs.shape[0])
    x = inputs.detach().requires_grad_(True)
    mode = _GuidedMode()
    with torch.enable_grad():
        with mode:
            logits = net(x)
        if mode.count == 0:
            raise ValueError("guided backprop found no rectifier in the network")
        score = logits.gather(1, targets[:, None]).sum()
        (grad,) = torch.autograd.grad(score, x)
    return grad.detach()


def channel_sum(gradients: torch.Tensor) -> torch.Tensor:
    """The essay's guided map: (N, C, H, W) gradients summed over colour channels."""
    return gradients.sum(dim=1)


def guided_gradcam(cam_maps: torch.Tensor, guided_maps: torch.Tensor) -> torch.Tensor:
    """Upsampled Grad-CAM (N, H, W) times the signed Guided Backprop map, elementwise."""
    return cam_maps * guided_maps


def display_scale(maps: torch.Tensor, percentile: float = DISPLAY_PERCENTILE) -> DisplayMap:
    """Signed maps to [0, 1] for display, zero at 0.5: ``0.5 + 0.5 * clip(v / q, -1, 1)``.

    ``q`` is the ``percentile`` of |v| per image. The essay min-maxes the channel sum; on a real
    photo a handful of extreme pixels then squeeze everything else into one flat colour, so we
    clip the top 0.5 % and keep zero (no gradient) at mid-grey. ``percentile=100`` is plain
    symmetric max-abs scaling.
    """
    flat = maps.flatten(1).abs().double()
    q = torch.quantile(flat, percentile / 100.0, dim=1) if percentile < 100 else flat.max(1)[0]
    q = q.to(maps.dtype)
    scale = torch.where(q > 0, q, torch.ones_like(q)).view(-1, *([1] * (maps.dim() - 1)))
    unit = (0.5 + 0.5 * (maps / scale).clamp(-1.0, 1.0)).clamp(0.0, 1.0)
    return DisplayMap(unit, [float(v) for v in q])


@dataclass(frozen=True)
class DisplayMap:
    """Maps in [0, 1] and, per image, the value ``q`` drawn at 1 (``-q`` is drawn at 0)."""

    maps: torch.Tensor
    limits: list[float]
