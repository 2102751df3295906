"""Text safe to publish: absolute paths of the build machine become relative or bare names.

A page must not leak ``/home/artist/...``; commands stay runnable from the folder that holds
the render directory.
"""

from __future__ import annotations

import functools
import os
import re
import shlex
from pathlib import Path


@functools.lru_cache(maxsize=8192)  # the same weights file and photos, thousands of times
def public_path(text: str, anchor: Path | None) -> str:
    """An absolute path as something safe to publish: relative to ``anchor`` when it lies
    inside it, else just the file name."""
    if not text or not os.path.isabs(text):
        return text
    if anchor is not None and len(anchor.parts) > 1:
        try:
            rel = Path(text).relative_to(anchor)
            return rel.as_posix() or "."
        except ValueError:
            pass
    return Path(text).name or "."


_ABS_PATH = re.compile(r"(?<![\w.~])/(?:[^\s'\"/<>|]+/)*[^\s'\"/<>|]*")


def public_text(text: str, anchor: Path | None) -> str:
    """Free text (an error message, say) with absolute paths replaced by public ones."""
    return _ABS_PATH.sub(lambda m: public_path(m.group(0), anchor), text)


def public_command(command: str, anchor: Path | None) -> str:
    """The ``renderer ...`` command with its absolute paths made relative, still runnable."""
    try:
        words = shlex.split(command)
    except ValueError:
        return public_text(command, anchor)
    fixed = []
    for word in words:
        if "=" in word and word.startswith("--"):
            flag, _, value = word.partition("=")
            fixed.append(f"{flag}={public_path(value, anchor)}")
        else:
            fixed.append(public_path(word, anchor))
    return shlex.join(fixed)
