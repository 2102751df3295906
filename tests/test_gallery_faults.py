"""The gallery pipeline under hostile files and faults (issue 13), with the fake job
functions of ``test_gallery_pipeline``: no hangs, no memory blow-ups, no silent partial
site, no lost cache, and a site at ``--out`` that is always whole.
"""

from __future__ import annotations

import contextlib
import errno
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from PIL import Image
from test_gallery_pipeline import (
    FAKES,
    NAP_S,
    _all_pngs_whole,
    _build,
    _site_text,
    _statuses,
    _tiny_photo,
    as_in_a_terminal,
    gallery_setup,
)

from renderer.errors import RecipeError
from renderer.gallery.cache import JobCache
from renderer.site.publish import read_site_files, site_damage

HERE = Path(__file__).parent


@pytest.fixture()
def setup(tmp_path: Path):
    return gallery_setup(tmp_path)


def _cache_bytes(render_dir: Path) -> dict[str, int]:
    """Every file of every finished job, and its size: what a build must never lose."""
    jobs = render_dir / "jobs"
    return {
        p.relative_to(jobs).as_posix(): p.stat().st_size
        for p in jobs.rglob("*")
        if p.is_file() and not p.relative_to(jobs).as_posix().startswith(".")
    }


def _site_whole(site: Path) -> bool:
    """The site at ``site`` is exactly the one its manifest lists."""
    manifest = read_site_files(site)
    return manifest is not None and site_damage(site, manifest["stamp"]) is None


@contextlib.contextmanager
def _alarm(seconds: int):
    """Fail instead of hanging (a FIFO opened for reading blocks until a writer comes)."""

    def expire(signum, frame):
        raise TimeoutError(f"still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def _script(setup, body: str) -> str:
    return (
        "from pathlib import Path\n"
        "from renderer.gallery import GalleryConfig, build_gallery\n"
        "import test_gallery_pipeline as t\n"
        f"c = GalleryConfig(photos=Path({str(setup.photos)!r}), "
        f"render_dir=Path({str(setup.render_dir)!r}), site_dir=Path({str(setup.site_dir)!r}), "
        "presets=('gentle', 'deep'), layers=('blocks.2', 'blocks.5'), classes=('1', '207'), "
        "jobs=1)\n" + body
    )


def _python(code: str, env: dict[str, str] | None = None, timeout: int = 120):
    env = {
        **os.environ,
        **(env or {}),
        "PYTHONPATH": os.pathsep.join([str(HERE), *sys.path]),
    }
    return subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, timeout=timeout, text=True
    )


# --------------------------------------------------------------------------- 1: special files


def test_special_files_named_like_photos_are_skipped_by_name(setup, tmp_path):
    photos = setup.photos
    os.mkfifo(photos / "pipe.jpg")
    (photos / "folder.png").mkdir()
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(photos / "sock.jpg"))
    sparse = photos / "huge.jpg"
    with open(sparse, "wb") as handle:
        handle.truncate(20 << 30)  # 20 GB, sparse: no disk used, but no photo either
    try:
        with _alarm(60):  # the old planner blocked forever on the FIFO, even in a dry run
            dry = _build(setup, dry_run=True)
            result = _build(setup)
    finally:
        server.close()
    reasons = {p.path.name: p.reason for p in result.plan.problems}
    assert reasons["pipe.jpg"] == "is a named pipe (FIFO), not a regular file"
    assert reasons["folder.png"] == "is a directory, not a regular file"
    assert reasons["sock.jpg"] == "is a socket, not a regular file"
    assert reasons["huge.jpg"] == "too large (20,480 MB; the limit is 200 MB, see --max-file-mb)"
    assert {p.path.name for p in dry.plan.problems} == set(reasons)
    assert len(_statuses(result)["rendered"]) == 12  # the batch goes on
    summary = "\n".join(result.summary())
    for name in reasons:
        assert f"skipped {name}: " in summary
    # The limit is a setting: under it, the small photos are refused too.
    tiny = _build(setup.replace(max_file_mb=0.001), dry_run=True)
    assert [p.name for p in tiny.plan.photos] == ["broken.jpg"]  # 30 bytes
    reasons = {p.path.name: p.reason for p in tiny.plan.problems}
    assert reasons["a.png"].endswith("MB; the limit is 0.001 MB, see --max-file-mb)")


