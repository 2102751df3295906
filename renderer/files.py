"""Reading input files safely: regular files only, of a bounded size, in chunks.

A path named like a photo can be anything: a FIFO (reading blocks forever), ``/dev/zero``
(never ends), a 20 GB sparse file (a MemoryError), a directory. Each is refused by its
``stat``, before it is opened, with a reason that names it; the batch goes on.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .errors import BadInputError

DEFAULT_MAX_FILE_MB = 200  # no photo is bigger; a sparse giant or a device is no photo
MB = 1 << 20
CHUNK = 1 << 20
# What a path can be besides a regular file; such a path is never opened for reading.
_SPECIAL = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a named pipe (FIFO)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def sha256_file(path: str | os.PathLike[str]) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def _mb(n: int) -> str:
    return f"{n / MB:,.0f}" if n >= 10 * MB else f"{n / MB:.3g}"


def _check_regular(path: Path, st: os.stat_result, max_bytes: int, hint: str) -> None:
    for test, what in _SPECIAL:
        if test(st.st_mode):
            raise BadInputError(path, f"is {what}, not a regular file")
    if not stat.S_ISREG(st.st_mode):
        raise BadInputError(path, "is not a regular file")
    if st.st_size == 0:
        raise BadInputError(path, "empty file (0 bytes)")
    if st.st_size > max_bytes:
        size, limit = _mb(st.st_size), _mb(max_bytes)
        raise BadInputError(path, f"too large ({size} MB; the limit is {limit} MB{hint})")


@contextlib.contextmanager
def open_regular(
    path: str | os.PathLike[str], max_bytes: int = DEFAULT_MAX_FILE_MB * MB, hint: str = ""
) -> Iterator[tuple[io.BufferedReader, int]]:
    """Open a file for reading only if it is a regular file of at most ``max_bytes``: its
    ``stat`` is checked before it is opened (a FIFO would block forever, ``/dev/zero`` never
    ends, a sparse file claims terabytes), and again on the open descriptor, opened
    non-blocking, in case the path was swapped in between. Yields the file and its size."""
    p = Path(path)
    try:
        _check_regular(p, os.stat(p), max_bytes, hint)
        fd = os.open(p, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
    except FileNotFoundError:
        raise BadInputError(
            p, "broken symbolic link" if p.is_symlink() else "no such file"
        ) from None
    except PermissionError:
        raise BadInputError(p, "permission denied") from None
    except OSError as exc:
        raise BadInputError(p, f"cannot read ({exc.strerror or exc})") from None
    with os.fdopen(fd, "rb") as handle:
        st = os.fstat(fd)
        _check_regular(p, st, max_bytes, hint)
        yield handle, st.st_size


def read_photo_bytes(
    path: str | os.PathLike[str], max_bytes: int = DEFAULT_MAX_FILE_MB * MB, hint: str = ""
) -> bytes:
    """The raw bytes of a photo (a regular file of at most ``max_bytes``), or a
    ``BadInputError`` that says why not."""
    with open_regular(path, max_bytes, hint) as (handle, _size):
        try:
            data = handle.read(max_bytes + 1)
        except OSError as exc:
            raise BadInputError(path, f"cannot read ({exc.strerror or exc})") from None
    if len(data) > max_bytes:
        raise BadInputError(path, f"grew past the limit of {_mb(max_bytes)} MB while read")
    if not data:
        raise BadInputError(path, "empty file (0 bytes)")
    return data


def hash_photo_file(
    path: str | os.PathLike[str], max_bytes: int = DEFAULT_MAX_FILE_MB * MB, hint: str = ""
) -> tuple[str, int]:
    """The sha256 and size of a photo file, read in chunks (memory stays flat whatever its
    size), with the checks of ``open_regular``."""
    digest = hashlib.sha256()
    total = 0
    with open_regular(path, max_bytes, hint) as (handle, _):
        try:
            for block in iter(lambda: handle.read(CHUNK), b""):
                total += len(block)
                if total > max_bytes:
                    raise BadInputError(path, "grew past the size limit while read")
                digest.update(block)
        except OSError as exc:
            raise BadInputError(path, f"cannot read ({exc.strerror or exc})") from None
    if not total:
        raise BadInputError(path, "empty file (0 bytes)")
    return digest.hexdigest(), total


def file_table(
    folder: Path,
    skip: frozenset[str] = frozenset(),
    known: dict[str, dict[str, Any]] | None = None,
) -> dict[str, dict[str, Any]]:
    """Every file under ``folder`` (but the relative paths in ``skip``): its size, mtime and
    sha256, by relative POSIX path. What a finished job or a published site is made of.
    A file whose size and mtime are those of its entry in ``known`` (an earlier table of
    the same files) takes that entry's hash unread, as ``file_matches`` would pass it."""
    table = {}
    known = known or {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        name = path.relative_to(folder).as_posix()
        if name in skip:
            continue
        st = path.stat()
        meta = {"bytes": st.st_size, "mtime_ns": st.st_mtime_ns}
        before = known.get(name)
        if isinstance(before, dict) and all(before.get(k) == v for k, v in meta.items()):
            meta["sha256"] = before.get("sha256")
        if not isinstance(meta.get("sha256"), str):
            meta["sha256"] = sha256_file(path)
        table[name] = meta
    return table


def file_matches(path: Path, meta: dict[str, Any]) -> str | None:
    """Why ``path`` is not the file ``meta`` recorded, or ``None``. Cheap: a ``stat``, and
    the hash only when the mtime moved (a copy or a touch that kept the bytes still passes)."""
    try:
        st = path.stat()
    except OSError:
        return "is missing"
    if st.st_size != meta.get("bytes"):
        return f"has {st.st_size} bytes, not {meta.get('bytes')}"
    if st.st_mtime_ns != meta.get("mtime_ns") and sha256_file(path) != meta.get("sha256"):
        return "has other bytes than recorded"
    return None


def table_damage(folder: Path, table: dict[str, dict[str, Any]]) -> str | None:
    """The first file of ``table`` that is not as recorded under ``folder``, and why."""
    for name, meta in table.items():
        why = file_matches(folder / name, meta)
        if why is not None:
            return f"{name} {why}"
    return None
