"""Which pages a site has, and what each says to a search engine or a share preview.

Every page gets a meta description and ``og:`` tags. Their URLs are relative unless the
site has a ``base_url``, which makes them absolute and adds a ``sitemap.xml`` (link
previews and sitemaps need absolute URLs; a site without an address cannot have them).
"""

from __future__ import annotations

import gzip
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from ..imageio import write_bytes_atomic
from . import model as vm
from .albums import Album, index_pages
from .captions import page_description
from .types import shared_rows

OG_WIDTH = 960  # the share preview's picture: the first copy at least this wide
PRECOMPRESS = (".html", ".css", ".js", ".xml", ".svg")


@dataclass(frozen=True)
class PageSpec:
    path: str  # where it lands in the site
    template: str
    kind: str  # index, album, photo, layers, classes, about
    extra: dict[str, Any] = field(default_factory=dict)
    figure: vm.Figure | None = None  # the picture of its share preview
    description: str = ""

    def share(self, gallery: vm.Gallery, title: str, base_url: str | None) -> dict[str, Any]:
        """The template values of the share preview: description, og:image, canonical URL."""

        def address(target: str) -> str:
            return base_url + target if base_url else vm.relative_url(target, self.path)

        image = self.figure.image if self.figure is not None else None
        og = None
        if image is not None and image.variants:
            wide = [v for v in image.variants if v.width >= OG_WIDTH]
            og = (wide[0] if wide else image.largest).path
        return {
            "description": self.description or f"{title}: photographs dreamed by a classifier.",
            "og_image": address(og) if og else None,
            "canonical": base_url + self.path if base_url else None,
        }


def _count(n: int, word: str) -> str:
    return f"{n} {word}{'s' if n != 1 else ''}"


def _index_specs(album: Album, per_page: int) -> list[PageSpec]:
    """An album's paged index, each page with the album's cover and its words."""
    cover = album.cover_page
    what = _count(album.count, "photograph")
    if album.shown_albums:
        what += f" in {_count(len(album.shown_albums), 'album')}"
    text = (
        f"Album {album.title}: {what}, dreamed over by an image classifier."
        if album.names
        else f"{what}, dreamed over by an image classifier, and where it looks."
    )
    return [
        PageSpec(
            index.path,
            "index.html",
            "album" if album.names else "index",
            {"index": index},
            cover.cover if cover else None,
            text if index.number == 1 else f"Page {index.number} of {index.total}. {text}",
        )
        for index in index_pages(album, per_page)
    ]


def page_specs(gallery: vm.Gallery, per_page: int) -> list[PageSpec]:
    """Every page of the site: each album's paged index, each photo, the dream pages, about."""
    specs = [spec for album in gallery.album.walk() for spec in _index_specs(album, per_page)]
    for page in gallery.photos:
        specs.append(
            PageSpec(
                page.path,
                "photo.html",
                "photo",
                {
                    "page": page,
                    "shared": page.shared,
                    "groups": page.groups,
                },
                page.cover,
                page_description(
                    page.name, page.photo.predictions if page.photo else [], len(page.dreams)
                ),
            )
        )
    if gallery.layer_dreams:
        specs.append(
            PageSpec(
                "layers.html",
                "layers.html",
                "layers",
                {"shared": shared_rows([f.provenance for f in gallery.layer_dreams])},
                figure=gallery.layer_dreams[-1],
                description=f"{_count(len(gallery.layer_dreams), 'DeepDream')} from shallow "
                "layers to deep: edges, then textures, then things.",
            )
        )
    if gallery.class_dreams:
        names = ", ".join(str(f.details.get("class_name")) for f in gallery.class_dreams[:3])
        specs.append(
            PageSpec(
                "classes.html",
                "classes.html",
                "classes",
                {"shared": shared_rows([f.provenance for f in gallery.class_dreams])},
                figure=gallery.class_dreams[0],
                description=f"Pictures grown from noise until the network is sure of one "
                f"ImageNet class: {names}…",
            )
        )
    cover = gallery.album.cover_page
    specs.append(
        PageSpec(
            "about.html",
            "about.html",
            "about",
            figure=cover.cover if cover else None,
            description="How these pictures were made: the model, its weights' checksum, "
            "the software versions and the methods.",
        )
    )
    return specs


def sitemap(specs: Sequence[PageSpec], base_url: str) -> str:
    """A sitemap.xml of every page, with absolute URLs."""
    from urllib.parse import quote

    lines = ['<?xml version="1.0" encoding="UTF-8"?>']
    lines.append('<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">')
    for spec in specs:
        lines.append(f"<url><loc>{escape(base_url + quote(spec.path, safe='/'))}</loc></url>")
    lines.append("</urlset>")
    return "\n".join(lines) + "\n"


def write_precompressed(site: Path) -> int:
    """A ``.gz`` beside every HTML, CSS, JS, XML and SVG file, for hosts that serve them
    (nginx ``gzip_static on``, Caddy ``precompressed gzip``). Returns how many."""
    count = 0
    for folder, _, files in os.walk(site):
        for name in files:
            if name.endswith(PRECOMPRESS):
                path = Path(folder) / name
                data = gzip.compress(path.read_bytes(), compresslevel=9, mtime=0)
                write_bytes_atomic(path.with_name(name + ".gz"), data)
                count += 1
    return count
