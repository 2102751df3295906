"""A job kind is one module: the toy kind below, registered here and nowhere else, is
planned, rendered, cached and shown on its photo's page by the real pipeline (plan ->
run_plan -> build_site). The built-in kinds it runs beside are the pipeline tests' fakes."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import html5lib
import numpy as np
import pytest
from PIL import Image
from test_gallery_pipeline import fake_device, fake_kinds, fake_load, fake_weights, gallery_setup

from renderer.gallery import GalleryConfig, build_gallery
from renderer.gallery.build import plan_build
from renderer.gallery.estimate import known_jobs, pixel_steps
from renderer.gallery.jobkind import KINDS, JobKind, Planned
from renderer.gallery.kinds import real_toolkit
from renderer.gallery.plan import Spec
from renderer.gallery.run import Toolkit, first_look_first
from renderer.imageio import save_image_atomic
from renderer.photos import prepare_photo
from renderer.provenance import Record, publish
from renderer.site.model import Pending
from renderer.site.words import Description, Shown

TOY = "toy-stripes"
BANDS = 4
RUNS: list[str] = []  # the photos the toy runner rendered, in this process


# --------------------------------------------------------------------------- the toy kind


def toy_plan(config: GalleryConfig, model: str, names) -> object:
    spec = Spec({"bands": BANDS}, {"bands": BANDS})
    return lambda photo: Planned([(f"stripes {photo.name}", spec)])


def toy_run(job, model, out_dir: Path, command: str) -> list[Record]:
    """The photo with every other band of rows inverted: one small PNG."""
    RUNS.append(job.photo.name)
    photo = prepare_photo(job.photo.path, 48, 8)
    pixels = np.asarray(photo.image).copy()
    band = max(1, pixels.shape[0] // (2 * job.payload["bands"]))
    for top in range(0, pixels.shape[0], 2 * band):
        pixels[top : top + band] = 255 - pixels[top : top + band]
    output = f"{photo.key}/stripes.png"
    save_image_atomic(Image.fromarray(pixels), out_dir / output)
    records = [
        Record(
            kind=TOY,
            output=output,
            command=command,
            inputs=(photo.input,),
            params=dict(job.params),
            extra={"bands": job.payload["bands"]},
        )
    ]
    publish(out_dir, records)
    return records


def toy_caption(shown: Shown) -> Description:
    bands = shown.extra["bands"]
    return Description(
        f"stripes-{bands}",
        "",
        "Stripes",
        f"{shown.name} in {bands} inverted bands",
        f"{bands} bands",
    )


TOY_KIND = JobKind(
    TOY,
    "photo",
    toy_plan,
    toy_run,
    pending="the stripes",
    page_kinds=frozenset({TOY}),  # its figure alone gives its photo a page
    captions={TOY: toy_caption},
)


@pytest.fixture()
def toy():
    KINDS.register(TOY_KIND)
    RUNS.clear()
    try:
        yield TOY_KIND
    finally:
        KINDS.unregister(TOY)


def _toolkit() -> Toolkit:
    """Every registered kind (the toy among them), the built-in ones faked."""
    real = real_toolkit().with_kinds(*fake_kinds())
    return replace(real, load_model=fake_load, weights_sha256=fake_weights, device=fake_device)


def _config(tmp_path: Path) -> GalleryConfig:
    """Three photos (and a corrupt one), one preset, nothing else but the toy."""
    base = gallery_setup(tmp_path)
    return replace(base, presets=("gentle",), layers=(), classes=(), explain=False)


# --------------------------------------------------------------------------- tests


def test_a_registered_kind_is_planned_run_cached_and_shown(toy, tmp_path: Path):
    config = _config(tmp_path)
    toolkit = _toolkit()
    assert TOY in {kind.name for kind in toolkit.kinds}  # registered, so in the real toolkit
    plan = plan_build(config, toolkit)
    stripes = sorted(job.label for job in plan.jobs if job.kind == TOY)
    assert stripes == [f"stripes {n}" for n in ("a.png", "b.png", "broken.jpg", "c.png")]

    first = build_gallery(config, toolkit=toolkit)
    mine = {o.label: o.status for o in first.report.outcomes if o.kind == TOY}
    assert mine == {
        "stripes a.png": "rendered",
        "stripes b.png": "rendered",
        "stripes c.png": "rendered",
        "stripes broken.jpg": "failed",  # the corrupt photo fails this kind too, alone
    }
    # The dreams start first (first_look); once one finds broken.jpg corrupt, its other jobs
    # fail at once, unrun.
    assert sorted(RUNS) == ["a.png", "b.png", "c.png"]
    toy_job = next(job for job in plan.jobs if job.label == "stripes a.png")
    folder = config.render_dir / "jobs" / toy_job.key
    assert json.loads((folder / "done.json").read_text())["kind"] == TOY
    (png,) = folder.rglob("stripes.png")
    with Image.open(png) as img:
        striped = np.asarray(img.convert("RGB")).astype(int)
    photo = np.asarray(prepare_photo(config.photos / "a.png", 48, 8).image).astype(int)
    assert striped.shape == photo.shape and max(photo.shape[:2]) == 48
    band = photo.shape[0] // (2 * BANDS)
    assert np.array_equal(striped[:band], 255 - photo[:band])  # the first band inverted
    assert np.array_equal(striped[band : 2 * band], photo[band : 2 * band])  # the next kept

    RUNS.clear()
    again = build_gallery(config, toolkit=toolkit)
    assert {o.label: o.status for o in again.report.outcomes if o.kind == TOY} == {
        "stripes a.png": "reused",
        "stripes b.png": "reused",
        "stripes c.png": "reused",
        "stripes broken.jpg": "failed",
    }
    assert RUNS == []  # nothing rendered twice

    (page,) = (config.site_dir / "photos").glob("a-*.html")
    doc = html5lib.HTMLParser(strict=True, namespaceHTMLElements=False).parse(
        page.read_text(encoding="utf-8")
    )
    (more,) = [el for el in doc.iter("section") if el.get("id") == "more"]  # "other"
    figure = next(el for el in more.iter("figure") if el.get("id") == f"stripes-{BANDS}")
    assert figure.find(".//a[@class='fig-title']").text == "Stripes"
    assert figure.find(".//span[@class='fig-caption']").text == f"{BANDS} bands"
    img = figure.find(".//img")
    assert img.get("alt") == f"a.png in {BANDS} inverted bands"
    assert (page.parent / img.get("src")).resolve().is_file()


def test_a_registered_kind_alone_gives_its_photo_a_page(toy, tmp_path: Path):
    config = _config(tmp_path)
    toolkit = replace(_toolkit(), kinds=(TOY_KIND,))  # no dreams: no photo records at all
    result = build_gallery(config, toolkit=toolkit)
    assert {o.status for o in result.report.outcomes if o.photo.name != "broken.jpg"} == {
        "rendered"
    }
    pages = sorted(p.name.split("-")[0] for p in (config.site_dir / "photos").glob("*.html"))
    assert pages == ["a", "b", "c"]


def test_the_kind_says_what_is_pending_and_where_it_starts(toy):
    assert Pending(TOY, "stripes a.png").text == "the stripes"
    assert Pending("dream", "dream a.png [deep]").text == "the deep dream"
    assert Pending("class-dream", "class dreams (6 classes)").text == "the class dreams"
    assert Pending("unheard-of", "its own label").text == "its own label"
    # the layers and classes pages count their kinds' jobs still to come; an atlas tile is
    # a layer dream of a photo, listed on the layers page but counted with its photo
    pages = {name: KINDS.page_of_job(name) for name in ("layer-dream", "class-dream", TOY)}
    assert pages == {"layer-dream": "layers", "class-dream": "classes", TOY: ""}
    assert KINDS.page_of_job("atlas-tile") == "" and KINDS.pages()["layer-dream"] == "layers"
    kinds = (*real_toolkit().kinds,)
    jobs = [_job(TOY, "s1"), _job("layer-dream", "l1"), _job("dream", "d1"), _job("dream", "d2")]
    jobs += [_job("class-dream", "c1"), _job("accentuation", "a1"), _job("explain", "e1")]
    order = [job.key for job in first_look_first(jobs, kinds)]
    # a dream, the longest kind, the other dreams, the other long kinds, then the rest:
    # heavy ones (explanations) first, light ones filling the workers at the end
    assert order == ["d1", "c1", "d2", "l1", "e1", "s1", "a1"]


def test_each_kind_places_its_figures_on_the_photo_page():
    assert KINDS.section("dream", {"mask": ""}) == "dreams"
    assert KINDS.section("dream", {"mask": "lime"}) == "lime"  # beside the map it grew in
    assert KINDS.section("explain", {"method": "gradcam++"}) == "gradcam"
    assert KINDS.section("explain", {"method": "lime-top5"}) == "lime"
    assert KINDS.section("explain", {"method": "robustness-noise-0.1"}) == "robustness"
    assert KINDS.section("accentuation", {}) == "gradcam"
    assert KINDS.section("video-explain", {}) == "videos"
    assert KINDS.section("unheard-of", {}) == "other"


def test_a_kind_without_an_estimate_is_left_out_of_it(toy, tmp_path: Path):
    plan = plan_build(_config(tmp_path), _toolkit())
    toys = [job for job in plan.jobs if job.kind == TOY]
    assert toys and not known_jobs(toys)
    assert pixel_steps(toys[0], 32) == 0.0


def test_a_kind_is_registered_once_and_checked():
    with pytest.raises(ValueError, match="registered already"):
        KINDS.register(replace(KINDS["dream"]))
    with pytest.raises(ValueError, match="scope must be one of"):
        JobKind("odd", "album", toy_plan, toy_run)
    assert TOY not in KINDS  # the fixture left nothing behind


def _job(kind: str, key: str):
    from renderer.gallery.plan import Job

    return Job(kind, key, key, "m", {})
