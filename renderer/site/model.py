"""Manifest entries -> page view-models.

Pure functions: they read no files and know nothing of HTML. They group the records of one
photo by ``inputs[0].sha256``, order layer dreams by ``extra.depth``, write the captions and
alt texts, and turn provenance into rows of text with every absolute path of the build
machine taken out (a published page must not leak ``/home/artist/...``).
"""

from __future__ import annotations

import contextlib
import json
import os
import posixpath
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from ..naming import photo_key, slug
from .public import public_command, public_path, public_text

GRADCAM_METHODS = ("gradcam", "gradcam++", "guided-backprop", "guided-gradcam")
LIME_METHODS = ("lime-segments", "lime-top5", "lime-top10", "lime-top15", "lime-posneg")
ROBUSTNESS_KINDS = ("noise", "brightness", "contrast")
COVER_PRESETS = ("classic", "deep", "photo", "gentle")

# A photo page's lists of figures, in page order; ``section_of`` says which one a figure
# joins. A new kind of output gets a line in ``KIND_SECTIONS`` (and its list in ``PhotoPage``).
PAGE_SECTIONS = ("dreams", "zooms", "layer_dreams", "gradcam", "lime", "robustness", "other")
KIND_SECTIONS = {"dream": "dreams", "zoom": "zooms", "layer-dream": "layer_dreams"}
# Kinds whose records give their photo a page, even without its photo record.
PAGE_KINDS = frozenset({"dream", "zoom", "explain"})

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
class Source:
    """One manifest entry and the directory its relative paths start from."""

    entry: Mapping[str, Any]
    base: Path

    @property
    def extra(self) -> Mapping[str, Any]:
        return self.entry.get("extra") or {}

    @property
    def kind(self) -> str:
        return str(self.entry.get("kind", ""))

    @property
    def sha256(self) -> str:
        inputs = self.entry.get("inputs") or []
        return str(inputs[0].get("sha256", "")) if inputs else ""

    @property
    def output(self) -> Path | None:
        out = self.entry.get("output")
        return self.base / out if out else None

    def resolve(self, relative: str) -> Path:
        """A path named in ``extra``: relative to the render dir, else to a folder between it
        and the output (a job folder whose paths were not prefixed)."""
        first = self.base / relative
        if first.exists() or self.output is None:
            return first
        for folder in self.output.parents:  # the output's folder, then each one above it
            if folder == self.base or self.base not in folder.parents:
                break
            if (folder / relative).exists():
                return folder / relative
        return first


@dataclass
class Figure:
    """One picture on a page, with everything its ``<figure>`` shows."""

    id: str
    kind: str
    src: Path
    group: str
    title: str
    alt: str
    caption: str
    provenance: list[tuple[str, str]]
    command: str
    predictions: list[dict[str, Any]] = field(default_factory=list)
    legend: dict[str, Any] | None = None
    legend_src: Path | None = None
    details: dict[str, Any] = field(default_factory=dict)
    frames: list[Path] = field(default_factory=list)
    image: Any = None  # an images.ImageSet, set by the builder
    animation: Any = None  # an images.Variant for animated outputs (zooms), set by the builder
    legend_image: Any = None
    frame_images: list[Any] = field(default_factory=list)


@dataclass(frozen=True)
class Curve:
    """A deletion or insertion curve drawn as an SVG polyline in a 100 x 60 box."""

    name: str
    auc: float | None
    points: str


@dataclass(frozen=True)
class Faithfulness:
    figure_id: str
    title: str
    target: str
    curves: tuple[Curve, ...]
    top: str = "1"  # the score at the top of the chart


@dataclass(frozen=True)
class Skip:
    name: str
    reason: str


