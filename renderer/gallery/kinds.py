"""The real job kinds: how each becomes a spec (payload + key parameters) and how it runs.

Everything kind-specific lives here, so ``plan`` and ``run`` know nothing of dreams or
explanations, and tests can swap this whole module's ``Toolkit`` for fakes. The dream and
explanation modules are imported inside functions: planning a no-change rebuild must not
pay for them (nor build a network).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..photos import WorkingPhoto, prepare_photo
from ..provenance import Record
from .plan import Job, PhotoSource, Planner, Problem, Spec
from .run import Toolkit

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
    def of(cls, config: Any) -> Limits:
        return cls(config.max_pixels, config.max_memory_bytes)


@dataclass(frozen=True)
class DreamPayload:
    preset: str
    recipe: Any  # DreamRecipe
    seed: int
    frames: bool
    limits: Limits | None = None
    map_size: int | None = None  # px of the photo a subject/background/lime mask is made at


@dataclass(frozen=True)
class AtlasPayload:
    layer: Any  # atlas.AtlasLayer
    preset: str
    recipe: Any  # DreamRecipe
    seed: int
    limits: Limits | None = None


@dataclass(frozen=True)
class ZoomPayload:
    preset: str
    recipe: Any  # DreamRecipe
    settings: Any  # ZoomSettings
    seed: int
    limits: Limits | None = None


@dataclass(frozen=True)
class ExplainPayload:
    settings: Any  # ExplainSettings
    size: int
    limits: Limits | None = None


@dataclass(frozen=True)
class AccentPayload:
    settings: Any  # AccentSettings
    seed: int
    limits: Limits | None = None


@dataclass(frozen=True)
class ClassPayload:
    classes: tuple[int, ...]  # ImageNet class indices
    recipe: Any
    seed: int


def _recipe_of(preset: Any) -> Any:
    """A preset's DreamRecipe, whatever shape the preset object has."""
    from ..dream.recipe import DreamRecipe

    if isinstance(preset, DreamRecipe):
        return preset
    for name in ("recipe", "to_recipe", "build"):
        value = getattr(preset, name, None)
        if value is None:
            continue
        value = value() if callable(value) else value
        if isinstance(value, DreamRecipe):
            return value
    raise TypeError(f"preset {preset!r} yields no DreamRecipe")


# A preview (--quick) dreams with the fast twin of a MaCo preset.
QUICK_PRESETS = {"class": "class-fast", "layer-maco": "layer"}


def preset_recipe(
    name: str, config: Any, quick_size: int = QUICK_SIZE, size: int | str | None = None
) -> Any:
    """The preset's recipe at ``size`` (a setting: "auto", "full" or px; None: pixels of
    ``config.size`` only, so noise dreams keep their own size under "auto"). ``NAME@LAYER``
    is the preset dreamt at another layer (the line a layer atlas tile shows)."""
    from ..dream.presets import get_preset
    from ..sizes import size_cap

    name, _, layer = name.partition("@")  # "classic@blocks.3": the preset at that layer
    if config.quick:
        name = QUICK_PRESETS.get(name, name)
    recipe = _recipe_of(get_preset(name, config.preset_file))
    if layer:
        recipe = recipe.replace(layers=(layer_name(config.model, layer.strip()),))
    if size is None and isinstance(config.size, int):
        size = config.size
    if size is not None:
        recipe = recipe.replace(size=size_cap(size))
    return quick_recipe(recipe, quick_size) if config.quick else recipe


def quick_recipe(recipe: Any, size: int = QUICK_SIZE) -> Any:
    """A preview: small, few octaves and steps."""
    return recipe.replace(
        size=min(recipe.size, size),
        octaves=min(recipe.octaves, 3),
        steps=max(2, min(recipe.steps, 4)),
        # A tile wider than the preview never applies: off, whatever its value was.
        tile=0 if recipe.tile and recipe.tile > min(recipe.size, size) else recipe.tile,
    )


# --------------------------------------------------------------------------- planning


def recipe_params(recipe: Any) -> dict[str, Any]:
    """A recipe's values for a job key, with the sha256 of the pictures it names (a guide, a
    photo to start from): editing such a picture must re-render, not only renaming it."""
    from ..dream.recipe import BUILTIN_INITS
    from ..imageio import sha256_file_cached

    params = recipe.to_params()
    from ..dream.recipe import MASK_MODES

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


