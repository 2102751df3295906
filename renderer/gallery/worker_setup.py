"""Dask workers as fast as local ones, however they were started.

A ``LocalCluster`` of the build starts its workers without Dask's stack sampler, with a
1 s tick and a 10 s system monitor, and without the nanny's ``MALLOC_TRIM_THRESHOLD_``
(``executors._quiet_workers``). A worker started by hand (``dask worker ADDRESS``) has
all of them, and they made a torch loop 2-3x slower there. Two ways give it the same:

- the build registers ``QuietWorker`` on every worker of the cluster it uses (also those
  joining later), so nothing needs to change on the workers' command lines;
- or a worker starts with ``dask worker ADDRESS --preload renderer.gallery.worker_setup``:
  importing this module turns the sampler off before the worker sets it up, and
  ``dask_setup`` does the rest.
"""

from __future__ import annotations

from typing import Any

import dask.config
from distributed.diagnostics.plugin import WorkerPlugin

from ..heap import keep_freed_memory

TICK_MS = 1000
MONITOR_MS = 10_000
SAMPLERS = ("profile", "profile-cycle")  # the stack sampler and its cycling

# A preloaded module is imported before the worker reads this (it starts its sampler after).
dask.config.set({"distributed.worker.profile.enabled": False})


def quiet(worker: Any) -> None:
    """Stop the worker's stack sampler, slow its tick and system monitor, and let glibc
    keep freed heap (``heap.keep_freed_memory``, which undoes MALLOC_TRIM_THRESHOLD_)."""
    callbacks = getattr(worker, "periodic_callbacks", {})
    for name in SAMPLERS:
        callback = callbacks.pop(name, None)
        if callback is not None:
            callback.stop()
    for name, ms in (("tick", TICK_MS), ("monitor", MONITOR_MS)):
        if name in callbacks:
            callbacks[name].callback_time = max(callbacks[name].callback_time, ms)
    keep_freed_memory()


def dask_setup(worker: Any) -> None:
    """Dask's preload hook (``--preload renderer.gallery.worker_setup``)."""
    quiet(worker)


class QuietWorker(WorkerPlugin):
    """``quiet`` on every worker of the cluster, registered by the build."""

    name = "dreamgallery-quiet-worker"
    idempotent = True

    def setup(self, worker: Any) -> None:
        quiet(worker)


__all__ = ["QuietWorker", "dask_setup", "quiet"]
