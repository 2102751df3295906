"""``renderer gallery build`` and ``renderer gallery init``: the batch pipeline."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click
from tqdm import tqdm

from ..clikit import app_state, command_line, max_memory_option, progress
from ..devices import DEVICE_CHOICES
from ..errors import RecipeError
from ..imageio import write_text_atomic


@click.group()
def gallery() -> None:
    """Render a folder of photos and publish the gallery site.

    \b
    Example:
      renderer gallery build --photos ~/pictures
      renderer gallery init && renderer gallery build
    """


# Shared by `build` and `prune`: what decides the plan.
photos_option = click.option(
    "--photos",
    type=click.Path(path_type=Path),
    default=None,
    help="Folder of photos; each subfolder is an album. "
    "Default: the config's, else the sample photos.",
)
config_option = click.option(
    "--config",
    "config_file",
    type=click.Path(path_type=Path),
    default=None,
    help="A gallery.toml (default: ./gallery.toml when there is one).",
)
render_dir_option = click.option(
    "--render-dir",
    type=click.Path(path_type=Path),
    default=None,
    help="Where finished jobs are cached.  [default: renders/gallery]",
)
quick_option = click.option(
    "--quick",
    is_flag=True,
    default=None,
    help="A preview: small sizes, few steps, fewer LIME samples.",
)


def _check_photos(config) -> None:
    if config.photos is not None and not config.photos.is_dir():
        raise RecipeError(f"{config.photos}: no such folder of photos")


@gallery.command()
@photos_option
@config_option
@click.option(
    "--site",
    "--out",
    "site_dir",
    type=click.Path(path_type=Path),
    default=None,
    help="Where the site is published.  [default: gallery]",
)
@render_dir_option
@quick_option
@click.option(
    "--jobs",
    "-j",
    type=int,  # checked with the config's other settings: 0 or -1 is one line, not a usage
    default=None,
    help="CPU worker processes, sharing the cores' torch threads; more than the cores (or "
    "than the free memory holds, 1 GB each) run as many as fit, with a warning.  "
    "[default: one per core, at most 4]",
)
@click.option(
    "--cluster",
    metavar="ADDRESS",
    default=None,
    help="Run the jobs on a Dask cluster: a scheduler (tcp://HOST:8786), or local[:N] for "
    "N worker processes here. Needs the [cluster] extra.",
)
@click.option("--force", is_flag=True, help="Render every job again, even when cached.")
@click.option(
    "--dry-run",
    is_flag=True,
    help="List the jobs to render and to reuse, with the time they will take here; do nothing.",
)
@click.option(
    "--max-minutes",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Start no new job after this many minutes; publish what is done.",
)
@click.option(
    "--model",
    "-m",
    "models",
    multiple=True,
    help="Model name (repeatable); see `renderer models`.  [default: efficientnet_lite0]",
)
@click.option(
    "--weights",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="A local state dict to load instead of the cached or embedded weights.",
)
@click.option(
    "--device",
    type=click.Choice(DEVICE_CHOICES),
    default=None,
    help="Where to compute: auto picks CUDA, then MPS, then CPU.  [default: auto]",
)
@click.option("--seed", type=click.IntRange(min=0), default=None, help="Seed for every job.")
@click.option(
    "--size",
    default=None,
    metavar="auto|full|PX",
    help="Long side of photo dreams: auto (the photo's own, up to 2048 px), full (up to "
    "4096) or pixels; never enlarged. Pixels also set explanations and noise dreams.  "
    "[default: auto; the sample gallery: the presets' own]",
)
@click.option(
    "--max-pixels",
    type=click.IntRange(min=1),
    default=None,
    help="Refuse photos with more pixels than this (decompression-bomb guard).  "
    "[default: 100000000]",
)
@max_memory_option
@click.option("--title", default=None, help="The site's title.")
@click.option(
    "--flat",
    is_flag=True,
    default=None,
    help="One index for every photo: subfolders of the photos folder are not albums.",
)
@click.option(
    "--per-page",
    type=click.IntRange(1, 10_000),
    default=None,
    help="Photos on one index page at most.  [default: 48]",
)
@click.option(
    "--base-url",
    default=None,
    help="The site's address (https://...): absolute share previews and a sitemap.xml.",
)
@click.option(
    "--max-file-mb",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Skip photo files larger than this, unread.  [default: 200]",
)
@click.option(
    "--allow-empty",
    is_flag=True,
    default=None,
    help="Publish an empty gallery when the photos folder holds no photos.",
)
@click.pass_context
def build(
    ctx: click.Context,
    photos: Path | None,
    config_file: Path | None,
    site_dir: Path | None,
    render_dir: Path | None,
    quick: bool | None,
    jobs: int | None,
    cluster: str | None,
    force: bool,
    dry_run: bool,
    max_minutes: float | None,
    models: tuple[str, ...],
    weights: Path | None,
    device: str | None,
    seed: int | None,
    size: str | None,
    max_pixels: int | None,
    max_memory: float | None,
    title: str | None,
    flat: bool | None,
    per_page: int | None,
    base_url: str | None,
    max_file_mb: float | None,
    allow_empty: bool | None,
) -> None:
    """Render the photos (dreams, explanations, layer and class dreams) and publish the site.

    Finished jobs are cached by content: a rebuild renders only what changed, and a killed
    build resumes where it stopped. A photo that fails is named at the end and shown on the
    site as skipped; the exit status is then 2. Each subfolder of the photos folder is an
    album; only regular files up to --max-file-mb are read. A build never deletes cached
    jobs: `renderer gallery prune` does.

    \b
    Example:
      renderer gallery build                      # the sample gallery
      renderer gallery build --photos ~/pictures --jobs 2
      renderer gallery build --photos ~/pictures --flat --per-page 24
      renderer gallery build --quick --max-minutes 5
      renderer gallery build --photos ~/pictures --size full --dry-run
      renderer gallery build --cluster tcp://studio:8786
      renderer gallery build --dry-run
      renderer gallery build --photos ~/empty-album --allow-empty
    """
    from ..gallery import build_gallery, load_config

    config = load_config(
        config_file,
        {
            "photos": photos,
            "site_dir": site_dir,
            "render_dir": render_dir,
            "quick": quick,
            "jobs": jobs,
            "cluster": cluster,
            "max_minutes": max_minutes,
            "models": models or None,
            "weights": weights,
            "device": device,
            "seed": seed,
            "size": size,
            "max_pixels": max_pixels,
            "max_memory": max_memory,
            "title": title,
            "albums": None if flat is None else not flat,
            "per_page": per_page,
            "base_url": base_url,
            "max_file_mb": max_file_mb,
            "allow_empty": allow_empty,
        },
    )
    _check_photos(config)
    quiet = app_state().quiet

    def log(text: str) -> None:
        if not quiet:  # above the progress bar, which stays at the bottom
            tqdm.write(text, file=sys.stderr)

    result = build_gallery(
        config,
        force=force,
        dry_run=dry_run,
        command=command_line(ctx),
        progress=progress,
        log=log,
    )
    if dry_run:
        render = [job for job, reused in result.dry_run if not reused]
        for job, reused in result.dry_run:
            click.echo(f"{'reuse ' if reused else 'render'}  {job.label}  ({job.key[:12]})")
        for problem in result.plan.problems:
            click.echo(f"skip    {problem.path}: {problem.reason}")
        click.echo(
            f"{len(result.dry_run)} jobs: {len(render)} to render, "
            f"{len(result.dry_run) - len(render)} to reuse"
        )
        if render:
            for line in _estimate(config, render):
                click.echo(line)
        return
    for line in result.summary():
        click.echo(line, err=True)
    if result.site_problem:
        click.echo(f"site: {result.site_problem}", err=True)
    elif result.site is not None and hasattr(result.site, "summary"):
        log(f"site: {result.site.summary()}")
    elif not result.site_rebuilt:
        log("site: unchanged")
    index = (result.index or config.site_dir / "index.html").resolve()
    click.echo(f"gallery: {index}")
    click.echo(
        f"serve it: make serve   (or: renderer site serve {config.site_dir}; "
        f"or open file://{index})"
    )
    sys.stdout.flush()
    ctx.exit(result.exit_code)


def _estimate(config: Any, jobs: list) -> list[str]:
    """The time the jobs to render will take here (a probe step on the gallery's model)."""
    from ..devices import resolve_device
    from ..gallery.build import worker_count
    from ..gallery.estimate import estimate_lines, known_jobs
    from ..models import load_model

    jobs = known_jobs(jobs)
    if not jobs:
        return []
    device = resolve_device(config.device)
    model = load_model(config.model, device, config.weights)
    return estimate_lines(jobs, model, worker_count(config.jobs, str(device)))


@gallery.command()
@photos_option
@config_option
@render_dir_option
@quick_option
@click.option("--yes", is_flag=True, help="Delete them; without it, only list them.")
def prune(
    photos: Path | None,
    config_file: Path | None,
    render_dir: Path | None,
    quick: bool | None,
    yes: bool,
) -> None:
    """List (or, with --yes, delete) the cached jobs that the current settings no longer use.

    A build never deletes cached jobs, so a photos folder that is empty for a moment (a
    drive not mounted) costs nothing. Jobs of photos that are gone or changed, and of
    settings no longer used, stay until you prune them; give the same settings (config,
    --photos, --quick) as your build.

    \b
    Example:
      renderer gallery prune              # what would go, and how much space it frees
      renderer gallery prune --yes
    """
    from ..gallery import load_config
    from ..gallery.prune import prune_jobs

    config = load_config(config_file, {"photos": photos, "render_dir": render_dir, "quick": quick})
    _check_photos(config)
    removed, freed = prune_jobs(config, delete=yes)
    for label, size in removed:
        click.echo(f"{'deleted' if yes else 'unused '}  {label}  ({size / 1e6:.1f} MB)")
    verb = "deleted" if yes else "to delete (run again with --yes)"
    click.echo(f"{len(removed)} cached jobs {verb}: {freed / 1e6:.1f} MB")


@gallery.command()
@click.argument(
    "path", type=click.Path(dir_okay=False, path_type=Path), default=Path("gallery.toml")
)
@click.option("--force", is_flag=True, help="Overwrite an existing file.")
def init(path: Path, force: bool) -> None:
    """Write a commented gallery.toml to edit: photos, presets, layers, classes, sizes.

    \b
    Example:
      renderer gallery init
      renderer gallery init my-gallery/gallery.toml
    """
    from ..gallery.config import config_template, read_config_file

    if path.exists() and not force:
        raise RecipeError(f"{path} exists; pass --force to overwrite it")
    write_text_atomic(path, config_template())
    read_config_file(path)  # the template must always parse
    click.echo(f"wrote {path}; edit it, then run: renderer gallery build --config {path}")


COMMANDS = [gallery]
