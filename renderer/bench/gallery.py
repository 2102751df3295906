"""Gallery bench: the sample gallery's full, QUICK and no-change build times (also in units
of the network's own forward and backward of 8 crops, ``network_reference_s``, so machines
compare), the least wall time its jobs allow on this machine's cores (their seconds over
the cores, or the longest job) and each kind's share of them, the time and a worker's
peak resident size per job kind, the peak memory of the
whole process tree (workers included), when the site first showed a dream, what publishing
while building cost, and the site's own publishing times (every file encoded, a new site
from the media store, nothing changed); then the
executors: jobs per minute in this process, in 1 and 2 local worker processes and on a
2-process LocalCluster, the cluster path's overhead for a tiny job, and which ``--jobs``
default that measurement supports.

Each build runs as ``python -m renderer gallery build`` in a fresh process, as a user runs
it, so the no-change time includes interpreter start-up and imports.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

TARGETS_S = {"full": 600.0, "quick": 120.0, "nochange": 10.0}
FIRST_DREAM_TARGET_S = 90.0  # from `make gallery` to a site that shows a dream
OVERHEAD_TARGET_S = 0.2  # the cluster path's cost per tiny job
TINY_JOBS = 40
# The executors compared on the QUICK sample gallery: (name, extra flags).
EXECUTORS = (
    ("in_process", ["--jobs", "1"]),
    ("local_2", ["--jobs", "2"]),
    ("local_cluster_2", ["--cluster", "local:2"]),
)
PEAK_TARGET_MB = 4096.0


def _memory_kb(pid: int) -> int:
    """Proportional set size: shared library pages (libtorch) counted once across the main
    process and its workers, not once per process as RSS would."""
    for name, key in (("smaps_rollup", "Pss:"), ("status", "VmRSS:")):
        try:
            with open(f"/proc/{pid}/{name}", encoding="ascii") as handle:
                for line in handle:
                    if line.startswith(key):
                        return int(line.split()[1])
        except (OSError, ValueError):
            continue
    return 0


def _descendants(pid: int) -> list[int]:
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        try:
            for task in os.listdir(f"/proc/{current}/task"):
                with open(f"/proc/{current}/task/{task}/children", encoding="ascii") as handle:
                    todo.extend(int(c) for c in handle.read().split())
        except (OSError, ValueError):
            continue
    return found


DREAMS = re.compile(r"\b(\d+) dreams?\b")


def shows_a_dream(site: Path) -> bool:
    """Whether the published site at ``site`` has a photo page with at least one dream."""
    for page in (site / "photos").glob("*.html"):
        try:
            text = page.read_text(encoding="utf-8")
        except OSError:  # swapped out while read
            continue
        if any(int(n) > 0 for n in DREAMS.findall(text)):
            return True
    return False


def _timed_build(args: list[str], log: Path) -> tuple[float, float, int]:
    seconds, peak, code, _ = _watched_build(args, log)
    return seconds, peak, code


def _watched_build(
    args: list[str], log: Path, site: Path | None = None
) -> tuple[float, float, int, float | None]:
    """Wall seconds, peak memory (PSS, MB) of the process tree, the exit code, and when
    ``site`` first showed a dream (seconds from the start; None if it never did)."""
    command = [sys.executable, "-m", "renderer", "gallery", "build", *args]
    peak = 0
    first_dream: float | None = None
    start = time.perf_counter()
    with open(log, "w", encoding="utf-8") as out:
        proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
        stop = threading.Event()

        def sample() -> None:
            nonlocal peak, first_dream
            while not stop.is_set():
                peak = max(peak, sum(_memory_kb(p) for p in _descendants(proc.pid)))
                if site is not None and first_dream is None and shows_a_dream(site):
                    first_dream = round(time.perf_counter() - start, 1)
                stop.wait(0.25)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        code = proc.wait()
        stop.set()
        sampler.join()
    return round(time.perf_counter() - start, 2), round(peak / 1024, 1), code, first_dream


PUBLISHED = re.compile(r"published while building: (\d+) times, ([\d.]+) CPU-s")
SITE_TARGETS_S = {"site_fresh_s": 5.0, "site_nochange_s": 1.0}


def publish_figures(render_dir: Path, root: Path) -> dict[str, object]:
    """The site of a finished sample gallery, published in this process: with every file
    encoded anew (no media store: the one-time cost), as a new site whose files come from
    the media store (another --out, a deleted site), and with nothing changed."""
    from ..site.builder import build_site
    from ..site.mediastore import MediaStore

    shutil.rmtree(MediaStore.beside(render_dir).root, ignore_errors=True)
    figures: dict[str, object] = {}
    for name, site in (
        ("site_encoded_s", root / "site-encoded"),
        ("site_fresh_s", root / "site-fresh"),
        ("site_nochange_s", root / "site-fresh"),
    ):
        start = time.perf_counter()
        report = build_site(render_dir, site)
        figures[name] = round(time.perf_counter() - start, 2)
        figures[name.replace("_s", "_files")] = report.images
    for name, target in SITE_TARGETS_S.items():
        figures[name.replace("_s", "_within_target")] = figures[name] <= target
    return figures


def _per_kind(render_dir: Path) -> dict[str, float]:
    totals: dict[str, float] = {}
    for done in (render_dir / "jobs").glob("*/done.json"):
        info = json.loads(done.read_text(encoding="utf-8"))
        if info.get("status") == "rendered":
            kind = str(info.get("kind"))
            totals[kind] = totals.get(kind, 0.0) + float(info.get("seconds", 0.0))
    return totals


@dataclass(frozen=True)
class Bound:
    """The least wall time ``jobs`` (kind, seconds) can take on ``cores`` one-thread workers:
    no faster than their total over the cores, nor than the longest job."""

    cores: int
    jobs: tuple[tuple[str, float], ...]

    def __post_init__(self) -> None:
        if self.cores < 1 or any(seconds < 0 for _, seconds in self.jobs):
            raise ValueError(f"cores >= 1 and jobs of >= 0 s, got {self.cores}, {self.jobs}")

    @property
    def total_s(self) -> float:
        return sum(seconds for _, seconds in self.jobs)

    @property
    def longest(self) -> tuple[str, float]:
        return max(self.jobs, key=lambda job: job[1], default=("none", 0.0))

    @property
    def wall_s(self) -> float:
        return max(self.total_s / self.cores, self.longest[1])

    def shares(self) -> dict[str, float]:
        """Each kind's share of the total, largest first."""
        totals: dict[str, float] = {}
        for kind, seconds in self.jobs:
            totals[kind] = totals.get(kind, 0.0) + seconds
        whole = self.total_s or 1.0
        return {k: v / whole for k, v in sorted(totals.items(), key=lambda kv: -kv[1])}


