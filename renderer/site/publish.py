"""Putting a built site in place: whole, under a lock, with a manifest of its files.

The new site is built in ``.<name>.build-*`` beside the output folder, then swapped in. On
Linux the swap is one ``renameat2(RENAME_EXCHANGE)``: the folder at ``out`` is the old site
or the new one, never nothing. Elsewhere (macOS, Windows, file systems without exchange)
the fallback is two renames, ``out`` -> ``.<name>.old-*`` then the build -> ``out``; a kill
between them leaves no ``out`` for a moment, and the next publish puts the old site back
before anything else. Leftovers of killed runs are removed by the next publish, which holds
the lock (on the folder that holds ``out``), so a concurrent publish waits, not fails.

The site's manifest (``.dreamgallery-files.json``) records what it was built from (a stamp
and its source files) and each file's size, mtime and sha256, so a rebuild can tell a
current site from one whose media were deleted or changed, or that was published from
other inputs (``current`` decides).
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import json
import os
import shutil
import signal
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from ..files import file_matches, file_table, table_damage
from ..imageio import write_text_atomic

SITE_FILES = ".dreamgallery-files.json"
FAULT_ENV = "RENDERER_FAULT"  # tests only: "site-swap" kills the process inside the swap
NO_EXCHANGE_ENV = "RENDERER_NO_EXCHANGE"  # tests only: use the two-rename fallback
_AT_FDCWD = -100
_RENAME_EXCHANGE = 2


def fault(point: str) -> None:
    """A fault-injection point: with ``RENDERER_FAULT=<point>`` the process dies here, as
    under ``kill -9``, so tests can check what a kill at the worst moment leaves."""
    if os.environ.get(FAULT_ENV) == point:
        os.kill(os.getpid(), signal.SIGKILL)


def build_prefix(out: Path) -> str:
    return f".{out.name}.build-"


def old_prefix(out: Path) -> str:
    return f".{out.name}.old-"


@contextlib.contextmanager
def site_lock(out: Path) -> Iterator[None]:
    """One publish into ``out`` at a time: a second one waits (where ``flock`` exists).
    The lock is on the folder that holds ``out``, so it leaves no file behind."""
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield
        return
    fd = os.open(out.parent, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # and the lock with it


def recover(out: Path) -> None:
    """Under the lock: put back a site that a killed fallback swap left aside, and remove
    the build and old folders of killed runs."""
    parent = out.parent
    if not parent.is_dir():
        return
    olds = sorted(
        (p for p in parent.iterdir() if p.name.startswith(old_prefix(out)) and p.is_dir()),
        key=lambda p: p.stat().st_mtime_ns,
    )
    if olds and not out.exists():
        os.rename(olds.pop(), out)
    for entry in parent.iterdir():
        if entry.is_dir() and entry.name.startswith((build_prefix(out), old_prefix(out))):
            shutil.rmtree(entry, ignore_errors=True)


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths in one step; False where the OS or the file system cannot."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):  # glibc < 2.28, musl without it
        return False
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p]
    renameat2.argtypes.append(ctypes.c_uint)
    if renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP, errno.EXDEV):
        return False
    raise OSError(code, os.strerror(code), str(b))


def swap_in(tmp: Path, out: Path) -> None:
    """Replace the folder ``out`` with ``tmp`` (see the module's docstring), keeping the
    old site's hidden files (``.htaccess``, ``.gitkeep``) that the new one does not bring."""
    if not out.exists():
        os.rename(tmp, out)
        return
    for hidden in out.iterdir():
        if hidden.name.startswith(".") and hidden.is_file() and not (tmp / hidden.name).exists():
            shutil.copy2(hidden, tmp / hidden.name)
    if not os.environ.get(NO_EXCHANGE_ENV) and _exchange(tmp, out):
        fault("site-swap")  # the new site is in place; the old one waits in tmp
        shutil.rmtree(tmp, ignore_errors=True)
        return
    old = out.with_name(f"{old_prefix(out)}{os.getpid()}")
    os.rename(out, old)
    fault("site-swap")  # the one moment of the fallback without a site at ``out``
    try:
        os.rename(tmp, out)
    except OSError:
        os.rename(old, out)
        raise
    shutil.rmtree(old, ignore_errors=True)


def write_site_files(
    site: Path,
    stamp: str,
    previous: PreviousSite | None = None,
    warnings: list[str] | tuple[str, ...] = (),
    sources: Mapping[str, str] | None = None,
    report: Mapping[str, Any] | None = None,
) -> None:
    """The manifest of a built site: its stamp (the key of what it is built from, see
    ``current``), the files it was made from (``sources``, by a stat of each), what its
    build reported, the build's warnings and every file's size, mtime and hash. A file
    linked from the ``previous`` site (the size and mtime its manifest recorded) keeps
    that hash, unread."""
    known = previous.table if previous is not None and previous.table else {}
    table = file_table(site, frozenset({SITE_FILES}), known)
    data = {
        "stamp": stamp,
        "sources": dict(sources or {}),
        "report": dict(report or {}),
        "warnings": list(warnings),
        "files": table,
    }
    write_text_atomic(site / SITE_FILES, json.dumps(data))


def read_site_files(site: Path) -> dict[str, Any] | None:
    try:
        data = json.loads((site / SITE_FILES).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and isinstance(data.get("files"), dict) else None


def site_damage(site: Path, stamp: str) -> str | None:
    """Why the site at ``site`` is not the one whose manifest holds ``stamp`` with every
    file as it says, or ``None``: a stat of each file, a hash only where one moved."""
    manifest = read_site_files(site)
    if manifest is None:
        return "there is none yet, or it has no manifest"
    if manifest.get("stamp") != stamp:
        return "it was built from other inputs"
    return table_damage(site, manifest["files"])


class PreviousSite:
    """The site being replaced, as a source of files to reuse: only those its manifest
    vouches for (a damaged one is made anew, not copied). A site without a manifest, from
    an older version, vouches for every file."""

    def __init__(self, root: Path) -> None:
        self.root = root
        manifest = read_site_files(root)
        self.table = None if manifest is None else manifest["files"]

    @classmethod
    def of(cls, site: Path | PreviousSite | None) -> PreviousSite | None:
        return site if site is None or isinstance(site, PreviousSite) else cls(Path(site))

    def file(self, rel: str) -> Path | None:
        path = self.root / rel
        if self.table is None:
            return path
        meta = self.table.get(rel)
        if meta is None or file_matches(path, meta) is not None:
            return None
        return path
