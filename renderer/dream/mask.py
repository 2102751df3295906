"""Where a photo dream grows: a soft mask from the network's explanation or the artist's own.

A mask is one (1, 1, H, W) map in [0, 1] at the dream's size: 1 dreams, 0 keeps the photo.
``subject`` is the photo's Grad-CAM for its top class (or ``mask_class``) thresholded at
``mask_threshold`` of its range; ``background`` is its inverse; ``lime`` is LIME's top
``LIME_TOP`` superpixels; any other value names a greyscale picture (white dreams, black
stays), resized to the photo. A sidecar ``NAME.mask.png`` beside ``NAME.jpg`` is the photo's
own. The hard mask is feathered by a Gaussian whose 2-98% ramp is ``mask_feather`` px wide.

Maps are computed on the photo at ``MAP_SIZE`` px, the size the gallery explains at, so a
subject mask is the very map of the Grad-CAM panel beside it. The engine weights each step
and the detail carried between octaves by the mask and composites the result with it
(``engine.render``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from ..errors import BadInputError, UnknownNameError
from ..files import read_photo_bytes
from ..imageio import decode_photo, is_photo_name, pil_to_tensor, sha256_bytes
from ..provenance import InputFile
from . import regularizers as reg
from .recipe import MASK_MODES, DreamRecipe

MAP_SIZE = 256  # px: the gallery's explanation size (kinds.EXPLAIN_SIZE)
LIME_TOP = 10  # superpixels a lime mask opens
# A Gaussian's 2%-98% ramp spans about 4.1 sigma: sigma = feather / 4 makes ``feather`` px
# the visible width of the soft edge.
RAMP_SIGMAS = 4.0
SNAP = 1e-5  # below 1/255 of a grey level, so the snap never shows


@dataclass(frozen=True)
class Mask:
    """A feathered mask at the dream's size, what made it (for the provenance and the
    caption) and the pictures it read."""

    weights: torch.Tensor  # (1, 1, H, W) in [0, 1]
    source: dict[str, Any]
    inputs: tuple[InputFile, ...] = ()
    caption: str = ""
    hard: torch.Tensor | None = field(default=None, repr=False)  # before feathering


def is_mode(text: str) -> bool:
    return text in MASK_MODES


def check_mask(text: str) -> str:
    """``--mask``'s value, checked before any work: a mode, or a picture that exists and
    decodes. An unknown word gets the closest modes; a missing file is named."""
    value = text.strip()
    if is_mode(value):
        return value
    path = Path(value).expanduser()
    looks_like_file = is_photo_name(path) or "/" in value or path.suffix != ""
    if not path.exists():
        if looks_like_file:
            raise BadInputError(value, "mask file not found")
        raise UnknownNameError("mask mode", value, MASK_MODES)
    read_mask_picture(path)
    return str(path)


def read_mask_picture(path: str | Path) -> tuple[torch.Tensor, str]:
    """A mask picture as (1, 1, h, w) in [0, 1] (its luminance) and the sha256 of its bytes;
    one that is not an image is a ``BadInputError`` naming it."""
    data = read_photo_bytes(path)
    picture = decode_photo(data, f"mask {path}")
    grey = np.asarray(picture.convert("L"), dtype=np.float32) / 255.0
    return torch.from_numpy(grey)[None, None], sha256_bytes(data)


def fit(mask: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """``mask`` resized to ``size`` (bilinear, antialiased when shrinking)."""
    if tuple(mask.shape[-2:]) == tuple(size):
        return mask
    shrinking = mask.shape[-2] > size[0] or mask.shape[-1] > size[1]
    return F.interpolate(
        mask, size=size, mode="bilinear", align_corners=False, antialias=shrinking
    ).clamp(0, 1)


def feather(mask: torch.Tensor, px: float) -> torch.Tensor:
    """A soft edge ``px`` wide (Gaussian blur, reflected borders); 0 keeps it hard. Values
    within ``SNAP`` of 0 or 1 become exactly that: the kernel's weights sum to 1 only up to
    rounding, and a white mask must dream exactly as no mask, a black one keep the photo."""
    if px <= 0:
        return mask
    soft = reg.blur(mask, px / RAMP_SIGMAS).clamp(0, 1)
    soft = torch.where(soft > 1.0 - SNAP, torch.ones_like(soft), soft)
    return torch.where(soft < SNAP, torch.zeros_like(soft), soft)


def threshold(cam: torch.Tensor, level: float) -> torch.Tensor:
    """1 where the min-max map reaches ``level``, else 0."""
    return (cam >= level).float()


def _map_photo(photo_path: Path, model: Any, size: int) -> torch.Tensor:
    """The photo as the gallery's explanation sees it: read again and scaled to ``size``
    by the same code, so its map equals the explanation panel's."""
    from ..photos import prepare_photo

    picture = prepare_photo(photo_path, size, model.spec.min_size)
    return pil_to_tensor(picture.image).to(model.device)


