"""The layer atlas: one photo dreamt at every dreamable layer of a model, shallow to deep.

Every tile uses the same recipe (a photo preset at ``TILE_SIZE`` px and at most
``TILE_OCTAVES`` octaves, about a tenth of a full dream's cost) with only the layer changed,
so the grid shows what each layer does and nothing else. The dreamable layers are the
model's stages: EfficientNet's 7 ``blocks.N``, ResNet's ``layerN``, GoogLeNet's inception
modules, and for VGG its 13 convolutions (``conv1`` .. ``conv13``, the essay's "Layer N").
Each tile names the ``gallery.toml`` line that dreams the photo with that look.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ..clikit import Stopwatch
from ..errors import RecipeError
from ..imageio import write_text_atomic
from ..models import LayerInfo, LoadedModel, ModelSpec, get_spec, list_layers
from ..naming import slug
from ..photos import WorkingPhoto
from ..provenance import Record, publish
from .recipe import DreamRecipe

TILE_SIZE = 256
TILE_OCTAVES = 3
ATLAS_PRESET = "classic"
# A model's stages: the modules whose outputs a dream of the whole model is built from.
STAGES = re.compile(r"blocks\.\d+|layer\d+|inception\d[a-e]")
PAGE = "atlas.html"


@dataclass(frozen=True)
class AtlasLayer:
    """One tile's layer: its module name, its alias (VGG's ``convN``), its output shape at
    the model's input size, and its place from shallow (0) to deep."""

    name: str
    alias: str | None
    shape: tuple[int, ...]
    depth: int

    @property
    def shape_text(self) -> str:
        return "×".join(str(s) for s in self.shape)


def atlas_layers(spec: ModelSpec, infos: Sequence[LayerInfo]) -> tuple[AtlasLayer, ...]:
    """The dreamable layers in ``infos`` (``list_layers``' depth order): those with an alias
    when the model names some (VGG's convolutions), else its stages. None is an error."""
    if spec.aliases:
        chosen = [i for i in infos if i.alias is not None]
    else:
        chosen = [i for i in infos if STAGES.fullmatch(i.name)]
    if not chosen:
        raise RecipeError(f"model {spec.name} has no dreamable layers for an atlas")
    return tuple(AtlasLayer(i.name, i.alias, i.shape, d) for d, i in enumerate(chosen))


def model_atlas_layers(model_name: str) -> tuple[AtlasLayer, ...]:
    spec = get_spec(model_name)
    return atlas_layers(spec, list_layers(spec.name))


def tile_recipe(base: DreamRecipe, layer: str) -> DreamRecipe:
    """The atlas's recipe for one layer: the base's steps and lr, small and few octaves."""
    return base.replace(
        layers=(layer,), size=min(base.size, TILE_SIZE), octaves=min(base.octaves, TILE_OCTAVES)
    )


def toml_line(preset: str, layer: AtlasLayer) -> str:
    """The ``gallery.toml`` line that dreams every photo with this tile's look."""
    return f'presets = ["{preset}@{layer.alias or layer.name}"]  # in [dreams]'


def tile_stem(photo_key: str, layer: AtlasLayer) -> str:
    return f"atlas/{photo_key}/{layer.depth:02d}-{slug(layer.name)}"