def job_seconds(render_dir: Path) -> tuple[tuple[str, float], ...]:
    """(kind, seconds) of every job rendered into ``render_dir`` (``done.json``): its CPU
    seconds (as one-thread workers run, what it would take alone on a free core), or its
    wall seconds in a render folder from before they were recorded."""
    jobs = []
    for done in sorted((render_dir / "jobs").glob("*/done.json")):
        info = json.loads(done.read_text(encoding="utf-8"))
        if info.get("status") == "rendered":
            seconds = info.get("cpu_s", info.get("seconds", 0.0))  # CPU-s where recorded
            jobs.append((str(info.get("kind")), float(seconds)))
    return tuple(jobs)


def bound_figures(name: str, bound: Bound, reference: float) -> dict[str, object]:
    """The bound in seconds and in network references, the longest job, the kinds' shares."""
    kind, longest = bound.longest
    figures: dict[str, object] = {
        f"{name}_jobs_total_s": round(bound.total_s, 1),
        f"{name}_bound_on_{bound.cores}_cores_s": round(bound.wall_s, 1),
        f"{name}_bound_over_network_reference": round(bound.wall_s / reference),
        f"{name}_longest_job": f"{kind}, {longest:.1f} s",
    }
    for kind, share in bound.shares().items():
        figures[f"{name}_{kind}_share_of_job_seconds"] = round(share, 3)
    return figures


def _peak_per_kind(render_dir: Path) -> dict[str, int]:
    """The largest peak resident size (MB) of a worker process during a job, per kind."""
    peaks: dict[str, int] = {}
    for done in (render_dir / "jobs").glob("*/done.json"):
        info = json.loads(done.read_text(encoding="utf-8"))
        if info.get("peak_rss_mb"):
            kind = str(info.get("kind"))
            peaks[kind] = max(peaks.get(kind, 0), int(info["peak_rss_mb"]))
    return peaks


