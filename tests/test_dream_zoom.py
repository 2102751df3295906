"""Infinite-zoom dreams: the centred zoom, continuity between frames, byte-identical files
for equal seeds, the animated WebP, the CLI batch and the animation on the site."""

from __future__ import annotations

import itertools
import json
import shutil
from pathlib import Path
from urllib.parse import unquote, urlsplit

import html5lib
import pytest
import torch
import torch.nn.functional as F
from click.testing import CliRunner
from PIL import Image, ImageSequence

from renderer.cli import main
from renderer.dream.engine import render
from renderer.dream.objectives import layer_objective, resolve_terms
from renderer.dream.presets import get_preset
from renderer.dream.zoom import ZoomSettings, dream_zoom, zoom_frames, zoom_in
from renderer.errors import RecipeError
from renderer.imageio import pil_to_tensor
from renderer.photos import prepare_photo
from renderer.provenance import InputFile, ModelInfo, Record, publish, read_manifest
from renderer.site.builder import build_site

NS = "{http://www.w3.org/1999/xhtml}"
TINY = ZoomSettings(frames=3, zoom=1.3, steps_per_frame=2, fps=8)


def _corr(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a.flatten() - a.mean(), b.flatten() - b.mean()
    return float(a @ b / (a.norm() * b.norm()))


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"frames": 1}, "frames must be 2..600"),
        ({"frames": 601}, "frames must be 2..600"),
        ({"zoom": 1.0}, r"zoom must be in \(1, 2\]"),
        ({"zoom": 2.5}, r"zoom must be in \(1, 2\]"),
        ({"steps_per_frame": 0}, "steps-per-frame must be 1..100"),
        ({"fps": 61}, "fps must be 1..60"),
        ({"fps": 12.5}, "fps must be a whole number"),
    ],
)
def test_settings_are_checked(values, message) -> None:
    with pytest.raises(RecipeError, match=message):
        ZoomSettings(**values)
    assert ZoomSettings().duration_ms == 83 and ZoomSettings(fps=8).duration_ms == 125


def test_zoom_in_is_the_centre_crop_scaled_up() -> None:
    torch.manual_seed(1)
    x = torch.rand(1, 3, 16, 16)
    zoomed = zoom_in(x, 2.0)
    # Away from its edges it equals the exact centre 8 x 8 crop, bicubically doubled.
    crop = F.interpolate(x[..., 4:12, 4:12], size=(16, 16), mode="bicubic", align_corners=False)
    torch.testing.assert_close(zoomed[..., 4:12, 4:12], crop.clamp(0, 1)[..., 4:12, 4:12])
    # Centred: zooming commutes with mirroring, also for a factor that is no whole crop.
    for dims in ((-1,), (-2,)):
        torch.testing.assert_close(zoom_in(x.flip(dims), 1.37), zoom_in(x, 1.37).flip(dims))


@pytest.fixture(scope="module")
def cat(photo_dir: Path):
    return prepare_photo(photo_dir / "chelsea.jpg", 80)


@pytest.mark.slow
def test_frames_grow_out_of_the_zoomed_previous_frame(lite0, cat) -> None:
    recipe = get_preset("classic").recipe.replace(size=80)
    objective = layer_objective(resolve_terms(lite0, recipe.terms))
    photo = pil_to_tensor(cat.image)
    frames = zoom_frames(lite0, objective, recipe, TINY, seed=4, photo=photo)
    assert len(frames) == 3 and all(f.shape == photo.shape for f in frames)
    # The first frame is the photo's dream, as `renderer dream` makes it.
    assert torch.equal(frames[0], render(lite0, objective, recipe, seed=4, photo=photo).images)
    for before, after in itertools.pairwise(frames):
        zoomed = _corr(zoom_in(before, TINY.zoom), after)
        # Measured: 0.985-0.995 through the zoom; 0.62-0.74 without it; ~0 for noise.
        assert zoomed > 0.95
        assert _corr(before, after) < zoomed - 0.15
        assert abs(_corr(torch.rand_like(after), after)) < 0.1
        # ... and the steps in between dreamt something new.
        assert (zoom_in(before, TINY.zoom) - after).abs().mean() > 0.003


