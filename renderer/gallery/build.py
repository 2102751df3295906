"""One gallery build: photos -> plan -> cache check -> render the rest -> manifest -> site.

Everything the user can get wrong (the config, the folders) is checked before any job
starts. A build never deletes a finished job (``renderer gallery prune`` does, when asked),
and publishes a whole site or none: the old one stays when a figure cannot be published.
"""

from __future__ import annotations

import importlib.util
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import RecipeError, RendererError
from ..files import MB
from ..imageio import PHOTO_SUFFIXES
from ..provenance import Record
from .assemble import merge_manifest, publish_site
from .cache import JobCache, build_lock
from .config import GalleryConfig
from .cores import CoreSplit, split_cores
from .executors import make_executor
from .jobkind import KINDS
from .plan import Job, PhotoSource, Plan, Problem, hash_photo_files, plan_jobs, scan_photos
from .run import (
    Outcome,
    RunReport,
    Toolkit,
    WorkerContext,
    cached_outcome,
    cpu_cores,
    format_summary,
    run_plan,
    skipped_record,
)
from .samples import write_sample_photos

if TYPE_CHECKING:
    from ..site.builder import SiteReport

EXIT_OK, EXIT_SOME_FAILED = 0, 2


@dataclass
class BuildResult:
    plan: Plan
    report: RunReport | None = None
    site: SiteReport | None = None  # None: the published site was current
    site_rebuilt: bool = False
    site_problem: str = ""  # why the site was not rebuilt although it is not current
    dry_run: list[tuple[Job, bool]] = field(default_factory=list)  # (job, reused?)
    seconds: float = 0.0
    index: Path | None = None
    early: EarlyPublisher | None = None

    @property
    def exit_code(self) -> int:
        if self.report is None:
            return EXIT_OK
        return EXIT_OK if self.report.ok and not self.site_problem else EXIT_SOME_FAILED

    def summary(self) -> list[str]:
        lines = format_summary(self.report) if self.report else []
        if self.early is not None and self.early.count:
            lines.append(
                f"  published while building: {self.early.count} times, "
                f"{self.early.cpu_seconds:.1f} CPU-s"
            )
        return lines


def worker_split(jobs: int | None, device: str) -> CoreSplit:
    """GPU: one process (the job functions batch). CPU: ``cores.split_cores`` of this
    machine: as asked, but never more processes than cores or than the free memory holds
    (its ``note`` says so), else one single-threaded worker per core. On a busy machine two
    torch threads fighting over two cores can run a dream 30x slower than one thread does;
    separate processes do not contend that way."""
    if device.startswith("cuda") or device == "mps":
        return CoreSplit(1, 1, 1)
    from ..ram import available_ram

    return split_cores(cpu_cores(), available_ram(), asked=jobs)


def worker_count(jobs: int | None, device: str) -> int:
    """The worker processes of ``worker_split``."""
    return worker_split(jobs, device).processes


def gather_photos(config: GalleryConfig) -> tuple[list[PhotoSource], list[Problem]]:
    """The photos to render: the configured folder, else the sample photos. A folder with
    no photos at all is refused (an unmounted drive must not publish an empty gallery)
    unless ``allow_empty`` says so."""
    max_bytes = round(config.max_file_mb * MB)
    if config.photos is None:
        samples = write_sample_photos(config.samples_dir)
        if importlib.util.find_spec("av") is not None:  # the video extra is installed
            from ..video.synthetic import write_sample_clip

            samples.append(write_sample_clip(config.samples_dir))
        return hash_photo_files(samples, max_bytes)
    photos, problems = scan_photos(config.photos, max_bytes)
    if not photos and not problems and not config.allow_empty:
        suffixes = ", ".join(sorted(PHOTO_SUFFIXES))
        raise RecipeError(
            f"{config.photos}: no photos here ({suffixes}); is it the right folder? "
            "Pass --allow-empty to publish an empty gallery"
        )
    return photos, problems


