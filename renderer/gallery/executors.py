"""Where the jobs run: in this process, in local worker processes, or on a Dask cluster.

Each executor takes jobs from the front of the sorted pending list, through ``run_plan``'s
``Feed``, and hands back every outcome; none of them knows the cache's rules. Two rules are
shared: a heavy job (an explanation holds ~1.7 GB at its peak) waits while the machine's
memory holds no more heavy ones, and no job starts once the time budget is spent.

- ``InProcess``: one job after another, here (the default on one core and on a GPU).
- ``LocalProcesses``: ``--jobs N`` worker processes, spawned, each with ``cores // N``
  torch threads, so the machine is not oversubscribed; a dead worker fails only its job.
- ``DaskCluster``: ``--cluster ADDRESS`` (``remote.py`` packs each job with its input bytes;
  the workers need no shared folder).
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import logging
import multiprocessing
import os
import signal
import sys
import threading
import time
import warnings
from collections import Counter
from collections.abc import Callable, Collection, Hashable, Iterable, Iterator
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any

from ..errors import RendererError
from ..interrupts import handled
from .cache import JobCache
from .cores import split_cores
from .plan import Job
from .run import (
    Executor,
    Feed,
    Outcome,
    WorkerContext,
    cpu_cores,
    execute_job,
    release_memory,
    threads_per_worker,
)

CLUSTER_EXTRA = "pip install 'dreamgallery[cluster]'"
CONNECT_TIMEOUT_S = 5.0
WORKER_WAIT_S = 60.0  # for the first worker to join a scheduler that has none
# A LocalCluster's workers run without the stack sampler, the 20 ms ticks, the frequent system
# monitor and glibc's trim-everything setting: with them a small-op torch loop ran 2.0-3.2x
# slower in a worker than in the driver; without them 0.8-1.0x, as in a process pool
# (noisy 2-core machine). Two of them turned off alone did not make the difference.


def _quiet_workers() -> dict[str, Any]:
    """The Dask settings a LocalCluster starts with (see above)."""
    environ = dict(dask_config().get("distributed.nanny.pre-spawn-environ", {}))
    environ.pop("MALLOC_TRIM_THRESHOLD_", None)
    return {
        "distributed.worker.profile.enabled": False,
        "distributed.admin.tick.interval": "1s",
        "distributed.admin.system-monitor.interval": "10s",
        "distributed.nanny.pre-spawn-environ": environ,
    }


class ClusterError(RendererError):
    """The cluster cannot be used: no Dask, no scheduler, or workers that do not match."""


def _next_job(
    pending: list[Job], running: Iterable[Job], heavy: frozenset[str], heavy_slots: int = 1
) -> int | None:
    """The first pending job that may start now: a heavy job waits while ``heavy_slots``
    heavy ones run, and a lighter one goes first."""
    if sum(job.kind in heavy for job in running) < heavy_slots:
        return 0
    for index, job in enumerate(pending):
        if job.kind not in heavy:
            return index
    return None


def _drive(
    pending: list[Job],
    feed: Feed,
    heavy: frozenset[str],
    slots: Callable[[], tuple[int, int]],
    submit: Callable[[Job], Hashable | Outcome],
    wait: Callable[[Collection[Hashable]], Iterable[Hashable]],
    outcome: Callable[[Hashable, Job], Outcome | None],
) -> list[Job]:
    """Keep ``slots()`` = (jobs, heavy jobs) in flight until ``pending`` is done or the time
    is up. ``submit`` returns a handle, or an outcome when the job failed before it started;
    ``outcome`` turns a finished handle into its job's outcome, or ``None`` to give up
    on this round (a broken pool): the jobs still in flight are then returned, unfinished,
    ahead of the rest."""
    in_flight: dict[Hashable, Job] = {}
    while pending or in_flight:
        most, heavy_slots = slots()
        while pending and len(in_flight) < most and not feed.out_of_time():
            index = _next_job(pending, in_flight.values(), heavy, heavy_slots)
            if index is None:
                break
            job = pending.pop(index)
            handle = feed.instant(job) or submit(job)
            if isinstance(handle, Outcome):
                feed.finish(handle)
            else:
                in_flight[handle] = job
        feed.show(list(in_flight.values()))
        if not in_flight:
            break
        for handle in wait(list(in_flight)):
            job = in_flight.pop(handle)
            result = outcome(handle, job)
            if result is None:
                return [*in_flight.values(), *pending]
            feed.finish(result)
    return pending


# --------------------------------------------------------------------------- this process


class InProcess:
    """One job after another, in this process."""

    def run(self, pending: list[Job], ctx: WorkerContext, feed: Feed) -> list[Job]:
        pending = list(pending)
        while pending and not feed.out_of_time():
            job = pending.pop(0)
            feed.show([job])
            feed.finish(feed.instant(job) or execute_job(job, ctx))
        return pending


# --------------------------------------------------------------------------- local processes


def _init_worker(threads: int, parent: int | None = None) -> None:
    """Worker processes: their share of the cores, no progress bars of their own, Ctrl-C
    left to the main process (which ends them), and death with it if it is killed."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    with contextlib.suppress(Exception):  # Linux: die with the parent, even on SIGKILL
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    if parent is not None and os.getppid() != parent:  # killed while this one started up
        os._exit(1)
    _quiet_worker(threads).__enter__()  # held for the worker's lifetime