@dataclass
class PhotoPage:
    key: str
    name: str
    sha256: str
    photo: Figure | None = None
    dreams: list[Figure] = field(default_factory=list)
    zooms: list[Figure] = field(default_factory=list)
    layer_dreams: list[Figure] = field(default_factory=list)
    gradcam: list[Figure] = field(default_factory=list)
    lime: list[Figure] = field(default_factory=list)
    robustness: list[Figure] = field(default_factory=list)
    other: list[Figure] = field(default_factory=list)
    skipped: list[Skip] = field(default_factory=list)

    @property
    def path(self) -> str:
        return f"photos/{self.key}.html"

    @property
    def cover(self) -> Figure | None:
        """The dream that best stands for the photo on the index."""
        for preset in COVER_PRESETS:
            for fig in self.dreams:
                if fig.details.get("preset") == preset:
                    return fig
        return self.dreams[0] if self.dreams else self.photo

    @property
    def figures(self) -> list[Figure]:
        own = [f for name in PAGE_SECTIONS for f in getattr(self, name)]
        return [self.photo, *own] if self.photo else own

    @property
    def faithfulness(self) -> list[Faithfulness]:
        """One chart per distinct pair of curves (the LIME panels share theirs)."""
        charts, seen = [], set()
        for fig in self.gradcam + self.lime:
            chart = faithfulness_of(fig)
            if chart is None:
                continue
            key = tuple(c.points for c in chart.curves) or (fig.id,)
            if key not in seen:
                seen.add(key)
                charts.append(chart)
        return charts

    @property
    def robustness_rows(self) -> list[tuple[str, list[Figure]]]:
        """The robustness panels as one strip per kind of degradation, mildest first."""
        rows: dict[str, list[Figure]] = {}
        for fig in self.robustness:
            kind = str((fig.details.get("robustness") or {}).get("kind", ""))
            rows.setdefault(kind, []).append(fig)
        return list(rows.items())

    @property
    def lime_info(self) -> dict[str, Any]:
        """The LIME fit's figures (R², samples, top-5 stability), shared by its panels."""
        for fig in self.lime:
            info = fig.details.get("lime")
            if info:
                return info
        return {}

    @property
    def lime_r2(self) -> float | None:
        r2 = self.lime_info.get("r2")
        return None if r2 is None else float(r2)


@dataclass(frozen=True)
class ModelRow:
    name: str
    title: str
    licence: str
    weights_sha256: str
    weights_source: str


@dataclass
class Gallery:
    photos: list[PhotoPage]
    layer_dreams: list[Figure]
    class_dreams: list[Figure]
    skipped: list[Skip]
    models: list[ModelRow]
    versions: dict[str, str]
    renders: int

    @property
    def figures(self) -> list[Figure]:
        own = [f for p in self.photos for f in p.figures]
        seen = {id(f) for f in own}
        rest = [f for f in self.layer_dreams + self.class_dreams if id(f) not in seen]
        return own + rest


# --------------------------------------------------------------------------- public text


def _public_value(value: Any, anchor: Path | None) -> str:
    if isinstance(value, str):
        return public_path(value, anchor) if os.path.isabs(value) else value
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (list, tuple)) and all(isinstance(v, (int, float, str)) for v in value):
        return ", ".join(_public_value(v, anchor) for v in value) or "—"
    if value is None:
        return "none"
    if isinstance(value, (dict, list, tuple)):
        return public_text(json.dumps(value, ensure_ascii=False, sort_keys=True), anchor)
    return str(value)


def percent(prob: Any) -> str:
    try:
        p = float(prob)
    except (TypeError, ValueError):
        return "?"
    return f"{p:.0%}" if p >= 0.1 else f"{p:.1%}"


def _layers_text(extra: Mapping[str, Any], params: Mapping[str, Any]) -> str:
    layers = extra.get("layers") or params.get("layers") or params.get("layer") or []
    if isinstance(layers, str):
        layers = [layers]
    return ", ".join(str(x) for x in layers)


# --------------------------------------------------------------------------- figures


