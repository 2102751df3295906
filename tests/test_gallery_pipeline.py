"""The gallery pipeline with fake job functions: caching, failure isolation, crash safety.

The fakes decode the real photo (so a corrupt file fails as it would for real) and write
small PNGs with records, in the render-directory contract; the site is the real builder.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
from dataclasses import replace
from functools import partial
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from renderer.gallery import GalleryConfig, build_gallery
from renderer.gallery import kinds as built_in
from renderer.gallery.cache import JobCache
from renderer.gallery.jobkind import JobKind, Planned
from renderer.gallery.plan import Spec
from renderer.gallery.prune import prune_jobs
from renderer.gallery.run import Toolkit
from renderer.imageio import save_image_atomic
from renderer.photos import prepare_photo
from renderer.provenance import Record, publish, read_manifest

FAKE_WEIGHTS = "f" * 64


# --------------------------------------------------------------------------- fakes


def fake_dream_spec(config, preset: str) -> Spec:
    return Spec({"preset": preset}, {"preset": preset, "size": config.size or 48})


def fake_layer_specs(config, model: str):
    return [
        (name, Spec({"layer": name, "depth": i}, {"layer": name, "depth": i}))
        for i, name in enumerate(
            ("blocks.2", "blocks.5") if config.layers is None else config.layers
        )
    ]


def fake_class_spec(config):
    if not config.classes:
        return []
    return [Spec({"classes": config.classes}, {"classes": list(config.classes)})]


def fake_explain_spec(config):
    return Spec({}, {"methods": ["gradcam"]}) if config.explain else None


def plan_each_photo(label: str, specs_of, config, model: str, names):
    """A fake kind's planning: the specs ``specs_of(config)`` names, ``(suffix, Spec)``, on
    every photo. Kinds travel to worker processes pickled: planners are module functions
    (``functools.partial`` of them), never lambdas."""
    specs = specs_of(config)

    def each(photo) -> Planned:
        return Planned([(f"{label} {photo.name}{suffix}", spec) for suffix, spec in specs])

    return each


def plan_once(specs_of, config, model: str, names):
    """A fake gallery kind's planning: ``specs_of(config, model)``, ``(label, Spec)``."""
    planned = Planned(specs_of(config, model))
    return lambda source: planned


def fake_dream_specs(config):
    presets = config.presets[:1] if config.quick else config.presets
    return [(f" [{name}]", fake_dream_spec(config, name)) for name in presets]


def fake_explain_specs(config):
    spec = fake_explain_spec(config)
    return [("", spec)] if spec else []


def fake_layer_jobs(config, model: str):
    return [(f"layer dream {label}", spec) for label, spec in fake_layer_specs(config, model)]


def fake_class_jobs(config, model: str):
    specs = fake_class_spec(config)
    return [(f"class dreams ({len(s.params['classes'])} classes)", s) for s in specs]


def _photo_record(photo, command: str) -> Record:
    return Record(
        kind="photo",
        output=f"{photo.key}/photo.png",
        command=command,
        inputs=(photo.input,),
        extra={
            "name": photo.path.name,
            "width": photo.image.width,
            "height": photo.image.height,
            "predictions": [],
        },
    )


def _photo_job(job, out_dir: Path, command: str, kind: str, name: str, tint) -> list[Record]:
    photo = prepare_photo(job.photo.path, 48, 8)
    save_image_atomic(photo.image, out_dir / photo.key / "photo.png")
    arr = np.asarray(photo.image).astype(np.int16)
    img = Image.fromarray(np.clip(arr + np.array(tint), 0, 255).astype(np.uint8))
    output = f"{photo.key}/{name}.png"
    save_image_atomic(img, out_dir / output)
    extra = (
        {"preset": name, "caption": name}
        if kind == "dream"
        else {"method": "gradcam", "caption": "Grad-CAM"}
    )
    records = [
        _photo_record(photo, command),
        Record(
            kind=kind,
            output=output,
            command=command,
            inputs=(photo.input,),
            params=dict(job.params),
            extra=extra,
        ),
    ]
    publish(out_dir, records)
    return records


def fake_dream(job, model, out_dir: Path, command: str) -> list[Record]:
    preset = job.params["preset"]
    return _photo_job(job, out_dir, command, "dream", f"dream-{preset}", (60, -20, 10))


