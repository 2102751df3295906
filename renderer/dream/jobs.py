"""Dream jobs: render, write PNGs (and octave frames), publish sidecars and manifest entries.

These are what the CLI and the gallery pipeline call; each returns the records it published.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any

import torch
from PIL import Image

from ..classes import ImageNetClass
from ..classify import Prediction, classify_whole_picture
from ..clikit import Stopwatch, progress
from ..errors import RecipeError
from ..imageio import pil_to_tensor, save_image_atomic, tensor_to_pil
from ..models import LoadedModel, list_layers
from ..naming import slug
from ..photos import WorkingPhoto, prepare_photo, publish_photo
from ..provenance import InputFile, Record, publish
from .engine import DreamResult, octave_plan, render, resize
from .maco import transparency_view
from .objectives import (
    Objective,
    class_objective,
    guide_features,
    guided_objective,
    layer_objective,
    resolve_terms,
)
from .recipe import BUILTIN_INITS, DreamRecipe, LayerTerm, parse_target


@contextmanager
def _bar(model: LoadedModel, recipe: DreamRecipe, desc: str, size: tuple[int, int] | None = None):
    h, w = size or (recipe.size, recipe.size)
    total = sum(o.steps for o in octave_plan(h, w, recipe, model.spec.min_size))
    bar = progress(total=total, desc=desc, unit="step", leave=False)
    try:
        yield bar.update
    finally:
        bar.close()


def _save(images: torch.Tensor, out_dir: Path, output: str) -> Image.Image:
    picture = tensor_to_pil(images)
    save_image_atomic(picture, Path(out_dir) / output)
    return picture


def _save_attribution(result: DreamResult, index: int, out_dir: Path, stem: str) -> str | None:
    """MaCo's transparency view beside the dream: the dream shown through its accumulated
    |gradient| (Horama's ``plot_maco``), so what the network looked at stands out."""
    if result.attribution is None:
        return None
    output = f"{stem}-attribution.png"
    view = transparency_view(result.images[index], result.attribution[index])
    _save(view[None], out_dir, output)
    return output


def _save_frames(result: DreamResult, index: int, out_dir: Path, stem: str) -> list[str]:
    paths = []
    for level, frame in enumerate(result.frames, start=1):
        output = f"{stem}-octave-{level}.png"
        _save(frame[index : index + 1], out_dir, output)
        paths.append(output)
    return paths


def _layer_caption(terms: Sequence[LayerTerm], recipe: DreamRecipe) -> str:
    what = " + ".join(str(t) for t in terms)
    return f"Layer {what} · {recipe.describe()}"


def _depth(model: LoadedModel, terms: Sequence[LayerTerm]) -> int:
    order = {info.name: i for i, info in enumerate(list_layers(model.name))}
    return max(order.get(t.layer, 0) for t in terms)


def _file_version(path: str) -> tuple[int, int] | None:
    try:
        stat = os.stat(path)
    except OSError:
        return None  # prepare_photo says why
    return stat.st_size, stat.st_mtime_ns


@lru_cache(maxsize=8)
def _named_picture(path: str, size: int, min_size: int, version: object) -> WorkingPhoto:
    """A picture a recipe names (its guide or start image), read and scaled once per process
    for each version of the file, however many photos or layers a batch dreams."""
    return prepare_photo(path, size, min_size)


@lru_cache(maxsize=16)
def _guide_features(
    model: LoadedModel, path: str, size: int, terms: tuple[LayerTerm, ...], version: object
) -> dict[str, torch.Tensor]:
    picture = _named_picture(path, size, model.spec.min_size, version)
    return guide_features(model, pil_to_tensor(picture.image), terms)


def _start_image(
    model: LoadedModel, recipe: DreamRecipe
) -> tuple[torch.Tensor | None, tuple[InputFile, ...]]:
    """``--init PHOTO``: that picture at the recipe's size; noise and gray start in the engine."""
    if recipe.init in BUILTIN_INITS:
        return None, ()
    version = _file_version(recipe.init)
    picture = _named_picture(recipe.init, recipe.size, model.spec.min_size, version)
    return pil_to_tensor(picture.image), (picture.input,)


def dream_objective(
    model: LoadedModel, recipe: DreamRecipe, terms: Sequence[LayerTerm]
) -> tuple[Objective, tuple[InputFile, ...]]:
    """The terms' objective, guided by ``recipe.guide`` (scaled like the dream) if it names
    a picture; and that picture as an input, for the provenance."""
    if not recipe.guide:
        return layer_objective(terms), ()
    version = _file_version(recipe.guide)
    features = _guide_features(model, recipe.guide, recipe.size, tuple(terms), version)
    picture = _named_picture(recipe.guide, recipe.size, model.spec.min_size, version)
    return guided_objective(terms, features), (picture.input,)


def guided_suffix(recipe: DreamRecipe) -> str:
    """``-guided-<guide name>`` for guided dreams, so that they sit beside the plain ones."""
    return f"-guided-{slug(Path(recipe.guide).stem)}" if recipe.guide else ""


def dream_extra(
    model: LoadedModel,
    picture: Image.Image,
    result: DreamResult,
    preset: str,
    recipe: DreamRecipe,
    terms: Sequence[LayerTerm],
) -> dict[str, Any]:
    """A photo dream's record extras: its preset and layers, the objective before and
    after, what the network sees in the dream, and its caption."""
    layers = [str(t) for t in terms]
    return {
        "preset": preset,
        "layers": layers,
        "objective_start": result.objective_start[0],
        "objective_end": result.objective_end[0],
        "predictions": [p.to_dict() for p in classify_whole_picture(model, picture, top=5)],
        "caption": f"{preset} · {' + '.join(layers)} · {recipe.describe()}",
    }


def dream_photo(
    model: LoadedModel,
    photo: WorkingPhoto,
    recipe: DreamRecipe,
    out_dir: Path,
    *,
    preset: str,
    seed: int,
    command: str,
    frames: bool = False,
    max_memory: float | None = None,
    map_size: int | None = None,
    explained: Sequence[Path] = (),
) -> list[Record]:
    """DeepDream on one photo: ``<key>/photo.png`` and ``<key>/dream-<preset>.png``;
    ``max_memory`` bounds a gradient step's bytes (see ``render``). A masked recipe writes
    ``dream-<preset>-<mask>.png`` and the mask beside it; its map is made from the photo at
    ``map_size`` px (None: ``mask.MAP_SIZE``, the gallery's explanation size), or read from
    a raw explanation of the photo in one of the ``explained`` render folders."""
    from .mask import MAP_SIZE, build_mask, mask_image, mask_label

    clock = Stopwatch()
    out_dir = Path(out_dir)
    terms = resolve_terms(model, recipe.terms)
    objective, guide = dream_objective(model, recipe, terms)
    size = (photo.image.height, photo.image.width)
    mask = None
    if recipe.mask:
        where = {"map_size": map_size or MAP_SIZE, "explained": explained}
        mask = build_mask(model, photo.path, size, recipe, seed=seed, sha256=photo.sha256, **where)
    with _bar(model, recipe, photo.path.name, (photo.image.height, photo.image.width)) as step:
        result = render(
            model,
            objective,
            recipe,
            seed=seed,
            photo=pil_to_tensor(photo.image),
            on_step=step,
            frames=frames,
            max_memory=max_memory,
            mask=None if mask is None else mask.weights,
        )
    label = f"-{mask_label(recipe)}" if mask else ""
    stem = f"{photo.key}/dream-{slug(preset)}{guided_suffix(recipe)}{label}"
    output = f"{stem}.png"
    picture = _save(result.images, out_dir, output)
    frame_paths = _save_frames(result, 0, out_dir, stem) if frames else []
    extra = dream_extra(model, picture, result, preset, recipe, terms)
    if mask is not None:
        save_image_atomic(mask_image(mask), out_dir / f"{stem}-mask.png")
        extra["mask"] = {**mask.source, "image": f"{stem}-mask.png"}
        extra["caption"] += f" · {mask.caption}"
    if frame_paths:
        extra["frames"] = frame_paths
    photo_record = publish_photo(out_dir, photo, model, command)
    record = model.record(
        "dream",
        output,
        command,
        inputs=(photo.input, *guide, *(mask.inputs if mask else ())),
        params=recipe.to_params(),
        seed=seed,
        wall_time_s=clock.seconds,
        extra=extra,
    )
    records = [photo_record, record]
    publish(out_dir, records)
    return records


def dream_layers(
    model: LoadedModel,
    targets: Sequence[str],
    recipe: DreamRecipe,
    out_dir: Path,
    *,
    seed: int,
    command: str,
    frames: bool = False,
) -> list[Record]:
    """One dream per target (``blocks.4``, ``blocks.5:17``, ``blocks.4+blocks.5:0.5``) from
    ``recipe.init``; all start from the same noise for equal seeds, so layers compare."""
    out_dir = Path(out_dir)
    resolved = [resolve_terms(model, parse_target(t)) for t in targets]
    start, inputs = _start_image(model, recipe)
    records = []
    for terms in resolved:
        clock = Stopwatch()
        name = "+".join(str(t) for t in terms)
        objective, guide = dream_objective(model, recipe, terms)
        own = recipe.replace(layers=(name,))
        with _bar(model, recipe, name) as step:
            result = render(
                model,
                objective,
                own,
                seed=seed,
                start=start,
                on_step=step,
                frames=frames,
            )
        stem = f"layer-dreams/{slug(name)}{guided_suffix(recipe)}"
        output = f"{stem}.png"
        picture = _save(result.images, out_dir, output)
        frame_paths = _save_frames(result, 0, out_dir, stem) if frames else []
        extra = {
            "layers": [str(t) for t in terms],
            "objective_start": result.objective_start[0],
            "objective_end": result.objective_end[0],
            "depth": _depth(model, terms),
            "caption": _layer_caption(terms, recipe),
            "predictions": [p.to_dict() for p in classify_whole_picture(model, picture, top=5)],
        }
        if frame_paths:
            extra["frames"] = frame_paths
        attribution = _save_attribution(result, 0, out_dir, stem)
        if attribution:
            extra["attribution"] = attribution
        record = model.record(
            "layer-dream",
            output,
            command,
            inputs=(*inputs, *guide),
            params=own.to_params(),
            seed=seed,
            wall_time_s=clock.seconds,
            extra=extra,
        )
        publish(out_dir, [record])
        records.append(record)
    return records


@torch.no_grad()
def _class_probabilities(model: LoadedModel, images: torch.Tensor) -> torch.Tensor:
    size = model.spec.input_size
    x = resize(images.to(model.device), (size, size))
    return torch.softmax(model.logits(x).float(), dim=1).cpu()


def dream_classes(
    model: LoadedModel,
    classes: Sequence[ImageNetClass],
    recipe: DreamRecipe,
    out_dir: Path,
    *,
    seed: int,
    command: str,
    frames: bool = False,
) -> list[Record]:
    """One dream per class, all batched through the network together."""
    from ..classes import class_names

    if recipe.guide:
        raise RecipeError("a guide steers a layer's features; class dreams take none")
    clock = Stopwatch()
    out_dir = Path(out_dir)
    start, inputs = _start_image(model, recipe)
    with _bar(model, recipe, f"{len(classes)} classes") as step:
        result = render(
            model,
            class_objective([c.index for c in classes]),
            recipe,
            seed=seed,
            start=start,
            batch=len(classes),
            on_step=step,
            frames=frames,
        )
    probs = _class_probabilities(model, result.images)
    names = class_names()
    wall = round(clock.seconds / max(1, len(classes)), 3)
    records = []
    for i, cls in enumerate(classes):
        stem = f"class-dreams/class-{cls.index}-{slug(cls.name)}"
        output = f"{stem}.png"
        _save(result.images[i : i + 1], out_dir, output)
        top_p, top_i = probs[i].topk(5)
        prob = float(probs[i, cls.index])
        extra = {
            "class_index": cls.index,
            "class_name": cls.name,
            "prob": round(prob, 6),
            "objective_start": result.objective_start[i],
            "objective_end": result.objective_end[i],
            "predictions": [
                Prediction(int(j), names[int(j)], float(p)).to_dict()
                for p, j in zip(top_p, top_i, strict=True)
            ],
            "caption": f"{cls.name} (class {cls.index}) · p {prob:.2f} · {recipe.describe()}",
        }
        if frames:
            extra["frames"] = _save_frames(result, i, out_dir, stem)
        attribution = _save_attribution(result, i, out_dir, stem)
        if attribution:
            extra["attribution"] = attribution
        records.append(
            model.record(
                "class-dream",
                output,
                command,
                inputs=inputs,
                params={**recipe.to_params(), "class_index": cls.index},
                seed=seed,
                wall_time_s=wall,
                extra=extra,
            )
        )
    publish(out_dir, records)
    return records
