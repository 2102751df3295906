"""Feature accentuation of each photo's top-1 class, beside its explanations (and only
when the gallery explains)."""

from __future__ import annotations

from collections.abc import Sequence, Set
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ...naming import slug
from ...provenance import Record
from ...site.words import Description, Shown, percent
from ..config import GalleryConfig
from ..jobkind import KINDS, JobKind, SourcePlanner, each_photo
from ..plan import Job, Spec
from .common import QUICK_SIZE, Limits, working_photo

if TYPE_CHECKING:
    from ...dream.accentuate import AccentSettings
    from ...models import LoadedModel

ACCENTUATION = "accentuation"


@dataclass(frozen=True)
class AccentPayload:
    settings: AccentSettings
    seed: int
    limits: Limits | None = None


def accentuate_spec(config: GalleryConfig) -> Spec | None:
    """A preview takes 4 steps at the preview size."""
    from ...dream.accentuate import AccentSettings

    if not config.explain:
        return None
    settings = AccentSettings()
    if config.quick:
        settings = AccentSettings(steps=4, size=QUICK_SIZE)
    payload = AccentPayload(settings, config.seed, Limits.of(config))
    return Spec(payload, {"settings": settings.to_params(), "seed": config.seed})


def plan(config: GalleryConfig, model: str, names: Set[str]) -> SourcePlanner:
    return each_photo("accentuate", accentuate_spec(config))


def run(job: Job, model: LoadedModel, out_dir: Path, command: str) -> Sequence[Record]:
    from ...dream.accentuate import accentuate_photo

    p: AccentPayload = job.payload
    photo = working_photo(job, model, p.settings.size, p.limits)
    return accentuate_photo(
        model, photo, p.settings, out_dir, target=None, seed=p.seed, command=command
    )


def caption(shown: Shown) -> Description:
    extra = shown.extra
    cname = str(extra.get("class_name", "?"))
    title = f"Accentuated: {cname}"
    alt = (
        f"{shown.name} with what makes the network see {cname} accentuated: probability "
        f"{percent(extra.get('prob_before'))} before, {percent(extra.get('prob_after'))} after"
    )
    details = {"class_index": extra.get("class_index"), "class_name": cname}
    fid = f"accentuation-{slug(cname)}"
    return Description(fid, "", title, alt, shown.text("caption", title), details)


KIND = KINDS.register(
    JobKind(
        ACCENTUATION,
        "photo",
        plan,
        run,
        pending="the feature accentuation",
        sections={ACCENTUATION: "gradcam"},  # beside the Grad-CAM panels
        page_kinds=frozenset({ACCENTUATION}),
        captions={ACCENTUATION: caption},
        payload=AccentPayload,
    )
)