def dream_spec(config: Any, preset: str) -> Spec:
    recipe = preset_recipe(preset, config, size=config.dream_size)
    payload = DreamPayload(preset, recipe, config.seed, config.frames, Limits.of(config))
    params = {
        "preset": preset,
        "recipe": recipe_params(recipe),
        "seed": config.seed,
        "frames": config.frames,
    }
    return Spec(payload, params)


def layer_name(model: str, target: str) -> str:
    """A layer target as a module name, checked before any job runs. The model's own dream
    layers and its aliases pass at once; any other name gets the full check against
    ``list_layers`` (with suggestions), which builds the network on the meta device: about
    half a second, paid only by a build that names its own layers."""
    from ..models import get_spec, resolve_layer

    spec = get_spec(model)
    if ":" in target or "+" in target:
        return target
    if target in spec.aliases:
        return spec.aliases[target]
    if target in spec.dream_layers:
        return target
    return resolve_layer(model, target)


def layer_specs(config: Any, model: str) -> list[tuple[str, Spec]]:
    from ..models import get_spec

    targets = get_spec(model).dream_layers if config.layers is None else config.layers
    base = preset_recipe(config.layer_preset, config, QUICK_NOISE_SIZE)
    specs = []
    for depth, target in enumerate(targets):
        layer = layer_name(model, target)
        recipe = base.replace(layers=(layer,))
        payload = DreamPayload(config.layer_preset, recipe, config.seed, config.frames)
        params = {
            "preset": config.layer_preset,
            "recipe": recipe_params(recipe),
            "seed": config.seed,
            "frames": config.frames,
            "depth": depth,
        }
        specs.append((layer, Spec(payload, params)))
    return specs


def class_index(text: str) -> int:
    from ..classes import resolve_class

    return resolve_class(text).index


# Classes per class-dream job. They are dreamt in one batch, but 11 MaCo dreams in one job
# kept one worker busy for 14 minutes while the others idled: two jobs of 6 and 5 share the
# cores. A fixed size, not one per worker, so the jobs' keys do not depend on --jobs.
CLASS_BATCH = 6


def class_specs(config: Any) -> list[Spec]:
    """The class dreams, in batches of ``CLASS_BATCH`` classes (none when no classes)."""
    indices = tuple(class_index(c) for c in config.classes)
    recipe = preset_recipe(config.class_preset, config, QUICK_NOISE_SIZE)
    specs = []
    for start in range(0, len(indices), CLASS_BATCH):
        batch = indices[start : start + CLASS_BATCH]
        params = {
            "preset": config.class_preset,
            "recipe": recipe_params(recipe),
            "seed": config.seed,
            "classes": list(batch),
        }
        specs.append(Spec(ClassPayload(batch, recipe, config.seed), params))
    return specs


def explain_size(config: Any) -> int:
    """The long side of the photo the gallery explains (and makes masks' maps from)."""
    pixels = config.size if isinstance(config.size, int) else None
    size = pixels or (QUICK_SIZE if config.quick else EXPLAIN_SIZE)
    return min(size, QUICK_SIZE) if config.quick else size


def mask_specs(config: Any, photo: PhotoSource) -> tuple[list[tuple[str, Spec]], list[Problem]]:
    """The photo's masked dreams, with the first preset: each ``[dreams] masks`` entry for it
    and its sidecar ``NAME.mask.png``; a sidecar that is not an image is a problem (one
    line naming it) and the photo keeps its unmasked dreams."""
    from ..naming import mask_sidecar

    wanted = [mode for name, mode in config.mask_list if name in ("", photo.name)]
    sidecar = mask_sidecar(photo.path)
    problems = []
    if sidecar.is_file():
        from ..dream.mask import read_mask_picture
        from ..errors import BadInputError

        try:
            read_mask_picture(sidecar)
            wanted.append(str(sidecar))
        except BadInputError as exc:
            problems.append(Problem(sidecar, f"{exc.reason}; {photo.name} dreams unmasked"))
    if not wanted:
        return [], problems
    preset = config.presets[0]
    base = preset_recipe(preset, config, size=config.dream_size)
    map_size = explain_size(config)
    specs = []
    for mask in dict.fromkeys(wanted):
        recipe = base.replace(mask=mask)
        payload = DreamPayload(preset, recipe, config.seed, False, Limits.of(config), map_size)
        params = {"preset": preset, "recipe": recipe_params(recipe), "seed": config.seed}
        if mask == str(sidecar):
            specs.append((f"{preset}, mask {sidecar.name}", Spec(payload, params)))
        else:  # its map may come from the photo's explanation job, when that kept it
            params["map_size"] = map_size
            specs.append((f"{preset}, {mask}", Spec(payload, params, reuses="explain")))
    return specs, problems


