"""Running the jobs: reuse the finished ones, render the rest, isolate failures.

``run_plan`` keeps the cache, the order and the report; an ``Executor`` (``executors.py``:
in this process, local worker processes, or a Dask cluster) runs what is left. Jobs are
sorted by model, so a worker meets each model in one run of jobs.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import time
import traceback
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from ..errors import BadInputError, RendererError
from ..heap import keep_freed_memory
from ..oserrors import free_space, is_disk_full
from ..provenance import InputFile, Record, publish, read_manifest
from ..ram import peak_rss, reset_peak_rss
from .cache import JobCache
from .jobkind import JobKind, Runner
from .plan import Job, PhotoSource, Plan, Problem

ModelLoader = Callable[[str, str, "str | None"], Any]
# (job, where) -> the job with each file its payload names (not its photo) at where(path).
Relocator = Callable[[Job, Callable[[str], str]], Job]


def same_job(job: Job, where: Callable[[str], str]) -> Job:
    """The relocator of kinds whose payloads name no files."""
    return job


@dataclass(frozen=True)
class Toolkit:
    """The job kinds a build plans and runs (``jobkind.JobKind``, in planning order), and
    how to load a model. ``kinds.real_toolkit()`` has every registered kind; tests inject
    fakes."""

    kinds: tuple[JobKind, ...]
    load_model: ModelLoader
    weights_sha256: Callable[[str, Path | None], str]  # (model, --weights) -> sha256
    device: Callable[[str], str]  # "auto" -> "cpu" / "cuda" / ...
    # How a cluster job carries the files its payload names (a guide picture) as bytes.
    relocate: Relocator = same_job

    def __post_init__(self) -> None:
        names = [kind.name for kind in self.kinds]
        if len(set(names)) != len(names):
            raise ValueError(f"a toolkit holds each job kind once, got {names}")

    @property
    def runners(self) -> Mapping[str, Runner]:
        return {kind.name: kind.run for kind in self.kinds}

    @property
    def heavy(self) -> frozenset[str]:
        """Kinds whose peak memory is large: at most one of them runs at a time per machine."""
        return frozenset(kind.name for kind in self.kinds if kind.heavy)

    def with_kinds(self, *kinds: JobKind) -> Toolkit:
        """This toolkit with ``kinds`` in place of its kinds of the same names (a test's
        fakes), and those it lacks added at the end."""
        new = {kind.name: kind for kind in kinds}
        mine = tuple(new.pop(kind.name, kind) for kind in self.kinds)
        return dataclasses.replace(self, kinds=mine + tuple(new.values()))


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
    worker: str = ""  # the cluster worker that rendered it ("" on this machine)
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
    workers sit at twice the largest job's peak for the rest of the build. What survives a
    job (modules, loaded models) is frozen out of later collections: a full collection
    over torch's objects took 0.3 s per job, more than a tiny job itself (measured)."""
    import gc

    gc.collect()
    gc.freeze()
    with contextlib.suppress(Exception):
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)


def execute_job(job: Job, ctx: WorkerContext) -> Outcome:
    """Render one job into the cache; any failure becomes a failed ``Outcome``."""
    try:
        return _execute_job(job, ctx)
    finally:
        release_memory()


def render_job(job: Job, ctx: WorkerContext, folder: Path) -> float:
    """Render one job into ``folder`` (files, sidecars, manifest.json); its seconds, model
    loading included. Every executor renders through here, on whichever machine."""
    keep_freed_memory()  # on every executor's worker, whatever started it (heap.py)
    start = time.perf_counter()
    model = ctx.toolkit.load_model(job.model, ctx.device, ctx.weights)
    records = list(ctx.toolkit.runners[job.kind](job, model, folder, ctx.command))
    if not records:
        raise RuntimeError("the job published nothing")
    if not read_manifest(folder):
        publish(folder, records)
    return round(time.perf_counter() - start, 3)


