"""Layer dreams from noise: one per layer (``[layers]``, else the model's dream layers),
shown on the site's layers page; a photo's layer dreams (its atlas) come from ``atlas``."""

from __future__ import annotations

from collections.abc import Sequence, Set
from pathlib import Path
from typing import TYPE_CHECKING

from ...provenance import Record
from ...site.words import Description, Shown
from ..config import GalleryConfig
from ..jobkind import KINDS, JobKind, Planned, SourcePlanner, once
from ..plan import Job, Spec
from .common import QUICK_NOISE_SIZE, layer_name, preset_recipe, recipe_params
from .dream import DreamPayload

if TYPE_CHECKING:
    from ...models import LoadedModel

LAYER_DREAM = "layer-dream"


def layer_specs(config: GalleryConfig, model: str) -> list[tuple[str, Spec]]:
    from ...models import get_spec

    targets = get_spec(model).dream_layers if config.layers is None else config.layers
    base = preset_recipe(config.layer_preset, config, QUICK_NOISE_SIZE)
    specs = []
    for depth, target in enumerate(targets):
        layer = layer_name(model, target)
        recipe = base.replace(layers=(layer,))
        payload = DreamPayload(config.layer_preset, recipe, config.seed, config.frames)
        params = {
            "preset": config.layer_preset,
            "recipe": recipe_params(recipe),
            "seed": config.seed,
            "frames": config.frames,
            "depth": depth,
        }
        specs.append((layer, Spec(payload, params)))
    return specs


def plan(config: GalleryConfig, model: str, names: Set[str]) -> SourcePlanner:
    return once(Planned([(f"layer dream {label}", s) for label, s in layer_specs(config, model)]))


def run(job: Job, model: LoadedModel, out_dir: Path, command: str) -> Sequence[Record]:
    from ...dream.jobs import dream_layers

    p: DreamPayload = job.payload
    return dream_layers(
        model,
        list(p.recipe.layers),
        p.recipe,
        out_dir,
        seed=p.seed,
        command=command,
        frames=p.frames,
    )


def caption(shown: Shown) -> Description:
    """A layer dream, from noise or of a photo (a tile of its atlas)."""
    layers = shown.layers
    title = f"Layer {layers}" if layers else "Layer dream"
    subject = f"of {shown.name}" if shown.of_photo else "from noise"
    alt = f"DeepDream {subject} at layer {layers or '?'}"
    details = {
        "depth": shown.extra.get("depth", 0),
        "subject": shown.name if shown.of_photo else "",
    }
    text = shown.text("caption", title)
    return Description(f"layer-{shown.stem}", "layers", title, alt, text, details)


def work(job: Job, min_size: int) -> float:
    from ..estimate import noise_dream_work

    p: DreamPayload = job.payload
    return noise_dream_work(p.recipe, len(p.recipe.layers), min_size)


KIND = KINDS.register(
    JobKind(
        LAYER_DREAM,
        "gallery",
        plan,
        run,
        long_rank=2,
        pending="a layer dream",
        sections={LAYER_DREAM: "layer_dreams"},
        pages={LAYER_DREAM: "layers"},
        captions={LAYER_DREAM: caption},
        work=work,
        payload=DreamPayload,
    )
)