def atlas_specs(config: Any, model: str) -> list[tuple[str, Spec]]:
    """One tile per dreamable layer of ``model``, with the first preset made small."""
    from ..dream.atlas import model_atlas_layers, tile_recipe

    preset = config.presets[0]
    base = preset_recipe(preset, config)
    specs = []
    for layer in model_atlas_layers(model):
        recipe = tile_recipe(base, layer.name)
        payload = AtlasPayload(layer, preset, recipe, config.seed, Limits.of(config))
        params = {
            "preset": preset,
            "recipe": recipe_params(recipe),
            "seed": config.seed,
            "depth": layer.depth,
        }
        specs.append((layer.name, Spec(payload, params)))
    return specs


def explain_spec(config: Any) -> Spec | None:
    from ..explain.settings import METHODS, ExplainSettings

    if not config.explain:
        return None
    values: dict[str, Any] = {"methods": METHODS, "seed": config.seed}
    if config.quick:
        values.update(lime_samples=QUICK_LIME_SAMPLES, faithfulness_steps=QUICK_FAITHFULNESS_STEPS)
    values.update(config.explain_settings)
    settings = ExplainSettings(**values)
    size = explain_size(config)
    payload = ExplainPayload(settings, size, Limits.of(config))
    return Spec(payload, {"settings": settings.params(), "size": size})


def zoom_spec(config: Any) -> Spec | None:
    """One spec for every photo the gallery zooms into (``config.zooms``); a preview keeps
    8 frames."""
    from ..dream.zoom import ZoomSettings

    if not config.zooms:
        return None
    size = config.dream_size
    if isinstance(size, str):  # "auto" or "full": see ZOOM_SIZE
        size = ZOOM_SIZE
    recipe = preset_recipe(config.zoom_preset, config, size=size)
    frames = min(config.zoom_frames, QUICK_ZOOM_FRAMES) if config.quick else config.zoom_frames
    settings = ZoomSettings(frames=frames)
    payload = ZoomPayload(config.zoom_preset, recipe, settings, config.seed, Limits.of(config))
    params = {
        "preset": config.zoom_preset,
        "recipe": recipe_params(recipe),
        "zoom": settings.to_params(),
        "seed": config.seed,
    }
    return Spec(payload, params)


def accentuate_spec(config: Any) -> Spec | None:
    """Feature accentuation of each photo's top-1 class, beside its explanations (and only
    when the gallery explains); a preview takes 4 steps at the preview size."""
    from ..dream.accentuate import AccentSettings

    if not config.explain:
        return None
    settings = AccentSettings()
    if config.quick:
        settings = AccentSettings(steps=4, size=QUICK_SIZE)
    payload = AccentPayload(settings, config.seed, Limits.of(config))
    return Spec(payload, {"settings": settings.to_params(), "seed": config.seed})


def video_specs(config: Any, clip: Any) -> list[tuple[str, Spec]]:
    from ..video.gallery import segment_specs

    return segment_specs(config, clip, preset_recipe)


PLANNER = Planner(
    dream=dream_spec,
    layers=layer_specs,
    classes=class_specs,
    explain=explain_spec,
    zoom=zoom_spec,
    accentuate=accentuate_spec,
    masks=mask_specs,
    atlas=atlas_specs,
    video=video_specs,
)


# --------------------------------------------------------------------------- running


def working_photo(job: Job, model: Any, size: int | None, limits: Limits | None) -> WorkingPhoto:
    """The job's photo, decoded now; it must still be the file that was planned."""
    from ..imageio import DEFAULT_MAX_PIXELS

    assert job.photo is not None
    max_pixels = limits.max_pixels if limits else DEFAULT_MAX_PIXELS
    # At most the planned size (a bigger file has changed anyway), whatever --max-file-mb was.
    limit = {"max_bytes": job.photo.size} if job.photo.size else {}
    photo = prepare_photo(job.photo.path, size, model.spec.min_size, max_pixels, **limit)
    if photo.sha256 != job.photo.sha256:
        raise RuntimeError(f"{job.photo.path} changed during the build; run it again")
    return photo


