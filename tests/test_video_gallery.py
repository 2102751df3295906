"""Clips in a gallery: segments as cached jobs, joined with their sound, on a page of their
own; a bad clip is skipped with its reason. Real model, tiny clip (96 x 64 px, 1 s)."""

from __future__ import annotations

import json
import re
from html import unescape
from pathlib import Path

import pytest

av = pytest.importorskip("av")

from renderer.gallery import GalleryConfig, build_gallery  # noqa: E402
from renderer.provenance import read_manifest  # noqa: E402
from renderer.video.synthetic import render_clip, sample_camera, write_clip  # noqa: E402

pytestmark = pytest.mark.slow


@pytest.fixture()
def clip_gallery(tmp_path: Path, monkeypatch) -> GalleryConfig:
    from skimage import data

    import renderer.video.gallery as video_gallery

    monkeypatch.setattr(video_gallery, "GALLERY_SEGMENT_SECONDS", 0.5)  # 2 segments
    photos = tmp_path / "photos"
    photos.mkdir()
    photo = data.coffee()
    write_clip(photos / "pan.mp4", render_clip(photo, sample_camera(photo.shape, 96, 64, 12), 12))
    (photos / "clip.mp4").write_text("not a video\n")
    return GalleryConfig(
        photos=photos,
        render_dir=tmp_path / "renders",
        site_dir=tmp_path / "site",
        jobs=1,
        device="cpu",
        presets=("classic",),
        layers=(),
        classes=(),
        explain=False,
    )


def test_a_clip_in_the_gallery(clip_gallery: GalleryConfig):
    first = build_gallery(clip_gallery)
    assert first.exit_code == 2  # the text file named clip.mp4
    labels = sorted(j.label for j in first.plan.jobs)
    assert labels == [
        "video pan.mp4 [classic] segment 1/2",
        "video pan.mp4 [classic] segment 2/2",
    ]
    assert [p.path.name for p in first.plan.problems] == ["clip.mp4"]
    entries = read_manifest(clip_gallery.render_dir)
    kinds = sorted(e["kind"] for e in entries)
    assert kinds == ["skipped", "video", "video-dream", "video-explain"]
    skipped = next(e for e in entries if e["kind"] == "skipped")
    assert "not a readable video" in skipped["extra"]["reason"]
    dream = next(e for e in entries if e["kind"] == "video-dream")
    assert dream["extra"]["frame_count"] == 12 and dream["extra"]["segments"] == 2
    with av.open(str(clip_gallery.render_dir / dream["output"])) as container:
        assert container.streams.audio and container.streams.video[0].frames == 12

    site = clip_gallery.site_dir
    (page,) = (site / "photos").glob("pan-*.html")
    html = page.read_text(encoding="utf-8")
    tags = re.findall(r"<video [^>]*>", html)
    assert len(tags) == 3  # the source, its dream and its Grad-CAM
    for tag in tags:
        for attr in ("controls", "playsinline", "muted", 'preload="none"', "poster=", "width="):
            assert attr in tag
        assert "autoplay" not in tag
    sources = re.findall(r'<source src="([^"]+)" type="(video/[a-z0-9]+)"', html)
    assert {t for _s, t in sources} == {"video/mp4", "video/webm"}
    for src, _t in sources:
        assert (page.parent / src).resolve().is_file()
    assert 'class="video-still"' in html
    assert "A clip: 1 video dream and where the network looks." in html
    assert "first preset only" in unescape(html)
    explain = next(e for e in entries if e["kind"] == "video-explain")
    assert explain["extra"]["target"]["name"] in html and 'class="legend"' in html
    assert "skipped: " in (site / "index.html").read_text(encoding="utf-8")
    assert ">Video<" in (site / "index.html").read_text(encoding="utf-8")

    again = build_gallery(clip_gallery)  # nothing to do: segments and the join are cached
    assert {o.status for o in again.report.outcomes} == {"reused"}
    stable = lambda es: [{k: v for k, v in e.items() if k != "created"} for e in es]  # noqa: E731
    assert stable(read_manifest(clip_gallery.render_dir)) == stable(entries)


def _browser_check(page_path: Path) -> None:
    """In headless Chromium: no video byte before play; each <video> then loads its
    metadata (readyState >= 1) with the clip's duration and no error; axe finds nothing."""
    from axe_playwright_python.sync_playwright import Axe
    from playwright import sync_api

    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path="/usr/bin/chromium", args=["--no-sandbox", "--disable-gpu"]
        )
        try:
            for motion in ("no-preference", "reduce"):
                page = browser.new_page(reduced_motion=motion)
                fetched: list[str] = []
                page.on("request", lambda r, seen=fetched: seen.append(r.url))
                page.goto(page_path.as_uri())
                page.wait_for_load_state("load")
                assert not [u for u in fetched if u.endswith((".mp4", ".webm"))]
                shown = page.evaluate(
                    "[...document.querySelectorAll('.fig-video video')]"
                    ".map(v => getComputedStyle(v).display !== 'none')"
                )
                assert shown == [motion == "no-preference"] * 3
                result = Axe().run(page)
                assert not result.violations_count, result.generate_report()
                page.close()
            page = browser.new_page()
            page.goto(page_path.as_uri())
            states = page.evaluate(
                """async () => Promise.all([...document.querySelectorAll('video')].map(v =>
                  new Promise(done => {
                    v.addEventListener('loadedmetadata', () => done([v.readyState, v.duration,
                      v.error]));
                    v.addEventListener('error', () => done([v.readyState, 0, String(v.error)]),
                      true);
                    v.preload = 'metadata'; v.load();
                  })))"""
            )
            assert len(states) == 3
            for ready, duration, error in states:
                assert ready >= 1 and abs(duration - 1.0) < 0.1 and error is None
        finally:
            browser.close()


