"""``renderer dream``, ``layer-dream``, ``class-dream`` and ``presets``."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import click

from ..classes import resolve_class
from ..clikit import (
    command_line,
    gigabytes,
    max_memory_option,
    max_pixels_option,
    model_options,
    open_model,
    run_batch,
    stacked,
)
from ..dream.presets import DEFAULT_PRESET, Preset, get_preset, load_presets
from ..dream.recipe import BLUR_MODES, GRAD_NORMS, PARAMS, DreamRecipe, parse_target
from ..errors import BadInputError, RecipeError
from ..imageio import load_photo
from ..photos import WorkingPhoto, prepare_photo
from ..provenance import dumps

if TYPE_CHECKING:
    from ..models import LoadedModel

ESSAY_CLASSES = (1, 33, 77, 207, 254, 761, 771, 783, 817, 883, 963)

LAYER_HELP = (
    "Target layer (repeatable). NAME for the whole layer, NAME:CHANNEL for one channel "
    "(an integer, e.g. blocks.5:17), NAME:WEIGHT for a weighted layer (a number with a "
    "decimal point, e.g. blocks.5:0.5), NAME:CHANNEL:WEIGHT for both. See `renderer layers`."
)


presets_file_option = click.option(
    "--presets",
    "presets_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="A TOML file of your own presets (same format as the shipped presets.toml).",
)
out_option = click.option(
    "--out",
    "-o",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Output (render) directory.",
)


# The crop transform and magnitude template of ``--param maco``.
MACO_OPTIONS = [
    click.option("--crops", type=int, default=None, help="MaCo: random crops per step."),
    click.option(
        "--crop-min",
        type=float,
        default=None,
        help="MaCo: smallest crop side, as a fraction of the image's, in (0, 1].",
    ),
    click.option(
        "--crop-max", type=float, default=None, help="MaCo: largest crop side, in (0, 1]."
    ),
    click.option(
        "--crop-spread",
        type=float,
        default=None,
        help="MaCo: spread of crop centres around the middle (0 = uniform).",
    ),
    click.option(
        "--crop-px",
        type=int,
        default=None,
        help="MaCo: px the crops are resampled to (0 = the model's input size).",
    ),
    click.option("--noise", type=float, default=None, help="MaCo: noise added to each crop."),
    click.option(
        "--starts",
        type=int,
        default=None,
        help="MaCo: random starts per dream; the best on random views goes on (1 = one).",
    ),
    click.option(
        "--refine-steps",
        type=int,
        default=None,
        help="MaCo: steps of each octave after the first (0 = --steps).",
    ),
    click.option(
        "--refine-crop-min",
        type=float,
        default=None,
        help="MaCo: smallest crop of the octaves after the first (0 = --crop-min).",
    ),
    click.option(
        "--template",
        default=None,
        help="MaCo magnitude: average (the shipped mean of photos), power-law, or a .npy.",
    ),
]

# The recipe values; each overrides the preset's only when given.
RECIPE_OPTIONS = [
    click.option(
        "--preset",
        "preset_name",
        default=None,
        help="Named recipe; see `renderer presets`.",
    ),
    presets_file_option,
    click.option(
        "--octaves",
        type=int,
        default=None,
        help="Pyramid levels (the essay's pyramid_levels).",
    ),
    click.option(
        "--octave-scale",
        type=float,
        default=None,
        help="Size ratio between octaves (the essay's growth_rate).",
    ),
    click.option("--steps", type=int, default=None, help="Gradient-ascent steps per octave."),
    click.option(
        "--lr",
        type=float,
        default=None,
        help="Step size, in [0, 1] pixel units per normalized step.",
    ),
    click.option("--blur-sigma", type=float, default=None, help="Gaussian sigma (0 = off)."),
    click.option(
        "--blur-mode",
        type=click.Choice(BLUR_MODES),
        default=None,
        help="Blur the image each step (the essay), or smooth the gradient at 3 sigmas.",
    ),
    click.option(
        "--jitter",
        type=int,
        default=None,
        help="Random roll in px each step; the gradient is rolled back.",
    ),
    click.option(
        "--grad-norm",
        type=click.Choice(GRAD_NORMS),
        default=None,
        help="Gradient normalization: (g-mean)/std, g/mean|g|, or Laplacian-pyramid.",
    ),
    click.option(
        "--scale-jitter",
        type=float,
        default=None,
        help="Random rescale by up to this fraction each step.",
    ),
    click.option("--size", type=int, default=None, help="Long side of the dream in px."),
    click.option(
        "--tile",
        type=int,
        default=None,
        help="Tile size in px for large photos (0 = automatic: tiles only when a "
        "step would not fit the memory budget).",
    ),
    click.option(
        "--stretch",
        type=float,
        default=None,
        help="Stretch levels so this percent of values clip at each end (0 = off).",
    ),
    click.option(
        "--seed",
        type=int,
        default=0,
        show_default=True,
        help="Random seed: equal seeds give equal PNGs.",
    ),
    click.option(
        "--frames",
        is_flag=True,
        help="Also write one frame per octave (a progression strip).",
    ),
    out_option,
]

# The recipe values of dreams from noise (layer and class dreams).
NOISE_OPTIONS = [
    click.option(
        "--param",
        type=click.Choice(PARAMS),
        default=None,
        help="pixel, fft (FFT spectrum + decorrelated colour, as lucent), or maco "
        "(natural images' Fourier magnitude fixed, the phase optimized on crops).",
    ),
    click.option("--init", default=None, help="Start image: noise, gray, or a PHOTO path."),
    *MACO_OPTIONS,
]


def recipe_options(noise: bool) -> Callable:
    """The recipe's flags; with ``noise``, those of dreams from noise as well."""
    return stacked(RECIPE_OPTIONS + (NOISE_OPTIONS if noise else []))


