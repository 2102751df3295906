"""Published images: a clean full-resolution PNG and WebP thumbnails sized for their slots.

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
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageSequence

from ..imageio import encode_animation, encode_image, write_bytes_atomic

THUMB_WIDTHS = (400, 800, 1200)
FRAME_WIDTHS = (240,)
MAX_THUMB_BYTES = 60_000
QUALITIES = (80, 70, 60, 50, 42)
# Bump when thumbnails are made differently, so old ones are not reused.
RECIPE = b"webp-v1"
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

    @property
    def default(self) -> Variant | None:
        """The ``src`` for browsers without srcset: the middle size."""
        return self.variants[len(self.variants) // 2] if self.variants else None

    @property
    def largest(self) -> Variant | None:
        return self.variants[-1] if self.variants else None


@dataclass(frozen=True)
class Published:
    image: ImageSet
    written: int
    reused: int


def _digest(data: bytes, widths: tuple[int, ...]) -> str:
    h = hashlib.sha256(data)
    h.update(RECIPE + repr(widths).encode())
    return h.hexdigest()[:12]


def _is_clean_png(img: Image.Image) -> bool:
    return img.format == "PNG" and set(img.info) <= HARMLESS_PNG_INFO


def encode_thumbnail(img: Image.Image, width: int) -> tuple[bytes, int, int]:
    """A WebP of ``width`` px, as good as fits in ``MAX_THUMB_BYTES`` (or the lowest quality)."""
    height = max(1, round(img.height * width / img.width))
    small = (
        img
        if width == img.width
        else img.resize((width, height), Image.Resampling.LANCZOS, reducing_gap=3.0)
    )
    data = b""
    for quality in QUALITIES:
        data = encode_image(small, "WEBP", quality=quality, method=4)
        if len(data) <= MAX_THUMB_BYTES:
            break
    return data, width, height


def _place(target: Path, previous: Path | None, make) -> bool:
    """Write ``target``, copying it from the previous site when it is there. True if reused."""
    if target.exists():  # the same picture twice in one site: one file serves both
        return True
    target.parent.mkdir(parents=True, exist_ok=True)
    if previous is not None and previous.is_file():
        try:
            os.link(previous, target)
        except FileExistsError:  # another thread placed the same picture
            pass
        except OSError:
            with contextlib.suppress(shutil.SameFileError):
                shutil.copyfile(previous, target)
        return True
    write_bytes_atomic(target, make())
    return False


def publish_image(
    source: Path,
    site: Path,
    folder: str,
    stem: str,
    widths: tuple[int, ...] = THUMB_WIDTHS,
    previous_site: Path | None = None,
) -> Published:
    """Publish ``source`` under ``site/folder``: ``<stem>-<hash>.png`` and one WebP per width
    (only widths narrower than the picture, and at least one)."""
    data = source.read_bytes()
    digest = _digest(data, widths)
    img = Image.open(io.BytesIO(data))
    img.load()
    clean = _is_clean_png(img)
    rgb = img.convert("RGB") if img.mode not in ("RGB", "RGBA", "L") else img
    written = reused = 0

    def place(rel: str, make) -> None:
        nonlocal written, reused
        old = previous_site / rel if previous_site else None
        if _place(site / rel, old, make):
            reused += 1
        else:
            written += 1

    full = f"{folder}/{stem}-{digest}.png"
    place(full, lambda: data if clean else encode_image(rgb, "PNG", compress_level=6))
    wanted = [w for w in widths if w < img.width] or ([img.width] if widths else [])
    if widths and len(wanted) < len(widths) and img.width not in wanted:
        wanted.append(img.width)
    variants = []
    thumb_source = rgb.convert("RGB")
    for width in wanted:
        rel = f"{folder}/{stem}-{digest}-{width}.webp"
        height = max(1, round(img.height * width / img.width))
        place(rel, lambda w=width: encode_thumbnail(thumb_source, w)[0])
        variants.append(Variant(rel, width, height, (site / rel).stat().st_size))
    return Published(ImageSet(full, img.width, img.height, tuple(variants)), written, reused)


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
    source: Path, site: Path, folder: str, stem: str, previous_site: Path | None = None
) -> tuple[Variant, bool]:
    """Publish an animation itself as ``<stem>-<hash>.webp``: a clean animated WebP is
    copied byte for byte, anything else re-encoded. Returns it and whether it was reused."""
    data = source.read_bytes()
    digest = _digest(data, ())
    img = Image.open(io.BytesIO(data))
    rel = f"{folder}/{stem}-{digest}.webp"
    old = previous_site / rel if previous_site else None
    make = (lambda: data) if _clean_animation(img) else (lambda: encode_clean_animation(img))
    reused = _place(site / rel, old, make)
    return Variant(rel, img.width, img.height, (site / rel).stat().st_size), reused
