"""MaCo bench (``python -m renderer.bench --only maco``): do people and other models see the
class dreams' classes, and at what cost?

- the dreaming model's top-1 on each of the essay's 11 class dreams;
- EfficientNet-Lite2, a model that did not dream them, on 16 random views of each (crops of
  50-100% of the side, half of them flipped, a slight blur): the mean target probability
  and how often the target is in its top 5;
- the Hasler-Süsstrunk colourfulness, against today's FFT class dreams (``class-fast``);
- seconds per class dream, and per crop-step at 512 and 1024 px;
- a README sheet of the MaCo dreams beside the FFT ones.

The dreams run on one thread, as a gallery worker runs them: the floats (and so the
pictures, and these figures) depend on the thread count, and the bars were set for what the
gallery shows. One class dream's CPU seconds per crop against the network's own forward and
backward (``maco_overhead``, goal <= 1.3) is in the ``network`` section.
"""

from __future__ import annotations

import time
from pathlib import Path

import torch
import torch.nn.functional as F

from ..classes import class_names
from ..dream.engine import octave_plan, render
from ..dream.maco import MacoParam, crop_spec, image_gradient, per_crop
from ..dream.objectives import class_objective, evaluate
from ..dream.presets import get_preset
from ..dream.regularizers import blur
from ..dream.template import load_template
from ..fusion import dream_network
from ..imageio import save_image_atomic, tensor_to_pil
from ..models import LoadedModel, load_model

ESSAY_CLASSES = (1, 33, 77, 207, 254, 761, 771, 783, 817, 883, 963)
VIEWS = 16
JUDGE = "efficientnet_lite2"
OVERHEAD_TARGET = 1.3  # MaCo's CPU time per crop over the network's own


def random_views(
    image: torch.Tensor, count: int, size: int, generator: torch.Generator
) -> torch.Tensor:
    """``count`` views of one (3, H, W) image at ``size`` px: a square crop of 50-100% of the
    short side anywhere in the image, flipped half the time, blurred by sigma 0-1 px."""
    _, h, w = image.shape
    views = []
    for _ in range(count):
        fraction, fx, fy, flip, sigma = torch.rand(5, generator=generator).tolist()
        side = round((0.5 + 0.5 * fraction) * min(h, w))
        y0, x0 = round(fy * (h - side)), round(fx * (w - side))
        view = image[None, :, y0 : y0 + side, x0 : x0 + side]
        view = F.interpolate(view, size=(size, size), mode="bilinear", antialias=True)
        if flip < 0.5:
            view = view.flip(-1)
        views.append(blur(view, sigma))
    return torch.cat(views)


@torch.no_grad()
def view_scores(
    judge: LoadedModel, images: torch.Tensor, targets: list[int], seed: int = 0
) -> dict[str, object]:
    """Mean target probability and top-5 rate of ``judge`` over random views of each image."""
    generator = torch.Generator().manual_seed(seed)
    probs, top5 = [], []
    for image, target in zip(images, targets, strict=True):
        views = random_views(image, VIEWS, judge.spec.input_size, generator)
        p = torch.softmax(judge.logits(views.to(judge.device)).float(), 1).cpu()
        probs.append(p[:, target])
        top5.append((p.topk(5, dim=1).indices == target).any(1).float())
    prob = torch.stack(probs)
    hits = torch.stack(top5)
    return {
        "mean_target_prob": round(float(prob.mean()), 3),
        "top5_rate": round(float(hits.mean()), 3),
        "per_class_prob": [round(float(x), 2) for x in prob.mean(1)],
    }


def colourfulness(images: torch.Tensor) -> float:
    """Hasler and Süsstrunk (2003), on 0-255 RGB, averaged over images."""
    rgb = images.float() * 255
    r, g, b = rgb[:, 0], rgb[:, 1], rgb[:, 2]
    rg, yb = r - g, 0.5 * (r + g) - b
    std = torch.sqrt(rg.flatten(1).var(1) + yb.flatten(1).var(1))
    mean = torch.sqrt(rg.flatten(1).mean(1).square() + yb.flatten(1).mean(1).square())
    return round(float((std + 0.3 * mean).mean()), 1)


@torch.no_grad()
def top1(model: LoadedModel, images: torch.Tensor) -> list[int]:
    size = model.spec.input_size
    small = F.interpolate(images, size=(size, size), mode="bilinear", antialias=True)
    return model.logits(small.to(model.device)).argmax(1).tolist()


def crop_step_seconds(model: LoadedModel, size: int, classes: int, repeats: int = 2) -> float:
    """Seconds of one MaCo step (image, crops through the network, phase gradient) for
    ``classes`` dreams at ``size`` px, per crop."""
    recipe = get_preset("class").recipe
    spec = crop_spec(recipe)
    generator = torch.Generator().manual_seed(0)
    objective = class_objective(list(ESSAY_CLASSES[:classes]))
    net = dream_network(model, objective.layers)
    magnitude = load_template(recipe.template, size, size)
    param = MacoParam.random(magnitude, classes, size, size, generator, model.device)
    param.leaf.requires_grad_(True)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        image = param.image()
        grad, _ = image_gradient(
            model, objective, net, image, spec, model.spec.input_size, generator
        )
        (image * grad).sum().backward()
        best = min(best, time.perf_counter() - start)
    return best / (classes * spec.count)


