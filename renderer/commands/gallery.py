"""``renderer gallery build`` and ``renderer gallery init``: the batch pipeline."""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from tqdm import tqdm

from ..clikit import app_state, command_line, progress, stacked
from ..errors import RecipeError
from ..gallery.config import SETTINGS, flag_overrides, flag_settings
from ..imageio import write_text_atomic

if TYPE_CHECKING:
    from ..gallery import BuildResult, GalleryConfig


@click.group()
def gallery() -> None:
    """Render a folder of photos and publish the gallery site.

    \b
    Example:
      renderer gallery build --photos ~/pictures
      renderer gallery init && renderer gallery build
    """


config_option = click.option(
    "--config",
    "config_file",
    type=click.Path(path_type=Path),
    default=None,
    help="A gallery.toml (default: ./gallery.toml when there is one).",
)


def setting_options(
    *fields: str, after: Mapping[str, list[Callable]] | None = None
) -> Callable[[Callable], Callable]:
    """The flags of the ``gallery.toml`` settings (those of ``fields``, else all), from
    their one declaration on ``GalleryConfig``, with the command's own options ``after``
    the setting named; ``flag_overrides`` reads the settings back."""
    options: list[Callable] = []
    for s in flag_settings(*fields):
        if s.flag:
            options.append(
                click.option(
                    *s.flag.decls, s.flag.name or s.field, **s.flag.option_kwargs(s.default)
                )
            )
            options += (after or {}).get(s.field, [])
    return stacked(options)


def _check_photos(config: GalleryConfig) -> None:
    if config.photos is not None and not config.photos.is_dir():
        raise RecipeError(f"{config.photos}: no such folder of photos")


force_option = click.option(
    "--force", is_flag=True, help="Render every job again, even when cached."
)
dry_run_option = click.option(
    "--dry-run",
    is_flag=True,
    help="List the jobs to render and to reuse, with the time they will take here; do nothing.",
)


def file_only_settings() -> str:
    """``gallery build --help``'s last paragraph: the settings that have no flag, by their
    ``gallery.toml`` names, from the same declarations as the flags."""
    labels = ", ".join(s.label for s in SETTINGS if s.flag is None)
    return f"Settings only in gallery.toml (renderer gallery init writes one): {labels}."


@gallery.command(epilog=file_only_settings())
@setting_options(after={"photos": [config_option], "cluster": [force_option, dry_run_option]})
@click.pass_context
def build(
    ctx: click.Context, config_file: Path | None, force: bool, dry_run: bool, **flags: Any
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

    config = load_config(config_file, flag_overrides(flags))
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
        _show_plan(config, result)
        return
    _show_result(config, result, log)
    sys.stdout.flush()
    ctx.exit(result.exit_code)


def _show_plan(config: GalleryConfig, result: BuildResult) -> None:
    """``--dry-run``: each job to render or reuse, the photos skipped, the time it takes."""
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


def _show_result(config: GalleryConfig, result: BuildResult, log: Callable[[str], None]) -> None:
    """The build's summary and the site's, then where the gallery is and how to serve it."""
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


def _estimate(config: GalleryConfig, jobs: list) -> list[str]:
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
@setting_options("photos", "render_dir", "quick", after={"photos": [config_option]})
@click.option("--yes", is_flag=True, help="Delete them; without it, only list them.")
def prune(config_file: Path | None, yes: bool, **flags: Any) -> None:
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

    config = load_config(config_file, flag_overrides(flags))
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
