"""Ctrl-C under load: does the first Ctrl-C always stop a real `renderer gallery build`?

Not a CI test (it takes minutes and loads the machine on purpose): run it as
``make stress`` or ``.venv/bin/python tests/stress/ctrl_c.py``.

It starts two busy processes per core beside the build, then sends SIGINT to the build's
process group (as a terminal's Ctrl-C does) at ``--moments`` times from 0.05 s to 10 s after
start, for the default build and for ``--jobs 2``. Each build re-renders real jobs
(``--quick --force``) over a copy of a finished gallery, so there is an old site and a cache to
lose. An outcome is good when, within ``--grace`` seconds, the build printed ``interrupted``
as its last line and nothing else alarming, exited 130, left no process of its group
behind a second later, and left the old site and every finished job whole. A SIGINT that
reaches the interpreter before it runs any of the program (the first ~0.1 s) kills it as it
would any program; such a trial is counted apart. Prints one line per trial and the counts;
exits 1 if any trial went wrong.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
NOISE = ("Traceback", "Exception ignored", "KeyboardInterrupt", "resource_tracker", "error:")


def moments(count: int, first: float = 0.05, last: float = 10.0) -> list[float]:
    """``count`` times from ``first`` to ``last``, evenly spaced on a log scale."""
    ratio = (last / first) ** (1 / max(1, count - 1))
    return [round(first * ratio**i, 3) for i in range(count)]


def as_in_a_terminal() -> None:
    """A foreground job's SIGINT: the default, even when this script was started with it
    ignored (``nohup``, ``cmd &``), which the program rightly respects."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def busy(count: int) -> list[subprocess.Popen]:
    code = "while True: pass"
    return [subprocess.Popen([sys.executable, "-c", code]) for _ in range(count)]


def group_alive(pgid: int) -> list[str]:
    """The live (not zombie) processes of process group ``pgid``, as 'pid name'."""
    alive = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        name_end = stat.rindex(")")
        fields = stat[name_end + 2 :].split()
        state, group = fields[0], int(fields[2])
        if group == pgid and state != "Z":
            alive.append(f"{entry.name} {stat[stat.index('(') + 1 : name_end]}")
    return alive


def damage(render_dir: Path, site: Path) -> str | None:
    """What a killed build must never leave: a half site or a damaged finished job."""
    sys.path.insert(0, str(REPO))
    from renderer.gallery.cache import JobCache
    from renderer.site.publish import read_site_files, site_damage

    manifest = read_site_files(site)
    if manifest is None:
        return "the site has no manifest"
    why = site_damage(site, manifest["stamp"])
    if why:
        return f"site: {why}"
    cache = JobCache(render_dir)
    for folder in cache.entries():
        info = cache.done_info(folder.name)
        if info is not None and (bad := cache.damage(folder.name, info)):
            return f"job {folder.name[:12]}: {bad}"
    return None


def program() -> list[str]:
    """The ``renderer`` program as users start it: the venv's script (``make gallery``)."""
    script = Path(sys.executable).with_name("renderer")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "renderer"]


def build_command(render_dir: Path, site: Path, extra: list[str]) -> list[str]:
    return [
        *program(),
        "gallery",
        "build",
        "--quick",
        "--render-dir",
        str(render_dir),
        "--site",
        str(site),
        *extra,
    ]


def trial(base: Path, work: Path, delay: float, extra: list[str], grace: float) -> str | None:
    """One Ctrl-C at ``delay`` s; None when all went well, else what went wrong."""
    if work.exists():
        shutil.rmtree(work)
    shutil.copytree(base, work, symlinks=True)
    render_dir, site = work / "renders", work / "site"
    args = build_command(render_dir, site, ["--force", *extra])
    proc = subprocess.Popen(
        args,
        cwd=work,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
        preexec_fn=as_in_a_terminal,
    )
    time.sleep(delay)
    if proc.poll() is not None:
        return f"finished before the Ctrl-C (rc {proc.returncode})"
    os.killpg(proc.pid, signal.SIGINT)
    sent = time.monotonic()
    try:
        _, err = proc.communicate(timeout=grace)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        return f"LOST: still running {grace:.0f} s after the Ctrl-C"
    took = time.monotonic() - sent
    text = err.decode(errors="replace")
    python_own = "KeyboardInterrupt" in text and "/renderer/" not in text
    if (proc.returncode == -signal.SIGINT and not text.strip()) or python_own:
        # Python itself had not started the program yet (no handler of the program's is in
        # place before then): it died of the signal, or printed its own KeyboardInterrupt
        # from its start-up (site, .pth files), as any Python program does. Not lost: said
        # apart, with where it was.
        where = " | ".join(text.strip().splitlines()[-2:])
        return f"DIED before the program started: {where or 'no output'} (stopped in {took:.1f} s)"
    lines = [line for line in text.strip().splitlines() if line.strip()]
    problems = []
    if proc.returncode != 130:
        problems.append(f"exit {proc.returncode}")
    if not lines or lines[-1].strip() != "interrupted":
        problems.append(f"last line {lines[-1] if lines else '(none)'!r}")
    if any(noise in text for noise in NOISE):
        problems.append("noise: " + " | ".join(lines[-3:]))
    time.sleep(1.0)
    left = group_alive(proc.pid)
    if left:
        problems.append(f"left running: {', '.join(left)}")
        os.killpg(proc.pid, signal.SIGKILL)
    why = damage(render_dir, site)
    if why:
        problems.append(why)
    return ("; ".join(problems) + f" (stopped in {took:.1f} s)") if problems else None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--moments", type=int, default=20)
    parser.add_argument("--grace", type=float, default=5.0, help="seconds a stop may take")
    parser.add_argument("--load", type=int, default=2 * (os.cpu_count() or 1))
    parser.add_argument("--keep", type=Path, default=None, help="keep the work folder here")
    args = parser.parse_args()
    root = args.keep or Path(tempfile.mkdtemp(prefix="ctrl-c-stress-"))
    root.mkdir(parents=True, exist_ok=True)
    base = root / "base"
    if not (base / "site" / "index.html").is_file():
        print("building the base gallery (--quick) once ...", flush=True)
        base.mkdir(exist_ok=True)
        subprocess.run(build_command(base / "renders", base / "site", []), cwd=base, check=True)
    hogs = busy(args.load)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))  # end the busy ones on a kill too
    results: dict[str, list[tuple[float, str | None]]] = {}
    try:
        for label, extra in (("default", []), ("--jobs 2", ["--jobs", "2"])):
            for delay in moments(args.moments):
                outcome = trial(base, root / "trial", delay, extra, args.grace)
                results.setdefault(label, []).append((delay, outcome))
                print(f"{label:9} Ctrl-C at {delay:6.2f} s: {outcome or 'ok'}", flush=True)
    finally:
        for hog in hogs:
            hog.kill()
        if args.keep is None:
            shutil.rmtree(root, ignore_errors=True)
    trials = [o for rows in results.values() for _, o in rows]
    early = ("finished before", "DIED before")
    bad = [o for o in trials if o is not None and not o.startswith(early)]
    lost = [o for o in bad if o.startswith("LOST")]
    summary = {
        "trials": len(trials),
        "ok": trials.count(None),
        "finished_before": sum(1 for o in trials if o and o.startswith("finished before")),
        "died_before_start": sum(1 for o in trials if o and o.startswith("DIED before")),
        "bad": len(bad),
        "lost": len(lost),
        "load": args.load,
    }
    print(json.dumps(summary))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
