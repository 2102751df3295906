"""Running the jobs: reuse the finished ones, render the rest, isolate failures.

One process renders by default (and always on CUDA, where the job functions batch). With
``--jobs N`` on the CPU, N worker processes share the cores: each gets ``cores // N`` torch
threads, so the machine is not oversubscribed, and loads each model once. Jobs are sorted
by model, so a worker meets each model in one run of jobs.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import multiprocessing
import os
import signal
import sys
import time
import traceback
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import BadInputError, RendererError
from ..oserrors import free_space, is_disk_full
from ..provenance import InputFile, Record, publish, read_manifest
from .cache import JobCache
from .plan import Job, PhotoSource, Plan, Planner, Problem

# A runner renders one job into ``out_dir`` (files, sidecars and manifest.json) and returns
# the records it published.
Runner = Callable[[Job, Any, Path, str], Sequence[Record]]
ModelLoader = Callable[[str, str, "str | None"], Any]


@dataclass(frozen=True)
class Toolkit:
    """The kind-specific parts: how to plan each kind, render it, and load a model.
    ``kinds.real_toolkit()`` wires the real dream and explain functions; tests inject fakes."""

    planner: Planner
    runners: Mapping[str, Runner]
    load_model: ModelLoader
    weights_sha256: Callable[[str, Path | None], str]  # (model, --weights) -> sha256
    device: Callable[[str], str]  # "auto" -> "cpu" / "cuda" / ...
    # Kinds whose peak memory is large: at most one of them runs at a time across workers.
    heavy: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Outcome:
    """What happened to one job in this run."""

    key: str
    kind: str
    label: str
    status: str  # rendered | reused | failed | pending (not started: time budget)
    seconds: float = 0.0
    reason: str = ""
    photo: PhotoSource | None = None
    bad_input: bool = False  # a failure caused by the input itself (cached as skipped)
    cached: bool = False  # a failure found in the cache (the input has not changed)
    disk_full: bool = False  # the render folder's disk is full: start no more jobs

    @classmethod
    def of(cls, job: Job, status: str, **details: Any) -> Outcome:
        """What happened to ``job``: its key, kind, label and photo, with ``status``."""
        return cls(job.key, job.kind, job.label, status, photo=job.photo, **details)


@dataclass(frozen=True)
class WorkerContext:
    render_dir: Path
    device: str
    weights: str | None
    toolkit: Toolkit
    command: str


@dataclass
class RunReport:
    outcomes: list[Outcome] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    seconds: float = 0.0
    stopped_by_budget: bool = False
    disk_full: str = ""  # why no more jobs were started, when the disk filled up
    repaired: list[str] = field(default_factory=list)  # cached jobs found damaged

    @property
    def ok(self) -> bool:
        return not self.failed and not self.problems and not self.disk_full

    def count(self, status: str) -> int:
        return sum(1 for o in self.outcomes if o.status == status)

    @property
    def failed(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.status == "failed"]

    def seconds_by_kind(self) -> dict[str, float]:
        totals: dict[str, float] = {}
        for o in self.outcomes:
            if o.status == "rendered":
                totals[o.kind] = totals.get(o.kind, 0.0) + o.seconds
        return totals


def skipped_record(
    path: str, sha256: str, name: str, reason: str, command: str, job: str | None = None
) -> Record:
    """The manifest entry that makes the site show "skipped: reason"."""
    extra = {"name": name, "reason": reason}
    if job:
        extra["job"] = job
    return Record(
        kind="skipped",
        output=None,
        command=command,
        inputs=(InputFile(path, sha256),),
        extra=extra,
        versions={},  # nothing was rendered (and no need to import torchvision to say so)
    )


def _photo_info(photo: PhotoSource | None) -> dict[str, str] | None:
    if photo is None:
        return None
    return {"path": str(photo.path), "name": photo.name, "sha256": photo.sha256}


def _failure_reason(job: Job, exc: BaseException) -> tuple[str, bool]:
    if isinstance(exc, BadInputError):
        return exc.reason, True
    if isinstance(exc, RendererError):
        return f"{job.label}: {exc}", False
    return f"{job.label} failed: {type(exc).__name__}: {exc}", False


def cache_skip(cache: JobCache, job: Job, reason: str, command: str) -> None:
    """Remember a failure caused by the input itself, so unchanged bad inputs are not
    decoded again on every rebuild; changing the file changes the key and retries it."""
    photo = job.photo
    record = skipped_record(
        str(photo.path) if photo else job.label,
        photo.sha256 if photo else "",
        photo.name if photo else job.label,
        reason,
        command,
        job.label,
    )

    def work(folder: Path) -> dict[str, Any]:
        publish(folder, [record])
        return {
            "status": "skipped",
            "kind": job.kind,
            "label": job.label,
            "photo": _photo_info(photo),
            "reason": reason,
        }

    cache.render(job.key, work)


def release_memory() -> None:
    """Hand freed heap back to the OS between jobs. Without it a long-lived worker keeps
    every job's peak resident (glibc does not shrink its arenas by itself), and two
    workers sit at twice the largest job's peak for the rest of the build."""
    import gc

    gc.collect()
    with contextlib.suppress(Exception):
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)