@contextlib.contextmanager
def _quiet_worker(threads: int | None) -> Iterator[None]:
    """``threads`` torch threads (when given) and ``app_state().quiet`` inside the block:
    a worker draws no progress bars of its own."""
    import click

    from ..clikit import AppState

    if threads is not None:
        with contextlib.suppress(ImportError):
            import torch

            if torch.get_num_threads() != threads:
                torch.set_num_threads(threads)
    with click.Context(click.Command("gallery-worker"), obj=AppState(quiet=True)):
        yield


@dataclass(frozen=True)
class LocalProcesses:
    """``workers`` spawned processes on this machine. Spawned, not forked: a fork of a
    process whose torch thread pools are running can deadlock."""

    workers: int
    start_method: str = "spawn"

    def run(self, pending: list[Job], ctx: WorkerContext, feed: Feed) -> list[Job]:
        from ..ram import available_ram

        spawn = multiprocessing.get_context(self.start_method)
        split = split_cores(cpu_cores(), available_ram(), asked=self.workers, pending=len(pending))
        workers, threads, heavy_slots = split.processes, split.threads, split.heavy
        if _QUIET_TRACKER not in sys.warnoptions:  # passed on to the resource tracker's process
            sys.warnoptions.append(_QUIET_TRACKER)
        pending = list(pending)
        restarts = 0
        with _sigterm_as_exit():
            while pending and not feed.out_of_time() and restarts <= 3:
                pool = cf.ProcessPoolExecutor(
                    workers,
                    mp_context=spawn,
                    initializer=_init_worker,
                    initargs=(threads, os.getpid()),
                )
                broken = False

                def outcome(future: Any, job: Job) -> Outcome | None:
                    nonlocal broken
                    try:
                        return future.result()
                    except BrokenProcessPool:
                        if broken:  # the others in flight died with the pool: run them again
                            return None
                        broken = True
                        reason = f"{job.label}: its worker process died (out of memory?)"
                        feed.finish(Outcome.of(job, "failed", reason=reason))
                        return None

                try:
                    pending = _drive(
                        pending,
                        feed,
                        ctx.toolkit.heavy,
                        lambda: (workers, heavy_slots),
                        lambda job, pool=pool: _submit_quietly(pool, job, ctx),
                        lambda futures: cf.wait(futures, return_when=cf.FIRST_COMPLETED)[0],
                        outcome,
                    )
                except BaseException:
                    _stop_pool(pool)
                    raise
                pool.shutdown(wait=True)
                restarts += broken
        return pending


def _submit_quietly(pool: cf.ProcessPoolExecutor, job: Job, ctx: WorkerContext) -> cf.Future:
    """Submit ``job``; a worker the pool starts for it inherits a blocked SIGINT."""
    with _children_ignore_ctrl_c():
        return pool.submit(execute_job, job, ctx)


# After a kill the pool's semaphores are leaked by definition; the resource tracker cleans
# them up, and its warning about it would only alarm the user.
_QUIET_TRACKER = "ignore::UserWarning:multiprocessing.resource_tracker"


@contextlib.contextmanager
def _children_ignore_ctrl_c() -> Iterator[None]:
    """Block SIGINT while a worker may be started: it inherits the blocked signal, so a
    Ctrl-C that reaches the whole process group never prints a worker's traceback (the
    main process ends the workers itself). The main process gets its Ctrl-C right after."""
    if not hasattr(signal, "pthread_sigmask"):  # pragma: no cover - Windows
        yield
        return
    old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def _stop_pool(pool: cf.ProcessPoolExecutor) -> None:
    """Ctrl-C, a kill or an error in the main process: end the workers now. Their staging
    folders stay behind, and the next run removes them."""
    for process in list((getattr(pool, "_processes", None) or {}).values()):
        with contextlib.suppress(Exception):
            process.terminate()
    pool.shutdown(wait=False, cancel_futures=True)


