"""``renderer site build`` and ``renderer site serve``: the static gallery site."""

from __future__ import annotations

from pathlib import Path

import click


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
def build(render_dirs: tuple[Path, ...], out_dir: Path, title: str, theme: Path | None) -> None:
    """Build the gallery site: an index, one page per photo, layer and class dreams, about.

    \b
    Example:
      renderer site build --from renders/ --out gallery/ --title "Cats, dreamed"
      renderer site build --from renders/ --out gallery/ --theme my-theme/
    """
    from ..site.builder import build_site

    report = build_site(list(render_dirs), out_dir, title=title, theme=theme)
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