def dream_each_photo(
    ctx: click.Context,
    photos: tuple[Path, ...],
    recipe: DreamRecipe,
    params: dict,
    desc: str,
    job: Callable[[LoadedModel, WorkingPhoto, str], object],
) -> None:
    """Load the model, check the recipe's layers once, then run ``job(model, photo, command)``
    on each photo at the recipe's size; a bad photo is reported and the batch goes on."""
    from ..dream.objectives import resolve_terms

    model = open_model(params["model"], params["device"], params["weights"])
    resolve_terms(model, recipe.terms)

    def one(path: Path) -> None:
        photo = prepare_photo(path, recipe.size, model.spec.min_size, params["max_pixels"])
        job(model, photo, command_line(ctx, photos=[str(path)]))

    ctx.exit(run_batch(photos, one, desc=desc))


guide_option = click.option(
    "--guide",
    default=None,
    metavar="PICTURE",
    help="Dream towards this picture: each part of the dream grows the guide's features it "
    "already resembles most (google/deepdream's guided dreams).",
)


# ``--mask MODE`` and how it acts; the values are recipe fields (a preset may set them).
MASK_OPTIONS = [
    click.option(
        "--mask",
        default=None,
        metavar="MODE",
        help="Where the dream grows: subject (what Grad-CAM sees for the top class), "
        "background (the rest), lime (LIME's top superpixels) or FILE.png (white dreams, "
        "black stays; resized to the photo).",
    ),
    click.option(
        "--mask-feather",
        type=float,
        default=None,
        metavar="PX",
        help="Width of the mask's soft edge in px (default 16; 0 = hard).",
    ),
    click.option(
        "--mask-invert",
        is_flag=True,
        default=None,
        help="Swap where the mask dreams and where the photo stays.",
    ),
    click.option(
        "--mask-threshold",
        type=float,
        default=None,
        help="subject/background: the share of the Grad-CAM range that is the subject "
        "(default 0.4; the Grad-CAM paper localizes at 0.15).",
    ),
    click.option(
        "--target",
        default=None,
        metavar="CLASS",
        help="subject/background/lime: the class whose map places the mask (index or "
        "name; default: the photo's top class).",
    ),
]
mask_options = stacked(MASK_OPTIONS)