def test_a_link_to_dev_zero_is_refused_without_reading_it(tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    _tiny_photo(photos / "a.png", 0)
    (photos / "zero.jpg").symlink_to("/dev/zero")
    # Memory is capped 400 MB above what the imports took: reading /dev/zero whole would
    # end in a MemoryError (the old code), a chunked read of a capped size never.
    code = (
        "import resource, sys\n"
        "from pathlib import Path\n"
        "from renderer.gallery.plan import scan_photos\n"
        "size = int(open('/proc/self/statm').read().split()[0]) * resource.getpagesize()\n"
        "resource.setrlimit(resource.RLIMIT_AS, (size + (400 << 20), resource.RLIM_INFINITY))\n"
        f"photos, problems = scan_photos(Path({str(photos)!r}))\n"
        "print([p.name for p in photos], [(p.path.name, p.reason) for p in problems])\n"
    )
    proc = _python(code, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == (
        "['a.png'] [('zero.jpg', 'is a character device, not a regular file')]"
    )


# --------------------------------------------------------------------------- 2: partial publish


@pytest.fixture()
def small_disk(tmp_path, monkeypatch):
    """A folder on a 2 MB disk: a real tmpfs where we may mount one (root), else one whose
    writes fail with ENOSPC past 2 MB."""
    folder = tmp_path / "disk"
    folder.mkdir()
    mounted = (
        os.geteuid() == 0
        and shutil.which("mount")
        and subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(folder)], capture_output=True
        ).returncode
        == 0
    )
    if not mounted:
        used = {"bytes": 0}
        write_bytes = Path.write_bytes

        def limited(self, data):
            if str(self).startswith(str(folder)):
                used["bytes"] += len(data)
                if used["bytes"] > 2 << 20:
                    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(self))
            return write_bytes(self, data)

        monkeypatch.setattr(Path, "write_bytes", limited)
    yield folder
    if mounted:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def _fill(folder: Path, leave: int) -> Path:
    """Fill the disk of ``folder`` up to ``leave`` bytes free."""
    filler = folder / "filler.bin"
    free = shutil.disk_usage(folder).free
    filler.write_bytes(b"\0" * max(0, free - leave))
    return filler


def test_full_disk_under_the_site_fails_the_build_and_keeps_the_old_site(setup, small_disk):
    config = setup.replace(site_dir=small_disk / "site")
    first = _build(config)
    assert first.site_rebuilt and _site_whole(config.site_dir)
    before = (config.site_dir / "index.html").read_text(encoding="utf-8")
    filler = _fill(small_disk, 20_000)
    _tiny_photo(setup.photos / "d.png", 5)  # a new photo: the site must be published again
    with pytest.raises(Exception, match=r"no space left on .* for the site \(.* free") as info:
        _build(config)
    assert "\n" not in str(info.value)
    assert (config.site_dir / "index.html").read_text(encoding="utf-8") == before
    assert _site_whole(config.site_dir)  # the old site, whole
    assert not [p for p in small_disk.iterdir() if ".site.build-" in p.name]
    filler.unlink()
    again = _build(config)  # the failed build's renders were kept: nothing renders again
    assert "rendered" not in _statuses(again) and len(_statuses(again)["reused"]) == 15
    assert again.site_rebuilt and "d.png" in _site_text(config.site_dir)


def test_a_truncated_cached_png_re_renders_its_job(setup):
    _build(setup)
    cache = JobCache(setup.render_dir)
    dream = next(setup.render_dir.glob("jobs/*/a-*/dream-gentle.png"))
    key = dream.relative_to(cache.root).parts[0]
    dream.write_bytes(dream.read_bytes()[:100])  # as a crash of the disk might leave it
    again = _build(setup)
    assert _statuses(again)["rendered"] == ["dream a.png [gentle]"]
    assert "re-rendered dream a.png [gentle]: a-" in "\n".join(again.summary())
    assert cache.damage(key, cache.done_info(key)) is None
    assert "dream-gentle" in _site_text(setup.site_dir)
    assert _all_pngs_whole(setup.render_dir, setup.site_dir) > 20
    # A file that keeps its size but not its bytes is found too (its mtime moved).
    photo = next(setup.render_dir.glob("jobs/*/b-*/explain-gradcam.png"))
    data = bytearray(photo.read_bytes())
    data[-20] ^= 0xFF
    photo.write_bytes(bytes(data))
    assert _statuses(_build(setup))["rendered"] == ["explain b.png"]


