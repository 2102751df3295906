"""Assembling: the manifests of the live jobs become one manifest, and the site is built.

Each job wrote its own ``manifest.json`` with paths relative to its folder; here they are
prefixed with ``jobs/<key>/`` so the render directory reads as one, in the plan's order
(presets as configured, layers shallow to deep). Every job on a photo publishes the same
``photo`` record; the first one stands for the photo.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..imageio import write_text_atomic
from ..provenance import MANIFEST_FORMAT, MANIFEST_NAME, MANIFEST_VERSION, Record, dumps
from ..provenance import read_manifest as read_dir_manifest
from .cache import JOBS_DIR, JobCache

if TYPE_CHECKING:
    from ..site.builder import SiteReport
    from ..site.options import SiteOptions


def _prefixed(value: Any, prefix: str, folder: Path) -> Any:
    """Relative paths of files inside the job folder get the job's prefix; other values
    (captions, numbers) stay as they are."""
    if isinstance(value, str):
        if value and not value.startswith(("/", "\\")) and "://" not in value:
            candidate = folder / value
            if "/" in value or "." in value:
                try:
                    if candidate.is_file():
                        return prefix + value
                except OSError:
                    pass
        return value
    if isinstance(value, list):
        return [_prefixed(v, prefix, folder) for v in value]
    if isinstance(value, dict):
        return {k: _prefixed(v, prefix, folder) for k, v in value.items()}
    return value


def job_entries(cache: JobCache, key: str) -> list[dict[str, Any]]:
    """A finished job's manifest entries, with paths relative to the render directory."""
    folder = cache.folder(key)
    prefix = f"{JOBS_DIR}/{key}/"
    entries = []
    for entry in read_dir_manifest(folder):
        entry = dict(entry)
        if entry.get("output"):
            entry["output"] = prefix + entry["output"]
        if isinstance(entry.get("extra"), dict):
            entry["extra"] = _prefixed(entry["extra"], prefix, folder)
        entries.append(entry)
    return entries


def _identity(entry: dict[str, Any]) -> tuple[str, ...] | None:
    """Entries that several jobs publish alike, so only the first is kept."""
    inputs = entry.get("inputs") or [{}]
    sha = str(inputs[0].get("sha256", ""))
    if entry.get("kind") == "photo":
        return ("photo", sha, str((entry.get("extra") or {}).get("name", "")))
    if entry.get("kind") == "skipped":
        extra = entry.get("extra") or {}
        return ("skipped", sha, str(inputs[0].get("path", "")), str(extra.get("reason", "")))
    return None


def merge_manifest(
    render_dir: Path, keys: Iterable[str], extra: Sequence[Record] = ()
) -> list[dict[str, Any]]:
    """Write ``<render_dir>/manifest.json`` from the given finished jobs and extra records
    (failures of this run); returns its entries."""
    cache = JobCache(render_dir)
    entries: list[dict[str, Any]] = []
    seen: set[tuple[str, ...]] = set()
    for entry in [e for key in keys for e in job_entries(cache, key)] + [
        r.to_dict() for r in extra
    ]:
        identity = _identity(entry)
        if identity is not None:
            if identity in seen:
                continue
            seen.add(identity)
        entries.append(entry)
    document = {"format": MANIFEST_FORMAT, "version": MANIFEST_VERSION, "entries": entries}
    write_text_atomic(render_dir / MANIFEST_NAME, dumps(document))
    return entries


def publish_site(
    render_dir: Path,
    site_dir: Path,
    options: SiteOptions,
    pending: Sequence[Any] = (),
    on_build: Callable[[str], None] | None = None,
) -> SiteReport:
    """Build the static site from the render directory (into a temporary folder that is
    swapped in whole, so a failed build leaves the previous site as it was), unless it is
    current. Strict: every job was checked whole before, so a figure that cannot be
    published fails the build."""
    from ..site.builder import build_site

    strict = dataclasses.replace(options, strict=True)
    return build_site([render_dir], site_dir, strict, pending=pending, on_build=on_build)
