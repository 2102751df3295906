"""Published images: a clean full-resolution PNG and WebP copies sized for their slots.

Every picture gets WebP copies from inset size (120 px) up to its full size, so a ``srcset``
lets the browser fetch no more than its slot needs, from a 72 px inset to the lightbox on a
large screen; the PNG is the "Download full size" file. An original photo is published at
``PHOTO_MAX_SIDE`` at most, never the artist's 12 MP file.

Each file is encoded once: a rebuild links it from the previous site, and a site built anew
from the media store beside the render folder (``mediastore``).

File names carry a hash of the source bytes, so a rebuild reuses the previous site's
thumbnails only when the source is unchanged, and browsers may cache them forever.
Everything is re-encoded from pixels or checked first, so no EXIF or GPS gets published.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image, ImageSequence

from ..imageio import encode_animation, encode_image, to_rgb8, write_bytes_atomic
from .mediastore import MediaStore
from .publish import PreviousSite

THUMB_WIDTHS = (120, 240, 480, 960, 1600)  # and always the full width
# A copy within this factor of the full width adds bytes to every srcset and saves the
# browser almost nothing: 120/240/256 becomes 120/256.
NEAR_FULL = 1.25
FRAME_WIDTHS = (120, 240)
PHOTO_MAX_SIDE = 2048
MAX_THUMB_BYTES = 60_000  # for an 800 x 600 copy; larger ones get the same bytes per pixel
BUDGET_AREA = 800 * 600
QUALITIES = (80, 70, 60, 50, 42)
# Hex digits of the content hash in published names: 40 bits, so the odds that two of a
# photo folder's ~60 files share a name are about 1 in 10^9; short names keep srcsets small.
DIGEST_HEX = 10
# Bump when thumbnails are made differently, so old ones are not reused.
RECIPE = b"webp-v3"  # v3: 120 px to full width, byte budget by area, short names
HARMLESS_PNG_INFO = frozenset({"dpi", "gamma", "srgb", "aspect", "transparency"})
HARMLESS_WEBP_INFO = frozenset({"loop", "background", "duration", "timestamp"})
ANIMATION_QUALITY = 90


@dataclass(frozen=True)
class Variant:
    path: str  # site-relative POSIX path
    width: int
    height: int
    bytes: int


@dataclass(frozen=True)
class ImageSet:
    full: str  # site-relative path of the full-resolution PNG
    width: int
    height: int
    variants: tuple[Variant, ...]
    bytes: int = 0  # of the PNG

    @property
    def default(self) -> Variant | None:
        """The ``src`` for browsers without srcset: the first at least 480 px wide."""
        fits = [v for v in self.variants if v.width >= 480]
        return fits[0] if fits else self.largest

    @property
    def smallest(self) -> Variant | None:
        return self.variants[0] if self.variants else None

    @property
    def largest(self) -> Variant | None:
        return self.variants[-1] if self.variants else None


@dataclass(frozen=True)
class Published:
    image: ImageSet
    written: int
    reused: int


@dataclass(frozen=True)
class Picture:
    """A source file's bytes, read and hashed once, however many files are made from it."""

    path: Path
    data: bytes = field(repr=False)
    hasher: Any = field(repr=False, compare=False)  # sha256 of ``data``, copied per digest

    @classmethod
    def read(cls, source: Path | Picture) -> Picture:
        if isinstance(source, Picture):
            return source
        data = Path(source).read_bytes()
        return cls(Path(source), data, hashlib.sha256(data))

    def digest(self, widths: tuple[int, ...]) -> str:
        """The hash in the published names: the bytes, the thumbnail recipe and the widths."""
        h = self.hasher.copy()
        h.update(RECIPE + repr(widths).encode())
        return h.hexdigest()[:DIGEST_HEX]

    def open(self) -> Image.Image:
        """The picture, not decoded yet: its size and header only."""
        return Image.open(io.BytesIO(self.data))


def _is_clean_png(img: Image.Image) -> bool:
    return img.format == "PNG" and set(img.info) <= HARMLESS_PNG_INFO