def execute_job(job: Job, ctx: WorkerContext) -> Outcome:
    """Render one job into the cache; any failure becomes a failed ``Outcome``."""
    try:
        return _execute_job(job, ctx)
    finally:
        release_memory()


def _execute_job(job: Job, ctx: WorkerContext) -> Outcome:
    cache = JobCache(ctx.render_dir)
    start = time.perf_counter()

    def elapsed() -> float:
        return round(time.perf_counter() - start, 3)

    try:
        model = ctx.toolkit.load_model(job.model, ctx.device, ctx.weights)
        runner = ctx.toolkit.runners[job.kind]
        seconds = 0.0

        def work(folder: Path) -> dict[str, Any]:
            nonlocal seconds
            records = list(runner(job, model, folder, ctx.command))
            if not records:
                raise RuntimeError("the job published nothing")
            if not read_manifest(folder):
                publish(folder, records)
            seconds = elapsed()  # one count for done.json and this run's report alike
            return {
                "status": "rendered",
                "kind": job.kind,
                "label": job.label,
                "photo": _photo_info(job.photo),
                "seconds": seconds,
            }

        cache.render(job.key, work)
        return Outcome.of(job, "rendered", seconds=seconds)
    except KeyboardInterrupt:
        raise
    except Exception as exc:
        reason, bad_input = _failure_reason(job, exc)
        if is_disk_full(exc):
            reason = f"{job.label}: no space left on {ctx.render_dir}"
            return Outcome.of(job, "failed", seconds=elapsed(), reason=reason, disk_full=True)
        if os.environ.get("RENDERER_DEBUG"):
            traceback.print_exception(exc)
        if bad_input:
            with contextlib.suppress(OSError):
                cache_skip(cache, job, reason, ctx.command)
        return Outcome.of(job, "failed", seconds=elapsed(), reason=reason, bad_input=bad_input)


def cached_outcome(cache: JobCache, job: Job, damaged: list[str] | None = None) -> Outcome | None:
    """The cached result of ``job``, or ``None`` when it must render (not cached, or a file
    of it is damaged: then ``damaged`` gets the reason)."""
    info = cache.done_info(job.key)
    if info is None:
        return None
    damage = cache.damage(job.key, info)
    if damage is not None:
        if damaged is not None:
            damaged.append(f"{job.label}: {damage}")
        return None
    if info.get("status") == "skipped":
        reason = str(info.get("reason", "skipped"))
        return Outcome.of(job, "failed", reason=reason, bad_input=True, cached=True)
    return Outcome.of(job, "reused", seconds=float(info.get("seconds", 0.0)))


def _init_worker(threads: int, parent: int | None = None) -> None:
    """Worker processes: their share of the cores, no progress bars of their own, Ctrl-C
    left to the main process (which ends them), and death with it if it is killed."""
    import click

    from ..clikit import AppState

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    with contextlib.suppress(Exception):  # Linux: die with the parent, even on SIGKILL
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    if parent is not None and os.getppid() != parent:  # killed while this one started up
        os._exit(1)

    try:
        import torch

        torch.set_num_threads(threads)
    except ImportError:  # pragma: no cover
        pass
    ctx = click.Context(click.Command("gallery-worker"), obj=AppState(quiet=True))
    ctx.__enter__()  # held for the worker's lifetime: app_state() sees quiet=True


def cpu_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - macOS, Windows
        return os.cpu_count() or 1