@pytest.mark.slow
def test_equal_seeds_give_identical_animated_webps(lite0, cat, tmp_path: Path) -> None:
    recipe = get_preset("classic").recipe.replace(size=64)
    small = prepare_photo(cat.path, 64)
    settings = ZoomSettings(frames=3, zoom=1.1, steps_per_frame=1, fps=8)
    files = []
    for n, seed in enumerate((5, 5, 6)):
        out = tmp_path / str(n)
        records = dream_zoom(
            lite0, small, recipe, settings, out, preset="classic", seed=seed, command="renderer x"
        )
        assert [r.kind for r in records] == ["photo", "zoom"]
        files.append((out / records[1].output).read_bytes())
    assert files[0] == files[1] and files[0] != files[2]

    path = tmp_path / "0" / records[1].output
    assert path.name == "zoom-classic.webp"
    with Image.open(path) as anim:
        assert anim.format == "WEBP" and anim.is_animated and anim.n_frames == 3
        assert anim.info["loop"] == 0 and anim.size == small.image.size
        durations = []
        for frame in ImageSequence.Iterator(anim):
            frame.load()  # Pillow reads a frame's duration when it decodes it
            durations.append(frame.info["duration"])
        assert durations == [125, 125, 125]
        assert not {"exif", "xmp", "icc_profile"} & set(anim.info)
    record = records[1]
    assert record.params["frames"] == 3 and record.params["zoom"] == 1.1
    assert record.params["steps"] == recipe.steps and record.params["fps"] == 8
    assert record.extra["frame_count"] == 3 and record.extra["duration_ms"] == 125
    assert record.inputs == (small.input,) and record.seed == 6