def network_reference_s() -> float:
    """CPU seconds of the network's own forward and backward of 8 crops at 160 px on one
    thread (``bench.maco.network_cpu_per_crop``): the unit a build's time is given in, so
    figures from different machines compare."""
    import torch

    from ..models import load_model
    from .maco import network_cpu_per_crop

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return 8 * network_cpu_per_crop(load_model(), 160)
    finally:
        torch.set_num_threads(threads)


def _jobs_rendered(render_dir: Path) -> int:
    return sum(
        json.loads(done.read_text(encoding="utf-8")).get("status") == "rendered"
        for done in (render_dir / "jobs").glob("*/done.json")
    )


def executor_figures(root: Path) -> dict[str, object]:
    """Jobs per minute of each executor on the QUICK sample gallery, in fresh processes
    one after another; the fastest ``--jobs`` is the one the default should be."""
    figures: dict[str, object] = {}
    rates: dict[str, float] = {}
    try:
        import distributed  # noqa: F401  (the [cluster] extra)

        executors = EXECUTORS
        figures.update(cluster_overhead(root))
    except ImportError:
        executors = EXECUTORS[:2]
        figures["cluster"] = "not installed: pip install 'dreamgallery[cluster]'"
    for name, extra in executors:
        render_dir, site = root / f"renders-{name}", root / f"site-{name}"
        args = ["--quick", "--render-dir", str(render_dir), "--site", str(site), *extra]
        seconds, peak, code = _timed_build(args, root / f"{name}.log")
        jobs = _jobs_rendered(render_dir)
        rates[name] = jobs / seconds * 60 if seconds else 0.0
        figures[f"{name}_s"] = seconds
        figures[f"{name}_jobs"] = jobs
        figures[f"{name}_jobs_per_min"] = round(rates[name], 2)
        figures[f"{name}_peak_mb"] = peak
        figures[f"{name}_exit"] = code
    base = rates["in_process"] or 1.0
    for name in rates:
        figures[f"{name}_speed_vs_in_process"] = round(rates[name] / base, 3)
    from ..gallery.build import worker_count

    fastest = max(("in_process", "local_2"), key=rates.__getitem__)
    figures["jobs_fastest_measured"] = 1 if fastest == "in_process" else 2
    figures["jobs_default"] = worker_count(None, "cpu")
    figures["default_is_fastest"] = figures["jobs_default"] == figures["jobs_fastest_measured"]
    return figures


def tiny_dream(job, model, out_dir: Path, command: str) -> list:
    """A job that does next to nothing: what is left is the executor's own cost."""
    from ..provenance import Record, publish

    (out_dir / "tiny.txt").write_text(job.label, encoding="utf-8")
    records = [Record(kind="tiny", output="tiny.txt", command=command, versions={})]
    publish(out_dir, records)
    return records


def tiny_load(name: str, device: str, weights) -> None:
    return None


def tiny_weights(name: str, weights) -> str:
    return "0" * 64


def tiny_device(name: str) -> str:
    return "cpu"


