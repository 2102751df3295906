"""Galleries on a Dask cluster: a real `dask scheduler` and two `dask worker` processes on
loopback, each in its own working directory, and a LocalCluster; jobs travel as packed
specs with their input bytes (no shared folder), and a lost worker loses no job."""

from __future__ import annotations

import os
import pickle
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner

from renderer.gallery import GalleryConfig, build_gallery
from renderer.gallery.cache import JobCache
from renderer.gallery.executors import CONNECT_TIMEOUT_S, ClusterError
from renderer.gallery.remote import Packer, commit, render_packed
from renderer.gallery.run import WorkerContext, execute_job
from renderer.provenance import read_manifest

distributed = pytest.importorskip("distributed")

import test_gallery_pipeline as fakes  # noqa: E402  (after the skip: it needs no Dask)

ROOT = Path(__file__).resolve().parent.parent
WORKER_ENV = {
    **os.environ,
    "PYTHONPATH": os.pathsep.join([str(ROOT), str(Path(__file__).parent)]),
    "OMP_NUM_THREADS": "1",
}


def located_dream(job, model, out_dir: Path, command: str):
    """The fake dream, slowed down a little, leaving word of where it ran."""
    time.sleep(0.5)
    records = fakes.fake_dream(job, model, out_dir, command)
    (out_dir / "ran-in.txt").write_text(f"{os.getcwd()}\n{os.getpid()}\n")
    return records


LOCATED = fakes.fakes(dream=located_dream)