# --------------------------------------------------------------------------- 3: the site itself


def test_deleted_site_media_are_repaired_without_re_rendering(setup):
    _build(setup)
    media = sorted((setup.site_dir / "media").rglob("*.webp"))
    media[0].unlink()
    media[1].write_bytes(b"not a webp")
    again = _build(setup)
    assert "rendered" not in _statuses(again)
    assert again.site_rebuilt and _site_whole(setup.site_dir)
    assert media[0].is_file() and media[1].read_bytes()[:4] == b"RIFF"
    # A site published from another render folder is not "current" either.
    other = setup.replace(render_dir=setup.render_dir.parent / "other-renders", classes=())
    _build(other)
    assert "class-1" not in _site_text(setup.site_dir)
    back = _build(setup)
    assert back.site_rebuilt and "rendered" not in _statuses(back)
    assert not _build(setup).site_rebuilt  # and then it is current


# --------------------------------------------------------------------------- 4: the swap


@pytest.mark.parametrize("exchange", [True, False], ids=["exchange", "two-renames"])
def test_a_kill_inside_the_swap_leaves_a_whole_site(setup, exchange):
    _build(setup)
    old_index = (setup.site_dir / "index.html").read_text(encoding="utf-8")
    _tiny_photo(setup.photos / "d.png", 5)
    env = {"RENDERER_FAULT": "site-swap"}
    if not exchange:
        env["RENDERER_NO_EXCHANGE"] = "1"
    proc = _python(_script(setup, "build_gallery(c, toolkit=t.FAKES)\n"), env)
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]
    leftovers = [p for p in setup.site_dir.parent.iterdir() if p.name.startswith(".site.")]
    assert [p for p in leftovers if p.is_dir()]  # the kill left the swap's other half
    if exchange:  # one step: the new site is in place
        assert _site_whole(setup.site_dir) and "d.png" in _site_text(setup.site_dir)
    else:  # the fallback's moment without a site; the next publish puts the old one back
        assert not setup.site_dir.exists()
    again = _build(setup)  # the kill came in the first publish, after d.png's first dream
    assert "dream d.png [gentle]" in _statuses(again)["reused"]
    assert _site_whole(setup.site_dir) and "d.png" in _site_text(setup.site_dir)
    assert not [p for p in setup.site_dir.parent.iterdir() if p.is_dir() and ".site." in p.name]
    assert old_index != (setup.site_dir / "index.html").read_text(encoding="utf-8")


def test_two_publishes_at_once_wait_for_each_other(setup):
    from concurrent.futures import ThreadPoolExecutor

    from renderer.site.builder import build_site

    _build(setup)
    with ThreadPoolExecutor(2) as pool:
        reports = list(pool.map(lambda _: build_site(setup.render_dir, setup.site_dir), [0, 1]))
    assert all(r.pages for r in reports) and (setup.site_dir / "index.html").is_file()


# --------------------------------------------------------------------------- 5: empty folders


def test_an_empty_photos_folder_is_refused_and_the_cache_kept(setup, tmp_path):
    _build(setup)
    cache = _cache_bytes(setup.render_dir)
    index = (setup.site_dir / "index.html").read_text(encoding="utf-8")
    away = tmp_path / "unmounted"
    shutil.move(setup.photos, away)
    setup.photos.mkdir()  # the mount point of a drive that is not mounted
    with pytest.raises(RecipeError, match=r"no photos here .*--allow-empty"):
        _build(setup)
    assert _cache_bytes(setup.render_dir) == cache  # 0 bytes of cache lost
    assert (setup.site_dir / "index.html").read_text(encoding="utf-8") == index
    empty = _build(setup.replace(allow_empty=True))
    assert empty.exit_code == 0 and ">a.png<" not in _site_text(setup.site_dir)
    assert _cache_bytes(setup.render_dir) == cache  # the site follows; the cache stays
    shutil.rmtree(setup.photos)
    shutil.move(away, setup.photos)
    back = _build(setup)
    assert "rendered" not in _statuses(back) and ">a.png<" in _site_text(setup.site_dir)


