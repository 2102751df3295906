"""Published media kept beside the render folder, so they are encoded once.

A site's media files are named by a hash of their source and recipe, so a name says what a
file holds. The store keeps, under ``<render dir>/.site-media/``, a hard link (a copy where
links cannot be made) of every media file the last published site used. A site built anew
(another ``--out``, a deleted site, a publish whose previous site is damaged) links its files
from there instead of encoding them again; a rebuild already links from the previous site.
The store holds what the last site used and nothing else, and costs no space of its own
while that site exists on the same disk.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterable
from pathlib import Path

STORE_NAME = ".site-media"


class MediaStore:
    """The store at ``root``; every method is safe from several threads at once, and none
    raises when the store cannot be written (a read-only render folder): it is a cache."""

    def __init__(self, root: Path) -> None:
        self.root = root

    @classmethod
    def beside(cls, render_dir: Path) -> MediaStore:
        return cls(Path(render_dir) / STORE_NAME)

    def find(self, name: str) -> Path | None:
        """The stored file called ``name`` (a media file's name), if there is one."""
        path = self.root / name
        try:
            return path if path.stat().st_size > 0 else None
        except OSError:
            return None

    def keep(self, path: Path) -> None:
        """Add a freshly published file (by its name) to the store."""
        target = self.root / path.name
        with contextlib.suppress(OSError):
            self.root.mkdir(parents=True, exist_ok=True)
            try:
                os.link(path, target)
            except FileExistsError:
                pass
            except OSError:  # another file system: a copy, made whole before it is seen
                tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
                shutil.copyfile(path, tmp)
                os.replace(tmp, target)

    def retain(self, names: Iterable[str]) -> None:
        """Drop every stored file but ``names`` (what the site just published uses)."""
        keep = set(names)
        with contextlib.suppress(OSError):
            for entry in self.root.iterdir():
                if entry.name not in keep:
                    with contextlib.suppress(OSError):
                        entry.unlink()
