"""Manifest entries -> page view-models.

Pure functions: they read no files and know nothing of HTML. They group the records of one
photo by ``inputs[0].sha256``, order layer dreams by ``extra.depth`` and file each photo in
its album (``albums``). What a figure says is written in ``captions``, how it was made in
``provenance``; both take every absolute path of the build machine out of what they publish.
"""

from __future__ import annotations

import functools
import os
import posixpath
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import quote

from ..gallery.kinds import KINDS
from ..gallery.kinds.explain import GRADCAM_METHODS
from ..naming import photo_key, slug
from .albums import Album, build_albums, folder_of, photos_root
from .captions import describe, page_description, percent
from .provenance import ModelRow, model_rows, provenance_rows, shared_rows
from .public import public_command, public_text

__all__ = ["Album", "ModelRow", "Pending", "percent"]

LIME_METHODS = ("lime-segments", "lime-top5", "lime-top10", "lime-top15", "lime-posneg")
ROBUSTNESS_KINDS = ("noise", "brightness", "contrast")
COVER_PRESETS = ("classic", "deep", "photo", "gentle")

# A photo page's lists of figures, in page order; ``section_of`` says which one a figure
# joins: its job kind's ``sections`` (``gallery.jobkind.JobKind``), else "other".
PAGE_SECTIONS = (
    "dreams",
    "zooms",
    "videos",
    "layer_dreams",
    "gradcam",
    "lime",
    "robustness",
    "other",
)
# A clip's records: the working source ("video", its page's original) and its dreams; their
# figure's picture is the poster, and the video files go beside it.
VIDEO_KINDS = frozenset({"video", "video-dream", "video-explain"})


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
    alternate: Path | None = None  # a second view (MaCo's attribution), shown as a link
    image: Any = None  # an images.ImageSet, set by the builder
    animation: Any = None  # an images.Variant for animated outputs (zooms), set by the builder
    legend_image: Any = None
    frame_images: list[Any] = field(default_factory=list)
    alternate_image: Any = None
    page_key: str = ""  # the photo page it is on, if any
    video: Path | None = None  # a clip's MP4 (its ``src`` is then the poster)
    webm: Path | None = None
    media: list[Any] = field(default_factory=list)  # the published videos, set by the builder

    @property
    def download_name(self) -> str:
        """The file name a downloaded full-size PNG gets: photo key and figure id."""
        return f"{self.page_key + '-' if self.page_key else ''}{self.id}.png"


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
    folder: tuple[str, ...] = ()  # its album


@dataclass(frozen=True)
class SharedGroup:
    """Figures of a photo page made alike (every dream, every explanation): the provenance
    rows they share beyond the page's, said once under ``title`` at ``#anchor``, and the
    command they share when one job made them all ("" when each keeps its own)."""

    anchor: str
    title: str
    kinds: frozenset[str]
    rows: tuple[tuple[str, str], ...]
    command: str = ""

    def holds(self, fig: Figure) -> bool:
        return fig.kind in self.kinds


# (anchor, title, kinds, whether they share one job's command) of a page's ``groups``.
DREAM_KINDS = frozenset({"dream", "zoom"})
EXPLAIN_KINDS = frozenset({"explain"})
SHARED_GROUPS = (
    ("made-dreams", "Every dream", DREAM_KINDS, False),
    ("made-explain", "Every explanation", EXPLAIN_KINDS, True),
)


@dataclass(frozen=True)
class Pending:
    """A figure still being made when the site is published during a build: its job's
    kind and label, and its photo's sha256 when it belongs to one."""

    kind: str
    label: str
    sha256: str = ""

    @property
    def text(self) -> str:
        """What a visitor reads: "the classic dream", "the explanations"."""
        kind = KINDS.get(self.kind)
        return kind.pending_text(self.label) if kind else self.label