def cluster_overhead(root: Path, jobs: int = TINY_JOBS) -> dict[str, object]:
    """Seconds per tiny job on a 1-process LocalCluster, less the same jobs in this process,
    timed between the first and last finish (the cluster's start left out)."""
    from ..gallery.executors import DaskCluster, InProcess
    from ..gallery.jobkind import JobKind, no_plan
    from ..gallery.plan import Job, Plan
    from ..gallery.run import Toolkit, WorkerContext, run_plan

    tiny = JobKind("dream", "photo", no_plan, tiny_dream)  # its plans are made below
    toolkit = Toolkit((tiny,), tiny_load, tiny_weights, tiny_device)

    def plan(count: int, tag: str) -> Plan:
        return Plan(
            tuple(Job("dream", f"{tag}{i:060d}", f"tiny {i}", "tiny", {}) for i in range(count)),
            (),
        )

    class Clock:
        """A progress bar that notes when each job finished."""

        def __init__(self, **kwargs: object) -> None:
            self.times: list[float] = []

        def update(self, n: int = 1) -> None:
            self.times.append(time.perf_counter())

        def set_postfix_str(self, *args: object, **kwargs: object) -> None:
            pass

        def close(self) -> None:
            pass

    def per_job(executor, count: int, tag: str) -> float:
        """Seconds between consecutive finishes, start-up left out."""
        ctx = WorkerContext(root / f"tiny-{tag}", "cpu", None, toolkit, "bench")
        clocks: list[Clock] = []

        def bar(**kwargs: object) -> Clock:
            clocks.append(Clock())
            return clocks[-1]

        report = run_plan(plan(count, tag), ctx, executor, progress=bar)
        assert report.count("rendered") == count, report.outcomes[:1]
        times = clocks[0].times
        return (times[-1] - times[0]) / (len(times) - 1)

    per_job(InProcess(), 2, "warm-here")  # first imports
    here = per_job(InProcess(), jobs, "here")
    start = time.perf_counter()
    there = per_job(DaskCluster("local:1"), jobs, "there")
    total = time.perf_counter() - start
    overhead = max(0.0, there - here)
    return {
        "tiny_jobs": jobs,
        "tiny_in_process_per_job_s": round(here, 4),
        "tiny_cluster_per_job_s": round(there, 4),
        "cluster_tiny_total_s": round(total, 2),
        "cluster_overhead_per_job_s": round(overhead, 4),
        "cluster_overhead_within_target": overhead <= OVERHEAD_TARGET_S,
    }


def run(out_dir: Path) -> dict:
    root = Path(out_dir) / "gallery-bench"
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    figures: dict[str, object] = {}
    for name, extra in (("quick", ["--quick"]), ("full", [])):
        render_dir, site = root / f"renders-{name}", root / f"site-{name}"
        args = ["--render-dir", str(render_dir), "--site", str(site), *extra]
        log = root / f"{name}.log"
        seconds, peak, code, first = _watched_build(args, log, site)
        figures[f"{name}_build_s"] = seconds
        figures[f"{name}_first_dream_on_site_s"] = first
        published = PUBLISHED.search(log.read_text(encoding="utf-8"))
        if published:
            figures[f"{name}_early_publishes"] = int(published.group(1))
            cpu = float(published.group(2))
            figures[f"{name}_early_publish_cpu_s"] = cpu
            # the main process's share of the machine's time while the workers run
            cores = os.cpu_count() or 1
            figures[f"{name}_early_publish_share"] = round(cpu / (seconds * cores), 4)
        figures[f"{name}_peak_mb"] = peak
        figures[f"{name}_exit"] = code
        figures[f"{name}_within_target"] = seconds <= TARGETS_S[name]
        totals = _per_kind(render_dir)
        whole = sum(totals.values()) or 1.0
        for kind, value in sorted(totals.items()):
            figures[f"{name}_{kind}_s"] = round(value, 1)
            figures[f"{name}_{kind}_fraction"] = round(value / whole, 3)
        for kind, peak in sorted(_peak_per_kind(render_dir).items()):
            figures[f"{name}_{kind}_peak_rss_mb"] = peak
        if name == "full":
            seconds, peak, code = _timed_build(args, root / "nochange.log")
            figures["nochange_rebuild_s"] = seconds
            figures["nochange_exit"] = code
            figures["nochange_within_target"] = seconds <= TARGETS_S["nochange"]
            figures.update(publish_figures(render_dir, root))
    first = figures.get("full_first_dream_on_site_s")
    figures["first_dream_within_target"] = first is not None and first <= FIRST_DREAM_TARGET_S
    reference = network_reference_s()
    figures["network_reference_s"] = round(reference, 4)
    cores = os.cpu_count() or 1
    for name in ("quick", "full"):  # the build's wall time in network batches of 8 crops
        figures[f"{name}_build_over_network_reference"] = round(
            figures[f"{name}_build_s"] / reference
        )
        bound = Bound(cores, job_seconds(root / f"renders-{name}"))
        figures.update(bound_figures(name, bound, reference))
    peaks = [v for k, v in figures.items() if k.endswith("_peak_mb")]
    figures["peak_mb"] = max(peaks)
    figures["peak_within_target"] = max(peaks) < PEAK_TARGET_MB
    figures["cpu_cores"] = os.cpu_count() or 0
    figures.update(executor_figures(root))
    return figures
