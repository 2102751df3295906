"""MaCo: dreams whose Fourier magnitude is fixed to natural images' and whose phase climbs.

Fel et al., NeurIPS 2023 ("Unlocking Feature Visualization for Deeper Networks with
MAgnitude Constrained Optimization"). Deep networks dreamt from pixels or a free spectrum
draw high-frequency static a person cannot read; fixing the magnitude to the mean of
natural photos (``template``) leaves the optimizer only where things are (the phase), so
the picture keeps a photo's mix of coarse and fine structure. The network only ever sees
random crops (``crops``), so the image can be any size at the cost of the crops.

``MacoParam`` follows the ``param_f`` convention of ``parametrization``: ``leaf`` is the
phase, ``image()`` the picture in [0, 1]: irfft2(magnitude * e^{i phase}), plus a mean
colour of its own (the template is 0 at DC; a learnt mean replaces the random one that
left earlier probes grey-blue), Lucid's colour recorrelation, and a sigmoid.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping

import torch
import torch.nn.functional as F

from ..fusion import dream_network
from ..heap import heap_only
from ..models import LoadedModel
from .crops import CropSpec, add_noise, crop, random_boxes
from .layout import use_channels_last
from .objectives import Objective, evaluate
from .octaves import octave_plan
from .parametrization import COLOR_MATRIX, SIGMOID_EPS
from .recipe import DreamRecipe
from .result import DreamResult, stretch_contrast
from .template import load_template

STANDARDIZE = False
GAIN = 1.6  # the spatial image has unit std; this sets the picture's contrast
COLOUR_LR = 0.05  # the mean colour's step, relative to the phase's lr
CHUNK = 16  # crops per forward pass: bounds memory whatever the batch


def _real_columns(w: int) -> list[int]:
    """The rfft2 columns that hold their own conjugates (DC and, for even w, Nyquist)."""
    return [0, w // 2] if w % 2 == 0 else [0]


def hermitian_phase(phase: torch.Tensor, w: int) -> torch.Tensor:
    """The phase made odd along the frequency rows of the self-conjugate columns, so that
    irfft2 keeps every bin's magnitude (it would otherwise average a bin with its mirror)."""
    h = phase.shape[-2]
    mirror = (-torch.arange(h, device=phase.device)) % h
    columns = _real_columns(w)
    own = phase[..., :, columns]
    odd = (own - own[..., mirror, :]) / 2
    out = phase.clone()
    out[..., :, columns] = odd
    return out


