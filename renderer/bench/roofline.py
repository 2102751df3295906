"""A roofline of the photo dream's gradient step: why it reaches the share of the matmul peak
that it does.

Every convolution of the dreaming network (BN folded, channels_last, cut after the dream's
layer) is grouped by type (the stem, 1x1, depthwise 3x3 and 5x5), with its FLOPs and its
least bytes moved for a forward and a backward to the input (fp32: read the input and the
weights, write the output; then read the output's gradient and the weights, write the
input's). FLOPs over bytes is the arithmetic intensity; a type whose intensity is below
the machine's ridge point (matmul peak over memory bandwidth, both measured here, in this
process) cannot run faster than bandwidth x intensity: it is memory-bound. Each layer is
then timed alone on its own input shape; the rest of a step (activations, autograd) is the
network's whole forward and backward less the convolutions. Everything runs on one thread
and is timed in CPU seconds, as a gallery worker runs (and so a busy machine slows the
peak and the layers alike); each type also names the kernel torch picks for it (on one
thread and a batch under 16, a 1x1 convolution takes ``Slow2d``, not oneDNN).
"""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass

import torch
from torch import nn

from ..dream.objectives import evaluate
from ..fusion import dream_network
from ..models import LoadedModel

FLOAT_BYTES = 4


@dataclass(frozen=True)
class ConvShape:
    """One convolution as a dream step runs it: its type and the FLOPs and least bytes of
    a forward and a backward to its input."""

    name: str
    kind: str
    flops: float
    bytes: float

    def __post_init__(self) -> None:
        if self.flops <= 0 or self.bytes <= 0:
            raise ValueError(f"a convolution moves data and computes: {self}")

    @property
    def intensity(self) -> float:
        return self.flops / self.bytes


def conv_kind(conv: nn.Conv2d) -> str:
    """``stem`` (the photo's 3 channels in), ``depthwise KxK``, ``1x1`` or ``other``."""
    k = conv.kernel_size[0]
    if conv.in_channels == 3:
        return "stem"
    if conv.groups > 1 and conv.groups == conv.in_channels:
        return f"depthwise {k}x{k}"
    return "1x1" if conv.kernel_size == (1, 1) else "other"


