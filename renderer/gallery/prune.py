"""``renderer gallery prune``: the one place that deletes cached jobs, and only when asked.

A job is unused when the current settings and photos do not plan it: its photo is gone or
changed, or its preset, layer or class is no longer configured.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from .build import plan_build
from .cache import DONE_NAME, JobCache, build_lock, folder_bytes
from .config import GalleryConfig
from .jobkind import KINDS
from .plan import Plan
from .run import Toolkit


def _label(folder: Path) -> str:
    try:
        info = json.loads((folder / DONE_NAME).read_text(encoding="utf-8"))
        return str(info.get("label") or folder.name[:12])
    except (OSError, ValueError):
        return f"{folder.name[:12]} (unfinished)"


def prune_jobs(
    config: GalleryConfig, *, delete: bool = False, toolkit: Toolkit | None = None
) -> tuple[list[tuple[str, int]], int]:
    """The unused jobs as (label, bytes), and the bytes they hold; deleted with ``delete``.
    Under the build lock, so a running build keeps its jobs."""
    if toolkit is None:
        from .kinds import real_toolkit

        toolkit = real_toolkit()
    plan = plan_build(config, toolkit)
    cache = JobCache(config.render_dir)
    keep = plan.keys | _combined(plan)
    with build_lock(config.render_dir):
        found = [(folder, _label(folder), folder_bytes(folder)) for folder in cache.unused(keep)]
        if delete:
            for folder, _, _ in found:
                shutil.rmtree(folder)
    rows = [(label, size) for _, label, size in found]
    return rows, sum(size for _, size in rows)


def _combined(plan: Plan) -> set[str]:
    """The keys of the figures kinds make from the plan's jobs (a clip's joined videos):
    not jobs of the plan, but made from them, so kept."""
    kinds = (KINDS.get(name) for name in dict.fromkeys(job.kind for job in plan.jobs))
    return {
        key for kind in kinds if kind and kind.combined_keys for key in kind.combined_keys(plan)
    }