def run_dream(job: Job, model: Any, out_dir: Path, command: str) -> Sequence[Record]:
    from ..dream.jobs import dream_photo

    p: DreamPayload = job.payload
    photo = working_photo(job, model, p.recipe.size, p.limits)
    return dream_photo(
        model,
        photo,
        p.recipe,
        out_dir,
        preset=p.preset,
        seed=p.seed,
        command=command,
        frames=p.frames,
        max_memory=p.limits.max_memory if p.limits else None,
        map_size=p.map_size,
        # a job renders in a staging folder beside the finished ones (``cache.JobCache``)
        explained=(Path(out_dir).parent / job.reuse,) if job.reuse else (),
    )


def run_atlas_tile(job: Job, model: Any, out_dir: Path, command: str) -> Sequence[Record]:
    from ..dream.atlas import dream_tile

    p: AtlasPayload = job.payload
    photo = working_photo(job, model, p.recipe.size, p.limits)
    record = dream_tile(
        model, photo, p.layer, p.recipe, out_dir, preset=p.preset, seed=p.seed, command=command
    )
    return [record]


def run_zoom(job: Job, model: Any, out_dir: Path, command: str) -> Sequence[Record]:
    from ..dream.zoom import dream_zoom

    p: ZoomPayload = job.payload
    photo = working_photo(job, model, p.recipe.size, p.limits)
    return dream_zoom(
        model, photo, p.recipe, p.settings, out_dir, preset=p.preset, seed=p.seed, command=command
    )


def run_layer_dream(job: Job, model: Any, out_dir: Path, command: str) -> Sequence[Record]:
    from ..dream.jobs import dream_layers

    p: DreamPayload = job.payload
    return dream_layers(
        model,
        list(p.recipe.layers),
        p.recipe,
        out_dir,
        seed=p.seed,
        command=command,
        frames=p.frames,
    )


def run_class_dreams(job: Job, model: Any, out_dir: Path, command: str) -> Sequence[Record]:
    from ..classes import resolve_class
    from ..dream.jobs import dream_classes

    p: ClassPayload = job.payload
    classes = [resolve_class(str(i)) for i in p.classes]
    return dream_classes(model, classes, p.recipe, out_dir, seed=p.seed, command=command)


def run_explain(job: Job, model: Any, out_dir: Path, command: str) -> Sequence[Record]:
    from ..explain.jobs import explain_photo

    p: ExplainPayload = job.payload
    photo = working_photo(job, model, p.size, p.limits)
    return explain_photo(model, photo, p.settings, out_dir, command=command)


def run_accentuation(job: Job, model: Any, out_dir: Path, command: str) -> Sequence[Record]:
    from ..dream.accentuate import accentuate_photo

    p: AccentPayload = job.payload
    photo = working_photo(job, model, p.settings.size, p.limits)
    return accentuate_photo(
        model, photo, p.settings, out_dir, target=None, seed=p.seed, command=command
    )


def run_video_segment(job: Job, model: Any, out_dir: Path, command: str) -> Sequence[Record]:
    from ..video.gallery import run_segment

    return run_segment(job, model, out_dir, command)


RUNNERS = {
    "video-segment": run_video_segment,
    "dream": run_dream,
    "zoom": run_zoom,
    "layer-dream": run_layer_dream,
    "class-dream": run_class_dreams,
    "explain": run_explain,
    "accentuation": run_accentuation,
    "atlas-tile": run_atlas_tile,
}


def relocate(job: Job, where: Callable[[str], str]) -> Job:
    """The job with the pictures its recipe names (a guide, a photo to start from) at
    ``where(path)``: a cluster job carries their bytes, not the driver's paths."""
    from ..dream.recipe import BUILTIN_INITS, MASK_MODES

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


def load(name: str, device: str, weights: str | None) -> Any:
    from ..models import load_model

    return load_model(name, device, weights)


def weights_sha256(name: str, weights: Path | None) -> str:
    """The weights' sha256 from the file alone: no network is built for a cache check."""
    from ..imageio import sha256_file_cached as file_sha
    from ..models import get_spec, resolve_weights_file

    return file_sha(resolve_weights_file(get_spec(name), weights))


def device(name: str) -> str:
    from ..devices import resolve_device

    return str(resolve_device(name))


# Measured peaks per worker on EfficientNet-Lite0 (RSS, with ~0.75 GB of libraries and
# model): dream at 512 px ~1.0 GB, explanation at 256 px ~1.7 GB. Two explanations at once
# plus the main process would pass 4 GB; one explanation beside a dream stays near 3 GB.
HEAVY_KINDS = frozenset({"explain", "class-dream"})


def real_toolkit() -> Toolkit:
    return Toolkit(PLANNER, RUNNERS, load, weights_sha256, device, HEAVY_KINDS, relocate)