def mask_values(params: dict) -> dict:
    """The mask's recipe values from the flags, each checked before any work."""
    from ..dream.mask import check_mask

    values: dict = {}
    target = params.pop("target")
    if params.get("mask") is not None:
        params["mask"] = check_mask(params["mask"])
    if target is not None:
        if params.get("mask") not in ("subject", "background", "lime"):
            raise click.UsageError("--target places a subject, background or lime --mask")
        values["mask_class"] = resolve_class(target).index
    feather = params.get("mask_feather")
    if feather is not None and feather < 0:
        raise RecipeError(f"--mask-feather must be >= 0 px, got {feather:g}")
    return values


def build_recipe(
    kind: str, preset_name: str | None, presets_file: Path | None, **values
) -> tuple[str, DreamRecipe]:
    name = preset_name or DEFAULT_PRESET[kind]
    recipe = get_preset(name, presets_file).recipe.replace(**values)
    if recipe.guide:
        try:
            load_photo(recipe.guide)
        except BadInputError as exc:
            raise RecipeError(f"guide {exc}") from None
    return name, recipe


# Every recipe value that has a flag of its own; ``--layer`` is handled by each command.
_RECIPE_KEYS = tuple(f.name for f in dataclasses.fields(DreamRecipe))


def _split(params: dict) -> dict:
    return {k: params.pop(k) for k in _RECIPE_KEYS if k in params}


@click.command()
@click.argument("photos", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--layer",
    "-l",
    "layers",
    multiple=True,
    help=LAYER_HELP + " All are combined into one objective.",
)
@recipe_options(noise=False)
@guide_option
@mask_options
@model_options
@max_pixels_option
@max_memory_option
@click.pass_context
def dream(ctx: click.Context, photos: tuple[Path, ...], layers: tuple[str, ...], **params) -> None:
    """DeepDream on your photos: multiscale gradient ascent with detail re-injection.

    Writes <out>/<photo-key>/dream-<preset>.png, the working photo, JSON sidecars and
    manifest.json. A photo that cannot be used is reported and the batch goes on.

    \b
    Example:
      renderer dream cat.jpg --out renders/ --preset classic
      renderer dream photos/*.jpg -o renders/ --layer blocks.4 --layer blocks.5:0.5 --lr 0.03
      renderer dream cat.jpg -o renders/ --guide flowers.jpg
      renderer dream big-photo.jpg -o renders/ --size 2048 --max-memory 1.5
      renderer dream cat.jpg -o renders/ --mask background
      renderer dream cat.jpg -o renders/ --mask subject --target "tiger cat" --mask-feather 24
      renderer dream cat.jpg -o renders/ --mask cat.mask.png
    """
    from ..dream.jobs import dream_photo

    masks = mask_values(params)
    values = {**_split(params), **masks}
    if layers:
        values["layers"] = tuple(layers)
    name, recipe = build_recipe(
        "photo", params.pop("preset_name"), params.pop("presets_file"), **values
    )
    dream_each_photo(
        ctx,
        photos,
        recipe,
        params,
        "dream",
        lambda model, photo, command: dream_photo(
            model,
            photo,
            recipe,
            params["out_dir"],
            preset=name,
            seed=params["seed"],
            command=command,
            frames=params["frames"],
            max_memory=gigabytes(params["max_memory"]),
            explained=(params["out_dir"],),  # a raw explanation there gives the mask's map
        ),
    )