@dataclass
class PhotoPage:
    key: str
    name: str
    sha256: str
    photo: Figure | None = None
    dreams: list[Figure] = field(default_factory=list)
    zooms: list[Figure] = field(default_factory=list)
    videos: list[Figure] = field(default_factory=list)
    layer_dreams: list[Figure] = field(default_factory=list)
    gradcam: list[Figure] = field(default_factory=list)
    lime: list[Figure] = field(default_factory=list)
    robustness: list[Figure] = field(default_factory=list)
    other: list[Figure] = field(default_factory=list)
    skipped: list[Skip] = field(default_factory=list)
    pending: list[str] = field(default_factory=list)  # what is still being made, in words
    folder: tuple[str, ...] = ()  # its album's folders under the photos folder
    album: Album | None = None  # set by ``albums.build_albums``, with its neighbours there
    prev: PhotoPage | None = field(default=None, repr=False)
    next: PhotoPage | None = field(default=None, repr=False)

    @property
    def path(self) -> str:
        return f"photos/{self.key}.html"

    @property
    def cover(self) -> Figure | None:
        """The dream that best stands for the photo on the index (a whole one, not masked)."""
        for preset in COVER_PRESETS:
            for fig in self.dreams:
                if fig.details.get("preset") == preset and not fig.details.get("mask"):
                    return fig
        return self.dreams[0] if self.dreams else (self.videos or [self.photo])[0]

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
    def shared(self) -> list[tuple[str, str]]:
        """The provenance rows every figure of the page shares, stated once for the page."""
        return shared_rows([f.provenance for f in self.figures])

    def shared_by(self, kinds: frozenset[str]) -> list[tuple[str, str]]:
        """What every figure of ``kinds`` shares beyond ``shared`` (one job made all the
        explanations; the dreams' presets leave most recipe fields alone)."""
        common = shared_rows([f.provenance for f in self.figures if f.kind in kinds], None)
        shared = self.shared
        return [row for row in common if row not in shared]

    @property
    def groups(self) -> list[SharedGroup]:
        """The page's groups of figures made alike that have something to say once."""
        groups = []
        for anchor, title, kinds, one_job in SHARED_GROUPS:
            command = self.explain_command if one_job else ""
            group = SharedGroup(anchor, title, kinds, tuple(self.shared_by(kinds)), command)
            if group.rows or group.command:
                groups.append(group)
        return groups

    @property
    def explain_command(self) -> str:
        """The command every explanation of the photo shares (one job), or ""."""
        commands = {f.command for f in self.figures if f.kind == "explain"}
        many = sum(f.kind == "explain" for f in self.figures) > 1
        return commands.pop() if many and len(commands) == 1 else ""

    def made_by_explain_job(self, figures: Sequence[Figure]) -> list[Figure]:
        """Those of ``figures`` that the page's one explanation job made."""
        command = self.explain_command
        return [f for f in figures if f.kind == "explain" and command and f.command == command]

    def made_once(self, figures: Sequence[Figure]) -> list[tuple[str, str]]:
        """What two or more of ``figures`` made by the page's one explanation job share
        beyond the page's and every explanation's rows (the part of the job that made them:
        its time, when): said once above them, so their panels keep only what differs."""
        if not self.explain_command:
            return []
        figs = self.made_by_explain_job(figures)
        hide = self.shared + self.shared_by(EXPLAIN_KINDS)
        return [r for r in shared_rows([f.provenance for f in figs], None) if r not in hide]

    @staticmethod
    def common_legend(figures: Sequence[Figure]) -> Figure | None:
        """The first of two or more figures that all carry the same legend: shown once."""
        legends = [f.legend for f in figures]
        if len(figures) > 1 and legends[0] and all(x == legends[0] for x in legends):
            return figures[0]
        return None

    @property
    def description(self) -> str:
        preds = self.photo.predictions if self.photo else []
        return page_description(self.name, preds, len(self.dreams))

    @property
    def lime_r2(self) -> float | None:
        r2 = self.lime_info.get("r2")
        return None if r2 is None else float(r2)


