"""Published media kept beside the render folder, so they are encoded once.

A site's media files are named by a hash of their source and recipe, so a name says what a
file holds. The store keeps, under ``<render dir>/.site-media/``, a hard link (a copy where
links cannot be made) of every media file the last published site used, and an index of each
one's size, mtime and sha256. A site built anew (another ``--out``, a deleted site, a publish
whose previous site is damaged) links its files from there instead of encoding them again; a
rebuild already links from the previous site. A stored file that no longer matches its index
(a site file edited in place edits its hard link too) is not used. The store holds what the
last site used and nothing else, and costs no space of its own while that site exists on the
same disk.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ..files import file_matches, sha256_file

STORE_NAME = ".site-media"
INDEX_NAME = ".index.json"


class MediaStore:
    """The store at ``root``; safe from several threads at once, and none of its methods
    raises when the store cannot be read or written (a read-only render folder): it is a
    cache."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._lock = threading.Lock()
        self._index: dict[str, dict[str, Any]] = {}
        with contextlib.suppress(OSError, ValueError):
            index = json.loads((root / INDEX_NAME).read_text(encoding="utf-8"))
            if isinstance(index, dict):
                self._index = {str(k): v for k, v in index.items() if isinstance(v, dict)}

    @classmethod
    def beside(cls, render_dir: Path) -> MediaStore:
        return cls(Path(render_dir) / STORE_NAME)

    def find(self, name: str) -> Path | None:
        """The stored file called ``name`` (a media file's name), if it is as stored."""
        meta = self._index.get(name)
        path = self.root / name
        if meta is None:
            return None
        try:
            return path if file_matches(path, meta) is None else None
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
                if self.find(path.name) is not None:
                    return
                target.unlink()  # a stale one: replace it
                os.link(path, target)
            except OSError:  # another file system: a copy, made whole before it is seen
                tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
                shutil.copyfile(path, tmp)
                os.replace(tmp, target)
            st = target.stat()
            meta = {"bytes": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256": sha256_file(target)}
            with self._lock:
                self._index[target.name] = meta

    def retain(self, names: Iterable[str]) -> None:
        """Keep only ``names`` (what the site just published uses), and save the index."""
        keep = set(names)
        with contextlib.suppress(OSError):
            for entry in self.root.iterdir():
                if entry.name not in keep and entry.name != INDEX_NAME:
                    with contextlib.suppress(OSError):
                        entry.unlink()
            with self._lock:
                index = {k: v for k, v in self._index.items() if k in keep}
            tmp = self.root / f".{INDEX_NAME}.{os.getpid()}.tmp"
            tmp.write_text(json.dumps(index), encoding="utf-8")
            os.replace(tmp, self.root / INDEX_NAME)