def fake_explain(job, model, out_dir: Path, command: str) -> list[Record]:
    return _photo_job(job, out_dir, command, "explain", "explain-gradcam", (-40, 0, 50))


def fake_layer(job, model, out_dir: Path, command: str) -> list[Record]:
    name = job.params["layer"]
    output = f"layer-dreams/{name.replace('.', '-')}.png"
    save_image_atomic(
        Image.new("RGB", (40, 40), (30 * job.params["depth"], 90, 160)), out_dir / output
    )
    records = [
        Record(
            kind="layer-dream",
            output=output,
            command=command,
            params=dict(job.params),
            extra={"layers": [name], "depth": job.params["depth"], "caption": name},
        )
    ]
    publish(out_dir, records)
    return records


def fake_classes(job, model, out_dir: Path, command: str) -> list[Record]:
    records = []
    for index in job.params["classes"]:
        output = f"class-dreams/class-{index}.png"
        save_image_atomic(Image.new("RGB", (40, 40), (200, int(index) % 255, 40)), out_dir / output)
        records.append(
            Record(
                kind="class-dream",
                output=output,
                command=command,
                extra={
                    "class_index": int(index),
                    "class_name": f"c{index}",
                    "caption": f"class {index}",
                },
            )
        )
    publish(out_dir, records)
    return records


def fake_load(name: str, device: str, weights):
    return "fake-model"


def fake_weights(name: str, weights) -> str:
    return FAKE_WEIGHTS


def fake_device(name: str) -> str:
    return "cpu"


def killing_dream(job, model, out_dir: Path, command: str) -> list[Record]:
    """Dies like a SIGKILL in the middle of writing its third job's PNG."""
    done = len([p for p in Path(os.environ["GALLERY_RENDER_DIR"], "jobs").glob("*/done.json")])
    if done >= int(os.environ["GALLERY_KILL_AFTER"]):
        (out_dir / "half.png").write_bytes(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR")
        os.kill(os.getpid(), signal.SIGKILL)
    return fake_dream(job, model, out_dir, command)


RUNNERS = {
    "dream": fake_dream,
    "explain": fake_explain,
    "layer-dream": fake_layer,
    "class-dream": fake_classes,
}


def fake_kinds(runners=RUNNERS) -> tuple[JobKind, ...]:
    """The built-in kinds' fakes (no zooms, accentuation, atlas or clips), with ``runners``."""
    real = {kind.name: kind for kind in built_in.KINDS}  # their pages' words are the real ones
    plans = {
        "dream": partial(plan_each_photo, "dream", fake_dream_specs),
        "explain": partial(plan_each_photo, "explain", fake_explain_specs),
        "layer-dream": partial(plan_once, fake_layer_jobs),
        "class-dream": partial(plan_once, fake_class_jobs),
    }
    return tuple(
        replace(real[name], plan=plan, run=runners[name], payload=None, heavy=False)
        for name, plan in plans.items()
    )


def fakes(**runners) -> Toolkit:
    """The fake kinds, with some runners swapped (``explain=failing_explain``)."""
    swapped = {name.replace("_", "-"): run for name, run in runners.items()}
    return Toolkit(fake_kinds({**RUNNERS, **swapped}), fake_load, fake_weights, fake_device)


def real_planning(runners=RUNNERS) -> Toolkit:
    """The real kinds' planning with the fake runners (and the fake model)."""
    real = built_in.real_toolkit()
    mine = tuple(replace(k, run=runners.get(k.name, k.run)) for k in real.kinds)
    return Toolkit(mine, fake_load, fake_weights, fake_device)


FAKES = fakes()
KILLER = fakes(dream=killing_dream)


def failing_explain(job, model, out_dir: Path, command: str) -> list[Record]:
    if job.photo.name == "b.png":
        raise RuntimeError("the explainer ran out of ideas")
    return fake_explain(job, model, out_dir, command)


# --------------------------------------------------------------------------- fixtures


def _tiny_photo(path: Path, seed: int) -> None:
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 255, (40, 56, 3), dtype=np.uint8)).save(path)


@pytest.fixture()
def setup(tmp_path: Path) -> GalleryConfig:
    return gallery_setup(tmp_path)


