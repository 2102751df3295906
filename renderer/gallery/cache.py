"""The job cache: each finished job lives in ``<render_dir>/jobs/<key>/``.

A job renders into a hidden staging folder beside its final place. Only when every file is
written does ``done.json`` go in (last), and the folder is renamed into place in one step.
So a kill at any moment leaves either a whole job or an orphaned staging folder, which the
next run removes; never a half job that looks finished.

``done.json`` lists every file of the job with its size, mtime and sha256, so reuse can
check a job cheaply (a ``stat`` per file; the hash only when the mtime moved): a file
truncated or changed later makes its job render again instead of vanishing from the site.
A build never deletes finished jobs; ``renderer gallery prune`` does, when asked.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import uuid
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from ..errors import RendererError
from ..files import file_table, table_damage
from ..imageio import write_text_atomic
from ..provenance import dumps

JOBS_DIR = "jobs"
DONE_NAME = "done.json"
STAGING_PREFIX = ".tmp-"
RETIRED_PREFIX = ".old-"
LOCK_NAME = ".lock"


class BuildLockedError(RendererError):
    """Another build is working in the same render directory."""


class JobCache:
    def __init__(self, render_dir: str | os.PathLike[str]) -> None:
        self.render_dir = Path(render_dir)
        self.root = self.render_dir / JOBS_DIR

    def folder(self, key: str) -> Path:
        return self.root / key

    def is_done(self, key: str) -> bool:
        return (self.folder(key) / DONE_NAME).is_file()

    def done_info(self, key: str) -> dict[str, Any] | None:
        """The job's ``done.json``, or ``None`` when it is not (readably) finished."""
        try:
            return json.loads((self.folder(key) / DONE_NAME).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None

    def render(self, key: str, work: Callable[[Path], dict[str, Any]]) -> Path:
        """Run ``work(staging_folder) -> info`` and move its folder into place as a finished
        job, with ``info`` in ``done.json``. If ``work`` raises, nothing of it remains."""
        self.root.mkdir(parents=True, exist_ok=True)
        staging = self.root / f"{STAGING_PREFIX}{key[:16]}-{uuid.uuid4().hex[:8]}"
        staging.mkdir()
        try:
            info = work(staging)
            info["files"] = file_table(staging)
            write_text_atomic(staging / DONE_NAME, dumps({"key": key, **info}))
            target = self.folder(key)
            if target.exists():  # --force, or a folder without done.json
                retired = self.root / f"{RETIRED_PREFIX}{key[:16]}-{uuid.uuid4().hex[:8]}"
                os.replace(target, retired)
                os.replace(staging, target)
                shutil.rmtree(retired, ignore_errors=True)
            else:
                os.replace(staging, target)
        finally:
            if staging.exists():
                shutil.rmtree(staging, ignore_errors=True)
        return self.folder(key)

    def entries(self) -> Iterator[Path]:
        if self.root.is_dir():
            yield from sorted(self.root.iterdir())

    def damage(self, key: str, info: dict[str, Any]) -> str | None:
        """Why the finished job ``key`` cannot be reused (a file missing, of another size,
        or of other bytes), or ``None`` when it is whole. Jobs finished before files were
        recorded are taken as they are."""
        files = info.get("files")
        return table_damage(self.folder(key), files) if isinstance(files, dict) else None

    def clean_leftovers(self) -> None:
        """Remove the staging and retired folders of killed runs (never a finished job)."""
        for entry in self.entries():
            if entry.is_dir() and entry.name.startswith((STAGING_PREFIX, RETIRED_PREFIX)):
                shutil.rmtree(entry, ignore_errors=True)

    def unused(self, keep: Iterable[str]) -> list[Path]:
        """The job folders whose keys are not in ``keep`` (what ``gallery prune`` removes)."""
        wanted = set(keep)
        return [
            entry
            for entry in self.entries()
            if entry.is_dir()
            and not entry.name.startswith((STAGING_PREFIX, RETIRED_PREFIX))
            and entry.name not in wanted
        ]


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


@contextlib.contextmanager
def build_lock(render_dir: Path) -> Iterator[None]:
    """One build per render directory at a time (where the OS offers ``flock``)."""
    render_dir.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield
        return
    with open(render_dir / LOCK_NAME, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise BuildLockedError(
                f"another gallery build is working in {render_dir}; wait for it to finish"
            ) from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