# --------------------------------------------------------------------------- 6: full render disk


def test_a_full_render_disk_stops_new_jobs_and_keeps_what_is_done(setup, monkeypatch):
    import renderer.imageio as imageio

    write = imageio.write_bytes_atomic
    calls = {"n": 0}

    def filling(path, data):
        if "/jobs/" in str(path) and str(path).endswith(".png"):
            calls["n"] += 1
            # the first three jobs: a photo dream (2 PNGs: the dream and the photo), the class
            # dreams (2), the next photo dream (2)
            if calls["n"] > 6:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return write(path, data)

    monkeypatch.setattr(imageio, "write_bytes_atomic", filling)
    result = _build(setup)
    statuses = _statuses(result)
    assert len(statuses["rendered"]) == 3
    assert len(statuses["failed"]) == 1  # the job that met the full disk; no other started
    assert len(statuses["pending"]) == 15 - 4
    assert result.exit_code != 0
    summary = "\n".join(result.summary())
    assert f"no space left on {setup.render_dir} (" in summary and " free)" in summary
    assert "stopped; 11 jobs not started" in summary
    assert result.site_problem.startswith("not published")
    monkeypatch.setattr(imageio, "write_bytes_atomic", write)
    rest = _build(setup)  # the three finished jobs are kept
    assert len(_statuses(rest)["reused"]) == 3 and len(_statuses(rest)["rendered"]) == 9


