"""Photo dreams: each photo with each preset, and its masked dreams (a ``[dreams] masks``
entry, a ``NAME.mask.png`` sidecar) with the first preset."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence, Set
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ...dream.recipe import DreamRecipe
from ...naming import slug
from ...provenance import Record
from ...site.words import Description, Shown
from ..config import GalleryConfig
from ..jobkind import KINDS, JobKind, Planned, SourcePlanner
from ..plan import Job, PhotoSource, Problem, Spec
from .common import Limits, explain_size, preset_recipe, recipe_params, require_named, working_photo

if TYPE_CHECKING:
    from ...models import LoadedModel

DREAM = "dream"


@dataclass(frozen=True)
class DreamPayload:
    preset: str
    recipe: DreamRecipe
    seed: int
    frames: bool
    limits: Limits | None = None
    map_size: int | None = None  # px of the photo a subject/background/lime mask is made at


def dream_spec(config: GalleryConfig, preset: str) -> Spec:
    recipe = preset_recipe(preset, config, size=config.dream_size)
    payload = DreamPayload(preset, recipe, config.seed, config.frames, Limits.of(config))
    params = {
        "preset": preset,
        "recipe": recipe_params(recipe),
        "seed": config.seed,
        "frames": config.frames,
    }
    return Spec(payload, params)


def mask_specs(
    config: GalleryConfig, photo: PhotoSource
) -> tuple[list[tuple[str, Spec]], list[Problem]]:
    """The photo's masked dreams, with the first preset: each ``[dreams] masks`` entry for it
    and its sidecar ``NAME.mask.png``; a sidecar that is not an image is a problem (one
    line naming it) and the photo keeps its unmasked dreams."""
    from ...naming import mask_sidecar
    from .explain import EXPLAIN  # its map may come from the photo's explanation

    wanted = [mode for name, mode in config.mask_list if name in ("", photo.name)]
    sidecar = mask_sidecar(photo.path)
    problems = []
    if sidecar.is_file():
        from ...dream.mask import read_mask_picture
        from ...errors import BadInputError

        try:
            read_mask_picture(sidecar)
            wanted.append(str(sidecar))
        except BadInputError as exc:
            problems.append(Problem(sidecar, f"{exc.reason}; {photo.name} dreams unmasked"))
    if not wanted:
        return [], problems
    preset = config.presets[0]
    base = preset_recipe(preset, config, size=config.dream_size)
    map_size = explain_size(config)
    specs = []
    for mask in dict.fromkeys(wanted):
        recipe = base.replace(mask=mask)
        payload = DreamPayload(preset, recipe, config.seed, False, Limits.of(config), map_size)
        params = {"preset": preset, "recipe": recipe_params(recipe), "seed": config.seed}
        if mask == str(sidecar):
            specs.append((f"{preset}, mask {sidecar.name}", Spec(payload, params)))
        else:  # its map may come from the photo's explanation job, when that kept it
            params["map_size"] = map_size
            specs.append((f"{preset}, {mask}", Spec(payload, params, reuses=EXPLAIN)))
    return specs, problems


def plan(config: GalleryConfig, model: str, names: Set[str]) -> SourcePlanner:
    """Every preset on each photo (a preview: the first only), and its masked dreams after
    the photo's other jobs (they sit beside its explanations)."""
    require_named("photo in [dreams] masks", {n for n, _mode in config.mask_list if n}, names)
    presets = config.presets[:1] if config.quick else config.presets
    specs = [(name, dream_spec(config, name)) for name in presets]

    def each(photo: PhotoSource | None) -> Planned:
        assert photo is not None
        jobs = [(f"dream {photo.name} [{name}]", spec) for name, spec in specs]
        masked, problems = mask_specs(config, photo)
        last = [(f"dream {photo.name} [{label}]", spec) for label, spec in masked]
        return Planned(jobs, problems, last)

    return each


def run(job: Job, model: LoadedModel, out_dir: Path, command: str) -> Sequence[Record]:
    from ...dream.jobs import dream_photo

    p: DreamPayload = job.payload
    photo = working_photo(job, model, p.recipe.size, p.limits)
    return dream_photo(
        model,
        photo,
        p.recipe,
        out_dir,
        preset=p.preset,
        seed=p.seed,
        command=command,
        frames=p.frames,
        max_memory=p.limits.max_memory if p.limits else None,
        map_size=p.map_size,
        # a job renders in a staging folder beside the finished ones (``cache.JobCache``)
        explained=(Path(out_dir).parent / job.reuse,) if job.reuse else (),
    )


def caption(shown: Shown) -> Description:
    """A photo dream: named by its preset; a masked one also by its mask."""
    name, extra, layers = shown.name, shown.extra, shown.layers
    preset = str(extra.get("preset") or shown.params.get("preset") or "")
    preset = preset or shown.stem.removeprefix("dream-")
    details: dict[str, object] = {"preset": preset}
    title = preset.replace("-", " ").capitalize()
    alt = f"DeepDream of {name} at layer {layers or '?'}, preset {preset}"
    text = shown.text("caption", f"Preset {preset} · layer {layers}")
    fid = f"dream-{preset}"
    mask = extra.get("mask") or {}
    if mask:  # a masked dream: named by its mask, placed beside the map it came from
        label = str(mask.get("file") or mask.get("mode") or "mask")
        details["mask"] = str(mask.get("map", ""))
        title = f"{title} · {label}"
        alt += f", dreamt only through its mask ({label})"
        fid = f"{fid}-{slug(label)}"
    return Description(fid, "", title, alt, text, details)


def section(details: Mapping[str, Any]) -> str:
    """A dream joins the dreams; one masked by an explanation sits beside that panel."""
    mask = details.get("mask")
    return str(mask) if mask in ("gradcam", "lime") else "dreams"


def pending(label: str) -> str:
    """ "dream cat.jpg [classic]" being made: "the classic dream"."""
    found = re.search(r"\[([^\]]+)\]$", label)
    return f"the {found.group(1)} dream" if found else "a dream"


def work(job: Job, min_size: int) -> float:
    from ..estimate import photo_dream_work

    p: DreamPayload = job.payload
    return photo_dream_work(job, p.recipe, min_size)


KIND = KINDS.register(
    JobKind(
        DREAM,
        "photo",
        plan,
        run,
        first_look=True,
        pending=pending,
        sections={DREAM: section},
        page_kinds=frozenset({DREAM}),
        captions={DREAM: caption},
        work=work,
        payload=DreamPayload,
    )
)
