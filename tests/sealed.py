"""The suite is sealed: no test touches the repository's published gallery, its caches or
the user's home, whatever happens in it (a lost Ctrl-C once rebuilt the user's gallery).

``tests/conftest.py`` takes a snapshot of the guarded folders when the session starts and
fails the run if any of them changed by its end. The session's ``HOME`` (and XDG folders)
is a fresh temporary folder, and every test runs in its own ``tmp_path``, so a relative
default (``gallery/``, ``renders/``) or a ``~`` lands in a test's folder, and so do its
subprocesses'.

``RENDERER_SEALED_ROOT`` names another repository to guard (the guard's own test uses it).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

ROOT_ENV = "RENDERER_SEALED_ROOT"
GUARDED = ("gallery", "renders", "bench-results")


def guarded_root() -> Path:
    return Path(os.environ.get(ROOT_ENV) or Path(__file__).resolve().parent.parent)


def snapshot(folders: list[Path]) -> dict[str, tuple[int, int] | None]:
    """Every file and folder under ``folders`` (recursively), with its size and mtime; a
    folder that does not exist is recorded as absent."""
    seen: dict[str, tuple[int, int] | None] = {}
    for folder in folders:
        if not folder.exists():
            seen[str(folder)] = None
            continue
        for path in [folder, *folder.rglob("*")]:
            try:
                st = path.lstat()
            except OSError:  # vanished while listed
                continue
            seen[str(path)] = (st.st_size, st.st_mtime_ns)
    return seen


def home_listing(home: Path) -> dict[str, tuple[int, int] | None]:
    """The user's home, one level deep: names only (caches inside it move on their own)."""
    try:
        return {str(p): None for p in home.iterdir()}
    except OSError:
        return {}


def changes(before: dict, after: dict, most: int = 5) -> list[str]:
    """What differs between two snapshots, as lines: added, removed, changed."""
    lines = [f"added {p}" for p in sorted(after.keys() - before.keys())]
    lines += [f"removed {p}" for p in sorted(before.keys() - after.keys())]
    lines += [f"changed {p}" for p in sorted(before.keys() & after.keys()) if before[p] != after[p]]
    return lines[:most] + ([f"... and {len(lines) - most} more"] if len(lines) > most else [])


def _state(home: Path) -> tuple[dict, dict]:
    root = guarded_root()
    return snapshot([root / name for name in GUARDED]), home_listing(home)


_KEY = pytest.StashKey[tuple[Path, tuple[dict, dict], dict[str, str | None]]]()
HOME_VARS = ("HOME", "XDG_CACHE_HOME", "XDG_CONFIG_HOME", "XDG_DATA_HOME")


def pytest_sessionstart(session: pytest.Session) -> None:
    home = Path(os.path.expanduser("~"))
    saved = {name: os.environ.get(name) for name in HOME_VARS}
    session.stash[_KEY] = (home, _state(home), saved)
    fake = Path(tempfile.mkdtemp(prefix="renderer-test-home-"))
    os.environ["HOME"] = str(fake)
    for name, sub in zip(HOME_VARS[1:], (".cache", ".config", ".local/share"), strict=True):
        os.environ[name] = str(fake / sub)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if _KEY not in session.stash:
        return
    home, (repo_before, home_before), saved = session.stash[_KEY]
    fake = os.environ.get("HOME", "")
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    if fake and Path(fake).name.startswith("renderer-test-home-"):
        shutil.rmtree(fake, ignore_errors=True)
    repo_after, home_after = _state(home)
    found = changes(repo_before, repo_after) + changes(home_before, home_after)
    if found:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        text = "the suite is not sealed: a test touched guarded folders:\n  " + "\n  ".join(found)
        if reporter is not None:
            reporter.write_line(text, red=True, bold=True)
        else:  # pragma: no cover - no terminal reporter
            print(text)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