def network_cpu_per_crop(model: LoadedModel, crop_px: int, crops: int = 8, repeats: int = 7):
    """CPU seconds per crop of the network's own forward and backward to its input, as a
    MaCo step runs it (BN folded, channels_last, a class logit per crop), on batches of
    ``crops``: the median of ``repeats`` after a warm-up. The floor of MaCo's work."""
    net = dream_network(model, ())
    objective = per_crop(class_objective([ESSAY_CLASSES[0]]), crops)
    generator = torch.Generator().manual_seed(0)
    times = []
    for _ in range(repeats + 1):
        x = torch.rand(crops, 3, crop_px, crop_px, generator=generator).requires_grad_(True)
        start = time.process_time()
        values = evaluate(model, objective, x.contiguous(memory_format=torch.channels_last), net)
        torch.autograd.grad(values.sum(), x)
        times.append(time.process_time() - start)
    times = sorted(times[1:])
    return times[len(times) // 2] / crops


def maco_overhead(model: LoadedModel, target: int = 254) -> dict[str, object]:
    """One ``class`` dream on one thread: CPU seconds per crop pass (each crop of each step
    through the network and back) against the network's own, measured before and after
    it in this process, so a busy machine slows both alike."""
    recipe = get_preset("class").recipe
    crop_px = recipe.crop_px or model.spec.input_size
    plan = octave_plan(recipe.size, recipe.size, recipe, model.spec.min_size)
    passes = sum(octave.steps for octave in plan) * recipe.crops
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        before = network_cpu_per_crop(model, crop_px)
        _result, _wall, cpu = timed_render(model, recipe, (target,))
        after = network_cpu_per_crop(model, crop_px)
    finally:
        torch.set_num_threads(threads)
    network = (before + after) / 2
    ratio = cpu / passes / network
    return {
        "class_1_thread_cpu_s": round(cpu, 1),
        "class_crop_passes": passes,
        "class_cpu_ms_per_crop": round(1000 * cpu / passes, 1),
        "network_cpu_ms_per_crop": round(1000 * network, 1),
        "network_cpu_ms_per_crop_before_after": [round(1000 * before, 1), round(1000 * after, 1)],
        "maco_over_network": round(ratio, 2),
        "maco_over_network_within_target": ratio <= OVERHEAD_TARGET,
    }


def sheet(rows: list[torch.Tensor], tile: int = 160) -> torch.Tensor:
    """Rows of images side by side, each scaled to ``tile`` px, 4 px gaps, white ground."""
    out = []
    for images in rows:
        small = F.interpolate(images, size=(tile, tile), mode="bilinear", antialias=True)
        padded = F.pad(small, (2, 2, 2, 2), value=1.0)
        out.append(torch.cat(list(padded), dim=2))
    return torch.cat(out, dim=1)


def timed_render(model: LoadedModel, recipe, classes: tuple[int, ...]):
    """The class dreams, with wall and CPU seconds (the CPU time is the fair figure on a
    shared machine: the wall time there depends on the neighbours)."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = render(
        model, class_objective(classes), recipe, seed=0, batch=len(classes), measure=False
    )
    return result, time.perf_counter() - wall, time.process_time() - cpu


def run(out_dir: Path) -> dict:
    out_dir = Path(out_dir) / "maco"
    out_dir.mkdir(parents=True, exist_ok=True)
    model = load_model()
    judge = load_model(JUDGE)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return look(model, judge, out_dir)
    finally:
        torch.set_num_threads(threads)


def look(model: LoadedModel, judge: LoadedModel, out_dir: Path) -> dict:
    """The figures above, on this process's threads."""
    names = class_names()
    n = len(ESSAY_CLASSES)
    results: dict[str, object] = {"threads": torch.get_num_threads()}
    dreams = {}
    for preset in ("class-fast", "class"):
        recipe = get_preset(preset).recipe
        result, wall, cpu = timed_render(model, recipe, ESSAY_CLASSES)
        images = result.images
        dreams[preset] = images
        hits = [t == c for t, c in zip(top1(model, images), ESSAY_CLASSES, strict=True)]
        results[preset] = {
            "size_px": images.shape[-1],
            "s_11_class_dreams": round(wall, 1),
            "cpu_s_11_class_dreams": round(cpu, 1),
            "s_per_class_dream": round(wall / n, 2),
            "top1": f"{sum(hits)}/{len(hits)}",
            "misses": [names[c] for c, hit in zip(ESSAY_CLASSES, hits, strict=True) if not hit],
            f"{JUDGE}_views": view_scores(judge, images, list(ESSAY_CLASSES)),
            "colourfulness": colourfulness(images),
        }
        for i, c in enumerate(ESSAY_CLASSES):
            save_image_atomic(tensor_to_pil(images[i]), out_dir / f"{preset}-{c}.png")
        if result.attribution is not None:
            for i, c in enumerate(ESSAY_CLASSES):
                view = result.attribution[i][None].expand(3, -1, -1)
                save_image_atomic(tensor_to_pil(view), out_dir / f"{preset}-{c}-attribution.png")
    small = get_preset("class").recipe.replace(size=512)
    _result, wall, cpu = timed_render(model, small, ESSAY_CLASSES[:2])
    results["class_512px_s_per_class_dream"] = round(wall / 2, 2)
    results["class_512px_cpu_s_per_class_dream"] = round(cpu / 2, 2)
    for size in (512, 1024):
        results[f"s_per_crop_step_{size}px"] = round(crop_step_seconds(model, size, 4), 4)
    picture = sheet([dreams["class-fast"], dreams["class"]])
    tensor_to_pil(picture).save(out_dir / "class-dreams-fft-vs-maco.jpg", quality=85)
    return results