def provenance_rows(src: Source, anchor: Path | None) -> list[tuple[str, str]]:
    """Label/value rows for a figure's ``<dl>``: model, weights, targets, every parameter."""
    e, extra = src.entry, src.extra
    rows: list[tuple[str, str]] = []
    model = e.get("model") or {}
    if model:
        rows.append(("Model", str(model.get("name", "?"))))
        if model.get("weights_sha256"):
            rows.append(("Weights sha256", str(model["weights_sha256"])))
        if model.get("weights_source"):
            rows.append(("Weights", public_path(str(model["weights_source"]), anchor)))
    layers = _layers_text(extra, e.get("params") or {})
    if layers:
        rows.append(("Layer", layers))
    if extra.get("layer"):
        rows.append(("Layer", str(extra["layer"])))
    if "class_index" in extra:
        rows.append(("Class", f"{extra.get('class_name', '?')} ({extra['class_index']})"))
    target = extra.get("target")
    if isinstance(target, Mapping):
        rows.append(
            (
                "Target class",
                f"{target.get('name')} ({target.get('index')}), p = {percent(target.get('prob'))}",
            )
        )
    sanity = extra.get("sanity")
    if isinstance(sanity, Mapping):
        verdict = {True: "passed", False: "FAILED"}.get(sanity.get("passed"), "")
        corr = sanity.get("rank_correlation")
        corr_text = f"rank correlation {float(corr):.2f}" if isinstance(corr, (int, float)) else ""
        rows.append(
            (
                "Sanity check",
                " · ".join(str(x) for x in (sanity.get("check"), corr_text, verdict) if x),
            )
        )
    for key, value in sorted((e.get("params") or {}).items()):
        rows.append((str(key), _public_value(value, anchor)))
    if e.get("seed") is not None:
        rows.append(("Seed", str(e["seed"])))
    for item in e.get("inputs") or []:
        sha = str(item.get("sha256") or "")
        name = PurePosixPath(str(item.get("path", "")).replace("\\", "/")).name
        rows.append(("Input", f"{name} (sha256 {sha[:12]}…)" if sha else name))
    rows.append(("Device", str(e.get("device", "?"))))
    with contextlib.suppress(TypeError, ValueError):
        rows.append(("Time", f"{float(e.get('wall_time_s') or 0):.1f} s"))
    if e.get("created"):
        rows.append(("Made", str(e["created"])))
    versions = e.get("versions") or {}
    if versions:
        rows.append(("Versions", " · ".join(f"{k} {v}" for k, v in sorted(versions.items()))))
    return rows


def _unique_id(wanted: str, taken: set[str]) -> str:
    base = slug(wanted, 64)
    candidate, n = base, 2
    while candidate in taken:
        candidate, n = f"{base}-{n}", n + 1
    taken.add(candidate)
    return candidate


def _photo_name(src: Source) -> str:
    name = src.extra.get("name")
    if name:
        return str(name)
    inputs = src.entry.get("inputs") or []
    if inputs:
        return PurePosixPath(str(inputs[0].get("path", "")).replace("\\", "/")).name or "photo"
    return "photo"


def method_of(src: Source) -> str:
    method = src.extra.get("method")
    if method:
        return str(method)
    out = src.entry.get("output") or ""
    stem = PurePosixPath(out).stem
    return stem.removeprefix("explain-")


def _robustness_sort_key(fig: Figure) -> tuple[int, float, str]:
    rob = fig.details.get("robustness") or {}
    kind = str(rob.get("kind", ""))
    try:
        level = float(rob.get("level", 0))
    except (TypeError, ValueError):
        level = 0.0
    order = ROBUSTNESS_KINDS.index(kind) if kind in ROBUSTNESS_KINDS else len(ROBUSTNESS_KINDS)
    return order, level, kind


def make_figure(src: Source, name: str, taken: set[str], anchor: Path | None) -> Figure | None:
    """The figure for one record with an output file, or None for kinds we do not show."""
    kind, extra, params = src.kind, src.extra, src.entry.get("params") or {}
    out = src.output
    if out is None:
        return None
    stem = PurePosixPath(str(src.entry.get("output"))).stem
    preds = list(extra.get("predictions") or [])
    layers = _layers_text(extra, params)
    top = f"the network sees {preds[0]['name']} ({percent(preds[0].get('prob'))})" if preds else ""
    details: dict[str, Any] = {}
    legend = None
    if kind == "photo":
        title = "Original"
        alt = f"The original photo {name}"
        w, h = extra.get("width"), extra.get("height")
        size = f"{w} × {h} px" if w and h else ""
        caption = " · ".join(x for x in (f"{name}", size, top) if x)
        fid, group = "original", None
    elif kind == "dream":
        preset = str(extra.get("preset") or params.get("preset") or stem.removeprefix("dream-"))
        details["preset"] = preset
        title = preset.replace("-", " ").capitalize()
        alt = f"DeepDream of {name} at layer {layers or '?'}, preset {preset}"
        caption = str(extra.get("caption") or f"Preset {preset} · layer {layers}")
        fid, group = f"dream-{preset}", None
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
        fid, group = f"zoom-{preset}", None
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
            caption = str(
                extra.get("caption")
                or (
                    f"sees {seen.get('name', '?')} {percent(seen.get('prob'))} · "
                    f"{orig.get('name', '?')} {percent(orig.get('prob'))}"
                )
            )
        else:
            title = METHOD_TITLES.get(method, method)
            where = f" at layer {extra.get('layer')}" if extra.get("layer") else ""
            alt = f"{title} of {name} for the class {tname} ({tprob}){where}"
            default = f"Layer {extra['layer']}" if extra.get("layer") else ""
            if not legend:
                default = " · ".join(x for x in (f"Class {tname} ({tprob})", default) if x)
            caption = str(extra.get("caption") or default)
        fid, group = f"explain-{method}", None
    else:
        title = kind.replace("-", " ").capitalize()
        alt = f"{title} of {name}"
        caption = str(extra.get("caption") or title)
        fid, group = f"{kind}-{stem}", None
    caption = _without_title(caption, title)
    legend_src = None
    if legend and legend.get("image"):
        legend_src = src.resolve(str(legend["image"]))
    frames = [src.resolve(str(p)) for p in extra.get("frames") or []]
    return Figure(
        id=_unique_id(fid, taken),
        kind=kind,
        src=out,
        group=group or "",
        title=title,
        alt=alt,
        caption=caption,
        provenance=provenance_rows(src, anchor),
        command=public_command(str(src.entry.get("command", "")), anchor),
        predictions=preds[:5],
        legend=legend,
        legend_src=legend_src,
        details=details,
        frames=frames,
    )


