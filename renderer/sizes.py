"""Dream sizes: ``"auto"``, ``"full"`` or a number of pixels, and a photo's working size.

``auto`` is print size from an artist's photo: its own long side, capped at 2048 px (a
12 MP photo gives a 2048 x 1536 dream); ``full`` goes up to 4096. No size ever enlarges a
photo: enlarging invents no detail, it only costs time.
"""

from __future__ import annotations

from typing import Any

from .errors import RecipeError

AUTO_CAP = 2048
FULL_CAP = 4096
MIN_SIZE = 32
MAX_SIZE = FULL_CAP
SIZE_WORDS = {"auto": AUTO_CAP, "full": FULL_CAP}
# A panorama's short side is kept at this share of the size (or its own, when smaller):
# fitting a 10000 x 120 photo's long side to 512 px would leave 6 px rows to dream on.
PANORAMA_SHORT_SHARE = 0.25


def parse_size(value: Any, where: str = "size") -> int | str:
    """``"auto"``, ``"full"`` or a whole number of pixels in ``MIN_SIZE..MAX_SIZE``
    (digits in text are accepted: it comes from the command line)."""
    text = value.strip().lower() if isinstance(value, str) else value
    if text in SIZE_WORDS:
        return text
    if isinstance(text, str) and text.isdigit():
        text = int(text)
    if isinstance(text, int) and not isinstance(text, bool) and MIN_SIZE <= text <= MAX_SIZE:
        return text
    raise RecipeError(
        f'{where} must be "auto", "full" or {MIN_SIZE}..{MAX_SIZE} pixels, got {value!r}'
    )


def size_cap(setting: int | str) -> int:
    """The most pixels a setting allows on the long side."""
    return SIZE_WORDS.get(setting, setting) if isinstance(setting, str) else int(setting)


def working_size(width: int, height: int, size: int | str, min_size: int) -> tuple[int, int]:
    """(width, height) of the working photo: the long side fitted to ``size`` and never
    enlarged, except that the short side stays at least ``PANORAMA_SHORT_SHARE`` of the
    size (and at least ``min_size``), up to the photo's own: a 10:1 panorama dreams at its
    short side's scale instead of in a strip too thin for the model."""
    cap = size_cap(size)
    long_side, short_side = max(width, height), min(width, height)
    scale = min(1.0, cap / long_side)
    floor = min(short_side, max(min_size, round(cap * PANORAMA_SHORT_SHARE)))
    scale = max(scale, floor / short_side)
    return max(1, round(width * scale)), max(1, round(height * scale))
