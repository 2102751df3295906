"""``renderer atlas``: one photo dreamt at every dreamable layer of a model."""

from __future__ import annotations

from pathlib import Path

import click

from ..clikit import command_line, model_options, open_model


@click.command()
@click.argument("photo", type=click.Path(path_type=Path))
@click.option(
    "--out",
    "-o",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Output directory: atlas.html and the tiles under atlas/.",
)
@click.option(
    "--preset",
    "preset_name",
    default="classic",
    show_default=True,
    help="The photo preset every tile uses (at 256 px, at most 3 octaves).",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Random seed.")
@model_options
@click.pass_context
def atlas(ctx: click.Context, photo: Path, out_dir: Path, preset_name: str, seed: int, **params):
    """Dream one photo at every dreamable layer of a model, shallow to deep.

    Writes <out>/atlas.html (a grid: each tile with its layer, its shape and the
    gallery.toml line for that look, linked to its full size), the tiles under
    <out>/atlas/<photo-key>/, their sidecars and manifest.json. Lite0 has 7 blocks; VGG16
    its 13 convolutions. A tile is 256 px with at most 3 octaves, about a tenth of a dream.

    \b
    Example:
      renderer atlas cat.jpg --out renders/atlas
      renderer atlas cat.jpg --out renders/atlas-vgg --model vgg16 --preset subtle
    """
    from ..dream.atlas import atlas_photo, model_atlas_layers
    from ..dream.presets import get_preset

    layers = model_atlas_layers(params["model"])  # before any work: a model without any fails
    base = get_preset(preset_name).recipe
    model = open_model(params["model"], params["device"], params["weights"])
    records = atlas_photo(
        model, photo, out_dir, seed=seed, command=command_line(ctx), preset=preset_name, base=base
    )
    click.echo(f"{len(records)} tiles ({len(layers)} layers) -> {out_dir / 'atlas.html'}")


COMMANDS = [atlas]
