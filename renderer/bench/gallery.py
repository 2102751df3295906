"""Gallery bench: the sample gallery's full, QUICK and no-change build times, the time per
job kind, and the peak memory of the whole process tree (workers included).

Each build runs as ``python -m renderer gallery build`` in a fresh process, as a user runs
it, so the no-change time includes interpreter start-up and imports.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

TARGETS_S = {"full": 600.0, "quick": 120.0, "nochange": 10.0}
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


def _timed_build(args: list[str], log: Path) -> tuple[float, float, int]:
    """Wall seconds, peak memory (PSS, MB) of the process tree, and the exit code."""
    command = [sys.executable, "-m", "renderer", "-q", "gallery", "build", *args]
    peak = 0
    start = time.perf_counter()
    with open(log, "w", encoding="utf-8") as out:
        proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
        stop = threading.Event()

        def sample() -> None:
            nonlocal peak
            while not stop.is_set():
                peak = max(peak, sum(_memory_kb(p) for p in _descendants(proc.pid)))
                stop.wait(0.25)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        code = proc.wait()
        stop.set()
        sampler.join()
    return round(time.perf_counter() - start, 2), round(peak / 1024, 1), code


def _per_kind(render_dir: Path) -> dict[str, float]:
    totals: dict[str, float] = {}
    for done in (render_dir / "jobs").glob("*/done.json"):
        info = json.loads(done.read_text(encoding="utf-8"))
        if info.get("status") == "rendered":
            kind = str(info.get("kind"))
            totals[kind] = totals.get(kind, 0.0) + float(info.get("seconds", 0.0))
    return totals


def run(out_dir: Path) -> dict:
    root = Path(out_dir) / "gallery-bench"
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    figures: dict[str, object] = {}
    for name, extra in (("quick", ["--quick"]), ("full", [])):
        render_dir, site = root / f"renders-{name}", root / f"site-{name}"
        args = ["--render-dir", str(render_dir), "--site", str(site), *extra]
        seconds, peak, code = _timed_build(args, root / f"{name}.log")
        figures[f"{name}_build_s"] = seconds
        figures[f"{name}_peak_mb"] = peak
        figures[f"{name}_exit"] = code
        figures[f"{name}_within_target"] = seconds <= TARGETS_S[name]
        totals = _per_kind(render_dir)
        whole = sum(totals.values()) or 1.0
        for kind, value in sorted(totals.items()):
            figures[f"{name}_{kind}_s"] = round(value, 1)
            figures[f"{name}_{kind}_fraction"] = round(value / whole, 3)
        if name == "full":
            seconds, peak, code = _timed_build(args, root / "nochange.log")
            figures["nochange_rebuild_s"] = seconds
            figures["nochange_exit"] = code
            figures["nochange_within_target"] = seconds <= TARGETS_S["nochange"]
    peaks = [v for k, v in figures.items() if k.endswith("_peak_mb")]
    figures["peak_mb"] = max(peaks)
    figures["peak_within_target"] = max(peaks) < PEAK_TARGET_MB
    figures["cpu_cores"] = os.cpu_count() or 0
    return figures
