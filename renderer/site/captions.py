"""What a figure says: its title, alt text and caption, written from its manifest record.

Pure functions of one record: no files, no HTML. ``describe`` is the one place that knows
how each kind of output (photo, dream, zoom, layer and class dream, explanation) is named.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Any

from ..naming import slug

if TYPE_CHECKING:
    from .types import Source

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
class Description:
    """The words of one figure, and the id and media folder it asks for."""

    id: str
    group: str
    title: str
    alt: str
    caption: str
    details: dict[str, Any] = field(default_factory=dict)
    legend: dict[str, Any] | None = None


def percent(prob: Any) -> str:
    try:
        p = float(prob)
    except (TypeError, ValueError):
        return "?"
    return f"{p:.0%}" if p >= 0.1 else f"{p:.1%}"


def layers_text(extra: Mapping[str, Any], params: Mapping[str, Any]) -> str:
    layers = extra.get("layers") or params.get("layers") or params.get("layer") or []
    if isinstance(layers, str):
        layers = [layers]
    return ", ".join(str(x) for x in layers)


def method_of(src: Source) -> str:
    method = src.extra.get("method")
    if method:
        return str(method)
    out = src.entry.get("output") or ""
    stem = PurePosixPath(out).stem
    return stem.removeprefix("explain-")


def without_title(caption: str, title: str) -> str:
    """ "classic · blocks.4 · 3 octaves" under the title "Classic" -> "blocks.4 · 3 octaves"."""
    prefix = f"{title} · ".casefold()
    return caption[len(prefix) :] if caption.casefold().startswith(prefix) else caption


def _explain(src: Source, name: str, details: dict[str, Any]) -> tuple[str, str, str, Any]:
    extra = src.extra
    method = method_of(src)
    details["method"] = method
    target = extra.get("target") or {}
    details["target"] = dict(target) if isinstance(target, Mapping) else {}
    tname = target.get("name", "?")
    tprob = percent(target.get("prob"))
    legend = dict(extra["legend"]) if isinstance(extra.get("legend"), Mapping) else None
    for key in ("faithfulness", "lime", "robustness"):
        if isinstance(extra.get(key), Mapping):
            details[key] = dict(extra[key])
    if method.startswith("robustness-"):
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
            f"{name} degraded by {rkind} {level}: the network sees "
            f"{seen.get('name', '?')} ({percent(seen.get('prob'))})"
        )
        caption = str(extra.get("caption", ""))
        if seen:  # the top guess; and the photo's own class, once it is no longer on top
            caption = f"sees {seen.get('name', '?')} {percent(seen.get('prob'))}"
            if orig and orig.get("name") != seen.get("name"):
                caption += f" · {orig.get('name', '?')} {percent(orig.get('prob'))}"
        return title, alt, caption, legend
    title = METHOD_TITLES.get(method, method)
    where = f" at layer {extra.get('layer')}" if extra.get("layer") else ""
    alt = f"{title} of {name} for the class {tname} ({tprob}){where}"
    default = f"Layer {extra['layer']}" if extra.get("layer") else ""
    if not legend:
        default = " · ".join(x for x in (f"Class {tname} ({tprob})", default) if x)
    return title, alt, str(extra.get("caption") or default), legend


def describe(src: Source, name: str) -> Description:
    """Title, alt text and caption of the figure for one record of the photo ``name``."""
    kind, extra, params = src.kind, src.extra, src.entry.get("params") or {}
    stem = PurePosixPath(str(src.entry.get("output"))).stem
    preds = list(extra.get("predictions") or [])
    layers = layers_text(extra, params)
    top = f"the network sees {preds[0]['name']} ({percent(preds[0].get('prob'))})" if preds else ""
    details: dict[str, Any] = {}
    legend = None
    group = ""
    if kind == "photo":
        title = "Original"
        alt = f"The original photo {name}"
        w, h = extra.get("width"), extra.get("height")
        size = f"{w} × {h} px" if w and h else ""
        caption = " · ".join(x for x in (f"{name}", size, top) if x)
        fid = "original"
    elif kind == "dream":
        preset = str(extra.get("preset") or params.get("preset") or stem.removeprefix("dream-"))
        details["preset"] = preset
        title = preset.replace("-", " ").capitalize()
        alt = f"DeepDream of {name} at layer {layers or '?'}, preset {preset}"
        caption = str(extra.get("caption") or f"Preset {preset} · layer {layers}")
        fid = f"dream-{preset}"
        mask = extra.get("mask") or {}
        if mask:  # a masked dream: named by its mask, placed beside the map it came from
            label = str(mask.get("file") or mask.get("mode") or "mask")
            details["mask"] = str(mask.get("map", ""))
            title = f"{title} · {label}"
            alt += f", dreamt only through its mask ({label})"
            fid = f"{fid}-{slug(label)}"
    elif kind == "zoom":
        preset = str(extra.get("preset") or stem.removeprefix("zoom-"))
        count = extra.get("frame_count") or params.get("frames")
        details.update(preset=preset, frame_count=count, duration_ms=extra.get("duration_ms"))
        title = f"Zoom · {preset.replace('-', ' ')}"
        frames_text = f", {count} frames" if count else ""
        alt = (
            f"Infinite-zoom animation into the DeepDream of {name} at layer {layers or '?'}, "
            f"preset {preset}{frames_text}"
        )
        caption = str(extra.get("caption") or f"Preset {preset} · layer {layers}")
        caption = caption.removeprefix(f"{preset} · ")
        fid = f"zoom-{preset}"
    elif kind == "layer-dream":
        title = f"Layer {layers}" if layers else "Layer dream"
        subject = f"of {name}" if src.sha256 else "from noise"
        alt = f"DeepDream {subject} at layer {layers or '?'}"
        caption = str(extra.get("caption") or title)
        details["depth"] = extra.get("depth", 0)
        details["subject"] = name if src.sha256 else ""
        fid, group = f"layer-{stem}", "layers"
    elif kind == "class-dream":
        index = extra.get("class_index", "?")
        cname = str(extra.get("class_name", "?"))
        prob = extra.get("prob")
        title = cname
        alt = (
            f"Class dream of ImageNet class {index}, {cname}; the network gives it {percent(prob)}"
        )
        caption = f"Class {index} · the network gives it {percent(prob)}"
        recipe = [
            part
            for part in str(extra.get("caption") or "").split(" · ")
            if part and not part.startswith((cname, "p ", "class ", "Class "))
        ]
        caption = " · ".join([caption, *recipe])
        details.update(class_index=index, class_name=cname, prob=prob)
        fid, group = f"class-{index}-{slug(cname)}", "classes"
    elif kind == "explain":
        title, alt, caption, legend = _explain(src, name, details)
        fid = f"explain-{details['method'].replace('+', '-plus')}"  # gradcam++: its own id
    elif kind == "accentuation":
        cname = str(extra.get("class_name", "?"))
        title = f"Accentuated: {cname}"
        alt = (
            f"{name} with what makes the network see {cname} accentuated: probability "
            f"{percent(extra.get('prob_before'))} before, {percent(extra.get('prob_after'))} after"
        )
        caption = str(extra.get("caption") or title)
        details.update(class_index=extra.get("class_index"), class_name=cname)
        fid = f"accentuation-{slug(cname)}"
    elif kind in ("video", "video-dream", "video-explain"):
        title, alt, caption, fid = _video(kind, extra, name, layers, details)
        if kind == "video-explain" and isinstance(extra.get("legend"), Mapping):
            legend = dict(extra["legend"])
    else:
        title = kind.replace("-", " ").capitalize()
        alt = f"{title} of {name}"
        caption = str(extra.get("caption") or title)
        fid = f"{kind}-{stem}"
    caption = without_title(caption, title)
    return Description(fid, group, title, alt, caption, details, legend)


def _video(
    kind: str, extra: Any, name: str, layers: str, details: dict[str, Any]
) -> tuple[str, str, str, str]:
    """A clip's source or dream: title, alt text (of its poster), caption and id."""
    seconds, fps = extra.get("seconds"), extra.get("fps")
    span = f"{seconds:g} s at {fps:g} fps" if seconds and fps else ""
    sound = "with sound" if extra.get("has_audio") else "silent"
    if kind == "video":
        w, h = extra.get("width"), extra.get("height")
        size = f"{w} × {h} px" if w and h else ""
        caption = " · ".join(x for x in (name, size, span, sound) if x)
        return "Original clip", f"The original clip {name}", caption, "original"
    if kind == "video-explain":
        target = extra.get("target") or {}
        caption = str(extra.get("caption") or "Grad-CAM")
        alt = f"Grad-CAM video of {name}: where the network finds {target.get('name', '?')}"
        return "Where it looks", alt, caption, "video-gradcam"
    preset = str(extra.get("preset") or "?")
    details["preset"] = preset
    title = f"Video · {preset.replace('-', ' ')}"
    alt = f"DeepDream video of {name} at layer {layers or '?'}, preset {preset}"
    caption = str(extra.get("caption") or f"Preset {preset} · layer {layers}")
    return title, alt, f"{caption} · {sound}", f"video-{preset}"


def page_description(name: str, predictions: list[dict[str, Any]], dreams: int) -> str:
    """The meta description of a photo page: what it is, what the network sees in it."""
    sees = ""
    if predictions:
        top = predictions[0]
        sees = f" The network sees {top.get('name', '?')} ({percent(top.get('prob'))})."
    many = f"{dreams} DeepDream{'s' if dreams != 1 else ''}"
    return f"{name}: {many} of this photograph by an image classifier.{sees}"
