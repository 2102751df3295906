"""How faithful is a saliency map? Deletion/insertion curves and a randomization check.

Deletion (Petsiuk et al., RISE; torchcam's metric): replace the most salient pixels first by
the baseline, in ``steps`` equal fractions, and follow the target probability; a faithful map
makes it fall fast (low AUC). Insertion starts from the baseline and restores the most salient
pixels first; a faithful map makes it rise fast (high AUC). The baseline is zero in image
space (black), the same "hidden" as LIME's default. AUC is the trapezoid over fractions 0..1.

The model-randomization check (Adebayo et al., "Sanity checks for saliency maps"): the map of a
network with random weights must differ from the trained network's map; a method whose map
survives randomization explains the image, not the model.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

STEPS = 20


@dataclass(frozen=True)
class Faithfulness:
    deletion_auc: float
    insertion_auc: float
    deletion_curve: tuple[float, ...]
    insertion_curve: tuple[float, ...]

    def to_dict(self) -> dict[str, object]:
        return {
            "deletion_auc": round(self.deletion_auc, 6),
            "insertion_auc": round(self.insertion_auc, 6),
            "deletion_curve": [round(v, 6) for v in self.deletion_curve],
            "insertion_curve": [round(v, 6) for v in self.insertion_curve],
        }


def auc(curve: np.ndarray) -> float:
    """Trapezoid area under equally spaced points over [0, 1]."""
    curve = np.asarray(curve, dtype=np.float64)
    return float((curve[:-1] + curve[1:]).sum() / (2 * (len(curve) - 1)))


def removal_masks(saliency: torch.Tensor, steps: int = STEPS) -> torch.Tensor:
    """(steps + 1, H, W) bool: mask k covers the round(k / steps * H * W) most salient pixels.

    Ties keep reading order (a stable sort), so equal saliency gives equal results."""
    flat = saliency.flatten().float()
    order = torch.sort(-flat, stable=True).indices
    rank = torch.empty_like(order)
    rank[order] = torch.arange(flat.numel(), device=flat.device)
    counts = torch.tensor(
        [round(k / steps * flat.numel()) for k in range(steps + 1)], device=flat.device
    )
    return (rank[None] < counts[:, None]).view(steps + 1, *saliency.shape)


def deletion_insertion(
    score: Callable[[torch.Tensor], torch.Tensor],
    image: torch.Tensor,
    saliency: torch.Tensor,
    *,
    steps: int = STEPS,
    batch: int = 21,
) -> Faithfulness:
    """Curves and AUCs for one (3, H, W) image in [0, 1] and its (H, W) saliency map.

    ``score`` maps a (B, 3, H, W) batch in [0, 1] to the (B,) target probabilities."""
    saliency = torch.as_tensor(saliency, device=image.device)
    masks = removal_masks(saliency, steps)[:, None]
    baseline = torch.zeros_like(image)
    curves = []
    with torch.inference_mode():
        for removed_first in (True, False):
            images = (
                torch.where(masks, baseline, image)
                if removed_first
                else torch.where(masks, image, baseline)
            )
            values = torch.cat([score(images[i : i + batch]) for i in range(0, len(images), batch)])
            curves.append(values.double().cpu().numpy())
    deletion, insertion = curves
    return Faithfulness(
        auc(deletion), auc(insertion), tuple(map(float, deletion)), tuple(map(float, insertion))
    )


def randomized_copy(net: nn.Module, seed: int = 0) -> nn.Module:
    """A copy of ``net`` whose convolution and linear weights are redrawn (He normal, fixed
    seed); batch norms keep their statistics. The caller's network is not touched."""
    clone = copy.deepcopy(net)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in clone.modules():
            if isinstance(module, (nn.Conv2d, nn.Linear)):
                weight = module.weight
                fan_in = weight[0].numel()
                fresh = torch.randn(weight.shape, generator=generator) * (2.0 / fan_in) ** 0.5
                weight.copy_(fresh.to(weight.device, weight.dtype))
                if module.bias is not None:
                    module.bias.zero_()
    return clone


def rank_correlation(a: torch.Tensor, b: torch.Tensor) -> float:
    """Spearman's rank correlation of two maps (ties ranked by position)."""
    ra = torch.argsort(torch.argsort(a.flatten().double())).double()
    rb = torch.argsort(torch.argsort(b.flatten().double())).double()
    ra, rb = ra - ra.mean(), rb - rb.mean()
    denom = float(ra.norm() * rb.norm())
    return float((ra @ rb) / denom) if denom > 0 else 0.0