@pytest.fixture()
def gallery(tmp_path: Path) -> GalleryConfig:
    photos = tmp_path / "photos"
    photos.mkdir()
    for i, name in enumerate(("a.png", "b.png", "c.png")):
        fakes._tiny_photo(photos / name, i)
    (photos / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 this is not a jpeg at all")
    return GalleryConfig(
        photos=photos,
        render_dir=tmp_path / "renders",
        site_dir=tmp_path / "site",
        presets=("gentle", "deep"),
        layers=("blocks.2", "blocks.5"),
        classes=("1", "207"),
        jobs=1,
    )


# --------------------------------------------------------------------------- no Dask needed


def test_a_packed_job_names_no_path_of_the_driver_and_renders_anywhere(gallery, tmp_path):
    from renderer.gallery.build import plan_build
    from renderer.gallery.kinds import relocate

    guide = tmp_path / "pictures" / "guide.png"
    guide.parent.mkdir()
    fakes._tiny_photo(guide, 7)
    presets = tmp_path / "mine.toml"
    presets.write_text(f'[guided]\nkind = "photo"\nguide = "{guide.as_posix()}"\n')
    real = replace(fakes.real_planning(), relocate=relocate)
    config = replace(gallery, presets=("guided",), preset_file=presets, explain=False)
    plan = plan_build(config, real)
    ctx = WorkerContext(config.render_dir, "cpu", None, real, "renderer gallery build")
    packer = Packer(ctx, "auto", {job.model for job in plan.jobs})
    guided = [job for job in plan.jobs if job.kind == "dream"]
    assert guided and str(guide) in repr(guided[0])  # the plan itself names the guide
    for job in plan.jobs:
        spec, files = packer.pack(job)
        blob = pickle.dumps(spec)
        for driver_path in (str(tmp_path), str(ROOT)):
            assert driver_path.encode() not in blob, (job.label, driver_path)
        if job.kind == "dream":
            assert spec.job.payload.recipe.guide.endswith("/guide.png")
            assert set(files.values()) == {job.photo.path, guide}
            assert not spec.job.payload.recipe.guide.startswith("/")


def test_a_job_rendered_elsewhere_commits_the_same_files_as_a_local_one(gallery, tmp_path):
    """The cluster path without the cluster: pack, render in another folder from bytes
    alone, commit; the files match a job rendered in place, records included."""
    from renderer.gallery.build import plan_build

    plan = plan_build(gallery, fakes.FAKES)
    job = next(j for j in plan.jobs if j.kind == "dream" and j.photo.name == "a.png")
    here = WorkerContext(tmp_path / "here", "cpu", None, fakes.FAKES, "renderer gallery build")
    assert execute_job(job, here).status == "rendered"
    packer = Packer(here, "auto", [job.model])
    spec, files = packer.pack(job)
    data = {name: path.read_bytes() for name, path in files.items()}
    scratch = tmp_path / "worker-scratch"
    scratch.mkdir()
    result = render_packed(pickle.loads(pickle.dumps(spec)), data, str(scratch), "w1")
    assert not list(scratch.iterdir())  # its temporary folder is gone
    there = JobCache(tmp_path / "there")
    places = {name: str(path) for name, path in files.items()}
    outcome = commit(there, job, result, places, "renderer gallery build")
    assert outcome.status == "rendered" and outcome.worker == "w1"
    local = JobCache(here.render_dir).folder(job.key)
    remote = there.folder(job.key)
    names = sorted(p.relative_to(local).as_posix() for p in local.rglob("*") if p.is_file())
    assert names == sorted(
        p.relative_to(remote).as_posix() for p in remote.rglob("*") if p.is_file()
    )
    for name in names:
        a, b = (local / name).read_bytes(), (remote / name).read_bytes()
        if name.endswith(".png"):
            assert a == b, name
        elif name != "done.json":  # records: the driver's photo path and command, not the worker's
            strip = [line for line in a.splitlines() if b'"created"' not in line]
            assert strip == [line for line in b.splitlines() if b'"created"' not in line], name
    assert str(job.photo.path) in (remote / "manifest.json").read_text()
    # A damaged file is refused, and nothing reaches the cache.
    bad = replace(result, files=((result.files[0][0], "0" * 64, result.files[0][2]),))
    other = JobCache(tmp_path / "other")
    assert commit(other, job, bad, places, "x").status == "failed"
    assert not other.is_done(job.key) and not list(other.root.glob(".tmp-*"))


def test_cluster_without_dask_names_the_extra(gallery, monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)
    with pytest.raises(ClusterError, match=r"dreamgallery\[cluster\]"):
        build_gallery(replace(gallery, cluster="local:2"), toolkit=fakes.FAKES)
    assert not gallery.render_dir.exists()  # refused before any work


def test_the_cluster_address_comes_from_gallery_toml_or_the_flag(tmp_path):
    from renderer.errors import RecipeError, UnknownNameError
    from renderer.gallery.config import load_config
    from renderer.gallery.executors import DaskCluster, InProcess, make_executor

    toml = tmp_path / "gallery.toml"
    toml.write_text('[cluster]\naddress = "tcp://studio:8786"\n')
    assert load_config(toml).cluster == "tcp://studio:8786"
    assert load_config(toml, {"cluster": "local:3"}).cluster == "local:3"
    assert make_executor(2, "local:3") == DaskCluster("local:3", "auto", 2)
    assert isinstance(make_executor(1, None), InProcess)
    for bad in ("local:0", "tcp://a b:1", "studio:port"):
        with pytest.raises(RecipeError, match=r"\[cluster\] address"):
            GalleryConfig(cluster=bad)
    toml.write_text('[cluster]\nadress = "x"\n')
    with pytest.raises(UnknownNameError, match="closest: address"):
        load_config(toml)


def test_workers_share_their_machine_s_cores_and_a_damaged_input_fails_its_job(gallery, tmp_path):
    from renderer.gallery.build import plan_build
    from renderer.gallery.executors import _peers

    workers = {"tcp://a:1": {"host": "a"}, "tcp://a:2": {"host": "a"}, "tcp://b:1": {"host": "b"}}
    assert _peers(workers) == {"tcp://a:1": 2, "tcp://a:2": 2, "tcp://b:1": 1}
    job = next(j for j in plan_build(gallery, fakes.FAKES).jobs if j.kind == "dream")
    ctx = WorkerContext(tmp_path / "r", "cpu", None, fakes.FAKES, "x")
    spec, files = Packer(ctx, "auto", [job.model]).pack(job)
    data = {name: path.read_bytes()[:-1] for name, path in files.items()}
    result = render_packed(spec, data, str(tmp_path), "w9")
    assert result.outcome.status == "failed" and not result.outcome.bad_input
    assert "arrived damaged" in result.outcome.reason and not result.files


def test_an_unreachable_scheduler_is_one_line_and_exit_1(gallery, monkeypatch):
    import renderer.gallery.kinds as kinds
    from renderer.cli import main

    monkeypatch.setattr(kinds, "real_toolkit", lambda: fakes.FAKES)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nothing listens there once it is closed
    args = ["gallery", "build", "--photos", str(gallery.photos)]
    args += ["--render-dir", str(gallery.render_dir), "--site", str(gallery.site_dir)]
    start = time.monotonic()
    result = CliRunner().invoke(main, [*args, "--cluster", f"tcp://127.0.0.1:{port}"])
    # it gives up after its own connect timeout, not after Dask's default of 30 s
    assert time.monotonic() - start < 3 * CONNECT_TIMEOUT_S
    assert result.exit_code == 1, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and "cannot reach the Dask scheduler" in lines[0], result.output
    assert "Traceback" not in result.output
    bad = CliRunner().invoke(main, [*args, "--cluster", "tcp://no where"])
    assert bad.exit_code == 1 and "[cluster] address" in bad.output


# --------------------------------------------------------------------------- a real cluster


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _start(args: list[str], cwd: Path, log: Path) -> subprocess.Popen:
    cwd.mkdir(parents=True, exist_ok=True)
    return subprocess.Popen(
        [sys.executable, "-m", *args],
        cwd=cwd,
        env=WORKER_ENV,
        stdout=subprocess.DEVNULL,
        stderr=open(log, "wb"),
        start_new_session=True,  # its own process group: the nanny and its worker
    )


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """`dask scheduler` and two `dask worker` processes, each in its own folder."""
    root = tmp_path_factory.mktemp("cluster")
    address = f"tcp://127.0.0.1:{_free_port()}"
    port = address.rsplit(":", 1)[1]
    scheduler = _start(
        ["distributed.cli.dask_scheduler", "--host", "127.0.0.1", "--port", port, "--no-dashboard"],
        root / "scheduler",
        root / "scheduler.log",
    )
    workers = {}
    for name in ("w1", "w2"):
        proc = _start(
            [
                *("distributed.cli.dask_worker", address, "--name", name, "--nthreads", "1"),
                *("--no-dashboard", "--local-directory", str(root / name / "scratch")),
            ],
            root / name,
            root / f"{name}.log",
        )
        workers[name] = proc
    try:
        with distributed.Client(address, timeout=30) as client:
            client.wait_for_workers(2, timeout=90)
            info = client.scheduler_info(n_workers=-1)["workers"]
            client.get_task_stream()  # the scheduler keeps its task log from now on
        names = {w["name"]: a for a, w in info.items()}
        since = time.time()
        procs = {**workers, "scheduler": scheduler}
        yield {"address": address, "root": root, "procs": procs, "names": names, "since": since}
    finally:
        for proc in [*workers.values(), scheduler]:
            _stop(proc)


def _patch_version(version: str) -> None:
    import renderer

    renderer.__version__ = version


def test_a_worker_of_another_version_is_refused(cluster, gallery):
    with distributed.Client(cluster["address"], timeout=10) as client:
        w2 = cluster["names"]["w2"]
        original = client.run(lambda: __import__("renderer").__version__, workers=[w2])[w2]
        client.run(_patch_version, "0.0.1-other", workers=[w2])
        try:
            config = replace(gallery, cluster=cluster["address"])
            with pytest.raises(ClusterError) as caught:
                build_gallery(config, toolkit=fakes.FAKES)
        finally:
            client.run(_patch_version, original, workers=[w2])
    message = str(caught.value)
    assert "\n" not in message
    assert f"worker {w2} refused: its renderer is 0.0.1-other" in message
    assert not JobCache(gallery.render_dir).root.exists() or not list(
        JobCache(gallery.render_dir).root.glob("*/done.json")
    )


def _worker_state(dask_worker) -> dict[str, object]:
    callbacks = dask_worker.periodic_callbacks
    return {
        "samplers": sorted(set(callbacks) & {"profile", "profile-cycle"}),
        "tick_ms": callbacks["tick"].callback_time,
        "monitor_ms": callbacks["monitor"].callback_time,
    }


def test_workers_started_by_hand_run_quiet_once_a_build_used_them(cluster, gallery):
    """`dask worker` as the README starts it samples its stack every 10 ms and ticks every
    20 ms (a torch loop ran 2-3x slower there); the build's plugin turns those off on every
    worker of the cluster."""
    with distributed.Client(cluster["address"], timeout=10) as client:
        before = client.run(_worker_state)
        assert any(state["samplers"] for state in before.values()), before
        config = replace(gallery, cluster=cluster["address"])
        result = build_gallery(config, toolkit=fakes.FAKES)
        assert result.report.count("rendered") > 0
        after = client.run(_worker_state)
    assert len(after) == 2
    for state in after.values():
        assert state == {"samplers": [], "tick_ms": 1000, "monitor_ms": 10_000}, after


def test_jobs_run_on_the_workers_and_survive_a_killed_worker(cluster, gallery):
    config = replace(gallery, cluster=cluster["address"])
    holder: dict[str, object] = {}
    thread = threading.Thread(
        target=lambda: holder.update(result=build_gallery(config, toolkit=LOCATED))
    )
    thread.start()
    jobs = JobCache(config.render_dir).root
    deadline = time.monotonic() + 120
    while len(list(jobs.glob("*/done.json"))) < 4 and time.monotonic() < deadline:
        time.sleep(0.05)
    victim = cluster["procs"]["w1"]
    os.killpg(victim.pid, signal.SIGKILL)  # the nanny and its worker, mid-build
    victim.wait(timeout=10)
    time.sleep(2)  # what w1 finished before it died has been committed by now
    before = {p.parent.name for p in jobs.glob("*/done.json")}
    thread.join(timeout=180)
    assert not thread.is_alive()
    result = holder["result"]
    statuses = fakes._statuses(result)
    assert len(statuses["rendered"]) == 12 and len(statuses["failed"]) == 3
    assert result.exit_code == 2
    assert not list(jobs.glob(".tmp-*")) and not list(jobs.glob(".old-*"))
    assert fakes._all_pngs_whole(config.render_dir, config.site_dir) > 20
    text = fakes._site_text(config.site_dir)
    assert all(name in text for name in ("a.png", "b.png", "c.png", "broken.jpg"))
    # Each dream ran in a worker's own folder and process, never here.
    w1, w2 = cluster["names"]["w1"], cluster["names"]["w2"]
    ran = [
        (folder / "ran-in.txt").read_text().split()
        for folder in jobs.iterdir()
        if (folder / "ran-in.txt").is_file()
    ]
    assert len(ran) == 6
    homes = {str(cluster["root"] / "w1"), str(cluster["root"] / "w2")}
    assert {cwd for cwd, _ in ran} <= homes and str(os.getpid()) not in {p for _, p in ran}
    workers = {o.worker for o in result.report.outcomes if o.status == "rendered"}
    assert workers <= {w1, w2}
    after = [o.worker for o in result.report.outcomes if o.key not in before and o.worker]
    assert after and set(after) == {w2}  # the jobs w1 had, and the rest, ran on w2
    summary = "\n".join(result.summary())
    assert "jobs per worker: " in summary and "jobs/min" in summary
    # The scheduler's own task log: every job ran on one of the workers.
    with distributed.Client(cluster["address"], timeout=10) as client:
        stream = client.get_task_stream(start=cluster["since"])
    ends = {}
    for item in stream:
        key = str(item["key"]).split("-")
        if len(key) > 2 and key[-2] in {job.key[:16] for job in result.plan.jobs}:
            ends[key[-2]] = item["worker"]
    rendered = {o.key[:16] for o in result.report.outcomes if o.status == "rendered"}
    assert rendered <= set(ends)
    assert set(ends.values()) <= {w1, w2}
    # ... and a rebuild reuses it all.
    again = build_gallery(replace(config, cluster=None), toolkit=fakes.FAKES)
    assert len(fakes._statuses(again)["reused"]) == 12


def test_a_scheduler_gone_mid_build_is_one_line_and_keeps_the_finished_jobs(cluster, gallery):
    config = replace(gallery, cluster=cluster["address"])
    holder: dict[str, BaseException] = {}

    def build() -> None:
        try:
            build_gallery(config, toolkit=LOCATED)
        except ClusterError as exc:
            holder["error"] = exc

    thread = threading.Thread(target=build)
    thread.start()
    jobs = JobCache(config.render_dir).root
    deadline = time.monotonic() + 120
    while len(list(jobs.glob("*/done.json"))) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    _stop(cluster["procs"]["scheduler"])
    thread.join(timeout=60)
    assert not thread.is_alive()
    message = str(holder["error"])
    assert "lost the Dask scheduler" in message and "\n" not in message
    finished = {p.parent.name for p in jobs.glob("*/done.json")}
    assert len(finished) >= 2 and not list(jobs.glob(".tmp-*"))
    resumed = build_gallery(replace(config, cluster=None), toolkit=fakes.FAKES)
    assert {o.key for o in resumed.report.outcomes if o.status == "reused"} >= finished


# --------------------------------------------------------------------------- real dreams


@pytest.mark.slow
def test_a_local_cluster_dreams_the_same_pixels_as_this_process(tmp_path, photo_dir):
    """Two LocalCluster processes (one torch thread each, as here) render dream PNGs
    byte-identical to an in-process build."""
    import renderer.gallery.kinds as kinds

    photos = tmp_path / "photos"
    photos.mkdir()
    for name in ("chelsea.jpg", "coffee.jpg"):
        (photos / name).write_bytes((photo_dir / name).read_bytes())
    toolkit = replace(kinds.real_toolkit(), kinds=(kinds.KINDS["dream"],))  # dreams alone
    base = GalleryConfig(
        photos=photos, quick=True, size=64, device="cpu", presets=("classic",), jobs=1
    )

    def dreams(name: str, cluster: str | None) -> dict[str, bytes]:
        config = replace(
            base, render_dir=tmp_path / name, site_dir=tmp_path / f"{name}-site", cluster=cluster
        )
        result = build_gallery(config, toolkit=toolkit)
        assert result.exit_code == 0, result.summary()
        assert [o.status for o in result.report.outcomes] == ["rendered"] * 2
        found = {}
        for entry in read_manifest(config.render_dir):
            if entry["kind"] == "dream":
                found[entry["output"]] = (config.render_dir / entry["output"]).read_bytes()
        return found

    here = dreams("here", None)
    there = dreams("there", "local:2")
    assert len(here) == 2 and here.keys() == there.keys()
    assert all(here[name] == there[name] for name in here)
