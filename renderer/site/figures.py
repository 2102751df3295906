"""Publishing every figure's files into a site under construction.

Each figure's picture (and its legend, second view, frames, animation and videos) becomes
an ``images.ImageSet`` in the site, linked from the previous site or the media store when
the same bytes were published before. Threads: Pillow releases the GIL while it encodes.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from ..naming import slug
from ..oserrors import describe
from .images import (
    FRAME_WIDTHS,
    PHOTO_MAX_SIDE,
    Picture,
    Published,
    publish_animation,
    publish_image,
)
from .mediastore import MediaStore
from .model import Gallery
from .options import SiteError
from .publish import PreviousSite
from .types import PAGE_SECTIONS, Figure

ANIMATED_KINDS = frozenset({"zoom"})  # published as the animation itself, beside a poster


@dataclass(frozen=True)
class Tally:
    """Image files published: made anew, and linked from before."""

    written: int = 0
    reused: int = 0

    def __add__(self, other: Tally) -> Tally:
        return Tally(self.written + other.written, self.reused + other.reused)

    @classmethod
    def of(cls, pub: Published) -> Tally:
        return cls(pub.written, pub.reused)


@dataclass(frozen=True)
class Where:
    """Where a figure's files go, and where the same bytes may be found already."""

    site: Path
    previous: PreviousSite | None
    store: MediaStore | None


def assign_groups(gallery: Gallery) -> None:
    """Each figure's media folder: a photo's figures under its short hash (not its name: a
    long file name would otherwise repeat in every src and srcset of its page; the names
    inside are content hashes), the others under their own group."""
    for page in gallery.photos:
        for fig in page.figures:
            fig.group = fig.group or f"media/{page.sha256[:8] or page.key}"
            fig.page_key = fig.page_key or page.key
    for fig in gallery.figures:
        if not fig.group.startswith("media/"):
            fig.group = f"media/{fig.group or 'misc'}"


def _extras(fig: Figure, stem: str, to: Where) -> Tally:
    """A figure's legend, second view and frames."""
    tally = Tally()
    if fig.legend_src is not None and fig.legend_src.is_file():
        leg = publish_image(
            fig.legend_src, to.site, fig.group, "legend", (), to.previous, store=to.store
        )
        fig.legend_image = leg.image
        tally += Tally.of(leg)
    if fig.alternate is not None and fig.alternate.is_file():
        alt = publish_image(
            fig.alternate,
            to.site,
            fig.group,
            f"{stem}-attribution",
            previous_site=to.previous,
            store=to.store,
        )
        fig.alternate_image = alt.image
        tally += Tally.of(alt)
    frames = []
    for i, frame in enumerate(fig.frames):
        if frame.is_file():
            pub = publish_image(
                frame,
                to.site,
                fig.group,
                f"{stem}-frame-{i}",
                FRAME_WIDTHS,
                to.previous,
                store=to.store,
            )
            frames.append(pub.image)
            tally += Tally.of(pub)
    fig.frame_images = frames
    return tally


def publish_figure(fig: Figure, to: Where) -> Tally:
    """Every file of one figure, into the site."""
    stem = slug(fig.src.stem.replace("+", "-plus"))
    source = Picture.read(fig.src)  # read and hashed once, for the poster and animation
    cap = PHOTO_MAX_SIDE if fig.kind == "photo" else None
    pub = publish_image(
        source, to.site, fig.group, stem, previous_site=to.previous, max_side=cap, store=to.store
    )
    fig.image = pub.image
    tally = Tally.of(pub) + _extras(fig, stem, to)
    if fig.kind in ANIMATED_KINDS:
        fig.animation, again = publish_animation(
            source, to.site, fig.group, stem, to.previous, to.store
        )
        tally += Tally(int(not again), int(again))
    if fig.video is not None:
        from ..video.site import publish_videos

        fig.media, again = publish_videos(fig, to.site, to.previous, to.store)
        tally += Tally(len(fig.media) - again, again)
    return tally


def publish_all(gallery: Gallery, to: Where, warnings: list[str], strict: bool = False) -> Tally:
    """Publish every figure's images, each linked from the previous site or the media store
    when it is there. An output that cannot be read (a corrupt file, a kind of output this
    version does not know how to show) costs its figure and a warning; in a ``strict``
    build, the build. A site file that cannot be written always fails the build."""
    assign_groups(gallery)
    failures: list[str] = []

    def guarded(fig: Figure) -> Tally:
        try:
            return publish_figure(fig, to)
        except (OSError, ValueError, SyntaxError, EOFError, Image.DecompressionBombError) as exc:
            if describe(exc) is not None:
                raise
            fig.image = None
            failures.append(f"cannot publish {fig.src.name} ({fig.alt}): {exc}")
            return Tally()

    present = []
    for fig in gallery.figures:
        if not fig.src.is_file():
            failures.append(f"missing output file {fig.src.name} ({fig.alt})")
        else:
            present.append(fig)
    workers = max(1, min(4, os.cpu_count() or 1))
    with ThreadPoolExecutor(workers) as pool:
        results = list(pool.map(guarded, present))
    if strict and failures:
        more = f" (and {len(failures) - 1} more)" if len(failures) > 1 else ""
        raise SiteError(f"{failures[0]}{more}; the previous site is left as it was")
    warnings.extend(failures)
    drop_missing(gallery)
    return sum(results, Tally())


def drop_missing(gallery: Gallery) -> None:
    """Leave out every figure whose picture could not be published."""
    keep = lambda figs: [f for f in figs if f.image is not None]  # noqa: E731
    gallery.layer_dreams = keep(gallery.layer_dreams)
    gallery.class_dreams = keep(gallery.class_dreams)
    for page in gallery.photos:
        if page.photo is not None and page.photo.image is None:
            page.photo = None
        for name in PAGE_SECTIONS:
            setattr(page, name, keep(getattr(page, name)))