def _values(values: Any) -> list[float]:
    try:
        ys = [float(v) for v in values or []]
    except (TypeError, ValueError):
        return []
    return ys if len(ys) >= 2 else []


def _without_title(caption: str, title: str) -> str:
    """ "classic · blocks.4 · 3 octaves" under the title "Classic" -> "blocks.4 · 3 octaves"."""
    prefix = f"{title} · ".casefold()
    return caption[len(prefix) :] if caption.casefold().startswith(prefix) else caption


def _curve(name: str, values: Any, auc: Any, top: float) -> Curve | None:
    ys = _values(values)
    if not ys:
        return None
    pts = " ".join(
        f"{100 * i / (len(ys) - 1):.1f},{60 - 56 * max(y, 0) / top:.1f}" for i, y in enumerate(ys)
    )
    try:
        auc_value = float(auc) if auc is not None else None
    except (TypeError, ValueError):
        auc_value = None
    return Curve(name, auc_value, pts)


def faithfulness_of(fig: Figure) -> Faithfulness | None:
    data = fig.details.get("faithfulness")
    if not data:
        return None
    both = _values(data.get("deletion_curve")) + _values(data.get("insertion_curve"))
    top = max([*both, 1e-9])
    top = 1.0 if 0.5 < top <= 1.0 else top
    curves = [
        _curve("deletion", data.get("deletion_curve"), data.get("deletion_auc"), top),
        _curve("insertion", data.get("insertion_curve"), data.get("insertion_auc"), top),
    ]
    curves = [c for c in curves if c]
    if not curves and data.get("deletion_auc") is None:
        return None
    t = fig.details.get("target") or {}
    target = f"{t.get('name')} ({t.get('index')})" if t else ""
    title = "LIME" if str(fig.details.get("method", "")).startswith("lime") else fig.title
    return Faithfulness(fig.id, title, target, tuple(curves), f"{top:.2g}")


# --------------------------------------------------------------------------- the gallery


def section_of(fig: Figure) -> str:
    """The ``PhotoPage`` list (one of ``PAGE_SECTIONS``) a figure of a photo joins."""
    if fig.kind == "explain":
        method = str(fig.details.get("method", ""))
        if method in GRADCAM_METHODS:
            return "gradcam"
        if method.startswith("lime"):
            return "lime"
        if method.startswith("robustness-"):
            return "robustness"
    return KIND_SECTIONS.get(fig.kind, "other")


def _model_rows(sources: Iterable[Source], anchor: Path | None) -> list[ModelRow]:
    from ..models import SPECS

    rows: dict[tuple[str, str], ModelRow] = {}
    for src in sources:
        model = src.entry.get("model") or {}
        if not model.get("name"):
            continue
        name = str(model["name"])
        spec = SPECS.get(name)
        key = (name, str(model.get("weights_sha256", "")))
        rows.setdefault(
            key,
            ModelRow(
                name=name,
                title=spec.title if spec else name,
                licence=spec.licence if spec else "see the model's source",
                weights_sha256=key[1],
                weights_source=public_path(str(model.get("weights_source", "")), anchor),
            ),
        )
    return list(rows.values())