def gallery_setup(tmp_path: Path) -> GalleryConfig:
    """Three photos, a corrupt one and a text file; two presets, two layers, two classes."""
    photos = tmp_path / "photos"
    photos.mkdir()
    for i, name in enumerate(("a.png", "b.png", "c.png")):
        _tiny_photo(photos / name, i)
    (photos / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 this is not a jpeg at all")
    (photos / "notes.txt").write_text("not a photo, ignored")
    config = GalleryConfig(
        photos=photos,
        render_dir=tmp_path / "renders",
        site_dir=tmp_path / "site",
        presets=("gentle", "deep"),
        layers=("blocks.2", "blocks.5"),
        classes=("1", "207"),
        jobs=1,
    )
    return config


def _build(config: GalleryConfig, toolkit: Toolkit = FAKES, **kw):
    return build_gallery(config, toolkit=toolkit, **kw)


def _statuses(result) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for o in result.report.outcomes:
        found.setdefault(o.status, []).append(o.label)
    return found


def _site_text(site: Path) -> str:
    return "\n".join(p.read_text(encoding="utf-8") for p in sorted(site.rglob("*.html")))


def _all_pngs_whole(*folders: Path) -> int:
    count = 0
    for folder in folders:
        for png in folder.rglob("*.png"):
            with Image.open(png) as img:
                img.load()
            count += 1
    return count


# --------------------------------------------------------------------------- tests


def test_first_build_publishes_site_and_reports_the_corrupt_file(setup):
    result = _build(setup)
    assert result.exit_code == 2
    statuses = _statuses(result)
    # 3 photos x (2 presets + explain) + 2 layers + 1 class batch; broken.jpg fails its 3.
    assert len(statuses["rendered"]) == 3 * 3 + 2 + 1
    assert sorted(statuses["failed"]) == [
        "dream broken.jpg [deep]",
        "dream broken.jpg [gentle]",
        "explain broken.jpg",
    ]
    summary = "\n".join(result.summary())
    reason = result.report.failed[0].reason
    assert "corrupt image" in reason
    assert f"skipped broken.jpg: {reason}" in summary
    site = setup.site_dir
    assert (site / "index.html").is_file()
    text = _site_text(site)
    assert f"skipped: {reason}" in text and "broken.jpg" in text
    for name in ("a.png", "b.png", "c.png"):
        assert name in text
    entries = read_manifest(setup.render_dir)
    kinds = [e["kind"] for e in entries]
    assert kinds.count("photo") == 3  # one per photo, though every photo job publishes one
    assert kinds.count("dream") == 6 and kinds.count("explain") == 3
    assert kinds.count("skipped") == 1
    for entry in entries:
        if entry["output"]:
            assert entry["output"].startswith("jobs/")
            assert (setup.render_dir / entry["output"]).is_file()
    assert _all_pngs_whole(setup.render_dir, site) > 20


def test_second_run_reuses_every_job_and_skips_the_site(setup):
    _build(setup)
    index_mtime = (setup.site_dir / "index.html").stat().st_mtime_ns
    again = _build(setup)
    statuses = _statuses(again)
    assert "rendered" not in statuses
    assert len(statuses["reused"]) == 12
    # The corrupt file is remembered (same bytes, same key): not decoded again, still named.
    assert len(statuses["failed"]) == 3
    assert all(o.cached for o in again.report.failed)
    assert again.exit_code == 2
    assert not again.site_rebuilt
    assert (setup.site_dir / "index.html").stat().st_mtime_ns == index_mtime
    forced = _build(setup, force=True)
    assert len(_statuses(forced)["rendered"]) == 12


def test_changed_photo_rerenders_only_its_jobs(setup):
    first = _build(setup)
    old_keys = {o.key for o in first.report.outcomes if o.photo and o.photo.name == "b.png"}
    _tiny_photo(setup.photos / "b.png", 99)  # new bytes, same name
    again = _build(setup)
    statuses = _statuses(again)
    assert sorted(statuses["rendered"]) == [
        "dream b.png [deep]",
        "dream b.png [gentle]",
        "explain b.png",
    ]
    assert len(statuses["reused"]) == 9
    cache = JobCache(setup.render_dir)
    assert all(cache.is_done(k) for k in old_keys)  # a build deletes no cached job ...
    assert again.site_rebuilt
    listed, freed = prune_jobs(setup, toolkit=FAKES)  # ... prune does, when asked
    assert sorted(label for label, _ in listed) == sorted(statuses["rendered"])
    assert freed > 0 and all(cache.is_done(k) for k in old_keys)  # a dry run by default
    prune_jobs(setup, delete=True, toolkit=FAKES)
    assert not any(cache.folder(k).exists() for k in old_keys)
    assert len(_statuses(_build(setup))["reused"]) == 12


def test_deleted_photo_disappears_from_the_site(setup):
    _build(setup)
    page = next((setup.site_dir / "photos").glob("c-*.html"))
    (setup.photos / "c.png").unlink()
    again = _build(setup)
    assert "rendered" not in _statuses(again)
    assert not page.exists()
    # the name as a word: a content hash may end in "...c.png"
    assert not re.search(r"\bc\.png", _site_text(setup.site_dir))
    names = {(e.get("extra") or {}).get("name") for e in read_manifest(setup.render_dir)}
    assert "c.png" not in names and "a.png" in names


def test_failed_job_is_isolated_and_retried_and_clean_run_exits_zero(setup):
    (setup.photos / "broken.jpg").unlink()
    failing = fakes(explain=failing_explain)
    result = _build(setup, toolkit=failing)
    assert result.exit_code == 2
    assert [o.label for o in result.report.failed] == ["explain b.png"]
    assert len(_statuses(result)["rendered"]) == 11
    text = _site_text(setup.site_dir)
    assert "skipped: explain b.png failed: RuntimeError: the explainer ran out of ideas" in text
    # A job that failed for its own reasons is not cached: the next run tries it again.
    retry = _build(setup)
    assert _statuses(retry)["rendered"] == ["explain b.png"]
    assert retry.exit_code == 0 and not retry.report.failed
    assert "ran out of ideas" not in _site_text(setup.site_dir)


def test_killed_build_resumes_without_rerendering_or_truncated_files(setup, tmp_path):
    script = (
        "import sys; from pathlib import Path\n"
        "from renderer.gallery import GalleryConfig, build_gallery\n"
        "import test_gallery_pipeline as t\n"
        f"c = GalleryConfig(photos=Path({str(setup.photos)!r}), "
        f"render_dir=Path({str(setup.render_dir)!r}), site_dir=Path({str(setup.site_dir)!r}), "
        "presets=('gentle', 'deep'), layers=('blocks.2', 'blocks.5'), classes=('1', '207'), "
        "jobs=1)\n"
        "build_gallery(c, toolkit=t.KILLER)\n"
    )
    env = {
        **os.environ,
        "GALLERY_RENDER_DIR": str(setup.render_dir),
        "GALLERY_KILL_AFTER": "3",
        "PYTHONPATH": os.pathsep.join([str(Path(__file__).parent), *sys.path]),
    }
    proc = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, timeout=120)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.decode()[-2000:]
    jobs = setup.render_dir / "jobs"
    finished = {p.parent.name for p in jobs.glob("*/done.json")}
    # one photo dream, one long job (the class dreams), the next photo dream; the kill comes
    # in the third
    assert len(finished) == 3
    assert list(jobs.glob(".tmp-*/half.png"))  # the kill left a half-written staging folder
    # the site published after the first dream is whole, and says what was still to come
    from renderer.site.publish import read_site_files, site_damage

    early = read_site_files(setup.site_dir)
    assert early is not None and site_damage(setup.site_dir, early["stamp"]) is None
    assert "still being made" in _site_text(setup.site_dir)

    resumed = _build(setup)
    reused = {o.key for o in resumed.report.outcomes if o.status == "reused"}
    rendered = {o.key for o in resumed.report.outcomes if o.status == "rendered"}
    assert reused == finished
    assert len(rendered) == 12 - 3
    assert "still being made" not in _site_text(setup.site_dir)
    assert not list(jobs.glob(".tmp-*")) and not list(jobs.rglob("half.png"))
    assert _all_pngs_whole(setup.render_dir, setup.site_dir) > 20


