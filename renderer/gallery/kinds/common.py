"""What the built-in job kinds share: sizes, a preset's recipe, a recipe's key values, the
working photo a job decodes, and the toolkit's model functions.

The dream and explanation modules are imported inside functions: planning a no-change
rebuild must not pay for them (nor build a network).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Set
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ...dream.recipe import DreamRecipe
from ...errors import UnknownNameError
from ...photos import WorkingPhoto, prepare_photo
from ..config import GalleryConfig
from ..plan import Job

if TYPE_CHECKING:
    from ...models import LoadedModel

# Working-photo sizes (long side, px) for explanations; dreams use their recipe's size.
EXPLAIN_SIZE = 256
# Zooms of your own photos at "auto" or "full" size: each frame is dreamt whole. At 768 px
# 24 frames cost 12x a 512 px dream (about two 2048 px dreams) and the cat's WebP is 5.8 MB;
# 1024 px would be about 1.8x that again, so the zoom stops at 768.
ZOOM_SIZE = 768
# LIME is the gallery's costliest step: one forward pass per sample. It runs adaptive (the
# explain default): rounds of 50 samples until its top 5 settles, 200 at least, 3000 at most.
QUICK_SIZE = 224
QUICK_NOISE_SIZE = 160  # layer and class dreams from noise, in a preview
QUICK_LIME_SAMPLES = 100
QUICK_FAITHFULNESS_STEPS = 10
QUICK_ZOOM_FRAMES = 8


@dataclass(frozen=True)
class Limits:
    """The machine's guards, outside the job keys: they change whether a job runs (or in
    how many tiles), not what it makes."""

    max_pixels: int
    max_memory: int | None  # bytes for one gradient step; None: a share of the free memory

    @classmethod
    def of(cls, config: GalleryConfig) -> Limits:
        return cls(config.max_pixels, config.max_memory_bytes)


def require_named(what: str, wanted: Set[str], names: Set[str]) -> None:
    """One line naming the first of ``wanted`` that is not among the photos' ``names``."""
    unknown = sorted(wanted - names)
    if unknown:
        raise UnknownNameError(what, unknown[0], sorted(names))


# A preview (--quick) dreams with the fast twin of a MaCo preset.
QUICK_PRESETS = {"class": "class-fast", "layer-maco": "layer"}


def preset_recipe(
    name: str, config: GalleryConfig, quick_size: int = QUICK_SIZE, size: int | str | None = None
) -> DreamRecipe:
    """The preset's recipe at ``size`` (a setting: "auto", "full" or px; None: pixels of
    ``config.size`` only, so noise dreams keep their own size under "auto"). ``NAME@LAYER``
    is the preset dreamt at another layer (the line a layer atlas tile shows)."""
    from ...dream.presets import get_preset
    from ...sizes import size_cap

    name, _, layer = name.partition("@")  # "classic@blocks.3": the preset at that layer
    if config.quick:
        name = QUICK_PRESETS.get(name, name)
    recipe = get_preset(name, config.preset_file).recipe
    if layer:
        recipe = recipe.replace(layers=(layer_name(config.model, layer.strip()),))
    if size is None and isinstance(config.size, int):
        size = config.size
    if size is not None:
        recipe = recipe.replace(size=size_cap(size))
    return quick_recipe(recipe, quick_size) if config.quick else recipe


def quick_recipe(recipe: DreamRecipe, size: int = QUICK_SIZE) -> DreamRecipe:
    """A preview: small, few octaves and steps."""
    return recipe.replace(
        size=min(recipe.size, size),
        octaves=min(recipe.octaves, 3),
        steps=max(2, min(recipe.steps, 4)),
        # A tile wider than the preview never applies: off, whatever its value was.
        tile=0 if recipe.tile and recipe.tile > min(recipe.size, size) else recipe.tile,
    )