# --------------------------------------------------------------------------- 7: config mistakes


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('size = "big"\n', """size must be "auto", "full" or 32..4096 pixels, got 'big'"""),
        ("size = 100.7\n", 'size must be "auto", "full" or 32..4096 pixels, got 100.7'),
        ("title = 5\n", "title must be non-empty text, got 5"),
        ('max_minutes = "soon"\n', "max_minutes must be a number > 0, got 'soon'"),
        ("jobs = true\n", "jobs must be a whole number 1..256, got True"),
        ('[dreams]\nframes = "yes"\n', "[dreams] frames must be true or false, got 'yes'"),
        ("[explain]\nenabeld = false\n", "unknown key in [explain] of "),
        ('[explain]\nlime_samples = "many"\n', "[explain] lime_samples must be a whole number"),
        ("[explain]\nlime_samples = 1\n", "[explain] lime_samples must be at least 2"),
        ('site = "a-file"\n', "a-file: exists and is not a folder"),
        ('render_dir = "a-file"\n', "the render folder is a file"),
    ],
)
def test_config_mistakes_give_one_line_before_any_job(setup, monkeypatch, text, message):
    import renderer.gallery.kinds as kinds
    from renderer.cli import main

    monkeypatch.setattr(kinds, "real_toolkit", lambda: FAKES)
    folder = setup.photos.parent
    (folder / "a-file").write_text("a file, not a folder")
    config = folder / "gallery.toml"
    config.write_text(text)
    args = ["gallery", "build", "--config", str(config), "--photos", str(setup.photos)]
    if "render_dir" not in text:
        args += ["--render-dir", str(setup.render_dir)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 1, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    assert message in lines[0] and "unexpected" not in lines[0]
    if "a-file" not in text:
        assert str(config) in lines[0]  # the file is named
    assert not (setup.render_dir / "jobs").exists()  # no job started


def test_layer_names_are_checked_when_planned_and_an_empty_list_means_none():
    from renderer.errors import UnknownNameError
    from renderer.gallery import GalleryConfig
    from renderer.gallery.kinds import layer_specs

    with pytest.raises(UnknownNameError, match=r"unknown layer .* 'blocks\.99'"):
        layer_specs(GalleryConfig(layers=("blocks.99",)), "efficientnet_lite0")
    assert layer_specs(GalleryConfig(layers=()), "efficientnet_lite0") == []
    assert len(layer_specs(GalleryConfig(), "efficientnet_lite0")) == 5


# --------------------------------------------------------------------------- 9: names, interrupts


def test_photos_whose_names_meet_in_one_page_name_each_get_their_page(setup):
    for name in ("Cat.jpg", "cat.jpg", "my cup.png", "my_cup.png"):
        shutil.copy(setup.photos / ("a.png" if "at" in name else "b.png"), setup.photos / name)
        Image.open(setup.photos / name).load()
    result = _build(setup)
    pages = sorted(p.name for p in (setup.site_dir / "photos").glob("*.html"))
    assert len(pages) == 3 + 4  # a b c, and each of the four copies
    text = _site_text(setup.site_dir)
    for name in ("Cat.jpg", "cat.jpg", "my cup.png", "my_cup.png"):
        assert f">{name}<" in text
    assert result.exit_code == 2  # broken.jpg only


def test_ctrl_c_while_starting_up_prints_interrupted_without_a_traceback(setup):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    args = [sys.executable, "-m", "renderer", "gallery", "build", "--photos", str(setup.photos)]
    args += ["--render-dir", str(setup.render_dir), "--site", str(setup.site_dir)]
    # While the modules load (torch alone takes seconds here), at a few random moments (a
    # Ctrl-C in the first ~0.1 s meets Python itself, which dies of it as any program does).
    rng = random.Random()
    delays = [0.3, *(round(rng.uniform(0.2, 4.0), 2) for _ in range(3))]
    for delay in delays:
        proc = subprocess.Popen(
            args,
            env=env,
            cwd=setup.photos.parent,
            stderr=subprocess.PIPE,
            stdout=subprocess.PIPE,
            preexec_fn=as_in_a_terminal,
        )
        time.sleep(delay)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
        text = err.decode()
        assert "Traceback" not in text and "KeyboardInterrupt" not in text, (delay, text)
        *before, last = text.strip().splitlines()
        assert last == "interrupted", (delay, text)
        # if its jobs had started by then, it had said where the gallery would be
        assert all(line.startswith("the gallery: ") for line in before), (delay, text)
        assert proc.returncode in (130, -signal.SIGINT), (delay, proc.returncode)


def test_two_ctrl_c_with_worker_processes_print_one_line(setup):
    pids = setup.photos.parent / "pids"
    pids.mkdir()
    code = (
        "import sys, renderer.gallery as g, renderer.gallery.kinds as kinds\n"
        "import test_gallery_pipeline as t\n"
        "kinds.real_toolkit = lambda: t.SLEEPY\n"
        "build = g.build_gallery\n"
        "g.build_gallery = lambda *a, **k: build(*a, start_method='fork', **k)\n"
        "from renderer.__main__ import run\n"
        "sys.argv = ['renderer', 'gallery', 'build', '--jobs', '2', '--photos', "
        f"{str(setup.photos)!r}, '--render-dir', {str(setup.render_dir)!r}, "
        f"'--site', {str(setup.site_dir)!r}]\n"
        "run()\n"
    )
    env = {
        **os.environ,
        "GALLERY_PIDS": str(pids),
        "PYTHONPATH": os.pathsep.join([str(HERE), *sys.path]),
    }
    proc = subprocess.Popen(
        [sys.executable, "-c", code],
        env=env,
        stderr=subprocess.PIPE,
        start_new_session=True,
        preexec_fn=as_in_a_terminal,
    )
    deadline = time.monotonic() + 60
    while len(list(pids.iterdir())) < 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    for _ in range(2):  # a terminal's Ctrl-C reaches the whole process group, twice
        os.killpg(proc.pid, signal.SIGINT)
        time.sleep(0.05)
    _, err = proc.communicate(timeout=NAP_S - 10)  # it does not wait for the jobs' nap
    text = err.decode()
    assert proc.returncode == 130, text
    assert text.strip().splitlines()[-1] == "interrupted"
    for noise in ("Traceback", "Exception ignored", "KeyboardInterrupt", "resource_tracker"):
        assert noise not in text, text
    assert not list((setup.render_dir / "jobs").glob("*/done.json"))
