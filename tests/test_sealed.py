"""The seal's own test: a test run that writes into a repository's gallery/ fails, and one
that keeps to its tmp_path passes (``sealed.py``)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from sealed import ROOT_ENV, changes, snapshot

HERE = Path(__file__).resolve().parent


def _run_inner(tmp_path: Path, body: str) -> subprocess.CompletedProcess:
    """pytest on one test file with the seal guarding a fake repository in ``tmp_path``."""
    repo = tmp_path / "repo"
    (repo / "gallery").mkdir(parents=True)
    (repo / "gallery" / "index.html").write_text("<p>the user's gallery</p>")
    suite = tmp_path / "suite"
    suite.mkdir()
    (suite / "test_inner.py").write_text(
        f"from pathlib import Path\nREPO = Path({str(repo)!r})\n\n\ndef test_inner(tmp_path):\n"
        + "".join(f"    {line}\n" for line in body.splitlines())
    )
    env = {
        **os.environ,
        ROOT_ENV: str(repo),
        "PYTHONPATH": os.pathsep.join([str(HERE), *sys.path]),
    }
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "sealed", "-p", "no:cacheprovider", "."],
        cwd=suite,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_the_seal_trips_when_a_test_writes_into_the_gallery(tmp_path):
    run = _run_inner(tmp_path, "(REPO / 'gallery' / 'index.html').write_text('overwritten')")
    assert run.returncode == 1, run.stdout + run.stderr
    assert "1 passed" in run.stdout  # the test itself passed: the seal failed the run
    assert "not sealed" in run.stdout and "gallery/index.html" in run.stdout


def test_the_seal_trips_on_a_new_renders_folder(tmp_path):
    run = _run_inner(tmp_path, "(REPO / 'renders' / 'jobs').mkdir(parents=True)")
    assert run.returncode == 1 and "added" in run.stdout, run.stdout


def test_a_test_that_keeps_to_its_folder_passes_the_seal(tmp_path):
    body = "(tmp_path / 'gallery').mkdir()\n(Path('renders')).mkdir()\nassert Path.cwd() != REPO"
    run = _run_inner(tmp_path, body)
    assert run.returncode == 0, run.stdout + run.stderr


def test_snapshot_changes_name_what_moved(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "f").write_bytes(b"1")
    before = snapshot([tmp_path / "a", tmp_path / "b"])
    (tmp_path / "a" / "f").write_bytes(b"22")
    (tmp_path / "b").mkdir()
    after = snapshot([tmp_path / "a", tmp_path / "b"])
    assert changes(before, after) == [
        f"changed {tmp_path / 'a' / 'f'}",
        f"changed {tmp_path / 'b'}",
    ]