def dream_tile(
    model: LoadedModel,
    photo: WorkingPhoto,
    layer: AtlasLayer,
    recipe: DreamRecipe,
    out_dir: Path,
    *,
    preset: str,
    seed: int,
    command: str,
) -> Record:
    """One tile: the photo (at the tile size) dreamt at ``layer``; published with its record."""
    from ..imageio import pil_to_tensor
    from .engine import render
    from .jobs import _bar, _save
    from .objectives import layer_objective, resolve_terms

    clock = Stopwatch()
    terms = resolve_terms(model, recipe.terms)
    size = (photo.image.height, photo.image.width)
    with _bar(model, recipe, f"{photo.path.name} {layer.name}", size) as step:
        result = render(
            model,
            layer_objective(terms),
            recipe,
            seed=seed,
            photo=pil_to_tensor(photo.image),
            on_step=step,
            measure=False,
        )
    output = f"{tile_stem(photo.key, layer)}.png"
    _save(result.images, out_dir, output)
    name = layer.alias or layer.name
    shape = f"{layer.shape_text} at {model.spec.input_size} px"
    record = model.record(
        "layer-dream",  # a layer dream of a photo: the site's layers page groups them by photo
        output,
        command,
        inputs=(photo.input,),
        params=recipe.to_params(),
        seed=seed,
        wall_time_s=clock.seconds,
        extra={
            "atlas": True,
            "photo_key": photo.key,
            "layers": [layer.name],
            "layer": layer.name,
            "alias": layer.alias,
            "depth": layer.depth,
            "shape": list(layer.shape),
            "input_size": model.spec.input_size,
            "preset": preset,
            "toml": toml_line(preset, layer),
            "caption": f"{name} · output {shape} · gallery.toml: {toml_line(preset, layer)}",
        },
    )
    publish(out_dir, [record])
    return record


def atlas_page(records: Sequence[Record], title: str) -> str:
    """One page: the tiles shallow to deep, each with its layer, shapes and gallery.toml
    line, linked to its full-size image (relative links: it works from ``file://``)."""
    tiles = sorted((r for r in records if r.extra.get("atlas")), key=lambda r: r.extra["depth"])
    items = []
    for r in tiles:
        e = r.extra
        name = e["layer"] + (f" ({e['alias']})" if e.get("alias") else "")
        shape = "×".join(str(s) for s in e["shape"])
        items.append(
            f'<figure><a href="{html.escape(r.output)}"><img src="{html.escape(r.output)}" '
            f'alt="{html.escape(name)}" loading="lazy"></a><figcaption>'
            f"<b>{e['depth'] + 1}. {html.escape(name)}</b><br>"
            f"output {shape} (C×H×W) at {e['input_size']} px<br>"
            f"<code>{html.escape(e['toml'])}</code></figcaption></figure>"
        )
    style = (
        "body{font-family:system-ui,sans-serif;margin:1.5rem;background:#111;color:#eee}"
        ".grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(256px,1fr));gap:1rem}"
        "img{width:100%;height:auto;display:block}figure{margin:0}"
        "figcaption{font-size:.85rem;line-height:1.4;margin-top:.3rem}"
        "code{font-size:.8rem;color:#9cf;word-break:break-all}a{color:#9cf}"
    )
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>{html.escape(title)}</title><style>{style}</style></head><body>"
        f"<h1>{html.escape(title)}</h1><p>The same photo dreamt at every layer, shallow to "
        "deep, with the same steps and strength: only the layer changes. Click a tile for "
        'its full size.</p><div class="grid">' + "".join(items) + "</div></body></html>\n"
    )


def atlas_photo(
    model: LoadedModel,
    photo_path: Path,
    out_dir: Path,
    *,
    seed: int,
    command: str,
    preset: str = ATLAS_PRESET,
    base: DreamRecipe | None = None,
) -> list[Record]:
    """Every tile of the photo's atlas, then ``atlas.html`` beside them."""
    from ..photos import prepare_photo
    from .presets import get_preset

    out_dir = Path(out_dir)
    layers = model_atlas_layers(model.name)
    base = base or get_preset(preset).recipe
    photo = prepare_photo(photo_path, tile_recipe(base, "x").size, model.spec.min_size)
    records = [
        dream_tile(
            model,
            photo,
            layer,
            tile_recipe(base, layer.name),
            out_dir,
            preset=preset,
            seed=seed,
            command=command,
        )
        for layer in layers
    ]
    title = f"Layer atlas of {Path(photo_path).name} · {model.spec.title}"
    write_text_atomic(out_dir / PAGE, atlas_page(records, title))
    return records
