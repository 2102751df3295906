"""Class dreams: what the network draws for each ImageNet class in ``[classes]``, dreamt
from noise in batches, shown on the site's classes page."""

from __future__ import annotations

from collections.abc import Sequence, Set
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ...dream.recipe import DreamRecipe
from ...naming import slug
from ...provenance import Record
from ...site.words import Description, Shown, percent
from ..config import GalleryConfig
from ..jobkind import KINDS, JobKind, Planned, SourcePlanner, once
from ..plan import Job, Spec
from .common import QUICK_NOISE_SIZE, preset_recipe, recipe_params

if TYPE_CHECKING:
    from ...models import LoadedModel

CLASS_DREAM = "class-dream"
# Classes per class-dream job. They are dreamt in one batch, but 11 MaCo dreams in one job
# kept one worker busy for 14 minutes while the others idled: two jobs of 6 and 5 share the
# cores. A fixed size, not one per worker, so the jobs' keys do not depend on --jobs.
CLASS_BATCH = 6


@dataclass(frozen=True)
class ClassPayload:
    classes: tuple[int, ...]  # ImageNet class indices
    recipe: DreamRecipe
    seed: int


def class_index(text: str) -> int:
    from ...classes import resolve_class

    return resolve_class(text).index


def class_specs(config: GalleryConfig) -> list[Spec]:
    """The class dreams, in batches of ``CLASS_BATCH`` classes (none when no classes)."""
    indices = tuple(class_index(c) for c in config.classes)
    recipe = preset_recipe(config.class_preset, config, QUICK_NOISE_SIZE)
    specs = []
    for start in range(0, len(indices), CLASS_BATCH):
        batch = indices[start : start + CLASS_BATCH]
        params = {
            "preset": config.class_preset,
            "recipe": recipe_params(recipe),
            "seed": config.seed,
            "classes": list(batch),
        }
        specs.append(Spec(ClassPayload(batch, recipe, config.seed), params))
    return specs


def plan(config: GalleryConfig, model: str, names: Set[str]) -> SourcePlanner:
    specs = class_specs(config)
    return once(Planned([(f"class dreams ({len(s.params['classes'])} classes)", s) for s in specs]))


def run(job: Job, model: LoadedModel, out_dir: Path, command: str) -> Sequence[Record]:
    from ...classes import resolve_class
    from ...dream.jobs import dream_classes

    p: ClassPayload = job.payload
    classes = [resolve_class(str(i)) for i in p.classes]
    return dream_classes(model, classes, p.recipe, out_dir, seed=p.seed, command=command)


def caption(shown: Shown) -> Description:
    """A class dream: the class, what the network gives it, and the recipe's own words."""
    extra = shown.extra
    index = extra.get("class_index", "?")
    cname = str(extra.get("class_name", "?"))
    prob = extra.get("prob")
    alt = f"Class dream of ImageNet class {index}, {cname}; the network gives it {percent(prob)}"
    recipe = [
        part
        for part in shown.text("caption").split(" · ")
        if part and not part.startswith((cname, "p ", "class ", "Class "))
    ]
    text = " · ".join([f"Class {index} · the network gives it {percent(prob)}", *recipe])
    details: dict[str, Any] = {"class_index": index, "class_name": cname, "prob": prob}
    fid = f"class-{index}-{slug(cname)}"
    return Description(fid, "classes", cname, alt, text, details)


def work(job: Job, min_size: int) -> float:
    from ..estimate import noise_dream_work

    p: ClassPayload = job.payload
    return noise_dream_work(p.recipe, len(p.classes), min_size)


KIND = KINDS.register(
    JobKind(
        CLASS_DREAM,
        "gallery",
        plan,
        run,
        # Many dreams in one batch: at most one such job at a time beside the others.
        heavy=True,
        long_rank=0,
        pending="the class dreams",
        pages={CLASS_DREAM: "classes"},
        captions={CLASS_DREAM: caption},
        work=work,
        payload=ClassPayload,
    )
)
