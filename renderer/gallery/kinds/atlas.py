"""The layer atlas: the photos named in ``[atlas] photos`` dreamt once per dreamable layer
of the model (small tiles, with the first preset), shown on the site's layers page. Its
records are layer dreams of a photo (``layers`` captions them)."""

from __future__ import annotations

from collections.abc import Sequence, Set
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ...dream.recipe import DreamRecipe
from ...provenance import Record
from ..config import GalleryConfig
from ..jobkind import KINDS, JobKind, Planned, SourcePlanner, no_jobs
from ..plan import Job, PhotoSource, Spec
from .common import Limits, preset_recipe, recipe_params, require_named, working_photo

if TYPE_CHECKING:
    from ...dream.atlas import AtlasLayer
    from ...models import LoadedModel

ATLAS_TILE = "atlas-tile"


@dataclass(frozen=True)
class AtlasPayload:
    layer: AtlasLayer
    preset: str
    recipe: DreamRecipe
    seed: int
    limits: Limits | None = None


def atlas_specs(config: GalleryConfig, model: str) -> list[tuple[str, Spec]]:
    """One tile per dreamable layer of ``model``, with the first preset made small."""
    from ...dream.atlas import model_atlas_layers, tile_recipe

    preset = config.presets[0]
    base = preset_recipe(preset, config)
    specs = []
    for layer in model_atlas_layers(model):
        recipe = tile_recipe(base, layer.name)
        payload = AtlasPayload(layer, preset, recipe, config.seed, Limits.of(config))
        params = {
            "preset": preset,
            "recipe": recipe_params(recipe),
            "seed": config.seed,
            "depth": layer.depth,
        }
        specs.append((layer.name, Spec(payload, params)))
    return specs


def plan(config: GalleryConfig, model: str, names: Set[str]) -> SourcePlanner:
    wanted = set(config.atlases)
    if not wanted:
        return no_jobs
    require_named("photo in [atlas] photos", wanted, names)
    specs = atlas_specs(config, model)

    def each(photo: PhotoSource | None) -> Planned:
        assert photo is not None
        if photo.name not in wanted:
            return Planned()
        # after the photo's own figures, its masked dreams included: the plan keeps the order
        # the manifest has always had
        return Planned(last=[(f"atlas {photo.name} [{label}]", spec) for label, spec in specs])

    return each


def run(job: Job, model: LoadedModel, out_dir: Path, command: str) -> Sequence[Record]:
    from ...dream.atlas import dream_tile

    p: AtlasPayload = job.payload
    photo = working_photo(job, model, p.recipe.size, p.limits)
    record = dream_tile(
        model, photo, p.layer, p.recipe, out_dir, preset=p.preset, seed=p.seed, command=command
    )
    return [record]


def work(job: Job, min_size: int) -> float:
    from ..estimate import photo_dream_work

    p: AtlasPayload = job.payload
    return photo_dream_work(job, p.recipe, min_size)


KIND = KINDS.register(
    JobKind(
        ATLAS_TILE,
        "photo",
        plan,
        run,
        pending="the layer atlas",
        work=work,
        payload=AtlasPayload,
    )
)
