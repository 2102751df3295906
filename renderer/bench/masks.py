"""Masked dreams and the layer atlas (``python -m renderer.bench --only masks``).

The bars of issue 25, on the sample cat and astronaut with the ``classic`` preset:

- a file mask white on the left half: mean |dream - photo| on the left, away from the soft
  edge, over the same on the right (bar >= 10);
- ``subject``: the mean change inside the Grad-CAM's top 20% over the change in its bottom
  50% (bar >= 4); ``background`` the reverse (bar >= 4);
- no seam: across the mask's edge, the masked dream's mean image gradient over the
  unmasked dream's at the same pixels (bar <= 1.5); a hard mask (feather 0) is measured
  beside it, and, stricter, the gradient on the edge over that 6-10 px beside it;
- the atlas of the cat: its tiles and its CPU seconds against one masked dream's.

It also writes ``masks-<photo>.png`` (photo, subject, background) for the README.
"""

from __future__ import annotations

import time
from pathlib import Path

import torch
import torch.nn.functional as F
from PIL import Image

from ..dream.engine import render
from ..dream.mask import build_mask, fit
from ..dream.objectives import layer_objective, resolve_terms
from ..dream.presets import get_preset
from ..imageio import pil_to_tensor, save_image_atomic, tensor_to_pil
from ..models import LoadedModel, load_model
from ..photos import prepare_photo

PHOTOS = (("chelsea.jpg", "chelsea"), ("astronaut.jpg", "astronaut"))
PRESET = "classic"


def change(dream: torch.Tensor, photo: torch.Tensor) -> torch.Tensor:
    """Per pixel, the mean over channels of |dream - photo|: (H, W)."""
    return (dream - photo).abs().mean(dim=(0, 1))


def gradient_magnitude(image: torch.Tensor) -> torch.Tensor:
    """Per pixel, |horizontal| + |vertical| forward difference, summed over channels: (H, W)."""
    x = image[0]
    dx = F.pad((x[:, :, 1:] - x[:, :, :-1]).abs(), (0, 1, 0, 0))
    dy = F.pad((x[:, 1:, :] - x[:, :-1, :]).abs(), (0, 0, 0, 1))
    return (dx + dy).sum(0)


def edge_band(hard: torch.Tensor, width: int) -> torch.Tensor:
    """(H, W) bool: pixels within ``width`` px of where the hard 0/1 mask changes."""
    m = (hard[0, 0] >= 0.5).float()[None, None]
    k = 2 * width + 1
    grown = F.max_pool2d(m, k, stride=1, padding=width)
    shrunk = -F.max_pool2d(-m, k, stride=1, padding=width)
    return (grown - shrunk)[0, 0] > 0


def edge_excess(image: torch.Tensor, hard: torch.Tensor) -> float:
    """The image gradient on the mask's edge (within 1 px) over that 6-10 px away from it:
    about 1 where nothing marks the edge, more where a seam does (a stricter test than the
    bar's, whose reference, the plain dream, is busy everywhere)."""
    grad = gradient_magnitude(image)
    near = edge_band(hard, 10) & ~edge_band(hard, 5)
    return ratio(float(grad[edge_band(hard, 1)].mean()), float(grad[near].mean()))


def ratio(a: float, b: float) -> float:
    return round(a / b, 2) if b > 0 else float("inf")


def _dream(model: LoadedModel, recipe, photo: torch.Tensor, mask: torch.Tensor | None):
    terms = resolve_terms(model, recipe.terms)
    start = time.process_time()
    result = render(
        model, layer_objective(terms), recipe, seed=0, photo=photo, measure=False, mask=mask
    )
    # the PNG round trip, as a published dream has it
    image = pil_to_tensor(tensor_to_pil(result.images))
    return image, time.process_time() - start


def _photo(folder: Path, name: str, function: str, size: int):
    path = folder / name
    if not path.is_file():
        from skimage import data

        save_image_atomic(Image.fromarray(getattr(data, function)()), path, quality=92)
    return prepare_photo(path, size)