def byte_budget(width: int, height: int) -> int:
    """The most bytes a WebP copy of this size should take: ``MAX_THUMB_BYTES`` up to
    800 x 600, the same bytes per pixel above."""
    return max(MAX_THUMB_BYTES, MAX_THUMB_BYTES * width * height // BUDGET_AREA)


def encode_thumbnail(img: Image.Image, width: int) -> tuple[bytes, int, int]:
    """A WebP of ``width`` px, as good as fits in its ``byte_budget`` (or the lowest quality)."""
    height = max(1, round(img.height * width / img.width))
    budget = byte_budget(width, height)
    small = (
        img
        if width == img.width
        else img.resize((width, height), Image.Resampling.LANCZOS, reducing_gap=3.0)
    )
    data = b""
    for quality in QUALITIES:
        data = encode_image(small, "WEBP", quality=quality, method=4)
        if len(data) <= budget:
            break
    return data, width, height


def _place(
    target: Path,
    previous: Path | None,
    make: Callable[[], bytes],
    store: MediaStore | None = None,
) -> bool:
    """Write ``target``, linking it from the previous site when it is there, else from the
    media store; a file made anew joins the store. True if reused."""
    if target.exists():  # the same picture twice in one site: one file serves both
        return True
    target.parent.mkdir(parents=True, exist_ok=True)
    stored = store.find(target.name) if store is not None else None
    if previous is None or not previous.is_file():
        previous = stored
    if previous is not None and previous.is_file():
        try:
            os.link(previous, target)
        except FileExistsError:  # another thread placed the same picture
            pass
        except OSError:
            with contextlib.suppress(shutil.SameFileError):
                shutil.copyfile(previous, target)
        if store is not None and stored is None:  # a site from before the store
            store.keep(target)
        return True
    write_bytes_atomic(target, make())
    if store is not None:
        store.keep(target)
    return False


def capped_size(width: int, height: int, max_side: int | None) -> tuple[int, int]:
    """The size scaled down so its long side is at most ``max_side`` (never up)."""
    if not max_side or max(width, height) <= max_side:
        return width, height
    scale = max_side / max(width, height)
    return max(1, round(width * scale)), max(1, round(height * scale))


class _Pixels:
    """The source decoded on first need, and once: a rebuild that reuses every file decodes
    nothing (the size comes from the header). ``size`` caps it (a published photo)."""

    def __init__(self, picture: Picture, size: tuple[int, int]) -> None:
        self.picture = picture
        self.size = size
        self._image: Image.Image | None = None
        self._rgb: Image.Image | None = None
        self.resized = False

    @property
    def image(self) -> Image.Image:
        if self._image is None:
            img = self.picture.open()
            img.load()  # PNG text chunks after the pixels are only read now
            if img.size != self.size:
                if img.mode not in ("RGB", "RGBA", "L"):
                    img = to_rgb8(img)
                img = img.resize(self.size, Image.Resampling.LANCZOS, reducing_gap=3.0)
                self.resized = True
            self._image = img
        return self._image

    @property
    def rgb(self) -> Image.Image:
        """8-bit RGB for the thumbnails (alpha on the neutral grey, 16 bits rescaled)."""
        if self._rgb is None:
            self._rgb = to_rgb8(self.image)
        return self._rgb

    def full_png(self) -> bytes:
        """The source itself when it is a PNG with nothing to hide at its own size, else its
        pixels anew (transparency and grey kept)."""
        img = self.image
        if not self.resized and _is_clean_png(img):
            return self.picture.data
        keep = img if img.mode in ("RGB", "RGBA", "L") else self.rgb
        return encode_image(keep, "PNG", compress_level=6)


def publish_image(
    source: Path | Picture,
    site: Path,
    folder: str,
    stem: str,
    widths: tuple[int, ...] = THUMB_WIDTHS,
    previous_site: Path | PreviousSite | None = None,
    max_side: int | None = None,
    store: MediaStore | None = None,
) -> Published:
    """Publish ``source`` under ``site/folder``: ``<stem>-<hash>.png`` and ``<hash>-<width>.webp``
    for each width narrower than the picture by more than ``NEAR_FULL``, plus its full width
    (none when ``widths`` is empty). ``max_side`` caps the published size. (The copies'
    short names keep a photo page's srcsets small; the PNG, the file a visitor downloads,
    keeps its name.)"""
    picture = Picture.read(source)
    previous = PreviousSite.of(previous_site)
    digest = picture.digest(widths + ((-max_side,) if max_side else ()))
    width, height = capped_size(*picture.open().size, max_side)
    pixels = _Pixels(picture, (width, height))
    written = reused = 0

    def place(rel: str, make) -> None:
        nonlocal written, reused
        old = previous.file(rel) if previous else None
        if _place(site / rel, old, make, store):
            reused += 1
        else:
            written += 1

    full = f"{folder}/{stem}-{digest}.png"
    place(full, pixels.full_png)
    wanted = [w for w in widths if w * NEAR_FULL < width] + ([width] if widths else [])
    variants = []
    for w in wanted:
        rel = f"{folder}/{digest}-{w}.webp"
        h = max(1, round(height * w / width))
        place(rel, lambda w=w: encode_thumbnail(pixels.rgb, w)[0])
        variants.append(Variant(rel, w, h, (site / rel).stat().st_size))
    image = ImageSet(full, width, height, tuple(variants), (site / full).stat().st_size)
    return Published(image, written, reused)


def _clean_animation(img: Image.Image) -> bool:
    return img.format == "WEBP" and set(img.info) <= HARMLESS_WEBP_INFO


def encode_clean_animation(img: Image.Image) -> bytes:
    """Any animation (WebP, GIF, APNG) as an animated WebP made from its pixels alone, with
    each frame's duration and the loop count kept."""
    frames, durations = [], []
    for frame in ImageSequence.Iterator(img):
        frame.load()  # a frame's duration is known once it is decoded
        frames.append(frame.convert("RGB"))
        durations.append(int(frame.info.get("duration") or 100))
    loop = int(img.info.get("loop", 0) or 0)
    return encode_animation(frames, durations, quality=ANIMATION_QUALITY, loop=loop)


def publish_animation(
    source: Path | Picture,
    site: Path,
    folder: str,
    stem: str,
    previous_site: Path | PreviousSite | None = None,
    store: MediaStore | None = None,
) -> tuple[Variant, bool]:
    """Publish an animation itself as ``<stem>-<hash>.webp``: a clean animated WebP is
    copied byte for byte, anything else re-encoded. Returns it and whether it was reused.
    Pass the ``Picture`` its poster was published from, so the file is read once."""
    picture = Picture.read(source)
    digest = picture.digest(())
    img = picture.open()
    rel = f"{folder}/{stem}-{digest}.webp"
    previous = PreviousSite.of(previous_site)
    old = previous.file(rel) if previous else None
    clean = _clean_animation(img)
    make = (lambda: picture.data) if clean else (lambda: encode_clean_animation(img))
    reused = _place(site / rel, old, make, store)
    return Variant(rel, img.width, img.height, (site / rel).stat().st_size), reused