def check_folders(config: GalleryConfig) -> None:
    """The render and site folders, checked before any job starts."""
    from ..site.builder import check_out_dir

    if config.render_dir.exists() and not config.render_dir.is_dir():
        raise RecipeError(f"{config.render_dir}: the render folder is a file, not a folder")
    check_out_dir([config.render_dir], config.site_dir)


def plan_build(config: GalleryConfig, toolkit: Toolkit) -> Plan:
    check_folders(config)
    photos, problems = gather_photos(config)
    weights = {name: toolkit.weights_sha256(name, config.weights) for name in config.models}
    return plan_jobs(config, photos, toolkit.kinds, weights, problems)


def _failure_records(report: RunReport, command: str) -> list[Record]:
    """Skipped records for failures that live in no job folder (the cached ones do)."""
    records = []
    for problem in report.problems:
        records.append(
            skipped_record(str(problem.path), "", problem.path.name, problem.reason, command)
        )
    for o in report.failed:
        if o.bad_input:
            continue
        photo = o.photo
        records.append(
            skipped_record(
                str(photo.path) if photo else o.label,
                photo.sha256 if photo else "",
                photo.name if photo else o.label,
                o.reason,
                command,
                o.label,
            )
        )
    return records


def _published_keys(plan: Plan, outcomes: list[Outcome], cache: JobCache) -> list[str]:
    state = {o.key: o for o in outcomes}
    keys = []
    for job in plan.jobs:
        o = state.get(job.key)
        if o is None or o.status == "pending":
            continue
        if o.status == "failed" and not o.bad_input:
            continue
        if cache.is_done(job.key):
            keys.append(job.key)
    return keys


def _with_combined(
    plan: Plan, cache: JobCache, ctx: WorkerContext | None, keys: list[str], report: RunReport
) -> list[str]:
    """The published keys with the figures that kinds make from their finished jobs (a
    clip's segments joined into its videos) in place of those jobs. Without ``ctx`` (an
    early publish, in the middle of the jobs) only what is already made is shown: making it
    is left to the end."""
    for name in dict.fromkeys(job.kind for job in plan.jobs):
        kind = KINDS.get(name)
        if kind is None or kind.combine is None:
            continue
        hidden, made, failed = kind.combine(plan, cache, ctx)
        report.problems.extend(Problem(path, reason) for path, reason in failed)  # skipped
        gone = set(hidden)
        keys = [k for k in keys if k not in gone] + made
    return keys


PUBLISH_EVERY_S = 30.0  # early publishes while the jobs run: at most this often


def _publish(
    config: GalleryConfig,
    plan: Plan,
    report: RunReport,
    command: str,
    log: Callable[[str], None],
    pending: Sequence[Job] = (),
    ctx: WorkerContext | None = None,
) -> SiteReport | None:
    """Publish the finished jobs (and, early, say which are still ``pending``); returns the
    site's report, or None when the published site was current (``build_site`` decides).
    ``ctx``: the build's, to join the clips whose segments are done (the last publish)."""
    from ..site.model import Pending

    cache = JobCache(config.render_dir)
    keys = _with_combined(plan, cache, ctx, _published_keys(plan, report.outcomes, cache), report)
    merge_manifest(config.render_dir, keys, _failure_records(report, command))
    to_come = tuple(Pending(j.kind, j.label, j.photo.sha256 if j.photo else "") for j in pending)

    def announce(reason: str) -> None:
        if not pending:
            log(f"publishing the site ({reason}) ...")

    site = publish_site(
        config.render_dir, config.site_dir, config.site_options(), to_come, on_build=announce
    )
    return None if site.unchanged else site


