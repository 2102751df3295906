"""``renderer explain``: Grad-CAM, Guided Backprop, Guided Grad-CAM, LIME and robustness panels."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from ..classes import resolve_class
from ..clikit import (
    UserError,
    command_line,
    max_pixels_option,
    model_options,
    open_model,
    run_batch,
    settings_from,
)
from ..errors import RendererError
from ..explain.jobs import default_layer, explain_photo
from ..explain.sampling import SAMPLINGS
from ..explain.settings import COLORMAPS, HIDES, ExplainSettings
from ..photos import prepare_photo

DEFAULT_SIZE = 320
_D = ExplainSettings()  # every option's default


@click.command()
@click.argument("photos", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--out",
    "-o",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Render directory: panels, sidecars and manifest.json go here.",
)
@model_options
@click.option(
    "--methods",
    default=",".join(_D.methods),
    show_default=True,
    help="Comma-separated: gradcam, gradcam++, guided-backprop, guided-gradcam, "
    "lime, robustness, or all (the default set: all but gradcam++).",
)
@click.option(
    "--target",
    default=_D.target,
    help="ImageNet class index or name to explain (default: the top-1 prediction).",
)
@click.option(
    "--layer",
    default=_D.layer,
    help="Grad-CAM layer (default: the model's; see `renderer layers`).",
)
@click.option(
    "--size",
    type=click.IntRange(min=32),
    default=DEFAULT_SIZE,
    show_default=True,
    help="Working size: the photo's long side in pixels (never enlarged).",
)
@click.option(
    "--seed",
    type=click.IntRange(min=0),
    default=_D.seed,
    show_default=True,
    help="Seed for LIME's samples and the robustness noise.",
)
@click.option(
    "--raw",
    is_flag=True,
    help="Also write the Grad-CAM map (.npy) and LIME segments and weights (.npz).",
)
@click.option(
    "--alpha",
    type=click.FloatRange(0, 1),
    default=_D.alpha,
    show_default=True,
    help="Opacity of the heatmap over the photo.",
)
@click.option("--colormap", type=click.Choice(COLORMAPS), default=_D.colormap, show_default=True)
@click.option(
    "--lime-samples",
    type=click.IntRange(min=2),
    default=_D.lime_samples,
    help="Exactly this many LIME samples (default: adaptive, stopping when the top 5 settles).",
)
@click.option(
    "--lime-stability",
    type=click.FloatRange(0, 1, min_open=True),
    default=_D.lime_stability,
    show_default=True,
    help="Adaptive LIME stops once this share of 100 bootstrap refits keep at least 4 of "
    "its top 5 superpixels (0.97: 97 of 100; on the bench the share is calibrated: it is "
    "about how often the top 5 keeps 4 of the answer LIME converges to).",
)
@click.option(
    "--lime-min-samples",
    type=click.IntRange(min=2),
    default=_D.lime_min_samples,
    show_default=True,
    help="Adaptive LIME's floor: it never stops before this many samples.",
)
@click.option(
    "--lime-max-samples",
    type=click.IntRange(min=2),
    default=_D.lime_max_samples,
    show_default=True,
    help="Adaptive LIME's cap: it stops here even when its top 5 is not settled.",
)
@click.option(
    "--lime-sampling",
    type=click.Choice(SAMPLINGS),
    default=_D.lime_sampling,
    show_default=True,
    help="Masks: antithetic pairs (each with its complement), i.i.d. bernoulli (the essay's "
    "and lime's), stratified counts of hidden superpixels, or sobol (quasi-random).",
)
@click.option(
    "--lime-p",
    type=float,
    default=_D.lime_p,
    show_default=True,
    help="Probability that a superpixel stays visible in a sample.",
)
@click.option(
    "--lime-hide",
    type=click.Choice(HIDES),
    default=_D.lime_hide,
    show_default=True,
    help="Hidden superpixels: black (the essay's) or their mean colour (lime's).",
)
@click.option(
    "--lime-kernel",
    type=float,
    default=_D.lime_kernel,
    show_default=True,
    help="Kernel width w of sqrt(exp(-d²/w²)) on the cosine distance, in (0, 1].",
)
@click.option(
    "--lime-segments",
    default=_D.lime_segments,
    show_default=True,
    help="quickshift:KERNEL,MAX_DIST,RATIO or slic:N_SEGMENTS,COMPACTNESS.",
)
@click.option(
    "--lime-batch",
    type=click.IntRange(min=1),
    default=_D.lime_batch,
    show_default=True,
    help="Perturbed images per model call (8 is fastest on a CPU; a GPU likes 64 or more).",
)
@click.option(
    "--sanity", is_flag=True, help="Add a model-randomization sanity check to the Grad-CAM records."
)
@max_pixels_option
@click.pass_context
def explain(
    ctx: click.Context,
    photos: tuple[Path, ...],
    out: Path,
    model: str,
    weights: Path | None,
    device: str,
    size: int,
    max_pixels: int,
    **options: Any,
) -> None:
    """Explain what the model sees in each photo: heatmaps, LIME superpixels, robustness.

    Per photo it writes <key>/explain-<method>.png panels with legends, a JSON sidecar each
    and the manifest entries (target class and probability, layer, every parameter, surrogate
    R² and deletion/insertion AUCs). A photo that cannot be read is reported and skipped.

    \b
    Example:
      renderer explain cat.jpg coffee.jpg --out renders
      renderer explain cat.jpg --out renders --methods gradcam,lime --target "tiger cat"
      renderer explain cat.jpg --out renders --layer blocks.5 --raw --lime-samples 500
      renderer explain cat.jpg --out renders --methods lime --lime-stability 0.95
    """
    try:
        settings = settings_from(ExplainSettings, options)
        loaded = open_model(model, device, weights)
        default_layer(loaded, settings.layer)  # a wrong layer or class fails once, up front
        if settings.target:
            resolve_class(settings.target)
    except RendererError as exc:
        raise UserError(str(exc)) from None

    def one(path: Path) -> None:
        photo = prepare_photo(path, size, loaded.spec.min_size, max_pixels)
        explain_photo(loaded, photo, settings, out, command=command_line(ctx, photos=[str(path)]))

    ctx.exit(run_batch(photos, one, desc="explain"))


COMMANDS = [explain]
