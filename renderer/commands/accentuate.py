"""``renderer accentuate``: feature accentuation of photos (Hamblin et al. 2024)."""

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
from ..dream.accentuate import AccentSettings, accentuate_photo
from ..errors import RendererError
from ..photos import prepare_photo
from .dream import out_option

_D = AccentSettings()


@click.command()
@click.argument("photos", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--class",
    "-c",
    "target",
    default=None,
    help="ImageNet class index or name to accentuate (default: the photo's top-1).",
)
@out_option
@click.option("--steps", type=int, default=_D.steps, show_default=True, help="NAdam steps.")
@click.option("--lr", type=float, default=_D.lr, show_default=True, help="Step on the phase.")
@click.option("--crops", type=int, default=_D.crops, show_default=True, help="Crops per step.")
@click.option("--crop-min", type=float, default=_D.crop_min, show_default=True)
@click.option("--crop-max", type=float, default=_D.crop_max, show_default=True)
@click.option(
    "--layer",
    default=_D.layer,
    show_default=True,
    help="The layer whose features are kept close to the photo's.",
)
@click.option(
    "--penalty",
    type=float,
    default=_D.penalty,
    show_default=True,
    help="Weight of that closeness against the class logit (higher: closer to the photo).",
)
@click.option(
    "--size", type=int, default=_D.size, show_default=True, help="Working long side in px."
)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the crops.")
@model_options
@max_pixels_option
@click.pass_context
def accentuate(
    ctx: click.Context,
    photos: tuple[Path, ...],
    target: str | None,
    out_dir: Path,
    model: str,
    weights: Path | None,
    device: str,
    max_pixels: int,
    seed: int,
    **options: Any,
) -> None:
    """Accentuate a class in your photos: what the network would need to see more of.

    The photo's own Fourier phase climbs the class's logit on random crops while its
    features at --layer stay close to the photo's. Writes <key>/accentuated-<class>.png, its
    transparency view (-attribution.png), sidecars and manifest entries; the caption gives
    the class probability before and after and the likeness (SSIM) to the photo.

    \b
    Example:
      renderer accentuate cat.jpg --out renders
      renderer accentuate cat.jpg coffee.jpg --class "tiger cat" --steps 48 --out renders
    """
    try:
        settings = settings_from(AccentSettings, options)
        if target:
            resolve_class(target)
        loaded = open_model(model, device, weights)
        from ..models import resolve_layer

        settings = AccentSettings(
            **{**settings.to_params(), "layer": resolve_layer(loaded.name, settings.layer)}
        )
    except RendererError as exc:
        raise UserError(str(exc)) from None

    def one(path: Path) -> None:
        photo = prepare_photo(path, settings.size, loaded.spec.min_size, max_pixels)
        accentuate_photo(
            loaded,
            photo,
            settings,
            out_dir,
            target=target,
            seed=seed,
            command=command_line(ctx, photos=[str(path)]),
        )

    ctx.exit(run_batch(photos, one, desc="accentuate"))


COMMANDS = [accentuate]