@click.command("layer-dream")
@click.option(
    "--layer", "-l", "layers", multiple=True, help=LAYER_HELP + " Default: the preset's layers."
)
@click.option("--combine", is_flag=True, help="One dream with all --layer terms in one objective.")
@recipe_options(noise=True)
@guide_option
@model_options
@click.pass_context
def layer_dream(ctx: click.Context, layers: tuple[str, ...], combine: bool, **params) -> None:
    """Dream what whole layers (or channels) respond to, from noise: one image per --layer.

    Writes <out>/layer-dreams/<layer>.png with sidecars and manifest.json. The default
    preset, layer-maco, is MaCo at 1024 px; --preset layer is the 256 px FFT recipe.

    \b
    Example:
      renderer layer-dream --layer blocks.2 --layer blocks.4 --layer blocks.6 -o renders/
      renderer layer-dream --preset layer --layer blocks.5:17 --steps 20 -o renders/
      renderer layer-dream --layer blocks.4 --layer blocks.5:0.5 --combine -o renders/
    """
    from ..dream.jobs import dream_layers

    values = _split(params)
    _name, recipe = build_recipe(
        "layer", params.pop("preset_name"), params.pop("presets_file"), **values
    )
    targets = list(layers) or list(recipe.layers)
    for target in targets:
        parse_target(target)
    if combine:
        targets = ["+".join(targets)]
    model = open_model(params["model"], params["device"], params["weights"])
    dream_layers(
        model,
        targets,
        recipe,
        params["out_dir"],
        seed=params["seed"],
        command=command_line(ctx),
        frames=params["frames"],
    )


@click.command("class-dream")
@click.option(
    "--class",
    "-c",
    "classes",
    multiple=True,
    help="ImageNet class index or name (repeatable). Default: the essay's 11 classes.",
)
@recipe_options(noise=True)
@model_options
@click.pass_context
def class_dream(ctx: click.Context, classes: tuple[str, ...], **params) -> None:
    """Dream an ImageNet class from noise by raising its logit; all classes in one batch.

    Writes <out>/class-dreams/class-<index>-<name>.png with sidecars and manifest.json.
    With no --class it renders the essay's classes 1, 33, 77, 207, 254, 761, 771, 783,
    817, 883 and 963. The default preset, class, is MaCo at 1024 px (about 8 minutes for
    the 11 on a 2-core CPU); --preset class-fast is the 224 px FFT recipe (seconds).

    \b
    Example:
      renderer class-dream -o renders/
      renderer class-dream --class 207 --class "sports car" --size 320 -o renders/
    """
    from ..dream.jobs import dream_classes

    values = _split(params)
    _name, recipe = build_recipe(
        "class", params.pop("preset_name"), params.pop("presets_file"), **values
    )
    wanted = [resolve_class(c) for c in (classes or [str(i) for i in ESSAY_CLASSES])]
    model = open_model(params["model"], params["device"], params["weights"])
    dream_classes(
        model,
        wanted,
        recipe,
        params["out_dir"],
        seed=params["seed"],
        command=command_line(ctx),
        frames=params["frames"],
    )


def _preset_row(preset: Preset) -> dict:
    return {
        "name": preset.name,
        "kind": preset.kind,
        "description": preset.description,
        **preset.recipe.to_params(),
    }


@click.command("presets")
@click.option(
    "--presets",
    "presets_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Also list the presets of this TOML file.",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def presets(presets_file: Path | None, as_json: bool) -> None:
    """List the dream presets with all their values.

    \b
    Example:
      renderer presets
      renderer presets --presets my-presets.toml --json
    """
    rows = [_preset_row(p) for p in load_presets(presets_file).values()]
    if as_json:
        click.echo(dumps(rows), nl=False)
        return
    for row in rows:
        click.echo(f"{row['name']} ({row['kind']}): {row['description']}")
        values = {k: v for k, v in row.items() if k not in ("name", "kind", "description")}
        click.echo("    " + ", ".join(f"{k}={v}" for k, v in values.items()))


COMMANDS = [dream, layer_dream, class_dream, presets]
