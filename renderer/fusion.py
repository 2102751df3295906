"""Faster twins of a frozen network: each BatchNorm folded into its conv.

In eval mode a BatchNorm is a per-channel affine map, so it can live in the preceding
convolution's weights and bias; the BN module is replaced by its activation alone (same
name, so hooks on ``blocks.4.0.bn2`` still see the same values, up to float rounding).
On EfficientNet-Lite0 this saves about 17% of each forward+backward step on the CPU.
The caller's model is never changed: the twin is a copy, made once per model and set of
protected layers. A conv that is itself a target keeps its BN (its output must not change).
"""

from __future__ import annotations

import copy
import weakref
from collections.abc import Iterable

import torch
from torch import nn

from .models import LoadedModel

_CACHE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_INFERENCE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


class ActOnly(nn.Module):
    """What is left of a BatchNorm(+activation) once its affine part moved into the conv."""

    def __init__(self, act: nn.Module) -> None:
        super().__init__()
        self.act = act

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(x)


def _foldable_pairs(net: nn.Module, protected: set[str]):
    """(conv name, conv, bn name, bn) where the conv is registered right before the BN and
    fits it."""
    pairs = []
    previous: tuple[str, nn.Conv2d] | None = None
    for name, module in net.named_modules():
        if isinstance(module, nn.Conv2d):
            previous = (name, module)
        elif isinstance(module, nn.modules.batchnorm._BatchNorm):
            if (
                previous is not None
                and previous[0] not in protected
                and previous[1].out_channels == module.num_features
                and module.track_running_stats
                and module.running_var is not None
            ):
                pairs.append((*previous, name, module))
            previous = None
        elif list(module.children()) == [] and not isinstance(module, nn.Identity):
            previous = None  # anything between conv and BN breaks the pair
    return pairs


def fold_batchnorms(net: nn.Module, protected: Iterable[str] = ()) -> nn.Module:
    """A frozen copy of ``net`` with conv->BN pairs folded; ``net`` itself when none fold."""
    protected = set(protected)
    if not _foldable_pairs(net, protected):
        return net
    twin = copy.deepcopy(net)
    modules = dict(twin.named_modules())
    for _conv_name, conv, bn_name, bn in _foldable_pairs(twin, protected):
        with torch.no_grad():
            scale = (bn.weight if bn.affine else torch.ones_like(bn.running_var)) / torch.sqrt(
                bn.running_var + bn.eps
            )
            shift = (bn.bias if bn.affine else torch.zeros_like(bn.running_mean)) - (
                bn.running_mean * scale
            )
            conv.weight.mul_(scale.view(-1, 1, 1, 1))
            if conv.bias is not None:
                shift = shift + conv.bias * scale
            conv.bias = nn.Parameter(shift.clone(), requires_grad=False)
        parent_name, _, child = bn_name.rpartition(".")
        parent = modules[parent_name] if parent_name else twin
        act = getattr(bn, "act", nn.Identity())
        drop = getattr(bn, "drop", nn.Identity())
        if not isinstance(drop, nn.Identity):
            act = nn.Sequential(drop, act)
        setattr(parent, child, ActOnly(act))
    return twin.eval().requires_grad_(False)


def dream_network(model: LoadedModel, protected: Iterable[str] = ()) -> nn.Module:
    """The folded twin of ``model.net``, made once per model and set of protected layers
    that matter: only a target conv keeps its BN, so every other target shares one twin."""
    foldable = {conv_name for conv_name, *_ in _foldable_pairs(model.net, set())}
    key = tuple(sorted(set(protected) & foldable))
    per_model = _CACHE.setdefault(model, {})
    if key not in per_model:
        per_model[key] = fold_batchnorms(model.net, key)
    return per_model[key]


def inference_network(model: LoadedModel) -> nn.Module:
    """The folded twin with channels_last weights, for forward-only batches (LIME samples,
    deletion/insertion curves). Same function as ``model.net`` up to float rounding (about
    1e-6 in probability); on the CPU it measured 1.6x faster per image at batch 8-16. Feed
    it normalized images in channels_last memory format."""
    if model not in _INFERENCE:
        _INFERENCE[model] = fold_batchnorms(model.net).to(memory_format=torch.channels_last)
    return _INFERENCE[model]