def rendered_info(job: Job, seconds: float) -> dict[str, Any]:
    """A finished job's ``done.json``."""
    return {
        "status": "rendered",
        "kind": job.kind,
        "label": job.label,
        "photo": _photo_info(job.photo),
        "seconds": seconds,
    }


def failure(job: Job, exc: Exception, seconds: float) -> Outcome:
    """A failed job's outcome; the traceback too with ``RENDERER_DEBUG=1``."""
    reason, bad_input = _failure_reason(job, exc)
    if os.environ.get("RENDERER_DEBUG"):
        traceback.print_exception(exc)
    return Outcome.of(job, "failed", seconds=seconds, reason=reason, bad_input=bad_input)


def _execute_job(job: Job, ctx: WorkerContext) -> Outcome:
    cache = JobCache(ctx.render_dir)
    start = time.perf_counter()
    seconds = 0.0

    def work(folder: Path) -> dict[str, Any]:
        nonlocal seconds
        measured = reset_peak_rss()
        cpu = time.process_time()  # this worker's, one job at a time: a busy machine's fair count
        seconds = render_job(job, ctx, folder)  # one count for done.json and the report
        info = rendered_info(job, seconds)
        info["cpu_s"] = round(time.process_time() - cpu, 3)
        peak = peak_rss() if measured else None
        if peak:  # the process's peak during this job (one job at a time per process)
            info["peak_rss_mb"] = round(peak / 2**20)
        return info

    try:
        cache.render(job.key, work)
        return Outcome.of(job, "rendered", seconds=seconds)
    except KeyboardInterrupt:
        raise
    except Exception as exc:
        outcome = failure(job, exc, round(time.perf_counter() - start, 3))
        if is_disk_full(exc):
            reason = f"{job.label}: no space left on {ctx.render_dir}"
            return dataclasses.replace(outcome, reason=reason, bad_input=False, disk_full=True)
        if outcome.bad_input:
            with contextlib.suppress(OSError):
                cache_skip(cache, job, outcome.reason, ctx.command)
        return outcome


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


def cpu_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - macOS, Windows
        return os.cpu_count() or 1


