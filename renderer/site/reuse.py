"""Unchanged photo pages are not rendered again.

Rendering is most of a rebuild's time at thousands of photos. Each photo page gets a key: the
sha256 of everything its HTML is made from (its figures with their published files and
provenance, its album trail and neighbours, its share preview, the site's title and
address, and the bytes of the templates and of the site code). A page whose key matches the
previous build's is linked from the previous site instead. Index, album and the other pages
are few and always rendered.

Whether the whole site must be built at all is decided before, in ``current``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from .types import PAGE_SECTIONS, PhotoPage

KEYS_NAME = ".dreamgallery-pages.json"


def code_fingerprint(folders: Iterable[Path | None], *parts: object) -> str:
    """The sha256 of every file in ``folders`` (templates, theme, site code) and ``parts``."""
    digest = hashlib.sha256()
    for folder in folders:
        if folder is None or not Path(folder).is_dir():
            continue
        for path in sorted(Path(folder).rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                digest.update(path.as_posix().encode("utf-8", "surrogatepass") + b"\0")
                digest.update(path.read_bytes())
    digest.update(repr(parts).encode("utf-8", "surrogatepass"))
    return digest.hexdigest()


def photo_page_key(page: PhotoPage, share: Mapping[str, Any], fingerprint: str) -> str:
    """The key of one photo page (a ``types.PhotoPage``) and its share preview."""
    trail = [(a.title, a.path) for a in page.album.trail] if page.album else []
    near = [(p.path, p.name) if p else None for p in (page.prev, page.next)]
    state = (
        page.path,
        page.name,
        page.sha256,
        repr(page.photo),
        [(name, [repr(f) for f in getattr(page, name)]) for name in PAGE_SECTIONS],
        repr(page.skipped),
        page.pending,
        trail,
        near,
        sorted(share.items()),
    )
    text = fingerprint + repr(state)
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def load_keys(site: Path | None) -> dict[str, str]:
    """The keys the previous build wrote ({} when there is none or it cannot be read)."""
    if site is None:
        return {}
    try:
        keys = json.loads((site / KEYS_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {str(k): str(v) for k, v in keys.items()} if isinstance(keys, dict) else {}


def save_keys(site: Path, keys: Mapping[str, str]) -> None:
    (site / KEYS_NAME).write_text(json.dumps(dict(sorted(keys.items()))), encoding="utf-8")


def reuse_page(previous: Path, target: Path) -> bool:
    """Link (or copy) the previous build's page to ``target``; False when it is gone."""
    if not previous.is_file():
        return False
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(previous, target)
    except OSError:
        with contextlib.suppress(OSError):
            shutil.copyfile(previous, target)
    return target.is_file()