def recipe_params(recipe: DreamRecipe) -> dict[str, Any]:
    """A recipe's values for a job key, with the sha256 of the pictures it names (a guide, a
    photo to start from): editing such a picture must re-render, not only renaming it."""
    from ...dream.recipe import BUILTIN_INITS, MASK_MODES
    from ...imageio import sha256_file_cached

    params = recipe.to_params()
    named = {"guide": recipe.guide, "init": "" if recipe.init in BUILTIN_INITS else recipe.init}
    if recipe.mask and recipe.mask not in MASK_MODES:
        named["mask"] = recipe.mask
        params["mask"] = Path(recipe.mask).name  # its bytes key it, not where it lies
    pictures = {}
    for role, path in named.items():
        if path:
            try:
                pictures[role] = sha256_file_cached(path)  # once per build, not per job
            except OSError:
                pictures[role] = "unreadable"  # the job itself says why
    if pictures:
        params["pictures"] = pictures
    return params


def layer_name(model: str, target: str) -> str:
    """A layer target as a module name, checked before any job runs. The model's own dream
    layers and its aliases pass at once; any other name gets the full check against
    ``list_layers`` (with suggestions), which builds the network on the meta device: about
    half a second, paid only by a build that names its own layers."""
    from ...models import get_spec, resolve_layer

    spec = get_spec(model)
    if ":" in target or "+" in target:
        return target
    if target in spec.aliases:
        return spec.aliases[target]
    if target in spec.dream_layers:
        return target
    return resolve_layer(model, target)


def explain_size(config: GalleryConfig) -> int:
    """The long side of the photo the gallery explains (and makes masks' maps from)."""
    pixels = config.size if isinstance(config.size, int) else None
    size = pixels or (QUICK_SIZE if config.quick else EXPLAIN_SIZE)
    return min(size, QUICK_SIZE) if config.quick else size


def working_photo(
    job: Job, model: LoadedModel, size: int | None, limits: Limits | None
) -> WorkingPhoto:
    """The job's photo, decoded now; it must still be the file that was planned."""
    from ...imageio import DEFAULT_MAX_PIXELS

    assert job.photo is not None
    max_pixels = limits.max_pixels if limits else DEFAULT_MAX_PIXELS
    # At most the planned size (a bigger file has changed anyway), whatever --max-file-mb was.
    limit = {"max_bytes": job.photo.size} if job.photo.size else {}
    photo = prepare_photo(job.photo.path, size, model.spec.min_size, max_pixels, **limit)
    if photo.sha256 != job.photo.sha256:
        raise RuntimeError(f"{job.photo.path} changed during the build; run it again")
    return photo


def relocate(job: Job, where: Callable[[str], str]) -> Job:
    """The job with the pictures its recipe names (a guide, a photo to start from) at
    ``where(path)``: a cluster job carries their bytes, not the driver's paths."""
    from ...dream.recipe import BUILTIN_INITS, MASK_MODES

    recipe = getattr(job.payload, "recipe", None)
    if recipe is None:
        return job
    changes = {}
    if recipe.guide:
        changes["guide"] = where(recipe.guide)
    if recipe.init and recipe.init not in BUILTIN_INITS:
        changes["init"] = where(recipe.init)
    if recipe.mask and recipe.mask not in MASK_MODES:  # a mask picture
        changes["mask"] = where(recipe.mask)
    if not changes:
        return job
    payload = dataclasses.replace(job.payload, recipe=recipe.replace(**changes))
    return dataclasses.replace(job, payload=payload)


def load(name: str, device: str, weights: str | None) -> LoadedModel:
    from ...models import load_model

    return load_model(name, device, weights)


def weights_sha256(name: str, weights: Path | None) -> str:
    """The weights' sha256 from the file alone: no network is built for a cache check."""
    from ...imageio import sha256_file_cached as file_sha
    from ...models import get_spec, resolve_weights_file

    return file_sha(resolve_weights_file(get_spec(name), weights))


def device(name: str) -> str:
    from ...devices import resolve_device

    return str(resolve_device(name))