def test_time_budget_publishes_what_is_done(setup):
    result = _build(setup.replace(max_minutes=1e-9))
    assert result.report.stopped_by_budget
    assert result.report.count("pending") == 15
    assert (setup.site_dir / "index.html").is_file()  # an (empty) site is still published
    assert "time budget reached: 15 jobs not started" in "\n".join(result.summary())
    rest = _build(setup)
    assert len(_statuses(rest)["rendered"]) == 12


def test_two_worker_processes_render_the_same_gallery(setup):
    # fork: the fakes need no torch, and spawning two fresh interpreters costs ~10 s here.
    result = _build(setup.replace(jobs=2), start_method="fork")
    assert len(_statuses(result)["rendered"]) == 12
    assert result.exit_code == 2
    again = _build(setup)
    assert len(_statuses(again)["reused"]) == 12


def test_cli_dry_run_and_exit_codes(setup, monkeypatch):
    import renderer.gallery.kinds as kinds
    from renderer.cli import main

    monkeypatch.setattr(kinds, "real_toolkit", lambda: FAKES)
    base = [
        "gallery",
        "build",
        "--photos",
        str(setup.photos),
        "--render-dir",
        str(setup.render_dir),
        "--site",
        str(setup.site_dir),
        "--jobs",
        "1",
    ]
    config = setup.photos.parent / "gallery.toml"
    config.write_text(
        '[dreams]\npresets = ["gentle", "deep"]\n[layers]\nlayers = ["blocks.2", "blocks.5"]\n'
        '[classes]\nclasses = ["1", "207"]\n'
    )
    base += ["--config", str(config)]
    runner = CliRunner()
    dry = runner.invoke(main, [*base, "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert dry.output.count("render  ") == 15
    assert "15 jobs: 15 to render, 0 to reuse" in dry.output
    assert not setup.render_dir.joinpath("jobs").exists()
    run = runner.invoke(main, base)
    assert run.exit_code == 2, run.output
    assert "skipped broken.jpg" in run.output
    assert f"gallery: {(setup.site_dir / 'index.html').resolve()}" in run.output
    (setup.photos / "broken.jpg").unlink()
    dry = runner.invoke(main, [*base, "--dry-run"])
    assert "12 jobs: 0 to render, 12 to reuse" in dry.output
    assert runner.invoke(main, base).exit_code == 0
    manifest = json.loads((setup.render_dir / "manifest.json").read_text())
    assert not [e for e in manifest["entries"] if e["kind"] == "skipped"]


NAP_S = 60  # a sleepy job's nap: a stopped build that waited for its jobs took this long


def _nap() -> None:
    """A minute's sleep; the worker notes its pid first."""
    Path(os.environ["GALLERY_PIDS"], str(os.getpid())).write_text("")
    import time

    time.sleep(NAP_S)


def as_in_a_terminal() -> None:
    """A child's SIGINT as a terminal's foreground job has it: the default, even when the
    suite was started with it ignored (``nohup``, ``make test &``), which the program
    rightly respects."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def sleepy(job, model, out_dir: Path, command: str) -> list[Record]:
    """Any kind's fake runner, after a minute's nap."""
    _nap()
    return RUNNERS[job.kind](job, model, out_dir, command)


# every kind that may run first sleeps (the longest kinds go first)
SLEEPING = dict.fromkeys(("dream", "layer-dream", "class-dream"), sleepy)
SLEEPY = Toolkit(fake_kinds({**RUNNERS, **SLEEPING}), fake_load, fake_weights, fake_device)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_stopping_the_build_ends_its_workers(setup, tmp_path, signum):
    import time

    pids = tmp_path / "pids"
    pids.mkdir()
    script = (
        "from pathlib import Path\n"
        "from renderer.gallery import GalleryConfig, build_gallery\n"
        "import test_gallery_pipeline as t\n"
        f"c = GalleryConfig(photos=Path({str(setup.photos)!r}), "
        f"render_dir=Path({str(setup.render_dir)!r}), site_dir=Path({str(setup.site_dir)!r}), "
        "jobs=2)\n"
        "build_gallery(c, toolkit=t.SLEEPY, start_method='fork')\n"
    )
    env = {
        **os.environ,
        "GALLERY_PIDS": str(pids),
        "PYTHONPATH": os.pathsep.join([str(Path(__file__).parent), *sys.path]),
    }
    proc = subprocess.Popen(
        [sys.executable, "-c", script],
        env=env,
        stderr=subprocess.PIPE,
        preexec_fn=as_in_a_terminal,
    )
    deadline = time.monotonic() + 60
    while len(list(pids.iterdir())) < 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    workers = [int(p.name) for p in pids.iterdir()]
    assert len(workers) == 2
    proc.send_signal(signum)
    proc.wait(timeout=NAP_S - 10)  # it does not wait for the jobs' nap
    time.sleep(0.5)
    for pid in workers:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    assert not list((setup.render_dir / "jobs").glob("*/done.json"))
    resumed = _build(setup)
    assert not list((setup.render_dir / "jobs").glob(".tmp-*"))
    assert len(_statuses(resumed)["rendered"]) == 12


def test_the_sample_gallery_shows_one_zoom_and_your_photos_only_those_listed(setup, tmp_path):
    from renderer.gallery.build import plan_build

    toolkit = real_planning()
    samples = GalleryConfig(samples_dir=tmp_path / "samples", render_dir=tmp_path / "r")
    zooms = [job.label for job in plan_build(samples, toolkit).jobs if job.kind == "zoom"]
    assert zooms == ["zoom chelsea.jpg"]
    mine = replace(setup, presets=("classic",))
    assert not [job for job in plan_build(mine, toolkit).jobs if job.kind == "zoom"]
    listed = plan_build(replace(mine, zoom_photos=("b.png",)), toolkit)
    assert [job.label for job in listed.jobs if job.kind == "zoom"] == ["zoom b.png"]


def test_class_dreams_come_in_batches_whose_keys_ignore_the_worker_count(tmp_path):
    from renderer.gallery.build import plan_build

    toolkit = real_planning()
    samples = GalleryConfig(samples_dir=tmp_path / "samples", render_dir=tmp_path / "r")

    def class_jobs(config: GalleryConfig):
        return [j for j in plan_build(config, toolkit).jobs if j.kind == "class-dream"]

    jobs = class_jobs(samples)  # the essay's 11 classes: 6 and 5, all in order
    assert [j.params["classes"] for j in jobs] == [
        [1, 33, 77, 207, 254, 761],
        [771, 783, 817, 883, 963],
    ]
    assert [j.key for j in class_jobs(replace(samples, jobs=1))] == [j.key for j in jobs]
    assert class_jobs(replace(samples, classes=())) == []


def test_an_empty_zoom_list_turns_the_sample_zoom_off(tmp_path):
    from renderer.gallery.build import plan_build
    from renderer.gallery.config import load_config

    toolkit = real_planning()

    def kinds(config: GalleryConfig) -> list[str]:
        return [job.kind for job in plan_build(config, toolkit).jobs]

    samples = GalleryConfig(samples_dir=tmp_path / "samples", render_dir=tmp_path / "r")
    assert "zoom" in kinds(samples)  # the default
    assert "zoom" not in kinds(replace(samples, zoom_photos=()))
    # ... and so does the file: `[zoom] photos = []`, as `renderer gallery init` spells it
    config_file = tmp_path / "gallery.toml"
    config_file.write_text('samples_dir = "samples"\nrender_dir = "r"\n[zoom]\nphotos = []\n')
    off = load_config(config_file)
    assert off.photos is None and off.zoom_photos == () and off.zooms == ()
    assert "dream" in kinds(off) and "zoom" not in kinds(off)


def test_editing_a_guide_picture_re_renders_its_dreams(setup, tmp_path):
    from renderer.gallery.build import plan_build

    guide = tmp_path / "guide.png"
    _tiny_photo(guide, 7)
    presets = tmp_path / "mine.toml"
    presets.write_text(f'[guided]\nkind = "photo"\nguide = "{guide.as_posix()}"\n')
    toolkit = real_planning()
    config = replace(setup, presets=("guided", "classic"), preset_file=presets)

    def keys() -> dict[str, str]:
        return {job.label: job.key for job in plan_build(config, toolkit).jobs}

    before = keys()
    _tiny_photo(guide, 8)  # same name, new pixels
    after = keys()
    changed = sorted(label for label in before if before[label] != after[label])
    photos = ("a.png", "b.png", "broken.jpg", "c.png")
    assert changed == [f"dream {name} [guided]" for name in photos]


# --------------------------------------------------------------------------- early publishing


def _snapshotting(snaps: Path, runner):
    """``runner``, after copying the site published so far (the jobs run in this process,
    so between two publishes)."""

    def snapshot_first(job, model, out_dir: Path, command: str) -> list[Record]:
        site = Path(os.environ["GALLERY_SITE"])
        if site.is_dir():
            snap = snaps / f"{len(list(snaps.iterdir())):02d}"
            shutil.copytree(site, snap)
        return runner(job, model, out_dir, command)

    return snapshot_first


def test_the_site_is_published_early_whole_and_grows_until_the_build_ends(
    setup, tmp_path, monkeypatch
):
    from test_site_build import _check_links

    snaps = tmp_path / "snaps"
    snaps.mkdir()
    monkeypatch.setenv("GALLERY_SITE", str(setup.site_dir))
    watched = ("class-dream", "layer-dream")
    runners = {kind: _snapshotting(snaps, RUNNERS[kind]) for kind in watched}
    toolkit = Toolkit(fake_kinds({**RUNNERS, **runners}), fake_load, fake_weights, fake_device)
    lines: list[str] = []
    result = _build(setup, toolkit=toolkit, log=lines.append, publish_every=0.0)
    first, *_, last = sorted(snaps.iterdir())  # the class dreams', then each layer dream's
    # one photo dream went first, and its site was published before the next job ran
    assert result.report.outcomes[0].label == "dream a.png [gentle]"
    assert result.report.outcomes[1].kind == "class-dream"
    for snap in (first, last):
        _check_links(snap)
        assert _all_pngs_whole(snap) > 0
        assert "still being made" in _site_text(snap)
    photo_pages = lambda site: sorted((site / "photos").glob("*.html"))  # noqa: E731
    assert len(photo_pages(first)) == 1  # a.png: its dream is done
    assert len(photo_pages(last)) == 3  # every photo dream went before the layer dreams
    text = _site_text(first)
    assert "Still being made: the deep dream, the explanations." in text
    assert "the gentle dream" not in text
    final = setup.site_dir
    _check_links(final)
    assert len(photo_pages(final)) == 3 and "still being made" not in _site_text(final).lower()
    assert sum(1 for _ in (final / "media").rglob("*.png")) > sum(
        1 for _ in (first / "media").rglob("*.png")
    )
    assert result.early is not None and result.early.count >= 2
    assert any(line.startswith("the gallery: ") and "file://" in line for line in lines)


def test_early_publishes_wait_for_a_photo_dream_and_the_interval(setup, monkeypatch):
    import renderer.gallery.build as build
    from renderer.gallery.plan import Job, Plan
    from renderer.gallery.run import Outcome, RunReport

    published: list[int] = []
    monkeypatch.setattr(build, "_publish", lambda *a: published.append(len(a[-1])) or None)

    def job(kind: str) -> Job:
        return Job(kind, kind, kind, "m", {}, None, None)

    clock = [1000.0]
    monkeypatch.setattr(build.time, "monotonic", lambda: clock[0])
    firsts = frozenset({"dream"})  # what the dream kind marks first_look
    early = build.EarlyPublisher(setup, Plan((), (), (), {}), "", print, firsts, interval=30.0)
    report = RunReport(outcomes=[Outcome.of(job("layer-dream"), "rendered")])
    early(report, [job("dream"), job("explain")])  # no photo dream yet: nothing to show
    report.outcomes.append(Outcome.of(job("dream"), "rendered"))
    early(report, [job("explain")])  # the first photo dream: published
    clock[0] += 29.0
    early(report, [job("zoom")])  # within 30 s of the last: not again
    clock[0] += 1.0
    early(report, [job("zoom")])  # 30 s on: again
    early(report, [])  # nothing left: the build's own last publish comes next
    assert published == [1, 1]


def test_more_jobs_than_cores_run_as_many_as_cores_with_a_warning(setup, monkeypatch):
    import renderer.gallery.build as build

    monkeypatch.setattr(build, "cpu_cores", lambda: 2)
    lines: list[str] = []
    config = replace(setup, jobs=64)
    result = build_gallery(config, toolkit=FAKES, log=lines.append, start_method="fork")
    warning = "64 jobs asked for: running 2 worker processes, as this machine has 2 cores"
    assert lines[0] == f"warning: {warning}"
    assert result.report.count("rendered") > 0 and not result.report.count("pending")
    if sys.platform == "linux":  # each job's done.json holds its worker's peak memory
        done = [
            json.loads(p.read_text()) for p in JobCache(setup.render_dir).root.glob("*/done.json")
        ]
        peaks = [info["peak_rss_mb"] for info in done if info["status"] == "rendered"]
        assert peaks and all(peak > 10 for peak in peaks), peaks