def subject_map(
    model: Any, image01: torch.Tensor, wanted: int
) -> tuple[torch.Tensor, dict[str, Any]]:
    """Grad-CAM of the top class (or class ``wanted`` >= 0) at the model's Grad-CAM layer:
    (1, 1, h, w) in [0, 1], and what made it."""
    from ..explain.cam import class_activation_map
    from ..explain.jobs import choose_target

    target = choose_target(model, image01, str(wanted) if wanted >= 0 else None)
    layer = model.spec.default_layer
    cam = class_activation_map(model.net, model.normalize(image01), target.index, layer)
    source = {
        "map": "gradcam",
        "layer": layer,
        "class_index": target.index,
        "class_name": target.name,
        "prob": round(target.prob, 4),
    }
    return cam.maps[:1, None].float().cpu(), source


def lime_map(
    model: Any, image01: torch.Tensor, wanted: int, seed: int
) -> tuple[torch.Tensor, dict[str, Any]]:
    """LIME's ``LIME_TOP`` superpixels that most raise the top class (or class ``wanted``
    >= 0), as a 0/1 map, with
    the explanation's default settings (so it matches the gallery's LIME panel)."""
    from ..explain import lime
    from ..explain.jobs import choose_target, target_scorer
    from ..explain.settings import ExplainSettings

    settings = ExplainSettings(seed=seed)
    target = choose_target(model, image01, str(wanted) if wanted >= 0 else None)
    picture = (image01[0].permute(1, 2, 0).cpu().numpy() * 255.0).round().astype(np.uint8)
    segments = lime.segment(picture, settings.segments)
    result = lime.explain(
        target_scorer(model, target.index),
        image01[0],
        segments,
        stop=settings.stop_rule,
        seed=seed,
        **settings.lime_draws,
    )
    chosen = result.top(LIME_TOP)
    opened = torch.from_numpy(np.isin(result.segments, chosen).astype(np.float32))
    source = {
        "map": "lime",
        "class_index": target.index,
        "class_name": target.name,
        "superpixels": LIME_TOP,
        "samples": result.samples,
        "r2": round(result.r2, 4),
    }
    return opened[None, None], source


def explained_map(
    folders: Sequence[Path], sha256: str, mode: str, map_size: int, wanted: int, layer: str
) -> tuple[torch.Tensor, dict[str, Any]] | None:
    """The map a finished explanation of this photo kept (``renderer explain --raw``,
    ``[explain] raw = true``), from the first of ``folders`` (render directories) that holds
    one made at ``map_size`` px for the class asked (any, when ``wanted`` is -1): the very
    map of its panel, not computed twice. None when there is none."""
    from ..explain.surrogate import top_segments
    from ..provenance import read_manifest

    method = "gradcam" if mode in ("subject", "background") else "lime-top5"
    for folder in folders:
        try:
            entries = read_manifest(folder)
        except (OSError, ValueError):
            continue
        for e in entries:
            extra, params = e.get("extra") or {}, e.get("params") or {}
            inputs = e.get("inputs") or [{}]
            target = int((extra.get("target") or {}).get("index", -2))
            if (
                e.get("kind") != "explain"
                or extra.get("method") != method
                or not extra.get("raw")
                or inputs[0].get("sha256") != sha256
                or params.get("size") != map_size
                or (wanted >= 0 and target != wanted)
                or (method == "gradcam" and extra.get("layer") != layer)
            ):
                continue
            path = Path(folder) / str(extra["raw"])
            try:
                if method == "gradcam":
                    found = torch.from_numpy(np.load(path).astype(np.float32))[None, None]
                else:
                    with np.load(path) as data:
                        chosen = top_segments(data["weights"], LIME_TOP)
                        opened = np.isin(data["segments"], chosen).astype(np.float32)
                    found = torch.from_numpy(opened)[None, None]
            except (OSError, ValueError, KeyError):
                continue  # damaged: compute it instead
            name = str((extra.get("target") or {}).get("name", "?"))
            source = {"map": "gradcam" if method == "gradcam" else "lime", "class_index": target}
            source.update(class_name=name, reused=str(e.get("output")))
            if method == "gradcam":
                source["layer"] = layer
            else:
                source["superpixels"] = LIME_TOP
            return found, source
    return None