def threads_per_worker(workers: int, cores: int | None = None) -> int:
    """Torch threads for each of ``workers`` processes that share this machine's cores (or
    ``cores``): never more threads in total than cores (``cores.split_cores``)."""
    return max(1, (cores or cpu_cores()) // max(1, workers))


ProgressFactory = Callable[..., Any]


@dataclass(frozen=True)
class Feed:
    """What ``run_plan`` asks of an executor's every step, so each executor only starts jobs
    and hands back their outcomes; the cache, the order and the report stay here."""

    out_of_time: Callable[[], bool]
    instant: Callable[[Job], Outcome | None]  # a job whose photo already failed fails at once
    finish: Callable[[Outcome], None]
    show: Callable[[list[Job]], None]  # the jobs running now, for the progress bar


class Executor(Protocol):
    """Where jobs run (``executors.py``): takes jobs from the front of ``pending`` and
    returns the ones it did not start (time budget)."""

    def run(self, pending: list[Job], ctx: WorkerContext, feed: Feed) -> list[Job]: ...


def first_look_first(jobs: Sequence[Job], kinds: Sequence[JobKind]) -> list[Job]:
    """The order jobs start in, each model's jobs together: one photo dream (the site is
    published as soon as it is done), one of the longest jobs (the batched class dreams take
    minutes), then the other photo dreams, so the gallery fills within minutes while that
    long job runs, then the other long ones and the rest, heavy ones first. The long jobs
    still start early enough that no worker idles at the end while one of them runs, and
    the light jobs come last, to fill the workers while the last heavy ones finish (in plan
    order, an explanation that took a minute ran alone for 45 s of a 7-minute gallery).
    The kinds say which are long (``long_rank``, the longest lowest), which come first
    (``first_look``) and which are heavy."""
    rank = {k.name: k.long_rank for k in kinds if k.long_rank is not None}
    firsts = {k.name for k in kinds if k.first_look}
    heavy = {k.name for k in kinds if k.heavy}
    last = max(rank.values(), default=0) + 1
    ordered: list[Job] = []
    for model in dict.fromkeys(j.model for j in jobs):
        mine = sorted((j for j in jobs if j.model == model), key=lambda j: rank.get(j.kind, last))
        looks = [j for j in mine if j.kind in firsts]
        longs = [j for j in mine if j.kind in rank]
        rest = [j for j in mine if j.kind not in firsts and j.kind not in rank]
        rest.sort(key=lambda j: j.kind not in heavy)  # stable: plan order within each
        ordered += looks[:1] + longs[:1] + looks[1:] + longs[1:] + rest
    return ordered


def run_plan(
    plan: Plan,
    ctx: WorkerContext,
    executor: Executor,
    *,
    force: bool = False,
    max_seconds: float | None = None,
    progress: ProgressFactory | None = None,
    on_start: Callable[[], None] | None = None,
    on_finish: Callable[[RunReport, list[Job]], None] | None = None,
) -> RunReport:
    """Reuse or render every job of the plan; returns what happened to each. ``on_start``
    is called once the executor has taken its first job (it could reach its workers);
    ``on_finish`` after each job this run finishes, with the report so far and the jobs
    not finished yet (the build publishes the site early from there)."""
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
    todo = first_look_first(todo, ctx.toolkit.kinds)
    bad_photos: dict[str, str] = {
        o.photo.sha256: o.reason for o in report.outcomes if o.bad_input and o.photo
    }

    bar = progress(total=len(todo), desc="gallery", unit="job") if progress else None

    unfinished = {job.key: job for job in todo}

    def finish(outcome: Outcome) -> None:
        report.outcomes.append(outcome)
        unfinished.pop(outcome.key, None)
        if outcome.disk_full and not report.disk_full:
            report.disk_full = f"no space left on {ctx.render_dir} ({free_space(ctx.render_dir)})"
        if outcome.bad_input and outcome.photo:
            bad_photos[outcome.photo.sha256] = outcome.reason
        if bar is not None:
            bar.update(1)
        if on_finish is not None:
            on_finish(report, list(unfinished.values()))

    def known_bad(job: Job) -> Outcome | None:
        """A job whose photo already failed to decode fails the same way, at once."""
        if job.photo is None or job.photo.sha256 not in bad_photos:
            return None
        reason = bad_photos[job.photo.sha256]
        cache_skip(cache, job, reason, ctx.command)
        return Outcome.of(job, "failed", reason=reason, bad_input=True)

    started = False

    def show(jobs: list[Job]) -> None:
        nonlocal started
        if not started and jobs and on_start is not None:
            started = True
            on_start()
        if bar is not None:
            bar.set_postfix_str(" | ".join(j.label for j in jobs), refresh=True)

    def out_of_time() -> bool:  # or out of disk: no job could finish
        return bool(report.disk_full) or (deadline is not None and time.monotonic() >= deadline)

    pending = list(todo)
    try:
        pending = executor.run(pending, ctx, Feed(out_of_time, known_bad, finish, show))
    finally:
        if bar is not None:
            bar.close()
    for job in pending:
        report.outcomes.append(Outcome.of(job, "pending"))
    report.stopped_by_budget = bool(pending) and not report.disk_full
    report.seconds = round(time.monotonic() - clock, 3)
    return report


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
    lines += _throughput(report)
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


def _throughput(report: RunReport) -> list[str]:
    """Jobs per minute of this run and, on a cluster, how many jobs each worker ran."""
    ran = [o for o in report.outcomes if o.status in ("rendered", "failed") and not o.cached]
    if not ran or report.seconds <= 0:
        return []
    lines = [f"  throughput: {len(ran) / report.seconds * 60:.1f} jobs/min"]
    workers = Counter(o.worker for o in ran if o.worker)
    if workers:
        lines.append(
            "  jobs per worker: " + ", ".join(f"{w} {n}" for w, n in sorted(workers.items()))
        )
    return lines


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest:02d} s"
