"""Clips in a gallery: segments as cached jobs, joined with their sound, on a page of their
own; a bad clip is skipped with its reason. Real model, tiny clip (96 x 64 px, 1 s)."""

from __future__ import annotations

import re
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
    assert kinds == ["skipped", "video", "video-dream"]
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
    assert len(tags) == 2  # the source and its dream
    for tag in tags:
        for attr in ("controls", "playsinline", "muted", 'preload="none"', "poster=", "width="):
            assert attr in tag
        assert "autoplay" not in tag
    sources = re.findall(r'<source src="([^"]+)" type="(video/[a-z0-9]+)"', html)
    assert {t for _s, t in sources} == {"video/mp4", "video/webm"}
    for src, _t in sources:
        assert (page.parent / src).resolve().is_file()
    assert 'class="video-still"' in html
    assert "skipped: " in (site / "index.html").read_text(encoding="utf-8")
    assert ">Video<" in (site / "index.html").read_text(encoding="utf-8")

    again = build_gallery(clip_gallery)  # nothing to do: segments and the join are cached
    assert {o.status for o in again.report.outcomes} == {"reused"}
    stable = lambda es: [{k: v for k, v in e.items() if k != "created"} for e in es]  # noqa: E731
    assert stable(read_manifest(clip_gallery.render_dir)) == stable(entries)
