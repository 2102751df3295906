"""A clip's videos on the site: copied byte for byte under content-hashed names (a
rebuild reuses the previous site's file), WebM first for the browsers that prefer it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..files import sha256_file
from ..naming import slug

TYPES = {".webm": "video/webm", ".mp4": "video/mp4"}


@dataclass(frozen=True)
class Media:
    path: str  # site-relative POSIX path
    type: str  # its MIME type, for <source type>
    bytes: int


def publish_videos(
    fig: Any, site: Path, previous: Any = None, store: Any = None
) -> tuple[list[Media], int]:
    """Publish ``fig``'s WebM and MP4 into its media folder (linked from the previous site
    or the media ``store`` when they are there); returns them and how many were reused."""
    from ..site.images import _place
    from ..site.publish import PreviousSite

    old_site = PreviousSite.of(previous)
    media, reused = [], 0
    for path in (fig.webm, fig.video):
        if path is None or not Path(path).is_file():
            continue
        path = Path(path)
        digest = sha256_file(path)[:12]
        rel = f"{fig.group}/{slug(path.stem)}-{digest}{path.suffix.lower()}"
        old = old_site.file(rel) if old_site else None
        reused += _place(site / rel, old, path.read_bytes, store)
        media.append(Media(rel, TYPES[path.suffix.lower()], (site / rel).stat().st_size))
    return media, reused
