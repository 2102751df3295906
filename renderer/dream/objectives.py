"""What a dream maximizes: layer activations (Eq. 4.2), one channel, a class logit, or the
likeness of a layer to a guide picture's features (google/deepdream's guided dreams).

An ``Objective`` names the layers it needs (so the forward pass can stop after the deepest)
and maps their outputs to one value per image, so a batch of dreams with different targets
goes through the network together. Objectives add and scale like lucent's.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import torch

from ..errors import RecipeError
from ..hooks import capture, run_until
from ..models import LoadedModel, list_layers, resolve_layer
from .recipe import LayerTerm

Values = Callable[[Mapping[str, torch.Tensor], torch.Tensor | None], torch.Tensor]


@dataclass(frozen=True)
class Objective:
    """Per-image values to maximize, computed from captured layer outputs and/or logits."""

    layers: tuple[str, ...]
    needs_logits: bool
    values: Values

    def __add__(self, other: Objective) -> Objective:
        return Objective(
            tuple(dict.fromkeys(self.layers + other.layers)),
            self.needs_logits or other.needs_logits,
            lambda acts, logits: self.values(acts, logits) + other.values(acts, logits),
        )

    def __mul__(self, weight: float) -> Objective:
        return Objective(
            self.layers,
            self.needs_logits,
            lambda acts, logits: weight * self.values(acts, logits),
        )


def layer_term(term: LayerTerm) -> Objective:
    """Mean squared activation of a layer or one channel (the essay's sum of squares,
    as a mean so layers of different sizes weigh alike in a combination)."""
    name, channel = term.layer, term.channel

    def values(acts: Mapping[str, torch.Tensor], _logits: torch.Tensor | None) -> torch.Tensor:
        a = acts[name]
        if channel is not None:
            a = a[:, channel]
        return a.float().square().flatten(1).mean(1)

    objective = Objective((name,), False, values)
    return objective if term.weight == 1.0 else objective * term.weight


def _total(objectives: Sequence[Objective]) -> Objective:
    total = objectives[0]
    for objective in objectives[1:]:
        total = total + objective
    return total


def layer_objective(terms: Sequence[LayerTerm]) -> Objective:
    return _total([layer_term(term) for term in terms])


def guided_term(term: LayerTerm, guide: torch.Tensor) -> Objective:
    """Each position of the layer grows towards the guide feature it already resembles most:
    the mean over positions of the best dot product with the guide's feature vectors
    (``guide`` is C x M), so the gradient at a position is that guide vector."""
    if term.channel is not None:
        raise RecipeError(f"a guide matches whole layers; drop the channel from {term}")
    name = term.layer

    def values(acts: Mapping[str, torch.Tensor], _logits: torch.Tensor | None) -> torch.Tensor:
        features = acts[name].float().flatten(2)  # (B, C, N)
        dots = torch.einsum("bcn,cm->bnm", features, guide.to(features.device))
        return dots.amax(2).mean(1)

    objective = Objective((name,), False, values)
    return objective if term.weight == 1.0 else objective * term.weight


def guide_features(
    model: LoadedModel, guide01: torch.Tensor, terms: Sequence[LayerTerm]
) -> dict[str, torch.Tensor]:
    """The guide picture's (1, 3, H, W in [0, 1]) feature vectors at each term's layer, C x M."""
    layers = [term.layer for term in terms]
    with torch.no_grad():
        acts = run_until(model.net, model.normalize(guide01.to(model.device)), layers)
    return {name: a[0].float().flatten(1) for name, a in acts.items()}


def guided_objective(terms: Sequence[LayerTerm], features: Mapping[str, torch.Tensor]) -> Objective:
    return _total([guided_term(term, features[term.layer]) for term in terms])


def class_objective(indices: Sequence[int]) -> Objective:
    """Image i maximizes the pre-softmax logit of class ``indices[i]``."""
    wanted = torch.tensor(list(indices), dtype=torch.long)

    def values(_acts: Mapping[str, torch.Tensor], logits: torch.Tensor | None) -> torch.Tensor:
        assert logits is not None
        idx = wanted.to(logits.device)
        return logits.float().gather(1, idx.view(-1, 1)).squeeze(1)

    return Objective((), True, values)


def resolve_terms(model: LoadedModel, terms: Sequence[LayerTerm]) -> tuple[LayerTerm, ...]:
    """Layer names to module names (aliases, closest-name errors) and channels checked."""
    shapes = {info.name: info.shape for info in list_layers(model.name)}
    resolved = []
    for term in terms:
        name = resolve_layer(model.name, term.layer)
        channels = shapes[name][0]
        if term.channel is not None and term.channel >= channels:
            raise RecipeError(
                f"channel {term.channel} is out of range for {name} ({channels} channels, "
                f"0..{channels - 1})"
            )
        resolved.append(LayerTerm(name, term.channel, term.weight))
    return tuple(resolved)


def evaluate(
    model: LoadedModel,
    objective: Objective,
    images01: torch.Tensor,
    net: torch.nn.Module | None = None,
) -> torch.Tensor:
    """The objective's per-image values; the forward stops after the deepest needed layer
    unless logits are needed. Gradients flow when ``images01`` requires them. ``net``
    replaces ``model.net`` (e.g. its BN-folded twin)."""
    net = model.net if net is None else net
    x = model.normalize(images01)
    if objective.needs_logits:
        if objective.layers:
            with capture(net, objective.layers) as store:
                logits = net(x)
                acts = dict(store)
        else:
            logits, acts = net(x), {}
        return objective.values(acts, logits)
    return objective.values(run_until(net, x, objective.layers), None)
