"""Dream bench: speed against the essay's Program 4.4/4.5, GFLOP/s against the machine's
matmul peak, peak memory as photos grow (tiling keeps it flat), objective gains, the
high-frequency share of the dream's detail, and class dreams' top-1.

The reference is the essay's loop as printed: torchvision ``GaussianBlur(7, 0.9)`` on the
image every step, a forward hook on the layer and a *full* forward pass, ``(a**2).sum()``,
``(g - mean) / std``, ``image += lr * g``, on a pyramid of sizes; its model is loaded as in
Program 4.1 (parameters not frozen, so backward also computes weight gradients). A frozen
variant of the same loop is timed too, to separate the gain of freezing from the rest.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import torch

from ..classes import class_names
from ..dream.engine import octave_sizes, render, resize, use_channels_last
from ..dream.jobs import _class_probabilities
from ..dream.objectives import class_objective, evaluate, layer_objective, resolve_terms
from ..dream.presets import get_preset
from ..dream.regularizers import high_frequency_share
from ..imageio import fit_long_side, pil_to_tensor, save_image_atomic, tensor_to_pil
from ..models import LoadedModel, load_model

ESSAY_CLASSES = (1, 33, 77, 207, 254, 761, 771, 783, 817, 883, 963)
LAYER = "blocks.4"
REPEATS = 2


def sample_photo(size: int) -> torch.Tensor:
    from PIL import Image
    from skimage import data

    return pil_to_tensor(fit_long_side(Image.fromarray(data.chelsea()), size))


def reference_dream(
    net: torch.nn.Module,
    model: LoadedModel,
    image: torch.Tensor,
    layer: str,
    sizes: list[tuple[int, int]],
    steps: int,
    lr: float,
    blur: bool = True,
) -> torch.Tensor:
    """Programs 4.4 and 4.5 of the essay, on ``net`` (a copy of the model's network)."""
    from torchvision.transforms import GaussianBlur

    module = dict(net.named_modules())[layer]
    store: dict[str, torch.Tensor] = {}
    handle = module.register_forward_hook(lambda _m, _i, out: store.__setitem__("a", out))
    gaussian = GaussianBlur(kernel_size=7, sigma=0.9)
    try:
        for size in sizes:
            image = resize(image, size)
            for _ in range(steps):
                if blur:
                    image = gaussian(image)
                image = image.detach().requires_grad_()
                net(model.normalize(image))
                loss = (store["a"] ** 2).sum()
                loss.backward()
                g = image.grad
                g = (g - g.mean()) / g.std()
                image = image.detach() + lr * g
        return image.detach().clamp(0, 1)
    finally:
        handle.remove()


def matmul_gflops(n: int = 1024, repeats: int = 8) -> float:
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    start = time.perf_counter()
    for _ in range(repeats):
        a @ b
    return 2 * n**3 * repeats / (time.perf_counter() - start) / 1e9


def step_flops(model: LoadedModel, objective, size: tuple[int, int]) -> float:
    """FLOPs of one forward+backward of the truncated network at ``size``."""
    from torch.utils.flop_counter import FlopCounterMode

    x = torch.rand(1, 3, *size, device=model.device, requires_grad=True)
    with FlopCounterMode(display=False) as counter:
        evaluate(model, objective, x).sum().backward()
    return float(counter.get_total_flops())


_MEMORY_SCRIPT = """
import json, resource, sys, torch
torch.set_num_threads(int(sys.argv[3]))
from renderer.bench.dream import sample_photo
from renderer.models import load_model
from renderer.dream.engine import render
from renderer.dream.objectives import layer_objective, resolve_terms
from renderer.dream.recipe import DreamRecipe
size, tile = int(sys.argv[1]), int(sys.argv[2])
model = load_model()
photo = torch.nn.functional.interpolate(sample_photo(512), scale_factor=size / 512, mode="bilinear")
recipe = DreamRecipe(layers=("blocks.4",), octaves=1, steps=2, tile=tile)
objective = layer_objective(resolve_terms(model, recipe.terms))
def status(key):
    for line in open("/proc/self/status"):
        if line.startswith(key):
            return int(line.split()[1]) / 1024
import gc; gc.collect()
with open("/proc/self/clear_refs", "w") as f:  # reset VmHWM, the peak resident size
    f.write("5")
base = status("VmRSS")
render(model, objective, recipe, seed=0, photo=photo)
print(json.dumps({"base_mib": base, "peak_mib": status("VmHWM")}))
"""


def peak_memory_mib(size: int, tile: int) -> float:
    """Peak memory a dream at ``size`` px adds: on the CPU the peak resident size (Linux
    VmHWM, reset after the model is loaded) in a fresh process; on CUDA the peak allocation."""
    if torch.cuda.is_available():
        model = load_model(device="cuda")
        recipe = get_preset("classic").recipe.replace(octaves=1, steps=2, tile=tile)
        photo = resize(sample_photo(512), (round(size * 2 / 3), size))
        torch.cuda.reset_peak_memory_stats()
        render(
            model, layer_objective(resolve_terms(model, recipe.terms)), recipe, seed=0, photo=photo
        )
        return torch.cuda.max_memory_allocated() / 2**20
    out = subprocess.run(
        [sys.executable, "-c", _MEMORY_SCRIPT, str(size), str(tile), str(torch.get_num_threads())],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    figures = json.loads(out.stdout.strip().splitlines()[-1])
    return round(figures["peak_mib"] - figures["base_mib"], 1)


def _timed(work):
    start = time.perf_counter()
    value = work()
    return time.perf_counter() - start, value


def speed_figures(model: LoadedModel, photo: torch.Tensor, out_dir: Path, octaves: int, steps: int):
    """A 512 px photo dream against the essay's loop (and its frozen variant), interleaved
    and repeated, best of each (the machine may be shared and noisy); then GFLOP/s against
    the matmul peak. Returns the figures, our dream, the essay's and the octaves' sizes."""
    recipe = get_preset("classic").recipe.replace(octaves=octaves, steps=steps, layers=(LAYER,))
    objective = layer_objective(resolve_terms(model, recipe.terms))
    sizes = octave_sizes(*photo.shape[-2:], octaves, recipe.octave_scale, model.spec.min_size)
    essay_net = copy.deepcopy(model.net).requires_grad_(True)  # Program 4.1: not frozen
    t_reference = t_frozen = t_ours = float("inf")
    for _ in range(REPEATS):
        t, reference = _timed(
            lambda: reference_dream(essay_net, model, photo, LAYER, sizes, steps, 0.04)
        )
        t_reference = min(t_reference, t)
        t, _ = _timed(lambda: reference_dream(model.net, model, photo, LAYER, sizes, steps, 0.04))
        t_frozen = min(t_frozen, t)
        t, ours = _timed(lambda: render(model, objective, recipe, seed=0, photo=photo))
        t_ours = min(t_ours, t)
    save_image_atomic(tensor_to_pil(ours.images), out_dir / "photo-ours.png")
    save_image_atomic(tensor_to_pil(reference), out_dir / "photo-reference.png")
    gflops = sum(step_flops(model, objective, s) * steps for s in sizes) / t_ours / 1e9
    peak = matmul_gflops()
    figures = {
        "photo_512_4x10_reference_s": round(t_reference, 2),
        "photo_512_4x10_reference_frozen_s": round(t_frozen, 2),
        "photo_512_4x10_ours_s": round(t_ours, 2),
        "speedup_vs_essay_reference": round(t_reference / t_ours, 2),
        "speedup_vs_frozen_reference": round(t_frozen / t_ours, 2),
        "channels_last": use_channels_last(model.device),
        "ours_gflop_per_s": round(gflops, 1),
        "matmul_peak_gflop_per_s": round(peak, 1),
        "fraction_of_matmul_peak": round(gflops / peak, 3),
    }
    return figures, ours, reference, sizes


def gain_figures(model: LoadedModel, photo: torch.Tensor, dreams: tuple, out_dir: Path, steps: int):
    """Objective gains of the photo and layer dreams; the high-frequency share of the
    detail (static shows up there) against the essay's loop with and without its blur."""
    layer_preset = get_preset("layer").recipe
    layer_result = render(
        model, layer_objective(resolve_terms(model, layer_preset.terms)), layer_preset, seed=0
    )
    save_image_atomic(tensor_to_pil(layer_result.images), out_dir / "layer-blocks4.png")
    ours, reference, sizes = dreams
    no_blur = reference_dream(model.net, model, photo, LAYER, sizes, steps, 0.04, blur=False)
    return {
        "photo_objective_gain": round(ours.objective_end[0] / ours.objective_start[0], 2),
        "layer_objective_gain": round(
            layer_result.objective_end[0] / layer_result.objective_start[0], 2
        ),
        "hf_share_ours": round(high_frequency_share(ours.images - photo.cpu()), 4),
        "hf_share_reference_blur_off": round(high_frequency_share(no_blur - photo), 4),
        "hf_share_reference_blur_on": round(high_frequency_share(reference - photo), 4),
        "hf_share_photo_itself": round(high_frequency_share(photo), 4),
    }


def memory_figures() -> dict[str, float]:
    """Peak memory as the photo grows (tiling keeps it flat), and untiled at 1024 px."""
    figures = {
        f"peak_memory_mib_{s}px_tiled": peak_memory_mib(s, 512) for s in (512, 1024, 2048, 4096)
    }
    figures["peak_memory_mib_1024px_untiled"] = peak_memory_mib(1024, 0)
    return figures


def class_figures(model: LoadedModel, out_dir: Path) -> dict[str, object]:
    """The 11 essay class dreams at 224 px in one batch: time, top-1, the weakest target."""
    class_recipe = get_preset("class").recipe.replace(size=224)
    start = time.perf_counter()
    dreams = render(
        model, class_objective(ESSAY_CLASSES), class_recipe, seed=0, batch=len(ESSAY_CLASSES)
    )
    seconds = time.perf_counter() - start
    probs = _class_probabilities(model, dreams.images)
    top1 = probs.argmax(1).tolist()
    hits = [c for c, t in zip(ESSAY_CLASSES, top1, strict=True) if c == t]
    misses = [
        f"{c}->{class_names()[t]}" for c, t in zip(ESSAY_CLASSES, top1, strict=True) if c != t
    ]
    for i, c in enumerate(ESSAY_CLASSES):
        save_image_atomic(tensor_to_pil(dreams.images[i]), out_dir / f"class-{c}.png")
    return {
        "class_dreams_11_s": round(seconds, 1),
        "class_dreams_top1": f"{len(hits)}/{len(ESSAY_CLASSES)}",
        "class_dreams_min_target_prob": round(
            min(float(probs[i, c]) for i, c in enumerate(ESSAY_CLASSES)), 3
        ),
        "class_dreams_misses": ", ".join(misses) or "none",
    }


def run(out_dir: Path) -> dict:
    out_dir = Path(out_dir) / "dream"
    out_dir.mkdir(parents=True, exist_ok=True)
    model = load_model()
    results: dict[str, object] = {"device": str(model.device), "threads": torch.get_num_threads()}
    octaves, steps = 4, 10
    photo = sample_photo(512).to(model.device)
    figures, *dreams = speed_figures(model, photo, out_dir, octaves, steps)
    results.update(figures)
    results.update(gain_figures(model, photo, tuple(dreams), out_dir, steps))
    results.update(memory_figures())
    results.update(class_figures(model, out_dir))
    return results
