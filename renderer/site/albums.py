"""Albums and index pages: each subfolder of the photos folder is an album (sigal's
convention), nested as deep as the folders, and every index is paged.

Pure functions over the photo pages. URLs are stable: a photo's page stays
``photos/<key>.html`` whatever its album, and an album's folder is named after its folder
alone (with a short hash of the name when the name is not already URL-safe), so adding a
photo or an album moves no other page.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

from .options import PER_PAGE
from .types import Album, PhotoPage, Skip

__all__ = ["PER_PAGE", "Album", "IndexPage", "build_albums", "index_pages"]

PAGER_WINDOW = 2  # page numbers shown either side of the current one


@dataclass(frozen=True)
class IndexPage:
    """One page of an album's index: the albums and photos it shows, and its neighbours."""

    album: Album
    number: int
    total: int
    albums: tuple[Album, ...]
    photos: tuple[PhotoPage, ...]

    @property
    def path(self) -> str:
        return self.album.page_path(self.number)

    @property
    def prev(self) -> str | None:
        return self.album.page_path(self.number - 1) if self.number > 1 else None

    @property
    def next(self) -> str | None:
        return self.album.page_path(self.number + 1) if self.number < self.total else None

    @property
    def numbers(self) -> list[int | None]:
        """Page numbers for the pager: the first, the last, a window around this one, and
        None for each gap."""
        keep = {1, self.total, *range(self.number - PAGER_WINDOW, self.number + PAGER_WINDOW + 1)}
        shown: list[int | None] = []
        for n in range(1, self.total + 1):
            if n in keep:
                shown.append(n)
            elif shown and shown[-1] is not None:
                shown.append(None)
        return shown


def folder_of(path: str, root: str) -> tuple[str, ...]:
    """The album folders of a photo at ``path`` under the photos folder ``root``."""
    parent = os.path.dirname(path)
    try:
        rel = os.path.relpath(parent, root)
    except ValueError:  # another drive
        return ()
    if rel == "." or rel.startswith(".."):
        return ()
    return tuple(part for part in rel.replace("\\", "/").split("/") if part)


def photos_root(paths: Sequence[str]) -> str:
    """The folder the photos were found in, when it was not given: their common folder."""
    folders = [os.path.dirname(p) for p in paths if p]
    if not folders:
        return ""
    try:
        return os.path.commonpath(folders)
    except ValueError:  # relative and absolute paths mixed, or other drives
        return ""


def build_albums(
    photos: Sequence[PhotoPage], skipped: Sequence[Skip], *, flat: bool = False
) -> Album:
    """The album tree of the photos (by each one's ``folder``); ``flat`` puts them all at
    the top. Each photo page learns its album and its neighbours there."""
    top = Album(())
    albums: dict[tuple[str, ...], Album] = {(): top}

    def album(names: tuple[str, ...]) -> Album:
        if flat:
            return top
        if names not in albums:
            parent = album(names[:-1])
            albums[names] = Album(names, parent)
            parent.albums.append(albums[names])
        return albums[names]

    for page in photos:
        album(page.folder).photos.append(page)
    for skip in skipped:
        album(skip.folder).skipped.append(skip)
    for each in albums.values():
        each.albums.sort(key=lambda a: (a.title.casefold(), a.title))
        for i, page in enumerate(each.photos):
            page.album = each
            page.prev = each.photos[i - 1] if i > 0 else None
            page.next = each.photos[i + 1] if i + 1 < len(each.photos) else None
    return top


def index_pages(album: Album, per_page: int = PER_PAGE) -> list[IndexPage]:
    """The album's index, ``per_page`` entries (albums first, then photos) a page."""
    if per_page < 1:
        raise ValueError(f"per_page must be >= 1, got {per_page}")
    items: list[Album | PhotoPage] = [*album.shown_albums, *album.photos]
    chunks = [items[i : i + per_page] for i in range(0, len(items), per_page)] or [[]]
    return [
        IndexPage(
            album,
            n,
            len(chunks),
            tuple(x for x in chunk if isinstance(x, Album)),
            tuple(x for x in chunk if not isinstance(x, Album)),
        )
        for n, chunk in enumerate(chunks, start=1)
    ]