def threads_per_worker(workers: int, cores: int | None = None) -> int:
    return max(1, (cores or cpu_cores()) // max(1, workers))


ProgressFactory = Callable[..., Any]


def run_plan(
    plan: Plan,
    ctx: WorkerContext,
    *,
    workers: int = 1,
    force: bool = False,
    max_seconds: float | None = None,
    progress: ProgressFactory | None = None,
    start_method: str = "spawn",
) -> RunReport:
    """Reuse or render every job of the plan; returns what happened to each."""
    clock = time.monotonic()
    deadline = None if max_seconds is None else clock + max_seconds
    cache = JobCache(ctx.render_dir)
    report = RunReport(problems=list(plan.problems))
    todo: list[Job] = []
    for job in plan.jobs:
        found = None if force else cached_outcome(cache, job, report.repaired)
        if found is None:
            todo.append(job)
        else:
            report.outcomes.append(found)
    todo.sort(key=lambda j: j.model)  # stable: each model's jobs run together
    bad_photos: dict[str, str] = {
        o.photo.sha256: o.reason for o in report.outcomes if o.bad_input and o.photo
    }

    bar = progress(total=len(todo), desc="gallery", unit="job") if progress else None

    def finish(outcome: Outcome) -> None:
        report.outcomes.append(outcome)
        if outcome.disk_full and not report.disk_full:
            report.disk_full = f"no space left on {ctx.render_dir} ({free_space(ctx.render_dir)})"
        if outcome.bad_input and outcome.photo:
            bad_photos[outcome.photo.sha256] = outcome.reason
        if bar is not None:
            bar.update(1)

    def known_bad(job: Job) -> Outcome | None:
        """A job whose photo already failed to decode fails the same way, at once."""
        if job.photo is None or job.photo.sha256 not in bad_photos:
            return None
        reason = bad_photos[job.photo.sha256]
        cache_skip(cache, job, reason, ctx.command)
        return Outcome.of(job, "failed", reason=reason, bad_input=True)

    def show(jobs: list[Job]) -> None:
        if bar is not None:
            bar.set_postfix_str(" | ".join(j.label for j in jobs), refresh=True)

    def out_of_time() -> bool:  # or out of disk: no job could finish
        return bool(report.disk_full) or (deadline is not None and time.monotonic() >= deadline)

    pending = list(todo)
    try:
        if workers <= 1:
            while pending:
                if out_of_time():
                    break
                job = pending.pop(0)
                show([job])
                finish(known_bad(job) or execute_job(job, ctx))
        else:
            with _sigterm_as_exit():
                pending = _run_pool(
                    pending, ctx, workers, out_of_time, known_bad, finish, start_method, show
                )
    finally:
        if bar is not None:
            bar.close()
    for job in pending:
        report.outcomes.append(Outcome.of(job, "pending"))
    report.stopped_by_budget = bool(pending) and not report.disk_full
    report.seconds = round(time.monotonic() - clock, 3)
    return report


def _run_pool(
    pending: list[Job],
    ctx: WorkerContext,
    workers: int,
    out_of_time: Callable[[], bool],
    known_bad: Callable[[Job], Outcome | None],
    finish: Callable[[Outcome], None],
    start_method: str = "spawn",
    running: Callable[[list[Job]], None] = lambda jobs: None,
) -> list[Job]:
    """Keep ``workers`` jobs in flight; a dead worker fails only its own job.

    Workers are spawned, not forked: a fork of a process whose torch thread pools are
    running can deadlock.
    """
    spawn = multiprocessing.get_context(start_method)
    threads = threads_per_worker(workers)
    if _QUIET_TRACKER not in sys.warnoptions:  # passed on to the resource tracker's process
        sys.warnoptions.append(_QUIET_TRACKER)
    restarts = 0
    while pending and not out_of_time():
        pool = cf.ProcessPoolExecutor(
            workers, mp_context=spawn, initializer=_init_worker, initargs=(threads, os.getpid())
        )
        in_flight: dict[cf.Future, Job] = {}
        broken = False
        try:
            while (pending or in_flight) and not broken:
                while pending and len(in_flight) < workers and not out_of_time():
                    index = _next_job(pending, in_flight.values(), ctx.toolkit.heavy)
                    if index is None:
                        break
                    job = pending.pop(index)
                    instant = known_bad(job)
                    if instant is not None:
                        finish(instant)
                        continue
                    with _children_ignore_ctrl_c():
                        in_flight[pool.submit(execute_job, job, ctx)] = job
                running(list(in_flight.values()))
                if not in_flight:
                    break
                done, _ = cf.wait(in_flight, return_when=cf.FIRST_COMPLETED)
                for future in done:
                    job = in_flight.pop(future)
                    try:
                        finish(future.result())
                    except BrokenProcessPool:
                        broken = True
                        reason = f"{job.label}: its worker process died (out of memory?)"
                        finish(Outcome.of(job, "failed", reason=reason))
            if broken:
                # The other jobs in flight died with the pool through no fault of their own.
                pending[:0] = list(in_flight.values())
                restarts += 1
                if restarts > 3:
                    break
        except BaseException:
            _stop_pool(pool)
            raise
        pool.shutdown(wait=True)
    return pending


# After a kill the pool's semaphores are leaked by definition; the resource tracker cleans
# them up, and its warning about it would only alarm the user.
_QUIET_TRACKER = "ignore::UserWarning:multiprocessing.resource_tracker"


@contextlib.contextmanager
def _children_ignore_ctrl_c():
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


def _next_job(pending: list[Job], running: Iterable[Job], heavy: frozenset[str]) -> int | None:
    """The first pending job that may start now: a heavy one (an explanation holds ~1.7 GB
    at its peak) waits while another heavy one runs, and a lighter one goes first."""
    if not any(job.kind in heavy for job in running):
        return 0
    for index, job in enumerate(pending):
        if job.kind not in heavy:
            return index
    return None


def _stop_pool(pool: cf.ProcessPoolExecutor) -> None:
    """Ctrl-C, a kill or an error in the main process: end the workers now. Their staging
    folders stay behind, and the next run removes them."""
    for process in list((getattr(pool, "_processes", None) or {}).values()):
        with contextlib.suppress(Exception):
            process.terminate()
    pool.shutdown(wait=False, cancel_futures=True)


@contextlib.contextmanager
def _sigterm_as_exit():
    """Turn SIGTERM into SystemExit while workers run, so they are ended, not orphaned."""

    def handler(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    try:
        previous = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def format_summary(report: RunReport, slowest: int = 3) -> list[str]:
    """The closing lines: counts, time, the slowest jobs, and every failure by name."""
    rendered = report.count("rendered")
    reused = report.count("reused")
    failed = report.failed
    lines = [
        f"gallery: {len(report.outcomes)} jobs: {rendered} rendered, {reused} reused, "
        f"{len(failed)} failed, in {_duration(report.seconds)}"
    ]
    if report.stopped_by_budget:
        lines.append(
            f"  time budget reached: {report.count('pending')} jobs not started "
            "(the next run renders them)"
        )
    if report.disk_full:
        lines.append(
            f"  {report.disk_full}: stopped; {report.count('pending')} jobs not started "
            "(finished jobs are kept: free some space and run again)"
        )
    for damage in report.repaired:
        lines.append(f"  re-rendered {damage}")
    ran = sorted(
        (o for o in report.outcomes if o.status == "rendered"),
        key=lambda o: o.seconds,
        reverse=True,
    )[:slowest]
    if ran:
        lines.append("  slowest: " + "; ".join(f"{o.label} {_duration(o.seconds)}" for o in ran))
    by_kind = report.seconds_by_kind()
    total = sum(by_kind.values())
    if total > 0 and len(by_kind) > 1:
        lines.append(
            "  time by kind: "
            + ", ".join(f"{k} {_duration(v)} ({v / total:.0%})" for k, v in sorted(by_kind.items()))
        )
    for problem in report.problems:
        lines.append(f"  skipped {Path(problem.path).name}: {problem.reason}")
    seen: set[tuple[str, str]] = set()
    for o in failed:
        who = o.photo.name if (o.bad_input and o.photo) else o.label
        if (who, o.reason) in seen:
            continue
        seen.add((who, o.reason))
        note = " (unchanged since it failed; fix or replace the file)" if o.cached else ""
        text = o.reason if o.reason.startswith(o.label) else f"{who}: {o.reason}"
        lines.append(f"  skipped {text}{note}")
    return lines


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest:02d} s"
