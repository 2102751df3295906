"""One real, tiny end-to-end gallery build: the real dream and explanation jobs, the real
model and the real site, on three small photos and a corrupt file."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import renderer.gallery.kinds as kinds
from renderer.gallery import GalleryConfig, build_gallery
from renderer.gallery.plan import canonical_json
from renderer.gallery.run import WorkerContext
from renderer.provenance import read_manifest

pytestmark = pytest.mark.slow


@pytest.fixture()
def tiny_gallery(tmp_path: Path) -> GalleryConfig:
    from skimage import data

    photos = tmp_path / "photos"
    photos.mkdir()
    for name in ("chelsea", "coffee", "astronaut"):
        img = Image.fromarray(getattr(data, name)())
        img.thumbnail((72, 72))
        img.save(photos / f"{name}.jpg", quality=90)
    (photos / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 40)
    return GalleryConfig(
        photos=photos,
        render_dir=tmp_path / "renders",
        site_dir=tmp_path / "site",
        quick=True,
        size=64,
        jobs=1,
        device="cpu",
        presets=("classic",),
        layers=("blocks.2",),
        classes=("1",),
        explain_settings={"lime_samples": 24, "faithfulness_steps": 4},
    )


def test_real_quick_build_then_nothing_to_do(tiny_gallery: GalleryConfig, monkeypatch):
    first = build_gallery(tiny_gallery)
    assert first.exit_code == 2
    statuses = {o.label: o.status for o in first.report.outcomes}
    assert statuses["dream corrupt.png [classic]"] == "failed"
    # per photo: a dream, an explanation and an accentuation; one layer and one class job
    assert [s for label, s in statuses.items() if "corrupt" not in label] == ["rendered"] * 11
    # Jobs cross process boundaries with --jobs N: they must pickle.
    ctx = WorkerContext(tiny_gallery.render_dir, "cpu", None, kinds.real_toolkit(), "x")
    assert pickle.loads(pickle.dumps((first.plan.jobs, ctx)))[0] == first.plan.jobs

    entries = read_manifest(tiny_gallery.render_dir)
    kinds_found = {e["kind"] for e in entries}
    assert kinds_found == {
        "photo",
        "dream",
        "explain",
        "accentuation",
        "layer-dream",
        "class-dream",
        "skipped",
    }
    methods = {e["extra"]["method"] for e in entries if e["kind"] == "explain"}
    assert {"gradcam", "gradcam++", "guided-backprop", "guided-gradcam", "lime-top5"} <= methods
    assert any(m.startswith("robustness-") for m in methods)
    skipped = [e for e in entries if e["kind"] == "skipped"]
    assert [e["extra"]["name"] for e in skipped] == ["corrupt.png"]
    dream = next(e for e in entries if e["kind"] == "dream")
    photo = next(e for e in entries if e["kind"] == "photo" and e["inputs"] == dream["inputs"])
    with (
        Image.open(tiny_gallery.render_dir / dream["output"]) as a,
        Image.open(tiny_gallery.render_dir / photo["output"]) as b,
    ):
        assert a.size == b.size
        change = np.abs(np.asarray(a, np.int16) - np.asarray(b, np.int16)).mean()
    assert change > 2.0  # the dream changed the photo
    site = tiny_gallery.site_dir
    pages = sorted(p.name for p in (site / "photos").glob("*.html"))
    assert len(pages) == 3 and (site / "index.html").is_file()
    page = (site / "photos" / pages[0]).read_text(encoding="utf-8")
    assert "Accentuated: " in page and "Where the evidence is" in page
    assert "corrupt.png" in (site / "index.html").read_text(encoding="utf-8")

    # Nothing changed: no model is loaded, nothing rendered, the site is left alone.
    def no_model(*args, **kwargs):
        raise AssertionError("a no-change rebuild must not load a model")

    monkeypatch.setattr(kinds, "load", no_model)
    again = build_gallery(tiny_gallery)
    assert {o.status for o in again.report.outcomes} == {"reused", "failed"}
    assert not again.site_rebuilt
    assert again.seconds < 5
    # The key covers the whole recipe: another seed is another set of jobs.
    reseeded = build_gallery(tiny_gallery.replace(seed=1), dry_run=True)
    assert not any(reused for _, reused in reseeded.dry_run)
    assert canonical_json({"b": (1, 2), "a": Path("x")}) == '{"a":"x","b":[1,2]}'
