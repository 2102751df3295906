"""``renderer gallery``: the batch pipeline (filled in by its issue)."""

import click


@click.group()
def gallery() -> None:
    """Render a folder of photos and publish the gallery site."""


@gallery.command()
@click.option("--photos", default=None)
@click.option("--quick", is_flag=True)
@click.option("--jobs", default=None)
def build(photos: str | None, quick: bool, jobs: str | None) -> None:
    """Build the gallery (not implemented yet)."""
    click.echo("renderer gallery build: not implemented yet", err=True)


COMMANDS = [gallery]
