"""Reading photos robustly and writing images atomically.

Every photo becomes 8-bit sRGB: EXIF orientation applied, an embedded colour profile
(Display P3 from phones, Adobe RGB from cameras, a CMYK print profile) converted to sRGB,
CMYK, palette, grayscale and 16-bit images converted, and transparency composited on a
neutral mid-grey background (``NEUTRAL_BACKGROUND``), so a cut-out does not turn black or
white.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import io
import os
import tempfile
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageCms, ImageOps, UnidentifiedImageError

from .errors import BadInputError, RecipeError

# Re-exported: the photo readers below and their callers use them.
from .files import DEFAULT_MAX_FILE_MB, MB, read_photo_bytes, sha256_file

READABLE_FORMATS = frozenset({"JPEG", "MPO", "PNG", "WEBP", "TIFF", "BMP", "GIF", "HEIF", "AVIF"})
PHOTO_SUFFIXES = frozenset(
    {".jpg", ".jpeg", ".png", ".webp", ".tif", ".tiff", ".bmp", ".gif", ".heic", ".heif", ".avif"}
)
NEUTRAL_BACKGROUND = (128, 128, 128)
DEFAULT_MAX_PIXELS = 100_000_000
# We check the pixel count ourselves, with a clear message, before Pillow decodes anything.
Image.MAX_IMAGE_PIXELS = None


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@functools.cache
def _sha256_of_version(path: str, size: int, mtime_ns: int) -> str:
    return sha256_file(path)


def sha256_file_cached(path: str | os.PathLike[str]) -> str:
    """``sha256_file``, hashed once per process for each version (size, mtime) of a file."""
    stat = os.stat(path)
    return _sha256_of_version(os.fspath(path), stat.st_size, stat.st_mtime_ns)


@functools.cache
def _open_heif() -> None:
    """Teach Pillow to read HEIC/HEIF (the iPhone's own format) through pillow-heif."""
    with contextlib.suppress(ImportError):
        import pillow_heif

        pillow_heif.register_heif_opener()


def decode_photo(
    data: bytes, name: str = "<bytes>", max_pixels: int = DEFAULT_MAX_PIXELS
) -> Image.Image:
    """Decode image bytes into an 8-bit RGB picture, upright, with no alpha."""
    _open_heif()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            img = Image.open(io.BytesIO(data))
            if img.format not in READABLE_FORMATS:
                raise BadInputError(name, f"unsupported image format {img.format}")
            width, height = img.size
            if width * height > max_pixels:
                raise BadInputError(
                    name,
                    f"image too large ({width}x{height} = {width * height / 1e6:.0f} MP; "
                    f"the limit is {max_pixels / 1e6:.0f} MP, see --max-pixels)",
                )
            img.load()
            img = to_srgb(ImageOps.exif_transpose(img))
    except BadInputError:
        raise
    except UnidentifiedImageError:
        raise BadInputError(name, "not an image, or a format that cannot be read") from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        message = str(exc).rstrip(".") or type(exc).__name__
        if "truncated" in message:
            message = "truncated or incomplete image data"
        raise BadInputError(name, f"corrupt image ({message})") from None
    return to_rgb8(img)


def to_srgb(img: Image.Image) -> Image.Image:
    """Apply an embedded ICC profile, so the pixels are sRGB: what the network was trained on
    and what browsers assume for the untagged images we publish. Untagged and sRGB-tagged
    pictures pass through untouched; a profile that cannot be read is ignored."""
    icc = img.info.get("icc_profile")
    if not icc or img.mode not in ("RGB", "RGBA", "CMYK"):
        return img
    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        if ImageCms.getProfileDescription(source).strip().lower().startswith("srgb"):
            return img
        return ImageCms.profileToProfile(
            img,
            source,
            ImageCms.createProfile("sRGB"),
            renderingIntent=ImageCms.Intent.RELATIVE_COLORIMETRIC,
            outputMode="RGBA" if img.mode == "RGBA" else "RGB",
        )
    except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
        return img


def to_rgb8(img: Image.Image) -> Image.Image:
    """Any Pillow mode to 8-bit RGB; 16-bit and float data are rescaled, alpha is flattened."""
    if img.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        arr = np.asarray(img, dtype=np.float64)
        top = 65535.0 if img.mode.startswith("I;16") or arr.max(initial=0) > 255 else 255.0
        if img.mode == "F":
            top = max(float(arr.max(initial=1.0)), 1.0)
        arr8 = np.clip(np.round(arr / top * 255.0), 0, 255).astype(np.uint8)
        img = Image.fromarray(arr8, mode="L")
    if img.mode == "P" and "transparency" in img.info:
        img = img.convert("RGBA")
    if img.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (*NEUTRAL_BACKGROUND, 255))
        img = Image.alpha_composite(background, rgba)
    return img.convert("RGB") if img.mode != "RGB" else img