@pytest.fixture(scope="module")
def zoom_render(lite0, photo_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("zoom")
    broken = root / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    args = ["--size", "64", "--frames", "3", "--steps-per-frame", "1", "--seed", "2"]
    photo = str(photo_dir / "chelsea.jpg")
    result = CliRunner().invoke(
        main,
        [
            "--quiet",
            "zoom",
            photo,
            str(broken),
            "-o",
            str(root / "render"),
            *args,
            "--device",
            "cpu",
        ],
        catch_exceptions=False,
    )
    return root, result


@pytest.mark.slow
def test_cli_writes_one_animation_and_reports_the_bad_photo(zoom_render) -> None:
    root, result = zoom_render
    assert result.exit_code == 2, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "broken.jpg" in errors[0]
    assert len(list((root / "render").glob("*/zoom-*.webp"))) == 1
    entries = read_manifest(root / "render")
    assert sorted(e["kind"] for e in entries) == ["photo", "zoom"]
    zoom = next(e for e in entries if e["kind"] == "zoom")
    assert zoom["command"].startswith("renderer zoom --frames 3 --steps-per-frame 1 --size 64")
    assert zoom["command"].endswith("chelsea.jpg") and "broken" not in zoom["command"]
    assert len(zoom["inputs"][0]["sha256"]) == 64 and zoom["seed"] == 2
    sidecar = json.loads((root / "render" / zoom["output"]).with_suffix(".json").read_text())
    assert sidecar["output"] == zoom["output"]


def _urls(doc) -> list[str]:
    urls = [el.get(a) for el in doc.iter() for a in ("href", "src", "data-lightbox") if el.get(a)]
    for el in doc.iter():
        urls += [part.strip().split(" ")[0] for part in (el.get("srcset") or "").split(",")]
    return [u for u in urls if u]


def _add_unknown_kinds(render: Path) -> None:
    """A kind this version has never heard of, with a picture, and one without."""
    zoom = next(e for e in read_manifest(render) if e["kind"] == "zoom")
    source = InputFile(**zoom["inputs"][0])
    key = zoom["output"].split("/")[0]
    Image.new("RGB", (64, 48), "teal").save(render / key / "hologram.png")
    (render / key / "scene.glb").write_bytes(b"glTF\x02\x00\x00\x00 a 3-d model")
    model = ModelInfo(**zoom["model"])
    publish(
        render,
        [
            Record("hologram", f"{key}/hologram.png", "renderer holo", model, (source,)),
            Record("scene-3d", f"{key}/scene.glb", "renderer scene", model, (source,)),
        ],
    )


@pytest.mark.slow
def test_the_site_plays_the_animation_on_the_photo_page(zoom_render, tmp_path: Path) -> None:
    root, _ = zoom_render
    render = tmp_path / "render"
    shutil.copytree(root / "render", render)
    _add_unknown_kinds(render)
    site = tmp_path / "site"
    report = build_site(render, site)
    assert len(report.warnings) == 1 and "scene.glb" in report.warnings[0]

    pages = sorted(site.rglob("*.html"))
    parser = html5lib.HTMLParser(strict=True, namespaceHTMLElements=True)
    docs = {page: parser.parse(page.read_text(encoding="utf-8")) for page in pages}
    for page, doc in docs.items():
        for url in _urls(doc):
            parts = urlsplit(url)
            if parts.scheme == "data" or not parts.path:
                continue
            assert not parts.scheme, f"{page.name}: absolute {url}"
            assert (page.parent / unquote(parts.path)).resolve().is_file(), f"{page}: {url}"

    page = next((site / "photos").glob("chelsea-*.html"))
    figure = next(
        f for f in docs[page].iter(f"{NS}figure") if "fig-animation" in (f.get("class") or "")
    )
    assert figure.get("id") == "zoom-classic"
    # It waits to be asked: no <source> loads it with the page, a play link names it.
    assert not list(figure.iter(f"{NS}source"))
    link = next(a for a in figure.iter(f"{NS}a") if a.get("data-animation"))
    animation = page.parent / unquote(link.get("data-animation"))
    assert link.get("href") == link.get("data-animation")
    poster = next(figure.iter(f"{NS}img"))
    assert poster.get("alt").startswith("Infinite-zoom animation into the DeepDream of chelsea")
    assert int(poster.get("width")) == 64 and int(poster.get("height")) > 0
    with Image.open(animation) as anim:
        assert anim.is_animated and anim.n_frames == 3 and anim.info["loop"] == 0
        assert (poster.get("width"), poster.get("height")) == tuple(map(str, anim.size))
    # the published animation is the rendered file itself, not a re-encoding
    rendered = next(render.glob("chelsea-*/zoom-classic.webp")).read_bytes()
    assert animation.read_bytes() == rendered
    text = page.read_text(encoding="utf-8")
    assert "1 zoom animation" in text and "Play the animation" in text
    assert 'id="hologram-hologram"' in text  # an unknown kind with a picture lands in "More"


def test_the_gallery_zooms_only_the_photos_it_lists(tmp_path: Path) -> None:
    from renderer.errors import UnknownNameError
    from renderer.gallery import GalleryConfig
    from renderer.gallery.kinds import KINDS
    from renderer.gallery.plan import PhotoSource, plan_jobs

    photos = [PhotoSource(tmp_path / n, n[0] * 64) for n in ("chelsea.jpg", "coffee.jpg")]
    weights = {"efficientnet_lite0": "9" * 64}
    # One size for both: by default your photos dream at "auto", the sample gallery at 512.
    base = GalleryConfig(
        photos=tmp_path, render_dir=tmp_path / "r", site_dir=tmp_path / "s", explain=False, size=512
    )
    plain = plan_jobs(base, photos, KINDS, weights)
    zoomed = plan_jobs(base.replace(zoom_photos=("chelsea.jpg",)), photos, KINDS, weights)
    assert "zoom" not in {job.kind for job in plain.jobs}  # off by default for your photos
    # the sample gallery (no photos folder) zooms into chelsea.jpg unless told otherwise
    alone = {"masks": (), "atlas_photos": ()}  # the sample gallery's masked dreams and atlas off
    sample = plan_jobs(base.replace(photos=None, **alone), photos, KINDS, weights)
    assert sample.keys == zoomed.keys
    off = plan_jobs(base.replace(photos=None, zoom_photos=(), **alone), photos, KINDS, weights)
    assert off.keys == plain.keys
    extra = [job for job in zoomed.jobs if job.key not in plain.keys]
    assert [(job.kind, job.photo.name) for job in extra] == [("zoom", "chelsea.jpg")]
    assert plain.keys < zoomed.keys  # the other jobs keep their keys: nothing re-renders
    assert extra[0].payload.settings.frames == 24 and extra[0].payload.preset == "classic"
    with pytest.raises(UnknownNameError, match=r"closest: chelsea\.jpg"):
        plan_jobs(base.replace(zoom_photos=("chelsey.jpg",)), photos, KINDS, weights)
    with pytest.raises(RecipeError, match=r"\[zoom\] frames must be a whole number 2\.\.600"):
        base.replace(zoom_frames=1)
