"""Disk and permission failures in words: which folder, how much space is free, what to do.

A full disk or a read-only folder is not a bug in the renderer, and ``unexpected OSError:
[Errno 28]`` with no path helps nobody; these turn such errors into one line.
"""

from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path

from .errors import RendererError

DISK_FULL = frozenset({errno.ENOSPC, errno.EDQUOT})
NO_ACCESS = {errno.EACCES: "permission denied", errno.EPERM: "permission denied"}
NO_ACCESS[errno.EROFS] = "read-only file system"


class DiskError(RendererError):
    """A folder that cannot be written: the disk is full, or it is read-only or not ours."""


def os_error_in(exc: BaseException | None) -> OSError | None:
    """The first ``OSError`` in an exception's chain (a library may wrap the real cause)."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, OSError) and exc.errno is not None:
            return exc
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return None


def is_disk_full(exc: BaseException) -> bool:
    found = os_error_in(exc)
    return found is not None and found.errno in DISK_FULL


def megabytes(n: float) -> str:
    return f"{n / 1e6:,.1f} MB"


def free_space(folder: Path) -> str:
    """``"1.2 MB free"`` on the file system of ``folder`` (or of its nearest parent)."""
    probe = Path(folder).absolute()
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    try:
        return f"{megabytes(shutil.disk_usage(probe).free)} free"
    except OSError:
        return "free space unknown"


def describe(
    exc: BaseException, folder: Path | None = None, purpose: str = "", needs: int | None = None
) -> str | None:
    """One line for a full disk or a folder we may not write, else ``None``."""
    found = os_error_in(exc)
    if found is None:
        return None
    where = Path(folder) if folder is not None else None
    if where is None and found.filename:
        where = Path(os.fsdecode(found.filename)).parent
    place = str(where) if where is not None else "the disk"
    if found.errno in DISK_FULL:
        why = f" for {purpose}" if purpose else ""
        need = f"; needs about {megabytes(needs)}" if needs else ""
        return f"no space left on {place}{why} ({free_space(where or Path('.'))}{need})"
    if found.errno in NO_ACCESS:
        target = place if folder is not None or not found.filename else found.filename
        return f"cannot write to {os.fsdecode(target)}: {NO_ACCESS[found.errno]}"
    return None