def load_photo(
    path: str | os.PathLike[str],
    max_pixels: int = DEFAULT_MAX_PIXELS,
    max_bytes: int = DEFAULT_MAX_FILE_MB * MB,
) -> tuple[Image.Image, str]:
    """Read a photo from disk: the RGB picture and the sha256 of its bytes."""
    data = read_photo_bytes(path, max_bytes)
    return decode_photo(data, str(path), max_pixels), sha256_bytes(data)


def fit_long_side(img: Image.Image, size: int | None) -> Image.Image:
    """Scale so the long side is ``size`` pixels; never enlarges (no invented detail)."""
    if size is None:
        return img
    if size <= 0:
        raise RecipeError(f"size must be positive, got {size}")
    long_side = max(img.size)
    if long_side <= size:
        return img
    scale = size / long_side
    new_size = (max(1, round(img.width * scale)), max(1, round(img.height * scale)))
    return img.resize(new_size, Image.Resampling.LANCZOS, reducing_gap=3.0)


def pil_to_tensor(img: Image.Image) -> torch.Tensor:
    """An RGB picture as a float tensor of shape (1, 3, H, W) in [0, 1]."""
    arr = np.asarray(img.convert("RGB"), dtype=np.float32) / 255.0
    return torch.from_numpy(arr).permute(2, 0, 1).unsqueeze(0)


def tensor_to_pil(tensor: torch.Tensor) -> Image.Image:
    """A (1, 3, H, W) or (3, H, W) tensor in [0, 1] as an 8-bit RGB picture."""
    t = tensor.detach().float().cpu()
    if t.dim() == 4:
        t = t[0]
    if not torch.isfinite(t).all():
        raise ValueError("image tensor holds NaN or Inf values")
    arr = (t.clamp(0, 1) * 255.0).round().to(torch.uint8).permute(1, 2, 0).numpy()
    return Image.fromarray(arr, mode="RGB")


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; it replaces ``path`` only if the block succeeds."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def write_bytes_atomic(path: str | os.PathLike[str], data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_text_atomic(path: str | os.PathLike[str], text: str) -> None:
    write_bytes_atomic(path, text.encode("utf-8"))


def encode_image(img: Image.Image, fmt: str = "PNG", **options: object) -> bytes:
    """Encode without any metadata: no EXIF, no GPS, no ICC-tagged surprises."""
    clean = Image.frombytes(img.mode, img.size, img.tobytes())
    buffer = io.BytesIO()
    clean.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def save_image_atomic(img: Image.Image, path: str | os.PathLike[str], **options: object) -> Path:
    """Write an image atomically, its format taken from the suffix, with no metadata."""
    target = Path(path)
    fmt = {".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP"}.get(target.suffix.lower(), "PNG")
    if fmt == "PNG":
        options.setdefault("compress_level", 6)
    write_bytes_atomic(target, encode_image(img, fmt, **options))
    return target


def encode_animation(
    frames: Sequence[Image.Image],
    duration_ms: int | Sequence[int],
    quality: int = 90,
    loop: int = 0,
) -> bytes:
    """An animated WebP (``loop`` 0 plays forever), lossy, without any metadata;
    ``duration_ms`` is one duration for every frame, or one per frame."""
    if not frames:
        raise ValueError("an animation needs at least one frame")
    clean = [Image.frombytes(f.mode, f.size, f.tobytes()) for f in frames]
    buffer = io.BytesIO()
    clean[0].save(
        buffer,
        format="WEBP",
        save_all=True,
        append_images=clean[1:],
        duration=duration_ms if isinstance(duration_ms, int) else list(duration_ms),
        loop=loop,
        quality=quality,
        method=4,
    )
    return buffer.getvalue()


def save_animation_atomic(
    frames: Sequence[Image.Image],
    path: str | os.PathLike[str],
    duration_ms: int | Sequence[int],
    **options: int,
) -> Path:
    """Write an animated WebP atomically (see ``encode_animation``)."""
    target = Path(path)
    write_bytes_atomic(target, encode_animation(frames, duration_ms, **options))
    return target


def is_photo_name(path: Path) -> bool:
    return path.suffix.lower() in PHOTO_SUFFIXES and not path.name.startswith(".")
