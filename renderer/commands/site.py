"""``renderer site build`` and ``renderer site serve``: the static gallery site."""

from __future__ import annotations

from pathlib import Path

import click

from ..site.options import PER_PAGE  # a light module: --help imports no site code


@click.group()
def site() -> None:
    """Build the static gallery site from render directories, and preview it.

    \b
    Example:
      renderer site build --from renders/ --out gallery/
      renderer site serve gallery/
    """


@site.command()
@click.option(
    "--from",
    "render_dirs",
    multiple=True,
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="A render directory holding manifest.json (repeat for several).",
)
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(path_type=Path),
    help="The site folder; it is replaced whole when the build succeeds.",
)
@click.option("--title", default="dreamgallery", show_default=True, help="The site's title.")
@click.option(
    "--theme",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="A folder of templates overriding the default ones, one by one.",
)
@click.option(
    "--photos",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="The photos folder: each subfolder is an album.  [default: the photos' common folder]",
)
@click.option("--flat", is_flag=True, help="One index for every photo, no albums.")
@click.option(
    "--per-page",
    type=click.IntRange(1, 10_000),
    default=PER_PAGE,
    show_default=True,
    help="Photos on one index page at most.",
)
@click.option(
    "--base-url",
    default=None,
    help="The site's address (https://...): absolute share previews and a sitemap.xml.",
)
@click.option("--precompress", is_flag=True, help="Write a .gz beside every HTML, CSS and JS file.")
def build(
    render_dirs: tuple[Path, ...],
    out_dir: Path,
    title: str,
    theme: Path | None,
    photos: Path | None,
    flat: bool,
    per_page: int,
    base_url: str | None,
    precompress: bool,
) -> None:
    """Build the gallery site: paged album indexes, one page per photo, layer and class
    dreams, about.

    \b
    Example:
      renderer site build --from renders/ --out gallery/ --title "Cats, dreamed"
      renderer site build --from renders/ --out gallery/ --theme my-theme/
      renderer site build --from renders/ --out gallery/ --photos ~/pictures --per-page 24
      renderer site build --from renders/ --out site/ --base-url https://example.org/ --precompress
    """
    from ..site.builder import build_site
    from ..site.options import SiteOptions

    options = SiteOptions(
        title=title,
        theme=theme,
        photos=photos,
        flat=flat,
        per_page=per_page,
        base_url=base_url,
        precompress=precompress,
    )
    report = build_site(list(render_dirs), out_dir, options)
    for warning in report.warnings:
        click.echo(f"warning: {warning}", err=True)
    click.echo(f"site: {report.summary()}", err=True)
    click.echo(str(out_dir / "index.html"))


@site.command()
@click.argument("site_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--port",
    "-p",
    type=click.IntRange(0, 65535),
    default=8000,
    show_default=True,
    help="The port on 127.0.0.1 (0 picks a free one).",
)
def serve(site_dir: Path, port: int) -> None:
    """Preview a built site at http://127.0.0.1:PORT/ until Ctrl-C.

    \b
    Example:
      renderer site serve gallery/ --port 8080
    """
    from ..site.serve import make_server

    server = make_server(site_dir, port)
    host, real_port = server.server_address[:2]
    click.echo(f"serving {site_dir} at http://{host}:{real_port}/ (Ctrl-C stops)", err=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


COMMANDS = [site]