@dataclass
class Gallery:
    photos: list[PhotoPage]
    layer_dreams: list[Figure]
    class_dreams: list[Figure]
    skipped: list[Skip]
    models: list[ModelRow]
    versions: dict[str, str]
    renders: int
    album: Album = field(default_factory=lambda: Album(()))  # the top of the album tree
    pending: tuple[Pending, ...] = ()  # published during the build: what is still to come

    @property
    def pending_layers(self) -> int:
        return sum(KINDS.page_of_job(p.kind) == "layers" for p in self.pending)

    @property
    def pending_classes(self) -> bool:
        return any(KINDS.page_of_job(p.kind) == "classes" for p in self.pending)

    @property
    def figures(self) -> list[Figure]:
        own = [f for p in self.photos for f in p.figures]
        seen = {id(f) for f in own}
        rest = [f for f in self.layer_dreams + self.class_dreams if id(f) not in seen]
        return own + rest


# --------------------------------------------------------------------------- figures


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
    """The figure for one record with an output file."""
    out = src.output
    if out is None:
        return None
    words = describe(src, name)
    video = webm = None
    if src.kind in VIDEO_KINDS:
        video, out = out, src.resolve(str(src.extra.get("poster", "")))
        webm = src.resolve(str(src.extra["webm"])) if src.extra.get("webm") else None
    legend_src = None
    if words.legend and words.legend.get("image"):
        legend_src = src.resolve(str(words.legend["image"]))
    return Figure(
        id=_unique_id(words.id, taken),
        kind=src.kind,
        src=out,
        group=words.group,
        title=words.title,
        alt=words.alt,
        caption=words.caption,
        provenance=provenance_rows(src, anchor),
        command=public_command(str(src.entry.get("command", "")), anchor),
        predictions=list(src.extra.get("predictions") or [])[:5],
        legend=words.legend,
        legend_src=legend_src,
        details=words.details,
        frames=[src.resolve(str(p)) for p in src.extra.get("frames") or []],
        alternate=src.resolve(str(attribution))
        if (attribution := src.extra.get("attribution"))
        else None,
        video=video,
        webm=webm,
    )


def _values(values: Any) -> list[float]:
    try:
        ys = [float(v) for v in values or []]
    except (TypeError, ValueError):
        return []
    return ys if len(ys) >= 2 else []


