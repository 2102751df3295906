"""``renderer video``: dream clips frame by frame, without flicker, keeping their sound."""

from __future__ import annotations

from pathlib import Path

import click

from ..clikit import command_line, model_options, open_model, run_batch
from .dream import build_recipe, out_option, presets_file_option


@click.command("video")
@click.argument("clips", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--preset", "preset_name", default=None, help="Named recipe; see `renderer presets`.")
@presets_file_option
@click.option(
    "--size", type=int, default=None, help="Short side of the dream in px.  [default: 512]"
)
@click.option("--quick", is_flag=True, help="A quick look: short side 256 px.")
@click.option(
    "--max-seconds",
    type=float,
    default=None,
    help="Longer clips are cut to their first this many seconds.  [default: 30]",
)
@click.option(
    "--fps",
    type=float,
    default=None,
    help="Frames per second of the dream (0 = the source's, at most 30).  [default: 0]",
)
@click.option(
    "--refine-steps",
    type=int,
    default=None,
    help="Steps per fine octave of each frame after the first.  [default: 2]",
)
@click.option(
    "--segment-seconds",
    type=float,
    default=None,
    help="Dream in segments of about this long, each from its own first frame, cross-faded "
    "where they overlap (as the gallery's jobs do); 0 = one chain.  [default: 0]",
)
@click.option(
    "--seed", type=int, default=0, show_default=True, help="Equal seeds give equal frames."
)
@click.option(
    "--gradcam",
    is_flag=True,
    help="Also a Grad-CAM video: where the network finds the first frame's top class.",
)
@click.option("--dry-run", is_flag=True, help="Check the clips and estimate each one's time.")
@out_option
@model_options
@click.pass_context
def video(ctx: click.Context, clips: tuple[Path, ...], **params) -> None:
    """Dream your clips: each frame continues the last one's dream, warped by optical flow.

    Writes <out>/<clip-key>/dream-<preset>.mp4 (H.264 + AAC) and .webm (VP9 + Opus) with
    the clip's sound, a poster frame of each, the working source.mp4, JSON sidecars and
    manifest.json. A clip that cannot be used is reported and the batch goes on (exit 2).

    \b
    Example:
      renderer video beach.mov --preset classic --out renders/
      renderer video clips/*.mp4 -o renders/ --quick --max-seconds 10
    """
    from ..video.jobs import dream_clip, explain_clip, prepare_clip
    from ..video.settings import QUICK_SIZE, VideoSettings

    name, recipe = build_recipe("photo", params["preset_name"], params["presets_file"])
    size = params["size"] or (QUICK_SIZE if params["quick"] else None)
    values = {
        "size": size,
        "max_seconds": params["max_seconds"],
        "fps": params["fps"],
        "refine_steps": params["refine_steps"],
        "segment_seconds": params["segment_seconds"],
    }
    settings = VideoSettings(**{k: v for k, v in values.items() if v is not None})
    if params["dry_run"]:
        ctx.exit(run_batch(clips, lambda path: _estimate(path, recipe, settings), desc="clips"))
    model = open_model(params["model"], params["device"], params["weights"])
    from ..dream.objectives import resolve_terms

    resolve_terms(model, recipe.terms)

    def one(path: Path) -> None:
        clip = prepare_clip(path, settings)
        dream_clip(
            model,
            clip,
            recipe,
            settings,
            params["out_dir"],
            preset=name,
            seed=params["seed"],
            command=command_line(ctx, clips=[str(path)]),
        )
        if params["gradcam"]:
            explain_clip(
                model, clip, params["out_dir"], command=command_line(ctx, clips=[str(path)])
            )

    ctx.exit(run_batch(clips, one, desc="clips"))


def _estimate(path: Path, recipe, settings) -> None:
    from ..video.estimate import estimate_clip

    click.echo(estimate_clip(path, recipe, settings))


COMMANDS = [video]
