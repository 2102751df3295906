"""Manifest entries -> page view-models.

Pure functions: they read no files and know nothing of HTML. They group the records of one
photo by ``inputs[0].sha256``, order layer dreams by ``extra.depth`` and file each photo in
its album (``albums``). What a figure says is written in ``captions``, how it was made in
``howmade``; both take every absolute path of the build machine out of what they publish.
"""

from __future__ import annotations

import functools
import os
import posixpath
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import quote

from ..gallery.kinds import KINDS
from ..gallery.kinds.explain import GRADCAM_METHODS
from ..naming import photo_key, slug
from .albums import build_albums, folder_of, photos_root
from .captions import describe, percent
from .howmade import model_rows, provenance_rows
from .public import public_command, public_text
from .types import (
    PAGE_SECTIONS,
    Album,
    Curve,
    Faithfulness,
    Figure,
    ModelRow,
    PhotoPage,
    SharedGroup,
    Skip,
    Source,
    faithfulness_of,
)

__all__ = [
    "PAGE_SECTIONS",
    "Album",
    "Curve",
    "Faithfulness",
    "Figure",
    "Gallery",
    "ModelRow",
    "Pending",
    "PhotoPage",
    "SharedGroup",
    "Skip",
    "Source",
    "build_gallery",
    "faithfulness_of",
    "percent",
    "relative_url",
]

LIME_METHODS = ("lime-segments", "lime-top5", "lime-top10", "lime-top15", "lime-posneg")
ROBUSTNESS_KINDS = ("noise", "brightness", "contrast")
# A clip's records: the working source ("video", its page's original) and its dreams; their
# figure's picture is the poster, and the video files go beside it.
VIDEO_KINDS = frozenset({"video", "video-dream", "video-explain"})


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
    if src.photo is not None:
        return PurePosixPath(src.photo.path.replace("\\", "/")).name or "photo"
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
        command=public_command(src.record.command, anchor),
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


# --------------------------------------------------------------------------- the gallery


def section_of(fig: Figure) -> str:
    """The ``PhotoPage`` list (one of ``PAGE_SECTIONS``) a figure of a photo joins: its job
    kind says which (``JobKind.sections``)."""
    return KINDS.section(fig.kind, fig.details)


def _input_path(src: Source) -> str:
    """Where the record's photo was on the build machine, as an absolute path ("" if none)."""
    path = src.photo.path if src.photo is not None else ""
    return os.path.abspath(path.replace("\\", "/")) if path else ""


@dataclass
class _Book:
    """The photo pages by (sha256, file name) as they are made, and the figure ids taken
    on each: a page per file, so the same bytes under two names (Cat.jpg, cat.jpg) are two
    pages."""

    pages: dict[tuple[str, str], PhotoPage] = field(default_factory=dict)
    taken: dict[tuple[str, str], set[str]] = field(default_factory=dict)
    keys: set[str] = field(default_factory=set)

    def add(self, src: Source, name: str, sha8: str) -> PhotoPage:
        key = _unique_id(photo_key(name, sha8), self.keys)
        page = self.pages[(src.sha256, name)] = PhotoPage(key=key, name=name, sha256=src.sha256)
        self.taken[(src.sha256, name)] = set()
        return page

    def page_of(self, src: Source) -> PhotoPage | None:
        """The page of the file a record was made from; by its bytes alone when no page
        has its name (a record that names its input differently)."""
        if not src.sha256:
            return None
        page = self.pages.get((src.sha256, _photo_name(src)))
        if page is None:
            alike = [p for (sha, _), p in self.pages.items() if sha == src.sha256]
            page = alike[0] if len(alike) == 1 else None
        return page


def _photo_pages(sources: Sequence[Source], anchor: Path | None) -> _Book:
    """A page for each photo (and clip) record, with its picture; and for a photo with
    renders but no photo record."""
    book = _Book()
    for src in sources:
        if src.kind not in ("photo", "video") or src.output is None:
            continue
        name = _photo_name(src)
        if (src.sha256, name) not in book.pages:
            page = book.add(src, name, src.sha256 or "0" * 8)
            page.photo = make_figure(src, name, book.taken[(src.sha256, name)], anchor)
    for src in sources:
        if src.sha256 and book.page_of(src) is None and src.kind in KINDS.page_kinds():
            book.add(src, _photo_name(src), src.sha256)
    return book


