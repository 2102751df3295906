"""Whether the published site is current: the one place that decides it.

A site's key is the sha256 of what it is built from: each render dir's manifest entries (a
skipped record's time stamp left out: a failure recorded again is no new input), the code
and templates that make its pages, its ``SiteOptions`` and what a build in progress is
still making. The site's manifest (``publish.SITE_FILES``) keeps that key, the size, mtime
and inode of every file its figures were made from, what its build reported, and each of
its own files. The published site is current when the key matches, no source file moved
and none of its own files did: all of it stats, no image is read and no page is built, so
a rebuild of an unchanged gallery costs a few milliseconds.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..files import table_damage
from .publish import read_site_files


@dataclass(frozen=True)
class Built:
    """What a build wrote, as its report says it and its manifest keeps it."""

    pages: tuple[str, ...]
    written: int  # image files made anew
    reused: int  # image files linked from the previous site or the media store
    photos: int
    skipped: int
    index_bytes: int  # the index page with its CSS and JS
    warnings: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "pages": list(self.pages),
            "images": self.written + self.reused,
            "photos": self.photos,
            "skipped": self.skipped,
            "index_bytes": self.index_bytes,
        }

    @classmethod
    def from_site(cls, manifest: Mapping[str, Any]) -> Built | None:
        """The report of the build that made a site (every image reused now), or None
        for a site whose manifest does not say (an older version's)."""
        report = manifest.get("report")
        if not isinstance(report, Mapping):
            return None
        try:
            return cls(
                pages=tuple(str(p) for p in report["pages"]),
                written=0,
                reused=int(report["images"]),
                photos=int(report["photos"]),
                skipped=int(report["skipped"]),
                index_bytes=int(report["index_bytes"]),
                warnings=tuple(str(w) for w in manifest.get("warnings") or ()),
            )
        except (KeyError, TypeError, ValueError):
            return None


def stable_entries(entries: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The entries as a site depends on them: a skipped record's ``created`` left out (a
    build records its failures anew each time; the page says the same)."""
    return [
        {k: v for k, v in e.items() if k != "created"} if e.get("kind") == "skipped" else e
        for e in entries
    ]


def site_key(
    manifests: Sequence[tuple[Path, Sequence[Mapping[str, Any]]]],
    code: str,
    options: tuple[object, ...],
    pending: Iterable[object] = (),
) -> str:
    """The sha256 of what a site is built from: each render dir (resolved) with its
    manifest ``entries``, the ``code`` fingerprint, the ``options`` (``SiteOptions.key``)
    and the figures still ``pending``."""
    digest = hashlib.sha256()
    for folder, entries in manifests:
        digest.update(os.fsencode(Path(folder).resolve()) + b"\0")
        text = json.dumps(stable_entries(entries), separators=(",", ":"), default=str)
        digest.update(text.encode("utf-8"))
    tail = (code, options, sorted(repr(p) for p in pending))
    digest.update(repr(tail).encode("utf-8", "surrogatepass"))
    return digest.hexdigest()


def _seen(path: Path) -> str:
    try:
        st = path.stat()
    except OSError:
        return "missing"
    return f"{st.st_size} {st.st_mtime_ns} {st.st_ino}"


def source_table(paths: Iterable[Path], site: Path) -> dict[str, str]:
    """Each source file's size, mtime and inode (or "missing"), by its path relative to
    the ``site`` folder (the site's manifest names no absolute path of the build machine)."""
    return {_relative(p, site): _seen(Path(p)) for p in sorted(set(paths))}


def _relative(path: Path, site: Path) -> str:
    try:
        return Path(os.path.relpath(path, site)).as_posix()
    except ValueError:  # another drive
        return os.fsdecode(path)


@dataclass(frozen=True)
class Verdict:
    """The published site against a key: ``reason`` why it must be built ("" when it is
    current), and when it is, what its build reported."""

    reason: str
    built: Built | None = None

    @property
    def current(self) -> bool:
        return not self.reason


def judge(site: Path, key: str) -> Verdict:
    """Whether the site at ``site`` is the current one for ``key``: the key its manifest
    keeps, a stat of each source file and of each of its own files."""
    manifest = read_site_files(site)
    if manifest is None:
        return Verdict("there is none yet, or it has no manifest")
    if manifest.get("stamp") != key:
        return Verdict("it was built from other inputs")
    sources = manifest.get("sources")
    if not isinstance(sources, Mapping):
        return Verdict("its manifest does not name its sources")
    for path, seen in sources.items():
        if _seen(site / path) != seen:
            return Verdict(f"{Path(path).name}, a file it is made from, changed")
    damage = table_damage(site, manifest["files"])
    if damage is not None:
        return Verdict(damage)
    built = Built.from_site(manifest)
    if built is None:
        return Verdict("its manifest does not say what it holds")
    return Verdict("", built)