def measure_photo(model: LoadedModel, folder: Path, name: str, function: str) -> dict:
    recipe = get_preset(PRESET).recipe
    photo = _photo(folder, name, function, recipe.size)
    image = pil_to_tensor(photo.image)
    h, w = image.shape[-2:]
    plain, plain_cpu = _dream(model, recipe, image, None)
    figures: dict[str, object] = {"size": f"{w}x{h}", "plain_cpu_s": round(plain_cpu, 1)}
    dreams = {}
    for mode in ("subject", "background"):
        masked = recipe.replace(mask=mode)
        mask = build_mask(model, photo.path, (h, w), masked)
        dream, cpu = _dream(model, masked, image, mask.weights)
        dreams[mode] = dream
        figures[f"{mode}_cpu_s"] = round(cpu, 1)
        cam = fit(_cam(model, photo.path), (h, w))[0, 0]
        top = cam >= torch.quantile(cam.flatten(), 0.8)
        bottom = cam <= torch.quantile(cam.flatten(), 0.5)
        moved = change(dream, image)
        inside, outside = float(moved[top].mean()), float(moved[bottom].mean())
        figures[f"{mode}_change_top20"] = round(inside, 5)
        figures[f"{mode}_change_bottom50"] = round(outside, 5)
        figures[f"{mode}_coverage"] = mask.source["coverage"]
        if mode == "subject":
            figures["subject_top20_over_bottom50"] = ratio(inside, outside)
        else:
            figures["background_bottom50_over_top20"] = ratio(outside, inside)
        band = edge_band(mask.hard, max(2, round(recipe.mask_feather / 2)))
        figures[f"{mode}_seam_gradient_ratio"] = ratio(
            float(gradient_magnitude(dream)[band].mean()),
            float(gradient_magnitude(plain)[band].mean()),
        )
    sheet = Image.new("RGB", (3 * w, h))
    for i, picture in enumerate((image, dreams["subject"], dreams["background"])):
        sheet.paste(tensor_to_pil(picture), (i * w, 0))
    return figures, sheet, (photo, image, plain)


def _cam(model: LoadedModel, path: Path) -> torch.Tensor:
    from ..dream.mask import MAP_SIZE, _map_photo, subject_map

    cam, _source = subject_map(model, _map_photo(path, model, MAP_SIZE), -1)
    return cam


def measure_half(model: LoadedModel, folder: Path, photo, image, plain) -> dict:
    """The left-half file mask, feathered (default) and hard (feather 0)."""
    h, w = image.shape[-2:]
    left = torch.zeros(1, 1, h, w)
    left[..., : w // 2] = 1.0
    mask_path = folder / "left-half.png"
    save_image_atomic(Image.fromarray((left[0, 0] * 255).byte().numpy(), mode="L"), mask_path)
    figures = {}
    for feather in (16.0, 0.0):
        recipe = get_preset(PRESET).recipe.replace(mask=str(mask_path), mask_feather=feather)
        mask = build_mask(model, photo.path, (h, w), recipe)
        dream, _cpu = _dream(model, recipe, image, mask.weights)
        moved = change(dream, image)
        away = max(4, round(2 * feather))
        on_left = float(moved[:, : w // 2 - away].mean())
        on_right = float(moved[:, w // 2 + away :].mean())
        band = edge_band(mask.hard, max(2, round(max(feather, 8.0) / 2)))
        seam = ratio(
            float(gradient_magnitude(dream)[band].mean()),
            float(gradient_magnitude(plain)[band].mean()),
        )
        tag = "feathered" if feather else "hard"
        figures[f"half_{tag}_left_over_right"] = ratio(on_left, on_right)
        figures[f"half_{tag}_left_change"] = round(on_left, 5)
        figures[f"half_{tag}_right_change"] = round(on_right, 6)
        figures[f"half_{tag}_seam_gradient_ratio"] = seam
        figures[f"half_{tag}_edge_excess"] = edge_excess(dream, mask.hard)
    figures["half_plain_edge_excess"] = edge_excess(plain, mask.hard)
    return figures


def measure_atlas(model: LoadedModel, folder: Path, out: Path, one_dream_cpu: float) -> dict:
    from ..dream.atlas import atlas_photo

    start = time.process_time()
    records = atlas_photo(model, folder / "chelsea.jpg", out / "atlas", seed=0, command="bench")
    cpu = time.process_time() - start
    return {
        "atlas_tiles": len([r for r in records if r.extra.get("atlas")]),
        "atlas_cpu_s": round(cpu, 1),
        "atlas_over_one_masked_dream": ratio(cpu, one_dream_cpu),
    }


def run(out: Path) -> dict:
    model = load_model("efficientnet_lite0", "cpu")
    folder = out / "mask-photos"
    folder.mkdir(parents=True, exist_ok=True)
    results: dict[str, object] = {"threads": torch.get_num_threads()}
    kept = None
    for name, function in PHOTOS:
        figures, sheet, state = measure_photo(model, folder, name, function)
        stem = name.rsplit(".", 1)[0]
        results.update({f"{stem}_{k}": v for k, v in figures.items()})
        save_image_atomic(sheet, out / f"masks-{stem}.png")
        if kept is None:
            kept = state
    results.update(measure_half(model, folder, *kept))
    results.update(measure_atlas(model, folder, out, float(results["chelsea_subject_cpu_s"])))
    return results