@contextlib.contextmanager
def _sigterm_as_exit() -> Iterator[None]:
    """Turn SIGTERM into SystemExit while workers run, so they are ended, not orphaned."""

    def handler(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    with handled(signal.SIGTERM, handler):
        yield


# --------------------------------------------------------------------------- Dask


def parse_cluster(address: str) -> int | None:
    """``local`` or ``local:N`` -> N worker processes (0: the default count); a scheduler's
    address -> ``None``."""
    if address == "local":
        return 0
    if address.startswith("local:"):
        return int(address.removeprefix("local:"))
    return None


def _dask() -> Any:
    try:
        import distributed
    except ImportError:
        raise ClusterError(f"--cluster needs Dask: {CLUSTER_EXTRA}") from None
    return distributed


_JOB_LOCK = threading.Lock()


def _dask_task(spec: Any, data: dict[str, bytes], peers: dict[str, int]) -> Any:
    """On a worker: render one packed job (``remote.render_packed``), one job at a time per
    process (two at once would share a model's forward hooks), with its share of the cores
    of its host (``peers``: how many workers share each worker's host)."""
    from distributed import get_worker

    from .remote import render_packed

    worker = get_worker()
    threads = threads_per_worker(peers.get(worker.address, 1))  # the host's cores, shared
    with _JOB_LOCK, _quiet_worker(threads):
        try:
            return render_packed(spec, data, worker.local_directory, worker.address)
        finally:
            release_memory()


def _workers(client: Any) -> dict[str, Any]:
    """Every worker's information (newer Dask lists only 5 unless asked for all)."""
    try:
        return client.scheduler_info(n_workers=-1)["workers"]
    except TypeError:  # pragma: no cover - Dask before n_workers
        return client.scheduler_info()["workers"]


def _host(address: str, info: dict[str, Any]) -> str:
    return str(info.get("host") or address)


def _peers(workers: dict[str, Any]) -> dict[str, int]:
    """Each worker's number of workers on its host (itself included)."""
    per_host = Counter(_host(a, w) for a, w in workers.items())
    return {a: per_host[_host(a, w)] for a, w in workers.items()}


@dataclass(frozen=True)
class DaskCluster:
    """Jobs on a Dask cluster: ``address`` is a scheduler's (``tcp://host:8786``) or
    ``local[:N]`` for a ``LocalCluster`` of N processes here (plain ``local``:
    ``local_workers``). ``device`` is the one asked for: ``auto`` resolves on each worker,
    and a CUDA job asks for a ``GPU`` resource."""

    address: str
    device: str = "auto"
    local_workers: int = 2

    def run(self, pending: list[Job], ctx: WorkerContext, feed: Feed) -> list[Job]:
        from . import remote

        distributed = _dask()
        with self._client(distributed) as (client, local):
            packer = remote.Packer(ctx, self.device, {job.model for job in pending})
            self._check_workers(client, packer, ctx, remote)
            if not local:  # a LocalCluster's workers start quiet (_quiet_workers)
                from .worker_setup import QuietWorker

                client.register_plugin(QuietWorker())
            cache = JobCache(ctx.render_dir)
            places: dict[Any, dict[str, str]] = {}
            resources = self._resources(local)
            seen: dict[str, Any] = {"at": 0.0, "peers": {}, "hosts": 1}

            def slots() -> tuple[int, int]:
                """Two jobs per worker in flight (the next one waits there, not here); a
                heavy one per worker machine. Asked of the scheduler once a second."""
                if time.monotonic() - seen["at"] > 1.0:
                    workers = _workers(client)
                    seen["peers"] = _peers(workers)
                    seen["hosts"] = 1 if local else len({_host(a, w) for a, w in workers.items()})
                    seen["at"] = time.monotonic()
                return 2 * max(1, len(seen["peers"])), max(1, seen["hosts"])

            def submit(job: Job) -> Any:
                try:
                    spec, files = packer.pack(job)
                    data = {name: remote.read_input(path) for name, path in files.items()}
                except OSError as exc:
                    reason = f"{job.label}: cannot read its input ({exc})"
                    return Outcome.of(job, "failed", reason=reason)
                with warnings.catch_warnings():  # a print-size photo is a "large graph"
                    warnings.simplefilter("ignore", UserWarning)
                    future = client.submit(
                        _dask_task,
                        spec,
                        data,
                        dict(seen["peers"]),
                        key=f"{job.kind}-{job.key[:16]}-{time.time_ns()}",
                        resources=resources,
                        pure=False,
                    )
                places[future] = {name: str(path) for name, path in files.items()}
                return future

            def wait(futures: Collection[Any]) -> Iterable[Any]:
                try:
                    return distributed.wait(list(futures), return_when="FIRST_COMPLETED").done
                except _cancelled() as exc:
                    raise self._lost() from exc

            def outcome(future: Any, job: Job) -> Outcome:
                result = self._result(future, job, remote)
                if isinstance(result, Outcome):
                    return result
                return remote.commit(cache, job, result, places.pop(future), ctx.command)

            return _drive(pending, feed, ctx.toolkit.heavy, slots, submit, wait, outcome)

    @contextlib.contextmanager
    def _client(self, distributed: Any) -> Iterator[tuple[Any, bool]]:
        """A client of the scheduler at ``address``, or of a LocalCluster started here."""
        count = parse_cluster(self.address)
        cluster = None
        try:
            if count is not None:
                with dask_config().set(_quiet_workers()):
                    cluster = distributed.LocalCluster(
                        n_workers=count or self.local_workers,
                        threads_per_worker=1,
                        processes=True,
                        dashboard_address=None,
                        silence_logs=logging.ERROR,
                    )
                client = distributed.Client(cluster)
            else:
                client = distributed.Client(self.address, timeout=CONNECT_TIMEOUT_S)
        except (OSError, TimeoutError) as exc:
            if cluster is not None:
                cluster.close()
            reason = f"cannot reach the Dask scheduler at {self.address}: {exc}"
            raise ClusterError(reason) from None
        try:
            with _sigterm_as_exit():
                yield client, cluster is not None
        finally:
            with contextlib.suppress(Exception):
                client.close(timeout=5)
            if cluster is not None:
                with contextlib.suppress(Exception):
                    cluster.close(timeout=10)

    def _resources(self, local: bool) -> dict[str, int] | None:
        """A CUDA job asks a scheduler for a ``GPU`` (a LocalCluster's workers share this
        machine's GPUs as a local build does)."""
        return {"GPU": 1} if self.device.startswith("cuda") and not local else None

    def _check_workers(self, client: Any, packer: Any, ctx: WorkerContext, remote: Any) -> None:
        """Refuse workers whose renderer, torch or weights differ from the driver's, and a
        CUDA build where no worker offers a GPU (its jobs would wait forever)."""
        try:
            client.wait_for_workers(1, timeout=WORKER_WAIT_S)
        except (TimeoutError, OSError):
            raise ClusterError(
                f"no worker joined the Dask scheduler at {self.address} in {WORKER_WAIT_S:.0f} s; "
                f"start one: dask worker {self.address} --nthreads 1"
            ) from None
        workers = _workers(client).values()
        local = parse_cluster(self.address) is not None
        if self._resources(local) and not any(w.get("resources", {}).get("GPU") for w in workers):
            raise ClusterError(
                f"no worker of {self.address} offers a GPU: start them with "
                "`dask worker ADDRESS --resources GPU=1 --nthreads 1`, or use --device auto"
            )
        try:
            found = client.run(remote.versions, ctx.toolkit, packer.models, packer.weights is None)
        except (OSError, TimeoutError) as exc:
            raise ClusterError(f"the Dask scheduler at {self.address}: {exc}") from None
        for address, versions in sorted(found.items()):
            difference = remote.version_difference(packer.versions, versions)
            if difference:
                raise ClusterError(f"worker {address} refused: {difference}")

    def _lost(self) -> ClusterError:
        return ClusterError(
            f"lost the Dask scheduler at {self.address} mid-build; the finished jobs are kept "
            "in the cache, and the next build resumes from them"
        )

    def _result(self, future: Any, job: Job, remote: Any) -> Any:
        """The worker's result, a failed outcome, or the one line that ends the build."""
        try:
            return future.result()
        except _cancelled():
            raise self._lost() from None
        except remote.VersionMismatchError as exc:
            raise ClusterError(str(exc)) from None
        except Exception as exc:  # KilledWorker: it took its workers down each time it ran
            reason = f"{job.label}: its workers died ({type(exc).__name__}: {exc})"
            return Outcome.of(job, "failed", reason=reason)


def dask_config() -> Any:
    import dask.config

    return dask.config


def _cancelled() -> tuple[type[BaseException], ...]:
    """Dask's errors for futures that the lost scheduler took with it."""
    from distributed import client

    names = ("FutureCancelledError", "FuturesCancelledError", "CancelledError")
    return tuple(getattr(client, name) for name in names if hasattr(client, name))


# --------------------------------------------------------------------------- choosing


def make_executor(
    workers: int, cluster: str | None = None, device: str = "auto", start_method: str = "spawn"
) -> Executor:
    """The executor for a build: ``--cluster``, else ``--jobs`` local processes, else here."""
    if cluster is not None:
        _dask()
        return DaskCluster(cluster, device, workers)
    if workers > 1:
        return LocalProcesses(workers, start_method)
    return InProcess()


__all__ = ["ClusterError", "DaskCluster", "InProcess", "LocalProcesses", "make_executor"]