def build_gallery(sources: Sequence[Source], anchor: Path | None = None) -> Gallery:
    """Group the records into photo pages, layer dreams and class dreams."""
    photo_records = [s for s in sources if s.kind == "photo" and s.output is not None]
    # A page per file: the same bytes under two names (Cat.jpg, cat.jpg) are two pages.
    pages: dict[tuple[str, str], PhotoPage] = {}
    taken: dict[tuple[str, str], set[str]] = {}
    keys: set[str] = set()
    for src in photo_records:
        name = _photo_name(src)
        if (src.sha256, name) in pages:
            continue
        key = _unique_id(photo_key(name, src.sha256 or "0" * 8), keys)
        page = PhotoPage(key=key, name=name, sha256=src.sha256)
        taken[(src.sha256, name)] = set()
        page.photo = make_figure(src, name, taken[(src.sha256, name)], anchor)
        pages[(src.sha256, name)] = page

    def page_of(src: Source) -> PhotoPage | None:
        """The page of the file a record was made from; by its bytes alone when no page
        has its name (a record that names its input differently)."""
        if not src.sha256:
            return None
        page = pages.get((src.sha256, _photo_name(src)))
        if page is None:
            alike = [p for (sha, _), p in pages.items() if sha == src.sha256]
            page = alike[0] if len(alike) == 1 else None
        return page

    for src in sources:  # a photo with renders but no photo record still gets its page
        if src.sha256 and page_of(src) is None and src.kind in PAGE_KINDS:
            name = _photo_name(src)
            key = _unique_id(photo_key(name, src.sha256), keys)
            pages[(src.sha256, name)] = PhotoPage(key=key, name=name, sha256=src.sha256)
            taken[(src.sha256, name)] = set()

    layer_dreams: list[Figure] = []
    class_dreams: list[Figure] = []
    skipped: list[Skip] = []
    global_ids: set[str] = set()
    for src in sources:
        kind = src.kind
        page = page_of(src)
        if kind == "skipped":
            skip = Skip(_photo_name(src), public_text(str(src.extra.get("reason", "?")), anchor))
            skipped.append(skip)
            if page:
                page.skipped.append(skip)
            continue
        if kind == "photo" or src.output is None:
            continue
        name = page.name if page else _photo_name(src)
        if kind == "layer-dream":
            fig = make_figure(src, name, global_ids, anchor)
            if fig:
                layer_dreams.append(fig)
                if page:
                    getattr(page, section_of(fig)).append(fig)
            continue
        if kind == "class-dream":
            fig = make_figure(src, name, global_ids, anchor)
            if fig:
                class_dreams.append(fig)
            continue
        if page is None:
            continue
        fig = make_figure(src, name, taken[(page.sha256, page.name)], anchor)
        if fig is not None:
            getattr(page, section_of(fig)).append(fig)

    def depth(fig: Figure) -> tuple[float, str]:
        try:
            return float(fig.details.get("depth", 0)), fig.id
        except (TypeError, ValueError):
            return 0.0, fig.id

    layer_dreams.sort(key=depth)
    class_dreams.sort(key=lambda f: (_int(f.details.get("class_index")), f.id))
    for page in pages.values():
        page.layer_dreams.sort(key=depth)
        page.gradcam.sort(key=lambda f: GRADCAM_METHODS.index(f.details["method"]))
        page.lime.sort(key=lambda f: _index(LIME_METHODS, f.details["method"]))
        page.robustness.sort(key=_robustness_sort_key)

    versions: dict[str, str] = {}
    for src in sources:
        for k, v in (src.entry.get("versions") or {}).items():
            versions.setdefault(str(k), str(v))
    photos = sorted(pages.values(), key=lambda p: (re.sub(r"\W+", "", p.name.casefold()), p.key))
    return Gallery(
        photos=photos,
        layer_dreams=layer_dreams,
        class_dreams=class_dreams,
        skipped=skipped,
        models=_model_rows(sources, anchor),
        versions=versions,
        renders=sum(1 for s in sources if s.output is not None),
    )


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 1 << 30


def _index(options: Sequence[str], value: str) -> int:
    return options.index(value) if value in options else len(options)


def relative_url(target: str, page: str) -> str:
    """The URL of site path ``target`` as seen from site page ``page``, percent-encoded."""
    from urllib.parse import quote

    start = posixpath.dirname(page) or "."
    rel = posixpath.relpath(target, start)
    return quote(rel, safe="/#")
