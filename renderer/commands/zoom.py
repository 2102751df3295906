"""``renderer zoom``: infinite-zoom dream animations."""

from __future__ import annotations

from pathlib import Path

import click

from ..clikit import max_pixels_option, model_options
from ..dream.presets import DEFAULT_PRESET
from ..dream.zoom import ZoomSettings
from .dream import (
    build_recipe,
    dream_each_photo,
    guide_option,
    out_option,
    presets_file_option,
)

DEFAULTS = ZoomSettings()


@click.command()
@click.argument("photos", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--preset",
    "preset_name",
    default=DEFAULT_PRESET["photo"],
    show_default=True,
    help="Named recipe for the first frame's dream; see `renderer presets`.",
)
@presets_file_option
@click.option(
    "--frames", type=int, default=DEFAULTS.frames, show_default=True, help="Frames (2..600)."
)
@click.option(
    "--zoom",
    type=float,
    default=DEFAULTS.zoom,
    show_default=True,
    help="Zoom from one frame to the next, in (1, 2].",
)
@click.option(
    "--steps-per-frame",
    type=int,
    default=DEFAULTS.steps_per_frame,
    show_default=True,
    help="Dream steps after each zoom (1..100).",
)
@click.option(
    "--fps", type=int, default=DEFAULTS.fps, show_default=True, help="Playback rate (1..60)."
)
@click.option("--size", type=int, default=None, help="Long side in px (default: the preset's).")
@click.option(
    "--seed",
    type=int,
    default=0,
    show_default=True,
    help="Random seed: equal seeds give equal files; frame i uses seed + i.",
)
@out_option
@guide_option
@model_options
@max_pixels_option
@click.pass_context
def zoom(ctx: click.Context, photos: tuple[Path, ...], **params) -> None:
    """Infinite-zoom dreams: an animated WebP that keeps falling into each photo's dream.

    The first frame is the photo's dream (as `renderer dream` makes it); each next frame
    zooms into the centre of the last one and dreams a few more steps. Writes
    <out>/<photo-key>/zoom-<preset>.webp (looping), the working photo, JSON sidecars and
    manifest.json. A photo that cannot be used is reported and the batch goes on.

    \b
    Example:
      renderer zoom cat.jpg --out renders/
      renderer zoom photos/*.jpg -o renders/ --preset intense --frames 48 --zoom 1.04 --fps 24
    """
    from ..dream.zoom import dream_zoom

    settings = ZoomSettings(
        frames=params["frames"],
        zoom=params["zoom"],
        steps_per_frame=params["steps_per_frame"],
        fps=params["fps"],
    )
    name, recipe = build_recipe(
        "photo",
        params["preset_name"],
        params["presets_file"],
        size=params["size"],
        guide=params["guide"],
    )
    dream_each_photo(
        ctx,
        photos,
        recipe,
        params,
        "zoom",
        lambda model, photo, command: dream_zoom(
            model,
            photo,
            recipe,
            settings,
            params["out_dir"],
            preset=name,
            seed=params["seed"],
            command=command,
        ),
    )


COMMANDS = [zoom]