def conv_cost(conv: nn.Conv2d, in_shape: torch.Size, out_shape: torch.Size) -> tuple[float, float]:
    """FLOPs and least fp32 bytes of a forward and a backward to the input: each is one
    multiply-add per weight per output position; each reads an input-sized and a
    weight-sized tensor and writes an output-sized one (the backward the other way)."""
    n, cout, ho, wo = out_shape
    kh, kw = conv.kernel_size
    forward = 2.0 * n * ho * wo * cout * (conv.in_channels // conv.groups) * kh * kw
    moved = in_shape.numel() + out_shape.numel() + conv.weight.numel()
    return 2 * forward, 2 * FLOAT_BYTES * moved


def _run_noting(net: nn.Module, kinds: type | tuple[type, ...], note_of, run) -> None:
    """``run()`` without gradients, with ``note_of(name)`` hooked on the modules of
    ``net`` of ``kinds``; the hooks come off whatever happens."""
    hooks = [
        module.register_forward_hook(note_of(name))
        for name, module in net.named_modules()
        if isinstance(module, kinds)
    ]
    try:
        with torch.no_grad():
            run()
    finally:
        for hook in hooks:
            hook.remove()


def conv_shapes(net: nn.Module, run) -> tuple[list[ConvShape], dict[str, tuple]]:
    """Every convolution ``run()`` passes through, with its input shape (for timing it)."""
    shapes: list[ConvShape] = []
    inputs: dict[str, tuple] = {}

    def note_of(name: str):
        def note(conv, args, out) -> None:
            flops, moved = conv_cost(conv, args[0].shape, out.shape)
            shapes.append(ConvShape(name, conv_kind(conv), flops, moved))
            inputs[name] = (conv, tuple(args[0].shape))

        return note

    _run_noting(net, nn.Conv2d, note_of, run)
    return shapes, inputs


ACTIVATIONS = (nn.ReLU, nn.ReLU6, nn.Hardtanh, nn.SiLU, nn.Hardswish)
ACTIVATION_PASSES = 5  # in place forward: read, write; backward: read the gradient and the
# saved output, write the gradient


def activation_bytes(net: nn.Module, run) -> float:
    """Least fp32 bytes the activations move in a forward and a backward of ``run()``."""
    elements = 0

    def note_of(_name: str):
        def note(_module, _args, out) -> None:
            nonlocal elements
            elements += out.numel()

        return note

    _run_noting(net, ACTIVATIONS, note_of, run)
    return float(ACTIVATION_PASSES * FLOAT_BYTES * elements)


def cpu_seconds(work, repeats: int = 3) -> float:
    """CPU seconds of ``work()``, the best of ``repeats`` after a warm-up."""
    work()
    best = float("inf")
    for _ in range(repeats):
        start = time.process_time()
        work()
        best = min(best, time.process_time() - start)
    return best


def gradient_work(forward, shape: tuple):
    """A forward of ``forward`` on a channels_last input of ``shape`` and a backward to it."""
    x = torch.rand(shape).contiguous(memory_format=torch.channels_last).requires_grad_(True)

    def work() -> None:
        out = forward(x)
        torch.autograd.grad(out, x, torch.ones_like(out))

    return work


def backend(conv: nn.Conv2d, shape: tuple) -> str:
    """The kernel torch picks for ``conv`` on an input of ``shape`` (channels_last)."""
    x = torch.empty(shape).contiguous(memory_format=torch.channels_last)
    chosen = torch._C._select_conv_backend(
        x, conv.weight, conv.bias, conv.stride, conv.padding, conv.dilation, False, [0],
        conv.groups, None,
    )  # fmt: skip
    return str(chosen).rpartition(".")[2]


def matmul_peak(n: int = 1024) -> float:
    """FLOP/s (per CPU second) of an ``n`` x ``n`` fp32 matmul."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    return 2 * n**3 / cpu_seconds(lambda: a @ b, repeats=8)


def memory_bandwidth(mib: int = 256) -> float:
    """Bytes/s (per CPU second) of a large tensor copy: read once, written once."""
    source = torch.rand(mib * 2**20 // FLOAT_BYTES)
    target = torch.empty_like(source)
    return 2 * source.numel() * FLOAT_BYTES / cpu_seconds(lambda: target.copy_(source), 5)


def roofline(
    model: LoadedModel, objective, size: tuple[int, int], peak: float, bandwidth: float
) -> dict[str, object]:
    """Per convolution type at ``size`` (h, w): GFLOPs, MB, intensity, whether it is
    memory-bound, its share of a measured step, its GFLOP/s and kernel; the activations'
    bytes against the rest of the step; the whole step's share of the matmul peak and the
    ceiling the roofline allows (each type, and the activations, at its roof)."""
    net = dream_network(model, objective.layers)
    shape = (1, 3, *size)
    x = torch.rand(shape).contiguous(memory_format=torch.channels_last)
    shapes, inputs = conv_shapes(net, lambda: evaluate(model, objective, x, net))
    activations = activation_bytes(net, lambda: evaluate(model, objective, x, net))
    step = cpu_seconds(gradient_work(lambda x: evaluate(model, objective, x, net), shape))
    kinds: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0, 0.0])
    kernels: dict[str, set[str]] = defaultdict(set)
    for conv in shapes:
        layer, layer_shape = inputs[conv.name]
        kinds[conv.kind][0] += conv.flops
        kinds[conv.kind][1] += conv.bytes
        kinds[conv.kind][2] += cpu_seconds(gradient_work(layer, layer_shape))
        kernels[conv.kind].add(backend(layer, layer_shape))
    tag = f"{size[1]}px"
    figures: dict[str, object] = {}
    ridge = peak / bandwidth
    floor = 0.0  # seconds at the roof: each type at min(peak, bandwidth x intensity)
    for kind, (flops, moved, seconds) in sorted(kinds.items()):
        floor += max(flops / peak, moved / bandwidth)
        figures[f"{tag} {kind}: GFLOP, MB"] = f"{flops / 1e9:.2f}, {moved / 1e6:.0f}"
        figures[f"{tag} {kind}: FLOP/byte"] = round(flops / moved, 1)
        figures[f"{tag} {kind}: memory-bound"] = flops / moved < ridge
        figures[f"{tag} {kind}: share of step"] = round(seconds / step, 3)
        figures[f"{tag} {kind}: GFLOP/s"] = round(flops / seconds / 1e9, 1)
        figures[f"{tag} {kind}: kernel"] = ", ".join(sorted(kernels[kind]))
    total = sum(f for f, _, _ in kinds.values())
    rest = step - sum(s for _, _, s in kinds.values())
    floor += activations / bandwidth
    figures[f"{tag} activations: MB"] = round(activations / 1e6)
    figures[f"{tag} rest of step (activations, autograd): share"] = round(rest / step, 3)
    figures[f"{tag} rest of step: activation GB/s"] = round(activations / max(rest, 1e-9) / 1e9, 1)
    figures[f"{tag} network step CPU s"] = round(step, 3)
    figures[f"{tag} step share of matmul peak"] = round(total / step / peak, 3)
    figures[f"{tag} roofline ceiling share of matmul peak"] = round(total / floor / peak, 3)
    return figures


def machine(peak: float, bandwidth: float) -> dict[str, object]:
    return {
        "matmul peak GFLOP/s": round(peak / 1e9, 1),
        "copy bandwidth GB/s": round(bandwidth / 1e9, 1),
        "ridge point FLOP/byte": round(peak / bandwidth, 1),
    }