@pytest.mark.browser
@pytest.mark.skipif(not Path("/usr/bin/chromium").exists(), reason="needs /usr/bin/chromium")
def test_the_clip_page_plays_in_chromium(clip_gallery: GalleryConfig):
    (clip_gallery.photos / "clip.mp4").unlink()
    assert build_gallery(clip_gallery).exit_code == 0
    (page,) = (clip_gallery.site_dir / "photos").glob("pan-*.html")
    _browser_check(page)


def test_prune_keeps_a_joined_clip(clip_gallery: GalleryConfig):
    from renderer.gallery.prune import prune_jobs

    build_gallery(clip_gallery)
    finished = [
        p for p in (clip_gallery.render_dir / "jobs").iterdir() if (p / "done.json").is_file()
    ]
    kinds = sorted(json.loads((p / "done.json").read_text())["kind"] for p in finished)
    assert kinds == ["video", "video-segment", "video-segment"]  # two segments, their join
    assert prune_jobs(clip_gallery) == ([], 0)


def test_a_segment_rendered_elsewhere_from_the_clips_bytes_matches_a_local_one(
    clip_gallery: GalleryConfig, tmp_path: Path
):
    """The cluster path without the cluster: a segment job packed with the clip's bytes,
    rendered in another folder, committed; its lossless frames match a local render."""
    import pickle

    import renderer.gallery.kinds as kinds
    from renderer.gallery.build import plan_build
    from renderer.gallery.cache import JobCache
    from renderer.gallery.remote import Packer, commit, render_packed
    from renderer.gallery.run import WorkerContext, execute_job

    toolkit = kinds.real_toolkit()
    plan = plan_build(clip_gallery, toolkit)
    job = next(j for j in plan.jobs if j.kind == "video-segment")
    here = WorkerContext(tmp_path / "here", "cpu", None, toolkit, "renderer gallery build")
    assert execute_job(job, here).status == "rendered"
    spec, files = Packer(here, "cpu", [job.model]).pack(job)
    assert set(files.values()) == {job.photo.path}  # the clip travels as bytes
    data = {name: path.read_bytes() for name, path in files.items()}
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    result = render_packed(pickle.loads(pickle.dumps(spec)), data, str(scratch), "w1")
    there = JobCache(tmp_path / "there")
    places = {name: str(path) for name, path in files.items()}
    assert commit(there, job, result, places, "renderer gallery build").status == "rendered"
    local = JobCache(here.render_dir).folder(job.key) / "segment.mkv"
    remote = there.folder(job.key) / "segment.mkv"
    assert local.read_bytes() == remote.read_bytes()


def test_segments_on_two_worker_processes(clip_gallery: GalleryConfig):
    """The default executor on a CPU: worker processes, which receive the jobs pickled."""
    from dataclasses import replace

    result = build_gallery(replace(clip_gallery, jobs=2))
    assert {o.status for o in result.report.outcomes} == {"rendered"}
    kinds = sorted(e["kind"] for e in read_manifest(clip_gallery.render_dir))
    assert kinds == ["skipped", "video", "video-dream", "video-explain"]


def test_a_clip_dreamt_on_a_cluster_is_joined_here(clip_gallery: GalleryConfig):
    """On a cluster the build's device is the workers' setting ("auto"); the join runs on
    this machine and resolves it here (it once asked torch for an "auto" device)."""
    from dataclasses import replace

    pytest.importorskip("distributed")
    result = build_gallery(replace(clip_gallery, cluster="local:1", device="auto"))
    assert result.exit_code == 2 and [p.path.name for p in result.plan.problems] == ["clip.mp4"]
    kinds = sorted(e["kind"] for e in read_manifest(clip_gallery.render_dir))
    assert kinds == ["skipped", "video", "video-dream", "video-explain"]


def test_a_clip_whose_join_fails_is_skipped_with_its_reason(clip_gallery, monkeypatch):
    import renderer.video.gallery as video_gallery

    def broken(*args, **kwargs):
        raise RuntimeError("the encoder ran out of tape")

    monkeypatch.setattr(video_gallery, "dream_clip", broken)
    result = build_gallery(clip_gallery)
    assert result.exit_code == 2
    reasons = {p.path.name: p.reason for p in result.report.problems}
    assert "the encoder ran out of tape" in reasons["pan.mp4"]
    pages = "".join(p.read_text() for p in clip_gallery.site_dir.rglob("*.html"))
    assert "its segments could not be joined: the encoder ran out of tape" in pages


def test_a_dry_run_names_the_clip_with_its_time(clip_gallery: GalleryConfig):
    from click.testing import CliRunner

    from renderer.cli import main

    toml = clip_gallery.photos.parent / "gallery.toml"
    toml.write_text(
        '[dreams]\npresets = ["classic"]\n[layers]\nlayers = []\n[classes]\nclasses = []\n'
        "[explain]\nenabled = false\n",
        encoding="utf-8",
    )
    args = ["gallery", "build", "--config", str(toml), "--photos", str(clip_gallery.photos)]
    args += ["--render-dir", str(clip_gallery.render_dir), "--site", str(clip_gallery.site_dir)]
    args += ["--dry-run", "--jobs", "1", "--device", "cpu"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert "estimate  video-segment: 2 job(s), about" in result.output
    # 12 frames in 0.5 s segments: 6, then 3 cross-faded and 6 more
    assert re.search(
        r"estimate  video pan\.mp4: 15 frames at 96x64 in 2 segment\(s\) to dream, "
        r"and the join, about \d+ (s|min)\n",
        result.output,
    ), result.output
    assert not clip_gallery.render_dir.exists() or not any(clip_gallery.render_dir.iterdir())