def _energy_weights(h: int, w: int, device) -> torch.Tensor:
    """How often each rfft2 column appears in the full spectrum (1 or 2)."""
    weights = torch.full((w // 2 + 1,), 2.0, device=device)
    weights[_real_columns(w)] = 1.0
    return weights.view(1, -1).expand(h, -1)


def unit_magnitude(magnitude: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """The magnitude scaled so the spatial image has unit variance over its three channels
    (Parseval, with ortho norm), whatever the phase."""
    energy = (magnitude.square() * _energy_weights(h, w, magnitude.device)).sum()
    return magnitude * torch.sqrt(3 * h * w / energy)


def standardize(x: torch.Tensor) -> torch.Tensor:
    """Per image: zero mean and unit std (MaCo standardizes the phase every step)."""
    dims = tuple(range(1, x.dim()))
    return (x - x.mean(dims, keepdim=True)) / (x.std(dims, keepdim=True) + 1e-4)


class MacoParam:
    """A phase (N, 3, H, W//2+1) under a fixed magnitude, and a mean colour (N, 3).

    ``gain`` scales the unit-variance spatial image before the sigmoid; ``standardize``
    re-standardizes the phase each time (MaCo's trick for dreams from noise; a photo's own
    phase is used as it is)."""

    spatial = False

    def __init__(
        self,
        magnitude: torch.Tensor,
        phase: torch.Tensor,
        colour: torch.Tensor,
        w: int,
        *,
        gain: float = GAIN,
        standardize: bool = STANDARDIZE,
    ) -> None:
        self.h, self.w = phase.shape[-2], w
        self.magnitude = magnitude
        self.leaf = phase
        self.colour = colour
        self.gain = gain
        self.standardize = standardize
        self.matrix = COLOR_MATRIX.to(phase.device)

    @classmethod
    def random(
        cls, magnitude: torch.Tensor, n: int, h: int, w: int, generator: torch.Generator, device
    ) -> MacoParam:
        # uniform, not normal: a phase concentrated near 0 is a zero-phase spectrum in part,
        # a bright peak at pixel (0, 0), so every corner glowed and the rest went grey
        uniform = torch.rand((n, 3, h, w // 2 + 1), generator=generator) * 2 - 1
        phase = (math.pi * uniform).to(device)
        colour = torch.zeros((n, 3), device=device)
        return cls(unit_magnitude(magnitude.to(device), h, w), phase, colour, w)

    @classmethod
    def from_image(cls, image: torch.Tensor) -> MacoParam:
        """The parametrization whose ``image()`` is ``image`` (N, 3, H, W in [0, 1]; up to
        the sigmoid's clamp): its own magnitude, phase and mean colour. The self-conjugate
        bins keep a signed magnitude and phase 0, so ``hermitian_phase`` leaves them be."""
        h, w = image.shape[-2:]
        x = image.detach().float().clamp(SIGMOID_EPS, 1 - SIGMOID_EPS)
        logits = torch.log(x) - torch.log1p(-x)
        inverse = torch.linalg.inv(COLOR_MATRIX.double()).float().to(image.device)
        decorrelated = torch.einsum("nchw,dc->ndhw", logits, inverse)
        colour = decorrelated.mean((-2, -1))
        spectrum = torch.fft.rfft2(decorrelated - colour[..., None, None], norm="ortho")
        magnitude, phase = spectrum.abs(), spectrum.angle()
        rows = torch.tensor(sorted({0, h // 2}) if h % 2 == 0 else [0])
        for c in _real_columns(w):
            magnitude[..., rows, c] = spectrum.real[..., rows, c]
            phase[..., rows, c] = 0.0
        return cls(magnitude, phase.contiguous(), colour, w, gain=1.0, standardize=False)

    def resized(
        self, magnitude: torch.Tensor, h: int, w: int, generator: torch.Generator
    ) -> MacoParam:
        """The next octave: the same phase on the frequencies both sizes share (so the
        picture keeps its structure, up-sampled), fresh uniform phase on the new, finer ones."""
        n = self.leaf.shape[0]
        fresh = MacoParam.random(magnitude, n, h, w, generator, self.leaf.device)
        old, new = self.leaf.detach(), fresh.leaf
        low, cols = (self.h + 1) // 2, min(old.shape[-1], new.shape[-1])
        new[..., :low, :cols] = old[..., :low, :cols]  # fy >= 0
        high = self.h - low
        if high:
            new[..., h - high :, :cols] = old[..., self.h - high :, :cols]  # fy < 0
        fresh.colour = self.colour.detach().clone()
        return fresh

    def spectrum_image(self) -> torch.Tensor:
        """The pre-squash spatial image: its |rfft2| is exactly the magnitude."""
        phase = standardize(self.leaf) if self.standardize else self.leaf
        phase = hermitian_phase(phase, self.w)
        magnitude = self.magnitude.expand_as(phase)
        spectrum = torch.complex(magnitude * torch.cos(phase), magnitude * torch.sin(phase))
        return torch.fft.irfft2(spectrum, s=(self.h, self.w), norm="ortho")

    def image(self) -> torch.Tensor:
        decorrelated = self.gain * self.spectrum_image() + self.colour[:, :, None, None]
        return torch.sigmoid(torch.einsum("nchw,dc->ndhw", decorrelated, self.matrix))

    def after_step(self) -> None:
        pass


def per_crop(objective: Objective, count: int) -> Objective:
    """The objective on ``count`` crops of each image (crop-major batch), summed per image."""

    def values(acts: Mapping[str, torch.Tensor], logits: torch.Tensor | None) -> torch.Tensor:
        total = None
        for k in range(count):
            part = {name: a.chunk(count)[k] for name, a in acts.items()}
            value = objective.values(part, None if logits is None else logits.chunk(count)[k])
            total = value if total is None else total + value
        assert total is not None
        return total

    return Objective(objective.layers, objective.needs_logits, values)


def _group_chunks(count: int, n: int) -> list[tuple[int, int]]:
    """Crop rounds per forward pass: whole rounds of n crops, about CHUNK crops at a time."""
    per = max(1, CHUNK // max(1, n))
    return [(k, min(count, k + per)) for k in range(0, count, per)]


def image_gradient(
    model: LoadedModel,
    objective: Objective,
    net: torch.nn.Module,
    image: torch.Tensor,
    spec: CropSpec,
    crop_px: int,
    generator: torch.Generator,
) -> tuple[torch.Tensor, torch.Tensor]:
    """d(sum over crops of the objective)/d(image), and the per-image mean over crops; the
    crops go through the network a few rounds at a time, so memory stays bounded."""
    n, _, h, w = image.shape
    boxes = random_boxes(spec, n, h, w, generator)
    leaf = image.detach().requires_grad_(True)
    grad: torch.Tensor | None = None
    total = torch.zeros(n, device=image.device)
    for k0, k1 in _group_chunks(spec.count, n):
        crops = crop(leaf, boxes[k0 * n : k1 * n], crop_px)
        crops = add_noise(crops, spec.noise, generator).clamp(0, 1)
        values = evaluate(model, per_crop(objective, k1 - k0), _layout(crops), net)
        (g,) = torch.autograd.grad(values.sum(), leaf)
        grad = g if grad is None else grad + g
        total += values.detach()
    assert grad is not None
    return grad, total / spec.count


def _layout(crops: torch.Tensor) -> torch.Tensor:
    """The crops in the memory layout the network runs fastest in (channels_last on the
    CPU: Lite0's forward and backward on 8 crops of 160 px, one thread, 0.21 s against
    0.28 s; ``layout.use_channels_last``)."""
    if use_channels_last(crops.device):
        return crops.contiguous(memory_format=torch.channels_last)
    return crops


def ascend(
    model: LoadedModel,
    objective: Objective,
    param: MacoParam,
    *,
    steps: int,
    lr: float,
    spec: CropSpec,
    crop_px: int,
    generator: torch.Generator,
    penalty: Callable[[torch.Tensor], torch.Tensor] | None = None,
    on_step: Callable[[], None] | None = None,
    colour: bool = True,
) -> torch.Tensor:
    """``steps`` NAdam steps on the phase (and the mean colour, if ``colour``), maximizing the
    objective on random crops (minus ``penalty(image)`` per image, if given); returns the
    accumulated |d objective / d image| per pixel, (N, H, W): where the evidence lies."""
    net = dream_network(model, objective.layers)
    groups = [{"params": [param.leaf.requires_grad_(True)], "lr": lr}]
    if colour:
        groups.append({"params": [param.colour.requires_grad_(True)], "lr": lr * COLOUR_LR})
    optimizer = torch.optim.NAdam(groups)
    n = param.leaf.shape[0]
    attribution = torch.zeros((n, param.h, param.w), device=param.leaf.device)
    for _ in range(steps):
        image = param.image()
        grad, _values = image_gradient(model, objective, net, image, spec, crop_px, generator)
        attribution += grad.abs().sum(1)
        optimizer.zero_grad(set_to_none=True)
        # maximize: the optimizer descends, so it is handed the negative image gradient
        # (as the gradient of -(image * grad).sum(), without building that product)
        if penalty is None:
            image.backward(-grad)
        else:
            (penalty(image).sum() - (image * grad).sum()).backward()
        optimizer.step()
        if on_step is not None:
            on_step()
    param.leaf = param.leaf.detach()
    param.colour = param.colour.detach()
    return attribution


@torch.no_grad()
def measure(model: LoadedModel, objective: Objective, images: torch.Tensor) -> list[float]:
    """The objective on whole images at the network's input size (as a person's thumbnail
    and the classifier see them)."""
    size = model.spec.input_size
    small = F.interpolate(images, size=(size, size), mode="bilinear", antialias=True)
    return [float(v) for v in evaluate(model, objective, small)]


def crop_spec(recipe: DreamRecipe, refining: bool = False) -> CropSpec:
    """The recipe's crops; ``refining``: those of the octaves after the first."""
    low = recipe.refining_crop_min if refining else recipe.crop_min
    return CropSpec(recipe.crops, low, recipe.crop_max, recipe.crop_spread, recipe.noise)


def render_maco(
    model: LoadedModel,
    objective: Objective,
    recipe: DreamRecipe,
    *,
    seed: int,
    batch: int = 1,
    size: tuple[int, int] | None = None,
    on_step: Callable[[], None] | None = None,
    measure_objective: bool = True,
) -> DreamResult:
    """``batch`` MaCo dreams of ``size`` (H, W) from random phases; equal seeds give equal
    pixels on the CPU. The result carries the attribution maps, (N, H, W) in [0, 1]."""
    with heap_only():  # large tensors every step: no mmap round trips (heap.py)
        return _render_maco(
            model, objective, recipe, seed=seed, batch=batch, size=size, on_step=on_step,
            measure_objective=measure_objective,
        )  # fmt: skip


def _render_maco(
    model: LoadedModel,
    objective: Objective,
    recipe: DreamRecipe,
    *,
    seed: int,
    batch: int,
    size: tuple[int, int] | None,
    on_step: Callable[[], None] | None,
    measure_objective: bool,
) -> DreamResult:
    generator = torch.Generator().manual_seed(seed)
    h, w = size or (recipe.size, recipe.size)
    crop_px = recipe.crop_px or model.spec.input_size
    plan = octave_plan(h, w, recipe, model.spec.min_size)
    param: MacoParam | None = None
    attribution: torch.Tensor | None = None
    start: list[float] = []
    for index, step_plan in enumerate(plan):
        octave = step_plan.size
        magnitude = load_template(recipe.template, *octave)
        steps = step_plan.steps
        if param is None:  # (octave_plan counts the steps of every start here)
            param, attribution, steps = _first_phase(
                model, objective, recipe, magnitude, batch, octave, recipe.steps, crop_px,
                generator, on_step,
            )  # fmt: skip
            start = measure(model, objective, param.image().detach()) if measure_objective else []
        else:
            param = param.resized(magnitude, *octave, generator)
        found = ascend(
            model,
            objective,
            param,
            steps=steps,
            lr=recipe.lr,
            spec=crop_spec(recipe, refining=index > 0),
            crop_px=crop_px,
            generator=generator,
            on_step=on_step,
        )
        if attribution is not None:
            found = found + F.interpolate(attribution[:, None], size=octave, mode="bilinear")[:, 0]
        attribution = found
    assert param is not None and attribution is not None
    image = stretch_contrast(param.image().detach().clamp(0, 1), recipe.stretch)
    end = measure(model, objective, image) if measure_objective else []
    return DreamResult(image.cpu(), start, end, attribution=normalize_map(attribution).cpu())


def _first_phase(
    model: LoadedModel,
    objective: Objective,
    recipe: DreamRecipe,
    magnitude: torch.Tensor,
    batch: int,
    size: tuple[int, int],
    steps: int,
    crop_px: int,
    generator: torch.Generator,
    on_step: Callable[[], None] | None,
) -> tuple[MacoParam, torch.Tensor | None, int]:
    """The first octave's random phases; with ``recipe.starts`` > 1, each dream's best of
    that many: each start climbs a quarter of the octave's steps, then the one with the
    highest objective on ``VIEWS`` random crops of its picture goes on. Returns the
    parametrization, the attribution gathered so far (None if nothing was chosen) and the
    steps left in the octave."""
    param = MacoParam.random(magnitude, batch, *size, generator, model.device)
    if recipe.starts == 1:
        return param, None, steps
    trial = recipe.trial_steps
    spec = crop_spec(recipe)
    candidates, scores, maps = [], [], []
    for k in range(recipe.starts):
        if k:
            param = MacoParam.random(magnitude, batch, *size, generator, model.device)
        maps.append(
            ascend(model, objective, param, steps=trial, lr=recipe.lr, spec=spec,
                   crop_px=crop_px, generator=generator, on_step=on_step)
        )  # fmt: skip
        candidates.append(param)
        scores.append(
            view_score(model, objective, param.image().detach(), spec, crop_px, generator)
        )
    best = torch.stack(scores).argmax(0)  # (batch,): the start each dream keeps
    rows = torch.arange(batch, device=best.device)
    phase = torch.stack([c.leaf for c in candidates])[best, rows]
    colour = torch.stack([c.colour for c in candidates])[best, rows]
    chosen = MacoParam(candidates[0].magnitude, phase, colour, candidates[0].w)
    attribution = torch.stack(maps)[best, rows]
    return chosen, attribution, steps - trial


VIEWS = 8  # random crops a start is judged on


@torch.no_grad()
def view_score(
    model: LoadedModel,
    objective: Objective,
    images: torch.Tensor,
    spec: CropSpec,
    crop_px: int,
    generator: torch.Generator,
) -> torch.Tensor:
    """The objective's mean over ``VIEWS`` random crops (the recipe's boxes, no noise) of
    each image: how convincing a picture is from anywhere, not from one lucky frame."""
    n, _, h, w = images.shape
    views = CropSpec(VIEWS, spec.low, spec.high, spec.spread, 0.0)
    boxes = random_boxes(views, n, h, w, generator)
    net = dream_network(model, objective.layers)
    total = torch.zeros(n, device=images.device)
    for k0, k1 in _group_chunks(VIEWS, n):  # a few rounds of n crops per forward pass
        crops = crop(images, boxes[k0 * n : k1 * n], crop_px)
        total += evaluate(model, per_crop(objective, k1 - k0), _layout(crops), net)
    return total / VIEWS


def normalize_map(attribution: torch.Tensor, percentile: float = 99.0) -> torch.Tensor:
    """Per image to [0, 1], the top ``100 - percentile`` percent clipped (Horama's plots
    clip the transparency the same way so a few hot pixels do not darken the rest)."""
    flat = attribution.flatten(1)
    step = max(1, flat.shape[1] // (1 << 22))
    top = torch.quantile(flat[:, ::step], percentile / 100.0, dim=1).clamp(min=1e-12)
    return (attribution / top.view(-1, 1, 1)).clamp(0, 1)


def transparency_view(image: torch.Tensor, attribution: torch.Tensor, ground: float = 0.06):
    """(3, H, W): the dream over a dark ground, opaque where the evidence accumulated."""
    alpha = attribution.clamp(0, 1).sqrt()[None]  # sqrt: faint evidence stays visible
    return image * alpha + ground * (1 - alpha)
