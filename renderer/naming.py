"""Safe, stable names for output files, whatever the photo was called."""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path


def slug(text: str, max_length: int = 48) -> str:
    """Lower-case ASCII letters, digits and dashes: safe in any file system and URL."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    cleaned = re.sub(r"[^a-zA-Z0-9]+", "-", ascii_text).strip("-").lower()
    return cleaned[:max_length].strip("-") or "untitled"


def photo_key(file_name: str, sha256: str) -> str:
    """``"My Cat.JPG"`` with its bytes' hash -> ``"my-cat-1a2b3c4d"``: unique and readable."""
    stem = file_name.rsplit("/", 1)[-1].rsplit(".", 1)[0]
    return f"{slug(stem)}-{sha256[:8]}"


# A photo's own mask for masked dreams: ``NAME.mask.png`` beside ``NAME.jpg`` (white dreams,
# black stays). It is the photo's companion, never a photo of its own.
MASK_SIDECAR_SUFFIX = ".mask.png"


def mask_sidecar(photo: Path) -> Path:
    """``NAME.mask.png`` beside ``NAME.jpg``."""
    return photo.with_name(photo.name.rsplit(".", 1)[0] + MASK_SIDECAR_SUFFIX)


def is_mask_sidecar(path: Path) -> bool:
    return path.name.lower().endswith(MASK_SIDECAR_SUFFIX)