@dataclass
class _Filed:
    """The figures that belong to no single photo page, and the skipped files."""

    layer_dreams: list[Figure] = field(default_factory=list)
    class_dreams: list[Figure] = field(default_factory=list)
    skipped: list[Skip] = field(default_factory=list)
    skip_paths: list[str] = field(default_factory=list)


def _file_figures(sources: Sequence[Source], book: _Book, anchor: Path | None) -> _Filed:
    """Each record's figure on its photo's page, in the section of its kind."""
    filed = _Filed()
    layer_dreams, class_dreams, skipped = filed.layer_dreams, filed.class_dreams, filed.skipped
    skip_paths = filed.skip_paths
    global_ids: set[str] = set()
    for src in sources:
        kind = src.kind
        page = book.page_of(src)
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
        fig = make_figure(src, name, book.taken[(page.sha256, page.name)], anchor)
        if fig is not None:
            getattr(page, section_of(fig)).append(fig)
    layer_dreams.sort(key=_depth)
    class_dreams.sort(key=lambda f: (_int(f.details.get("class_index")), f.id))
    return filed


def _depth(fig: Figure) -> tuple[float, str]:
    try:
        return float(fig.details.get("depth", 0)), fig.id
    except (TypeError, ValueError):
        return 0.0, fig.id


def _into_folders(
    sources: Sequence[Source], book: _Book, filed: _Filed, photos: Path | str | None
) -> list[Skip]:
    """Each page's and each skipped file's album folders under ``photos`` (by default the
    folder the photos share); returns the skipped files with theirs."""
    # Each file's path (the same bytes may sit under two names, in two albums).
    found = {
        (src.sha256, _photo_name(src)): _input_path(src) for src in reversed(sources) if src.sha256
    }
    by_sha = {sha: path for (sha, _), path in found.items()}
    paths = [*found.values(), *(_input_path(s) for s in sources if s.kind == "skipped")]
    root = os.path.abspath(photos) if photos is not None else photos_root(paths)
    for (sha, name), page in book.pages.items():
        path = found.get((sha, name)) or by_sha.get(sha, "")
        page.folder = folder_of(path, root) if root else ()
    return [
        Skip(s.name, s.reason, folder_of(path, root) if root and path else ())
        for s, path in zip(filed.skipped, filed.skip_paths, strict=True)
    ]


def _finish_pages(book: _Book, pending: Sequence[Pending]) -> list[PhotoPage]:
    """Each page's sections in their order, what is still being made for it; the pages in
    the order of their names."""
    for page in book.pages.values():
        page.layer_dreams.sort(key=_depth)
        # accentuations (no method) follow the Grad-CAM panels; a masked dream follows the
        # first panel, the map it came from
        page.gradcam.sort(key=_panel_order(GRADCAM_METHODS))
        page.lime.sort(key=_panel_order(LIME_METHODS))
        page.robustness.sort(key=_robustness_sort_key)
        _one_job_made(page)
    for item in pending:
        for (sha, _), page in book.pages.items():
            if item.sha256 and sha == item.sha256 and item.text not in page.pending:
                page.pending.append(item.text)
    pages = book.pages.values()
    return sorted(pages, key=lambda p: (re.sub(r"\W+", "", p.name.casefold()), p.key))


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
    book = _photo_pages(sources, anchor)
    filed = _file_figures(sources, book, anchor)
    skipped = _into_folders(sources, book, filed, photos)
    ordered = _finish_pages(book, pending)
    versions: dict[str, str] = {}
    for src in sources:
        for k, v in src.record.versions.items():
            versions.setdefault(str(k), str(v))
    return Gallery(
        photos=ordered,
        layer_dreams=filed.layer_dreams,
        class_dreams=filed.class_dreams,
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
