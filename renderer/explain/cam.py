"""Grad-CAM and Grad-CAM++: one base class owns the hooks and the normalization.

The base class hooks one layer with a forward hook and registers a tensor hook on that
layer's output for the gradient (``register_full_backward_hook`` breaks on in-place
activations, pytorch#61519). Hooks live only inside ``with``: they are removed on exit,
whatever happened, and the stored tensors are dropped, so a loop over thousands of photos
keeps a flat memory profile. A method differs only in :meth:`CAM.channel_weights`, so
:func:`class_activation_maps` gives both methods' maps from one forward and backward pass.

The map (the essay, ch. 3): the pre-softmax logit y^c, channel weights from dy^c/dA^k, ReLU on the
weighted sum (never on the gradients), half-pixel bilinear upsampling (``align_corners=False``)
to the input size, then min-max per image with a small eps.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import RecipeError

EPS = 1e-8


@dataclass(frozen=True)
class CamResult:
    """Maps in [0, 1] at the input size, the coarse map before normalization, and the logits."""

    maps: torch.Tensor  # (N, H, W), min-max per image
    coarse: torch.Tensor  # (N, h, w), ReLU(sum_k w_k A^k) at the layer's resolution
    logits: torch.Tensor  # (N, classes)

    @property
    def raw_range(self) -> list[tuple[float, float]]:
        """Per image, the coarse map's min and max: the values the colour scale's ends stand for."""
        flat = self.coarse.flatten(1)
        lows, highs = flat.min(1)[0].tolist(), flat.max(1)[0].tolist()
        return list(zip(lows, highs, strict=True))


def upsample(coarse: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """(N, h, w) -> (N, H, W), bilinear with half-pixel centres."""
    return F.interpolate(coarse[:, None], size=size, mode="bilinear", align_corners=False)[:, 0]


def minmax(maps: torch.Tensor, eps: float = EPS) -> torch.Tensor:
    """Per image min-max to [0, 1]; a flat map becomes all zeros, never NaN."""
    flat = maps.flatten(1)
    lo = flat.min(1)[0].view(-1, *([1] * (maps.dim() - 1)))
    hi = flat.max(1)[0].view(-1, *([1] * (maps.dim() - 1)))
    return (maps - lo) / (hi - lo + eps)


class CAM:
    """Class activation maps for one layer; use as ``with GradCAM(net, "layer4") as cam:``."""

    name: ClassVar[str] = "cam"

    def __init__(self, net: nn.Module, layer: str) -> None:
        modules = dict(net.named_modules())
        if layer not in modules:
            raise RecipeError(f"no layer named {layer!r} in the network")
        self.net = net
        self.layer = layer
        self._module = modules[layer]
        self._handle: torch.utils.hooks.RemovableHandle | None = None
        self._activation: torch.Tensor | None = None
        self._gradient: torch.Tensor | None = None
        self._live: torch.Tensor | None = None
        self._calls = 0

    # ---------------------------------------------------------------- hook lifecycle
    def __enter__(self) -> CAM:
        self._handle = self._module.register_forward_hook(self._on_forward)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._handle is not None:
            self._handle.remove()
            self._handle = None
        self._clear()

    def _clear(self) -> None:
        self._activation = self._gradient = self._live = None
        self._calls = 0
        self._version = 0

    def _on_forward(self, _module: nn.Module, _inputs: object, output: torch.Tensor) -> None:
        self._calls += 1
        # A clone: later in-place ops (ResNet's `out += identity`) must not change what we saw.
        self._activation = output.detach().clone()
        if output.requires_grad:
            self._live, self._version = output, output._version
            output.register_hook(self._on_gradient)

    def _on_gradient(self, grad: torch.Tensor) -> None:
        self._gradient = grad.detach()

    # ---------------------------------------------------------------- the method
    @staticmethod
    def channel_weights(activation: torch.Tensor, gradient: torch.Tensor) -> torch.Tensor:
        """(N, K, h, w) activations and gradients -> (N, K) channel weights."""
        raise NotImplementedError

    @classmethod
    def result(
        cls,
        activation: torch.Tensor,
        gradient: torch.Tensor,
        logits: torch.Tensor,
        size: tuple[int, int],
    ) -> CamResult:
        """This method's maps from one :meth:`capture`, upsampled to ``size`` (H, W)."""
        weights = cls.channel_weights(activation, gradient)
        coarse = F.relu((weights[:, :, None, None] * activation).sum(1))
        return CamResult(minmax(upsample(coarse, size)), coarse, logits)

    def __call__(self, inputs: torch.Tensor, targets: torch.Tensor) -> CamResult:
        """Maps for a batch of network inputs (already normalized) and one class per image."""
        return self.result(*self.capture(inputs, targets), tuple(inputs.shape[-2:]))

    def capture(
        self, inputs: torch.Tensor, targets: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """One forward and backward pass: the layer's activation, its gradient, the logits."""
        if self._handle is None:
            raise RuntimeError(f"{type(self).__name__} must be used inside a with block")
        self._clear()
        targets = torch.as_tensor(targets, device=inputs.device).long().view(-1)
        try:
            with torch.enable_grad():
                x = inputs.detach().requires_grad_(True)  # a graph even with frozen weights
                logits = self.net(x)
                if self._calls != 1:
                    raise RecipeError(
                        f"layer {self.layer!r} ran {self._calls} times in one forward pass; "
                        "pick a module that runs once (e.g. a whole block, not its shared ReLU)"
                    )
                if self._live is None:
                    raise RecipeError(f"layer {self.layer!r} is not on the path to the logits")
                if self._live._version != self._version:
                    raise RecipeError(
                        f"layer {self.layer!r}: the next module changes its output in place; "
                        "hook that next module instead"
                    )
                score = logits.gather(1, targets[:, None]).sum()
                torch.autograd.backward(score, inputs=[self._live])
            activation, gradient = self._activation, self._gradient
            assert activation is not None and gradient is not None
            if activation.dim() != 4:
                raise RecipeError(f"layer {self.layer!r} is not a spatial feature map")
            return activation, gradient, logits.detach()
        finally:
            if self._live is not None:
                self._live.grad = None
            self._clear()


class GradCAM(CAM):
    """Selvaraju et al.: alpha_k is the spatial mean of dy^c/dA^k."""

    name = "gradcam"

    @staticmethod
    def channel_weights(activation: torch.Tensor, gradient: torch.Tensor) -> torch.Tensor:
        return gradient.mean(dim=(2, 3))


class GradCAMPlusPlus(CAM):
    """Chattopadhay et al.: positive gradients weighted by second/third-order terms.

    With y = exp(S^c) the higher derivatives reduce to powers of the first one, as in the
    paper's closed form.
    """

    name = "gradcam++"

    @staticmethod
    def channel_weights(activation: torch.Tensor, gradient: torch.Tensor) -> torch.Tensor:
        g2 = gradient.pow(2)
        total = activation.sum(dim=(2, 3), keepdim=True)
        alpha = g2 / (2 * g2 + total * g2 * gradient + EPS)
        alpha = torch.where(gradient != 0, alpha, torch.zeros_like(alpha))
        return (alpha * F.relu(gradient)).sum(dim=(2, 3))


CAM_METHODS: dict[str, type[CAM]] = {GradCAM.name: GradCAM, GradCAMPlusPlus.name: GradCAMPlusPlus}


def class_activation_maps(
    net: nn.Module,
    inputs: torch.Tensor,
    targets: torch.Tensor | list[int] | int,
    layer: str,
    methods: tuple[str, ...] = tuple(CAM_METHODS),
) -> dict[str, CamResult]:
    """The maps of several methods from one forward and backward pass (they differ only in
    the channel weights): hooks on, one capture, hooks off."""
    kinds = {method: CAM_METHODS[method] for method in methods}
    targets = torch.as_tensor(targets).view(-1).expand(inputs.shape[0])
    with CAM(net, layer) as cam:
        captured = cam.capture(inputs, targets)
    size = tuple(inputs.shape[-2:])
    return {method: kind.result(*captured, size) for method, kind in kinds.items()}


def class_activation_map(
    net: nn.Module,
    inputs: torch.Tensor,
    targets: torch.Tensor | list[int] | int,
    layer: str,
    method: str = "gradcam",
) -> CamResult:
    """One-shot helper: hooks on, maps for the batch, hooks off."""
    return class_activation_maps(net, inputs, targets, layer, (method,))[method]