def _caption(recipe: DreamRecipe, source: dict[str, Any]) -> str:
    mode = source["mode"]
    if mode in ("subject", "background"):
        where = "on" if mode == "subject" else "around"
        text = (
            f"dreamt {where} what Grad-CAM sees for “{source['class_name']}” "
            f"(map ≥ {recipe.mask_threshold:g} of its range)"
        )
    elif mode == "lime":
        text = f"dreamt on LIME's top {LIME_TOP} superpixels for “{source['class_name']}”"
    else:
        text = f"dreamt through the mask {source['file']}"
    if recipe.mask_invert:
        text += ", inverted"
    return f"{text} · feather {recipe.mask_feather:g} px"


def build_mask(
    model: Any,
    photo_path: Path,
    size: tuple[int, int],
    recipe: DreamRecipe,
    *,
    seed: int = 0,
    map_size: int = MAP_SIZE,
    explained: Sequence[Path] = (),
    sha256: str = "",
) -> Mask:
    """The recipe's mask for the photo at ``photo_path``, at the dream's ``size`` (H, W).
    A map is read from a raw explanation of the photo (sha256 ``sha256``) in one of the
    ``explained`` render folders when one fits (``explained_map``), else computed."""
    mode = recipe.mask
    inputs: tuple[InputFile, ...] = ()
    kept = None
    if is_mode(mode) and sha256:
        layer = model.spec.default_layer
        kept = explained_map(explained, sha256, mode, map_size, recipe.mask_class, layer)
    if mode in ("subject", "background"):
        if kept is None:
            kept = subject_map(model, _map_photo(photo_path, model, map_size), recipe.mask_class)
        cam, source = kept
        hard = threshold(fit(cam, size), recipe.mask_threshold)
        source["threshold"] = recipe.mask_threshold
        if mode == "background":
            hard = 1.0 - hard
    elif mode == "lime":
        if kept is None:
            kept = lime_map(model, _map_photo(photo_path, model, map_size), recipe.mask_class, seed)
        opened, source = kept
        hard = (fit(opened, size) >= 0.5).float()
    else:
        picture, digest = read_mask_picture(mode)
        hard = fit(picture, size)
        source = {"map": "file", "file": Path(mode).name, "sha256": digest}
        inputs = (InputFile(mode, digest),)
    if recipe.mask_invert:
        hard = 1.0 - hard
    source = {"mode": mode if is_mode(mode) else "file", **source}
    source.update(feather=recipe.mask_feather, invert=recipe.mask_invert)
    source["coverage"] = round(float(hard.mean()), 4)
    weights = feather(hard, recipe.mask_feather)
    return Mask(weights, source, inputs, _caption(recipe, source), hard)


def mask_label(recipe: DreamRecipe) -> str:
    """A short name for file names and captions: ``subject``, ``background``, ``lime`` or
    the mask picture's stem; ``-inverted`` when inverted."""
    from ..naming import slug

    if not recipe.mask:
        return ""
    stem = Path(recipe.mask).name.split(".", 1)[0]
    base = recipe.mask if is_mode(recipe.mask) else "mask-" + slug(stem)
    return base + ("-inverted" if recipe.mask_invert else "")


def mask_image(mask: Mask) -> Image.Image:
    """The feathered mask as a greyscale picture (white dreams)."""
    arr = (mask.weights[0, 0].clamp(0, 1) * 255.0).round().to(torch.uint8).numpy()
    return Image.fromarray(arr, mode="L")