@dataclass
class EarlyPublisher:
    """Publishes the site while the jobs run, so the gallery can be opened long before the
    build ends: once the first photo dream is done, then at most every ``interval`` seconds
    (the build publishes once more at the end). Each publish is the same atomic swap as
    the last one; one that fails costs a line, not the build."""

    config: GalleryConfig
    plan: Plan
    command: str
    log: Callable[[str], None]
    firsts: frozenset[str]  # the kinds a visitor looks at first (``JobKind.first_look``)
    interval: float = PUBLISH_EVERY_S
    last: float | None = None
    count: int = 0
    cpu_seconds: float = 0.0  # this process's CPU time in early publishes (threads too)

    def __call__(self, report: RunReport, unfinished: list[Job]) -> None:
        if not unfinished or report.disk_full:  # the final publish comes next
            return
        now = time.monotonic()
        if self.last is None:
            done = ("rendered", "reused")
            if not any(o.kind in self.firsts and o.status in done for o in report.outcomes):
                return
        elif now - self.last < self.interval:
            return
        self.last = now
        cpu = time.process_time()
        try:
            site = _publish(self.config, self.plan, report, self.command, self.log, unfinished)
        except (RendererError, OSError) as exc:
            self.log(f"the gallery so far could not be published ({exc}); going on")
            return
        finally:
            self.cpu_seconds += time.process_time() - cpu
        if site is not None:
            self.count += 1
            done = len(self.plan.jobs) - len(unfinished)
            index = (self.config.site_dir / "index.html").resolve()
            self.log(f"the gallery so far: {done} of {len(self.plan.jobs)} jobs -> {index}")


def build_gallery(
    config: GalleryConfig,
    *,
    toolkit: Toolkit | None = None,
    force: bool = False,
    dry_run: bool = False,
    command: str = "renderer gallery build",
    progress: Callable[..., Any] | None = None,
    log: Callable[[str], None] = lambda _: None,
    start_method: str = "spawn",
    publish_every: float | None = PUBLISH_EVERY_S,
) -> BuildResult:
    """Build the gallery; failures of single photos or jobs never stop the build. The site
    is published as jobs finish (``EarlyPublisher``; ``publish_every=None``: only at the
    end), and once more at the end."""
    clock = time.perf_counter()
    if toolkit is None:
        from .kinds import real_toolkit

        toolkit = real_toolkit()
    if not dry_run:  # before any work: --cluster without Dask is one line at once
        # A cluster's workers resolve the device themselves: this machine needs no GPU.
        device = config.device if config.cluster else toolkit.device(config.device)
        split = worker_split(config.jobs, device)
        if split.note and not config.cluster:
            log(f"warning: {split.note}")
        executor = make_executor(split.processes, config.cluster, config.device, start_method)
    plan = plan_build(config, toolkit)
    cache = JobCache(config.render_dir)
    if dry_run:
        rows = [(job, not force and cached_outcome(cache, job) is not None) for job in plan.jobs]
        return BuildResult(plan, dry_run=rows, seconds=round(time.perf_counter() - clock, 3))

    site = None
    site_problem = ""
    index = config.site_dir / "index.html"
    with build_lock(config.render_dir):
        cache.clean_leftovers()
        ctx = WorkerContext(
            render_dir=config.render_dir,
            device=device,
            weights=None if config.weights is None else str(config.weights),
            toolkit=toolkit,
            command=command,
        )
        max_seconds = None if config.max_minutes is None else float(config.max_minutes) * 60
        where = index.resolve()
        announce = f"the gallery: {where} (file://{where}), published as jobs finish"
        early = None
        if publish_every is not None:
            firsts = frozenset(k.name for k in toolkit.kinds if k.first_look)
            early = EarlyPublisher(config, plan, command, log, firsts, publish_every)
        report = run_plan(
            plan,
            ctx,
            executor,
            force=force,
            max_seconds=max_seconds,
            progress=progress,
            on_start=lambda: log(announce),
            on_finish=early,
        )
        if report.disk_full:
            site_problem = "not published: the render folder's disk is full (the old site stays)"
        else:
            site = _publish(config, plan, report, command, log, ctx=ctx)
    result = BuildResult(
        plan,
        report,
        site,
        site is not None,
        site_problem,
        seconds=round(time.perf_counter() - clock, 3),
        index=index,
        early=early,
    )
    result.report.seconds = result.seconds
    return result


__all__ = ["BuildResult", "build_gallery", "plan_build"]