def _curve(name: str, values: Any, auc: Any, top: float) -> Curve | None:
    ys = _values(values)
    if not ys:
        return None

    def short(v: float) -> str:  # 0.1 px, no trailing ".0"
        return f"{round(v, 1):g}"

    pts = " ".join(
        f"{short(100 * i / (len(ys) - 1))},{short(60 - 56 * max(y, 0) / top)}"
        for i, y in enumerate(ys)
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
    """The ``PhotoPage`` list (one of ``PAGE_SECTIONS``) a figure of a photo joins: its job
    kind says which (``JobKind.sections``)."""
    return KINDS.section(fig.kind, fig.details)


def _input_path(src: Source) -> str:
    """Where the record's photo was on the build machine, as an absolute path ("" if none)."""
    inputs = src.entry.get("inputs") or []
    path = str(inputs[0].get("path") or "") if inputs else ""
    return os.path.abspath(path.replace("\\", "/")) if path else ""


def build_gallery(
    sources: Sequence[Source],
    anchor: Path | None = None,
    *,
    photos: Path | str | None = None,
    flat: bool = False,
    pending: Sequence[Pending] = (),
) -> Gallery:
    """Group the records into photo pages, layer dreams and class dreams, and the photo
    pages into albums: one per subfolder of ``photos`` (by default the folder all the
    photos share), or none when ``flat``. ``pending``: the figures a build is still making,
    each said on its photo's page."""
    photo_records = [s for s in sources if s.kind in ("photo", "video") and s.output is not None]
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
        if src.sha256 and page_of(src) is None and src.kind in KINDS.page_kinds():
            name = _photo_name(src)
            key = _unique_id(photo_key(name, src.sha256), keys)
            pages[(src.sha256, name)] = PhotoPage(key=key, name=name, sha256=src.sha256)
            taken[(src.sha256, name)] = set()

    layer_dreams: list[Figure] = []
    class_dreams: list[Figure] = []
    skipped: list[Skip] = []
    skip_paths: list[str] = []
    global_ids: set[str] = set()
    for src in sources:
        kind = src.kind
        page = page_of(src)
        if kind == "skipped":
            skip = Skip(_photo_name(src), public_text(str(src.extra.get("reason", "?")), anchor))
            skipped.append(skip)
            skip_paths.append(_input_path(src))
            if page:
                page.skipped.append(skip)
            continue
        if kind in ("photo", "video") or src.output is None:
            continue
        name = page.name if page else _photo_name(src)
        wide = KINDS.pages().get(kind)  # its figures' own page: the layers or classes page
        if wide:
            fig = make_figure(src, name, global_ids, anchor)
            if fig:
                (layer_dreams if wide == "layers" else class_dreams).append(fig)
                if page:  # a photo's layer dream (its atlas) is on its page too
                    getattr(page, section_of(fig)).append(fig)
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
    # Each file's path (the same bytes may sit under two names, in two albums).
    found = {
        (src.sha256, _photo_name(src)): _input_path(src) for src in reversed(sources) if src.sha256
    }
    by_sha = {sha: path for (sha, _), path in found.items()}
    paths = [*found.values(), *(_input_path(s) for s in sources if s.kind == "skipped")]
    root = os.path.abspath(photos) if photos is not None else photos_root(paths)
    for (sha, name), page in pages.items():
        path = found.get((sha, name)) or by_sha.get(sha, "")
        page.folder = folder_of(path, root) if root else ()
    skipped = [
        Skip(s.name, s.reason, folder_of(path, root) if root and path else ())
        for s, path in zip(skipped, skip_paths, strict=True)
    ]
    for page in pages.values():
        page.layer_dreams.sort(key=depth)
        # accentuations (no method) follow the Grad-CAM panels; a masked dream follows the
        # first panel, the map it came from
        page.gradcam.sort(key=_panel_order(GRADCAM_METHODS))
        page.lime.sort(key=_panel_order(LIME_METHODS))
        page.robustness.sort(key=_robustness_sort_key)
        _one_job_made(page)
    for item in pending:
        for (sha, _), page in pages.items():
            if item.sha256 and sha == item.sha256 and item.text not in page.pending:
                page.pending.append(item.text)

    versions: dict[str, str] = {}
    for src in sources:
        for k, v in (src.entry.get("versions") or {}).items():
            versions.setdefault(str(k), str(v))
    ordered = sorted(pages.values(), key=lambda p: (re.sub(r"\W+", "", p.name.casefold()), p.key))
    return Gallery(
        photos=ordered,
        layer_dreams=layer_dreams,
        class_dreams=class_dreams,
        skipped=skipped,
        models=model_rows(sources, anchor),
        versions=versions,
        renders=sum(1 for s in sources if s.output is not None),
        album=build_albums(ordered, skipped, flat=flat),
        pending=tuple(pending),
    )


def _one_job_made(page: PhotoPage) -> None:
    """The explanations that one job made say when as the job's span, the same for each,
    so the page states it once (the seconds between its panels are no fact of theirs)."""
    figs = page.made_by_explain_job(page.figures)
    made = [value for f in figs for label, value in f.provenance if label == "Made"]
    if len(made) != len(figs) or len(set(made)) < 2:
        return
    span = f"{min(made)} to {max(made)}"
    for fig in figs:
        fig.provenance = [(k, span if k == "Made" else v) for k, v in fig.provenance]


def _panel_order(methods: Sequence[str]) -> Callable[[Figure], float]:
    """A section's sort key: its methods' order, a masked dream just after the first."""

    def key(fig: Figure) -> float:
        if fig.details.get("mask"):
            return 0.5
        return _index(methods, str(fig.details.get("method", "")))

    return key


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 1 << 30


def _index(options: Sequence[str], value: str) -> int:
    return options.index(value) if value in options else len(options)


@functools.lru_cache(maxsize=65536)
def relative_url(target: str, page: str) -> str:
    """The URL of site path ``target`` as seen from site page ``page``, percent-encoded.
    (Pure string work on site paths, cached: a site of thousands of pages asks it often.)"""
    start = [p for p in posixpath.dirname(page).split("/") if p]
    parts = [p for p in target.split("/") if p]
    common = 0
    for a, b in zip(start, parts[:-1], strict=False):
        if a != b:
            break
        common += 1
    rel = "/".join([".."] * (len(start) - common) + parts[common:]) or "."
    return quote(rel, safe="/#")
