"""The site's page types: what a page is made of, shared by every module of ``site/``.

Plain data and what follows from it alone; this module imports no other module of the
site, so ``albums``, ``captions``, ``howmade`` and ``model`` can all import it and none
imports one that imports it back. ``model.build_gallery`` fills these in from the records.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from functools import cached_property
from pathlib import Path
from typing import Any

from ..naming import slug
from ..provenance import InputFile, Record

Row = tuple[str, str]  # one label/value row of how a figure was made
# Rows a page states once when every one of its figures has the same value.
SHAREABLE = ("Model", "Weights sha256", "Weights", "Input", "Device", "Made", "Versions")

# A photo page's lists of figures, in page order (the fields of ``PhotoPage`` that hold
# figures); ``model.section_of`` says which one a figure joins.
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
COVER_PRESETS = ("classic", "deep", "photo", "gentle")
ALBUMS_DIR = "albums"


@dataclass(frozen=True)
class Source:
    """One manifest record and the directory its relative paths start from. A manifest
    entry as read (a mapping) is read through ``Record.from_dict``."""

    record: Record
    base: Path

    def __post_init__(self) -> None:
        if isinstance(self.record, Mapping):
            object.__setattr__(self, "record", Record.from_dict(self.record))
        object.__setattr__(self, "base", Path(self.base))

    @property
    def kind(self) -> str:
        return self.record.kind

    @property
    def extra(self) -> Mapping[str, Any]:
        return self.record.extra

    @property
    def photo(self) -> InputFile | None:
        return self.record.photo

    @property
    def sha256(self) -> str:
        return self.record.photo.sha256 if self.record.photo else ""

    @property
    def output(self) -> Path | None:
        out = self.record.output
        return self.base / out if out else None

    @cached_property
    def entry(self) -> Mapping[str, Any]:
        """The record's fields by name, for code that still reads it as a mapping."""
        return {f.name: getattr(self.record, f.name) for f in fields(self.record)}

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
    provenance: list[Row]
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

    @property
    def files(self) -> list[Path]:
        """Every file it is made from: its picture, frames, legend, second view and videos."""
        extra = [
            p for p in (self.legend_src, self.alternate, self.video, self.webm) if p is not None
        ]
        return [self.src, *self.frames, *extra]


@dataclass(frozen=True)
class Skip:
    name: str
    reason: str
    folder: tuple[str, ...] = ()  # its album


@dataclass(frozen=True)
class ModelRow:
    name: str
    title: str
    licence: str
    weights_sha256: str
    weights_source: str


def shared_rows(
    panels: Sequence[Sequence[Row]], labels: Sequence[str] | None = SHAREABLE
) -> list[Row]:
    """The rows every one of two or more panels holds with the same value (of ``labels``
    only, unless None)."""
    if len(panels) < 2:
        return []
    first, rest = panels[0], [set(p) for p in panels[1:]]
    return [
        row for row in first if (labels is None or row[0] in labels) and all(row in p for p in rest)
    ]


# --------------------------------------------------------------------------- charts


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


# --------------------------------------------------------------------------- pages


def segment(name: str) -> str:
    """A folder name as one URL segment: itself when already safe, else its slug and a
    short hash of the name (so "Été" and "Ete" stay apart)."""
    plain = slug(name, 40)
    if plain == name:
        return name
    return f"{plain}-{hashlib.sha256(name.encode('utf-8', 'surrogatepass')).hexdigest()[:6]}"


@dataclass(frozen=True)
class SharedGroup:
    """Figures of a photo page made alike (every dream, every explanation): the provenance
    rows they share beyond the page's, said once under ``title`` at ``#anchor``, and the
    command they share when one job made them all ("" when each keeps its own)."""

    anchor: str
    title: str
    kinds: frozenset[str]
    rows: tuple[Row, ...]
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
    def lime_r2(self) -> float | None:
        r2 = self.lime_info.get("r2")
        return None if r2 is None else float(r2)


@dataclass(eq=False)
class Album:
    """A folder of photos: its own photos, its sub-albums and the files it skipped."""

    names: tuple[str, ...]  # folder names from the photos folder down; () is the top
    parent: Album | None = None
    photos: list[PhotoPage] = field(default_factory=list)
    albums: list[Album] = field(default_factory=list)
    skipped: list[Skip] = field(default_factory=list)

    @property
    def title(self) -> str:
        return self.names[-1] if self.names else ""

    @property
    def dir(self) -> str:
        """The site folder of its index pages ("" for the top)."""
        if not self.names:
            return ""
        return "/".join([ALBUMS_DIR, *(segment(n) for n in self.names)])

    def page_path(self, number: int = 1) -> str:
        name = "index.html" if number <= 1 else f"page-{number}.html"
        return f"{self.dir}/{name}" if self.dir else name

    @property
    def path(self) -> str:
        return self.page_path(1)

    @property
    def listed(self) -> bool:
        """Shown at all: it holds a photo, a skipped file, or a listed album."""
        return bool(self.photos or self.skipped or self.shown_albums)

    @property
    def shown_albums(self) -> list[Album]:
        return [a for a in self.albums if a.listed]

    @property
    def count(self) -> int:
        """Photos here and in every album below."""
        return len(self.photos) + sum(a.count for a in self.albums)

    @property
    def cover_page(self) -> PhotoPage | None:
        """The photo that stands for the album: its first, else its first album's."""
        for page in self.photos:
            if page.cover is not None and page.cover.image is not None:
                return page
        for album in self.shown_albums:
            found = album.cover_page
            if found is not None:
                return found
        return None

    @property
    def trail(self) -> list[Album]:
        """The albums from the top down to this one, itself included."""
        chain, album = [], self
        while album is not None:
            chain.append(album)
            album = album.parent
        return chain[::-1]

    def walk(self) -> Iterable[Album]:
        """This album and every listed album below it, top first."""
        yield self
        for album in self.shown_albums:
            yield from album.walk()
