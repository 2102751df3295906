"""Explanations: Grad-CAM, guided backprop, LIME, the faithfulness curves and the
robustness panels of each photo (``[explain]``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence, Set
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from ...explain.settings import ExplainSettings
from ...provenance import Record
from ...site.words import Description, Shown, legend_of, percent
from ..config import GalleryConfig
from ..jobkind import KINDS, JobKind, SourcePlanner, each_photo
from ..plan import Job, Spec
from .common import (
    QUICK_FAITHFULNESS_STEPS,
    QUICK_LIME_SAMPLES,
    Limits,
    explain_size,
    working_photo,
)

if TYPE_CHECKING:
    from ...models import LoadedModel

EXPLAIN = "explain"
# Grad-CAM and guided backprop panels share the photo page's "gradcam" section, in this order.
GRADCAM_METHODS = ("gradcam", "gradcam++", "guided-backprop", "guided-gradcam")
METHOD_TITLES = {
    "gradcam": "Grad-CAM",
    "gradcam++": "Grad-CAM++",
    "guided-backprop": "Guided Backprop",
    "guided-gradcam": "Guided Grad-CAM",
    "lime-segments": "LIME superpixels",
    "lime-top5": "LIME top 5",
    "lime-top10": "LIME top 10",
    "lime-top15": "LIME top 15",
    "lime-posneg": "LIME for and against",
}


@dataclass(frozen=True)
class ExplainPayload:
    settings: ExplainSettings
    size: int
    limits: Limits | None = None


def explain_spec(config: GalleryConfig) -> Spec | None:
    from ...explain.settings import METHODS

    if not config.explain:
        return None
    values: dict[str, Any] = {"methods": METHODS, "seed": config.seed}
    if config.quick:
        values.update(lime_samples=QUICK_LIME_SAMPLES, faithfulness_steps=QUICK_FAITHFULNESS_STEPS)
    values.update(config.explain_settings)
    settings = ExplainSettings(**values)
    size = explain_size(config)
    payload = ExplainPayload(settings, size, Limits.of(config))
    return Spec(payload, {"settings": settings.params(), "size": size})


def plan(config: GalleryConfig, model: str, names: Set[str]) -> SourcePlanner:
    return each_photo("explain", explain_spec(config))


def run(job: Job, model: LoadedModel, out_dir: Path, command: str) -> Sequence[Record]:
    from ...explain.jobs import explain_photo

    p: ExplainPayload = job.payload
    photo = working_photo(job, model, p.size, p.limits)
    return explain_photo(model, photo, p.settings, out_dir, command=command)


def method_of(extra: Mapping[str, Any], output: str) -> str:
    """An explanation's method: its record's, else its file's name ("explain-gradcam")."""
    method = extra.get("method")
    if method:
        return str(method)
    return PurePosixPath(output).stem.removeprefix("explain-")


def _robustness(shown: Shown, method: str, details: dict[str, Any]) -> tuple[str, str, str]:
    """A robustness panel's title, alt text and caption: what the network sees once the
    photo is degraded, and the photo's own class once it is no longer on top."""
    extra = shown.extra
    rob = details.get("robustness") or {}
    rkind, level = str(rob.get("kind", "")), rob.get("level", "")
    if not rkind:
        parts = method.split("-")
        rkind, level = (parts[1], parts[2]) if len(parts) >= 3 else (method, "")
        details["robustness"] = {"kind": rkind, "level": level}
    seen = rob.get("top") or {}
    orig = rob.get("original") or {}
    amount = rob.get("amount")
    title = f"{rkind} {amount if amount is not None else level}".strip()
    alt = (
        f"{shown.name} degraded by {rkind} {level}: the network sees "
        f"{seen.get('name', '?')} ({percent(seen.get('prob'))})"
    )
    text = str(extra.get("caption", ""))
    if seen:
        text = f"sees {seen.get('name', '?')} {percent(seen.get('prob'))}"
        if orig and orig.get("name") != seen.get("name"):
            text += f" · {orig.get('name', '?')} {percent(orig.get('prob'))}"
    return title, alt, text


def caption(shown: Shown) -> Description:
    extra = shown.extra
    method = method_of(extra, shown.output)
    target = extra.get("target") or {}
    details: dict[str, Any] = {
        "method": method,
        "target": dict(target) if isinstance(target, Mapping) else {},
    }
    legend = legend_of(extra)
    for key in ("faithfulness", "lime", "robustness"):
        if isinstance(extra.get(key), Mapping):
            details[key] = dict(extra[key])
    fid = f"explain-{method.replace('+', '-plus')}"  # gradcam++: its own id
    if method.startswith("robustness-"):
        title, alt, text = _robustness(shown, method, details)
        return Description(fid, "", title, alt, text, details, legend)
    tname, tprob = target.get("name", "?"), percent(target.get("prob"))
    title = METHOD_TITLES.get(method, method)
    where = f" at layer {extra.get('layer')}" if extra.get("layer") else ""
    alt = f"{title} of {shown.name} for the class {tname} ({tprob}){where}"
    default = f"Layer {extra['layer']}" if extra.get("layer") else ""
    if not legend:
        default = " · ".join(x for x in (f"Class {tname} ({tprob})", default) if x)
    return Description(fid, "", title, alt, shown.text("caption", default), details, legend)


def section(details: Mapping[str, Any]) -> str:
    """The photo page section of a panel: by its method."""
    method = str(details.get("method", ""))
    if method in GRADCAM_METHODS:
        return "gradcam"
    if method.startswith("lime"):
        return "lime"
    return "robustness" if method.startswith("robustness-") else "other"


def work(job: Job, min_size: int) -> float:
    from ..estimate import explain_work

    p: ExplainPayload = job.payload
    return explain_work(job, p.settings)


KIND = KINDS.register(
    JobKind(
        EXPLAIN,
        "photo",
        plan,
        run,
        # ~1.7 GB at its peak on Lite0 at 256 px (a dream at 512 px: ~1.0 GB): two at once
        # plus the main process would pass 4 GB.
        heavy=True,
        pending="the explanations",
        sections={EXPLAIN: section},
        page_kinds=frozenset({EXPLAIN}),
        captions={EXPLAIN: caption},
        work=work,
        payload=ExplainPayload,
    )
)
