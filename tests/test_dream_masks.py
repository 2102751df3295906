"""Masked dreams and the layer atlas: exact pixels at the mask's ends, the map a subject
mask comes from, bad input as one line before any work, and the atlas's order and page."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from renderer.cli import main
from renderer.dream import atlas as atlas_module
from renderer.dream.engine import masked_step, render
from renderer.dream.mask import build_mask, check_mask, feather, fit, threshold
from renderer.dream.objectives import layer_objective, resolve_terms
from renderer.dream.recipe import DreamRecipe
from renderer.errors import BadInputError, RecipeError, UnknownNameError
from renderer.explain.cam import class_activation_map
from renderer.imageio import pil_to_tensor, tensor_to_pil
from renderer.models import get_spec, list_layers
from renderer.naming import mask_sidecar
from renderer.photos import prepare_photo

TINY = DreamRecipe(layers=("blocks.3",), octaves=2, steps=3, lr=0.05, size=96)


def _dream(model, recipe, photo, mask=None):
    objective = layer_objective(resolve_terms(model, recipe.terms))
    return render(model, objective, recipe, seed=1, photo=photo, measure=False, mask=mask).images


@pytest.fixture(scope="module")
def cat(photo_dir):
    return prepare_photo(photo_dir / "chelsea.jpg", TINY.size)


# ---------------------------------------------------------------- the mask's two ends


@pytest.mark.slow
def test_a_mask_of_zeros_gives_back_the_photo_and_of_ones_the_plain_dream(lite0, cat) -> None:
    photo = pil_to_tensor(cat.image)
    h, w = photo.shape[-2:]
    plain = _dream(lite0, TINY, photo)
    assert (plain - photo).abs().mean() > 0.02  # the plain dream did change the photo
    zeros = _dream(lite0, TINY, photo, torch.zeros(1, 1, h, w))
    assert tensor_to_pil(zeros).tobytes() == cat.image.tobytes()
    ones = _dream(lite0, TINY, photo, torch.ones(1, 1, h, w))
    assert torch.equal(ones, plain)


@pytest.mark.slow
def test_a_half_mask_leaves_the_far_side_exactly_the_photo(lite0, cat) -> None:
    photo = pil_to_tensor(cat.image)
    h, w = photo.shape[-2:]
    hard = torch.zeros(1, 1, h, w)
    hard[..., : w // 2] = 1.0
    soft = feather(hard, 8.0)  # sigma 2 px: its kernel reaches 6 px
    dream = _dream(lite0, TINY, photo, soft)
    right = slice(w // 2 + 7, None)
    assert torch.equal(dream[..., right], photo[..., right])
    left = (dream - photo)[..., : w // 2 - 7].abs().mean()
    assert left > 0.02


def test_feather_is_a_soft_edge_of_the_asked_width() -> None:
    hard = torch.zeros(1, 1, 64, 64)
    hard[..., :32] = 1.0
    soft = feather(hard, 16.0)[0, 0, 0]
    ramp = ((soft > 0.02) & (soft < 0.98)).sum().item()
    assert 14 <= ramp <= 18  # the 2-98% ramp spans the feather, 16 px
    assert soft[0] == 1.0 and soft[-1] == 0.0
    assert torch.equal(feather(hard, 0.0), hard)


def test_a_masked_step_is_raised_to_a_plain_steps_size_inside_its_mask() -> None:
    def step(*values):
        return torch.tensor(values).view(1, 1, 1, -1)

    # |step| averages 2 over the image and 1 inside the mask: twice as large there
    assert torch.equal(masked_step(step(1.0, -1, 3, 3), step(1.0, 1, 0, 0)), step(2.0, -2, 0, 0))
    # larger inside than outside: never lowered
    assert torch.equal(masked_step(step(1.0, 1, 3, -3), step(0.0, 0, 1, 1)), step(0.0, 0, 3, -3))
    # a quiet region is raised at most 3 times
    got = masked_step(step(0.1, 0.1, 10, 10), step(1.0, 1, 0, 0))
    assert torch.allclose(got, step(0.3, 0.3, 0, 0))
    ones = step(1.0, 2, 3, 4)
    assert masked_step(ones, torch.ones_like(ones)) is ones
    assert torch.equal(
        masked_step(step(1.0, 2, 3, 4), torch.zeros_like(ones)), torch.zeros_like(ones)
    )


# ---------------------------------------------------------------- keys and recipe


def test_mask_fields_key_a_recipe_only_once_set() -> None:
    plain = DreamRecipe().to_params()
    assert not {k for k in plain if k.startswith("mask")}
    masked = DreamRecipe(mask="background", mask_feather=24.0).to_params()
    assert masked["mask"] == "background" and masked["mask_feather"] == 24.0
    with pytest.raises(RecipeError, match="mask-feather must be in"):
        DreamRecipe(mask="subject", mask_feather=-1.0)
    with pytest.raises(RecipeError, match="mask_invert must be true or false"):
        DreamRecipe.from_mapping({"mask_invert": "yes"})
    with pytest.raises(RecipeError, match="pixel photo dreams"):
        DreamRecipe(mask="subject", param="fft")


# ---------------------------------------------------------------- files and sidecars


def test_check_mask_names_what_is_wrong(tmp_path) -> None:
    assert check_mask("background") == "background"
    with pytest.raises(UnknownNameError, match="closest: subject"):
        check_mask("subjct")
    with pytest.raises(BadInputError, match="mask file not found"):
        check_mask(str(tmp_path / "missing.png"))
    text = tmp_path / "notes.png"
    text.write_text("not a picture")
    with pytest.raises(BadInputError, match=r"notes\.png: not an image"):
        check_mask(str(text))
    good = tmp_path / "m.png"
    Image.new("L", (8, 8), 255).save(good)
    assert check_mask(str(good)) == str(good)


def test_a_mask_file_of_another_size_is_resized(lite0, cat, tmp_path) -> None:
    picture = Image.new("L", (40, 10), 0)
    picture.paste(255, (0, 0, 20, 10))  # white on the left half
    path = tmp_path / "left.png"
    picture.save(path)
    h, w = cat.image.height, cat.image.width
    mask = build_mask(lite0, cat.path, (h, w), TINY.replace(mask=str(path), mask_feather=0.0))
    assert mask.weights.shape == (1, 1, h, w)
    assert mask.weights[0, 0, :, : w // 2 - 2].min() == 1.0
    assert mask.weights[0, 0, :, w // 2 + 2 :].max() == 0.0
    assert mask.source["map"] == "file" and mask.inputs[0].path == str(path)
    assert mask_sidecar(cat.path).name == "chelsea.mask.png"


@pytest.mark.slow
def test_subject_with_a_target_uses_that_class_map(lite0, photo_dir, cat) -> None:
    h, w = cat.image.height, cat.image.width
    top = build_mask(lite0, cat.path, (h, w), TINY.replace(mask="subject"))
    retriever = build_mask(
        lite0, cat.path, (h, w), TINY.replace(mask="subject", mask_class=207, mask_feather=0.0)
    )
    assert retriever.source["class_index"] == 207
    assert top.source["class_index"] != 207
    # the map of class 207 itself, on the photo at the explanation size
    small = pil_to_tensor(prepare_photo(photo_dir / "chelsea.jpg", 256).image)
    cam = class_activation_map(lite0.net, lite0.normalize(small), 207, lite0.spec.default_layer)
    expected = threshold(fit(cam.maps[:1, None], (h, w)), 0.4)
    assert torch.equal(retriever.hard, expected)
    assert not torch.equal(top.hard, retriever.hard)
    background = build_mask(lite0, cat.path, (h, w), TINY.replace(mask="background"))
    assert torch.equal(background.hard, 1.0 - top.hard)


# ---------------------------------------------------------------- the CLI


def _one_line_error(args, tmp_path) -> str:
    out = tmp_path / "out"
    result = CliRunner().invoke(main, [*args, "-o", str(out)])
    assert result.exit_code != 0
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:"), lines
    assert not out.exists()  # nothing was done
    return lines[0]


def test_mask_mistakes_are_one_line_before_any_work(photo_dir, tmp_path) -> None:
    cat = str(photo_dir / "chelsea.jpg")
    assert "closest: subject" in _one_line_error(["dream", cat, "--mask", "subjct"], tmp_path)
    missing = str(tmp_path / "nowhere.png")
    assert "nowhere.png: mask file not found" in _one_line_error(
        ["dream", cat, "--mask", missing], tmp_path
    )
    junk = tmp_path / "junk.png"
    junk.write_bytes(b"\x00" * 100)
    assert "junk.png: not an image" in _one_line_error(
        ["dream", cat, "--mask", str(junk)], tmp_path
    )
    assert "--mask-feather must be >= 0" in _one_line_error(
        ["dream", cat, "--mask", "subject", "--mask-feather", "-3"], tmp_path
    )


@pytest.mark.slow
def test_the_cli_writes_a_masked_dream_its_mask_and_its_source(lite0, photo_dir, tmp_path) -> None:
    out = tmp_path / "out"
    args = ["--quiet", "dream", str(photo_dir / "chelsea.jpg"), "-o", str(out), "--size", "96"]
    args += ["--octaves", "2", "--steps", "2", "--mask", "background", "--target", "tabby"]
    result = CliRunner().invoke(main, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    entries = json.loads((out / "manifest.json").read_text())["entries"]
    dream = next(e for e in entries if e["kind"] == "dream")
    assert dream["output"].endswith("/dream-classic-background.png")
    source = dream["extra"]["mask"]
    assert source["mode"] == "background" and source["class_index"] == 281
    assert source["map"] == "gradcam" and source["threshold"] == 0.4
    assert dream["params"]["mask"] == "background" and dream["params"]["mask_class"] == 281
    assert "around what Grad-CAM sees" in dream["extra"]["caption"]
    assert Image.open(out / source["image"]).mode == "L"


# ---------------------------------------------------------------- the atlas


def _layers_json(model: str) -> list[str]:
    result = CliRunner().invoke(main, ["layers", "--model", model, "--json"])
    return [row["name"] for row in json.loads(result.output)]


def test_atlas_layers_are_the_stages_in_the_order_of_renderer_layers() -> None:
    lite = atlas_module.model_atlas_layers("efficientnet_lite0")
    assert [a.name for a in lite] == [f"blocks.{i}" for i in range(7)]
    listed = _layers_json("efficientnet_lite0")
    assert [a.name for a in lite] == [n for n in listed if n in {a.name for a in lite}]
    vgg = atlas_module.model_atlas_layers("vgg16")
    assert [a.alias for a in vgg] == [f"conv{i}" for i in range(1, 14)]
    assert [a.name for a in vgg] == [n for n in _layers_json("vgg16") if n in {a.name for a in vgg}]
    assert [a.depth for a in vgg] == list(range(13))


def test_an_atlas_of_a_model_without_dreamable_layers_is_one_line(
    photo_dir, tmp_path, monkeypatch
) -> None:
    spec = get_spec("efficientnet_lite0")
    monkeypatch.setattr(atlas_module, "STAGES", re.compile("nothing"))
    with pytest.raises(RecipeError, match="no dreamable layers"):
        atlas_module.atlas_layers(spec, list_layers(spec.name))
    line = _one_line_error(["atlas", str(photo_dir / "chelsea.jpg")], tmp_path)
    assert "efficientnet_lite0 has no dreamable layers" in line


class _Tiles(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []
        self.codes: list[str] = []
        self.names: list[str] = []
        self._in: str | None = None

    def handle_starttag(self, tag, attrs) -> None:
        if tag == "a":
            self.links.append(dict(attrs)["href"])
        self._in = tag

    def handle_data(self, data) -> None:
        if self._in == "code":
            self.codes.append(data)
        if self._in == "b":
            self.names.append(data)

    def handle_endtag(self, tag) -> None:
        self._in = None


@pytest.mark.slow
def test_the_atlas_page_holds_one_linked_tile_per_layer_shallow_to_deep(
    lite0, photo_dir, tmp_path
) -> None:
    small = tmp_path / "small.png"
    Image.open(photo_dir / "chelsea.jpg").resize((72, 48)).save(small)
    out = tmp_path / "atlas"
    result = CliRunner().invoke(
        main, ["--quiet", "atlas", str(small), "-o", str(out)], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    page = _Tiles()
    page.feed((out / "atlas.html").read_text())
    assert len(page.links) == 7
    assert all((out / link).is_file() for link in page.links)
    assert [n.split(". ", 1)[1] for n in page.names] == [f"blocks.{i}" for i in range(7)]
    assert page.codes[3] == 'presets = ["classic@blocks.3"]  # in [dreams]'
    tiles = json.loads((out / "manifest.json").read_text())["entries"]
    assert sorted(e["extra"]["depth"] for e in tiles) == list(range(7))
    assert {(e["params"]["steps"], e["params"]["lr"]) for e in tiles} == {(10, 0.025)}


@pytest.mark.slow
def test_a_white_mask_file_dreams_exactly_as_no_mask(lite0, cat, tmp_path) -> None:
    white = tmp_path / "white.png"
    Image.new("L", (30, 20), 255).save(white)
    h, w = cat.image.height, cat.image.width
    mask = build_mask(lite0, cat.path, (h, w), TINY.replace(mask=str(white)))
    photo = pil_to_tensor(cat.image)
    assert torch.equal(_dream(lite0, TINY, photo, mask.weights), _dream(lite0, TINY, photo))


# ---------------------------------------------------------------- the gallery


def _plan(tmp_path, config, names=("chelsea.jpg", "coffee.jpg")):
    from renderer.gallery.kinds import KINDS
    from renderer.gallery.plan import plan_jobs, scan_photos

    photos, problems = scan_photos(tmp_path / "photos")
    assert sorted(p.name for p in photos) == sorted(names)  # a sidecar is never a photo
    return plan_jobs(config, photos, KINDS, {"efficientnet_lite0": "9" * 64}, problems)


@pytest.fixture
def gallery_photos(photo_dir, tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    for name in ("chelsea.jpg", "coffee.jpg"):
        (folder / name).write_bytes((photo_dir / name).read_bytes())
    return folder


def test_the_gallery_plans_masked_dreams_and_the_atlas_without_rekeying(
    gallery_photos, tmp_path
) -> None:
    from renderer.gallery import GalleryConfig

    base = GalleryConfig(
        photos=gallery_photos, render_dir=tmp_path / "r", site_dir=tmp_path / "s", size=512
    )
    plain = _plan(tmp_path, base)
    assert not {"atlas-tile"} & {j.kind for j in plain.jobs}
    assert not any(j.kind == "dream" and j.payload.recipe.mask for j in plain.jobs)
    config = base.replace(
        masks=("chelsea.jpg:background", "subject"), atlas_photos=("chelsea.jpg",)
    )
    both = _plan(tmp_path, config)
    assert plain.keys < both.keys  # nothing that was there re-renders
    extra = [j for j in both.jobs if j.key not in plain.keys]
    masked = sorted((j.photo.name, j.payload.recipe.mask) for j in extra if j.kind == "dream")
    assert masked == [
        ("chelsea.jpg", "background"),
        ("chelsea.jpg", "subject"),
        ("coffee.jpg", "subject"),
    ]
    # a mask's map is made from the photo the explanation sees, so it is the panel's map
    explain = next(j for j in both.jobs if j.kind == "explain")
    assert {j.payload.map_size for j in extra if j.kind == "dream"} == {explain.payload.size}
    # each mode mask may read its photo's explanation instead of computing the map again
    keys = {j.photo.name: j.key for j in both.jobs if j.kind == "explain"}
    assert all(j.reuse == keys[j.photo.name] for j in extra if j.kind == "dream")
    tiles = [j for j in extra if j.kind == "atlas-tile"]
    assert [j.payload.layer.name for j in tiles] == [f"blocks.{i}" for i in range(7)]
    assert {j.payload.recipe.size for j in tiles} == {256}
    # the sample gallery's default: the cat's background and subject dreams, and its atlas
    sample = GalleryConfig(render_dir=tmp_path / "r", site_dir=tmp_path / "s")
    assert sample.mask_list == (("chelsea.jpg", "background"), ("chelsea.jpg", "subject"))
    assert sample.atlases == ("chelsea.jpg",)
    with pytest.raises(UnknownNameError, match="closest: subject"):
        base.replace(masks=("subjekt",))
    # the line an atlas tile shows dreams every photo at that tile's layer
    tile = _plan(tmp_path, base.replace(presets=("classic@blocks.3",))).jobs
    assert {j.payload.recipe.layers for j in tile if j.kind == "dream"} == {("blocks.3",)}
    with pytest.raises(UnknownNameError, match=r"closest: blocks\.3"):
        _plan(tmp_path, base.replace(presets=("classic@blocks.33",)))


def test_a_sidecar_mask_is_used_resized_and_a_bad_one_is_named(gallery_photos, tmp_path) -> None:
    from renderer.gallery import GalleryConfig

    config = GalleryConfig(
        photos=gallery_photos, render_dir=tmp_path / "r", site_dir=tmp_path / "s", size=512
    )
    Image.new("L", (17, 9), 255).save(gallery_photos / "chelsea.mask.png")  # another size
    (gallery_photos / "coffee.mask.png").write_text("not a picture")
    plan = _plan(tmp_path, config)
    masked = [j for j in plan.jobs if j.kind == "dream" and j.payload.recipe.mask]
    assert [(j.photo.name, Path(j.payload.recipe.mask).name) for j in masked] == [
        ("chelsea.jpg", "chelsea.mask.png")
    ]
    assert masked[0].params["recipe"]["mask"] == "chelsea.mask.png"  # not where it lies
    assert len(masked[0].params["recipe"]["pictures"]["mask"]) == 64  # but its bytes
    assert [(p.path.name, p.reason) for p in plan.problems] == [
        (
            "coffee.mask.png",
            "not an image, or a format that cannot be read; coffee.jpg dreams unmasked",
        )
    ]
    coffee = [j for j in plan.jobs if j.kind == "dream" and j.photo.name == "coffee.jpg"]
    assert len(coffee) == len(config.presets)  # its unmasked dreams all go on
    # a cluster job carries the sidecar's bytes, not the driver's path to it
    from renderer.gallery.kinds import relocate

    moved = relocate(masked[0], lambda path: "inputs/" + Path(path).name)
    assert moved.payload.recipe.mask == "inputs/chelsea.mask.png"
    subject = [j for j in _plan(tmp_path, config.replace(masks=("subject",))).jobs]
    plain = next(j for j in subject if j.kind == "dream" and j.payload.recipe.mask == "subject")
    assert relocate(plain, lambda path: "elsewhere").payload.recipe.mask == "subject"


# ---------------------------------------------------------------- the site


class _Page(HTMLParser):
    """The figures of a page in order: (section id, figure id, links, caption text)."""

    def __init__(self) -> None:
        super().__init__()
        self.figures: list[dict] = []
        self.section = ""
        self._caption = False

    def handle_starttag(self, tag, attrs) -> None:
        a = dict(attrs)
        if tag == "section":
            self.section = a.get("id") or a.get("aria-label") or ""
        if tag == "figure":
            self.figures.append({"section": self.section, "id": a.get("id"), "links": []})
        if tag == "a" and self.figures and a.get("href"):
            self.figures[-1]["links"].append(a["href"])
        if tag == "figcaption":
            self._caption = True
            self.figures[-1].setdefault("caption", "")

    def handle_endtag(self, tag) -> None:
        if tag == "figcaption":
            self._caption = False

    def handle_data(self, data) -> None:
        if self._caption and self.figures:
            self.figures[-1]["caption"] += data


@pytest.mark.slow
def test_the_site_shows_a_masked_dream_beside_its_gradcam_and_the_atlas_on_the_layers_page(
    lite0, photo_dir, tmp_path
) -> None:
    photo = tmp_path / "cat.png"
    Image.open(photo_dir / "chelsea.jpg").resize((96, 64)).save(photo)
    renders, site = tmp_path / "renders", tmp_path / "site"
    quick = ["--octaves", "2", "--steps", "2"]
    for args in (
        ["explain", str(photo), "-o", str(renders), "--methods", "gradcam", "--size", "96"],
        ["dream", str(photo), "-o", str(renders), "--mask", "background", *quick],
        ["atlas", str(photo), "-o", str(renders)],
        ["site", "build", "--from", str(renders), "--out", str(site)],
    ):
        result = CliRunner().invoke(main, ["--quiet", *args], catch_exceptions=False)
        assert result.exit_code == 0, result.output
    page = _Page()
    page.feed(next(site.rglob("cat-*.html")).read_text(encoding="utf-8"))
    looks = [f for f in page.figures if f["section"] == "looks"]
    assert [f["id"] for f in looks][:2] == ["explain-gradcam", "dream-classic-background"]
    assert "dreamt around what Grad-CAM sees" in looks[1]["caption"]
    layers = _Page()
    layers.feed((site / "layers.html").read_text(encoding="utf-8"))
    tiles = [f for f in layers.figures if "cat.png" in f["section"]]
    assert len(tiles) == 7
    for depth, tile in enumerate(tiles):
        assert f"\nblocks.{depth} · output " in tile["caption"]
        assert f'presets = ["classic@blocks.{depth}"]' in tile["caption"]
        assert all((site / link).is_file() for link in tile["links"] if not link.startswith("#"))
        assert any(link.endswith(".png") for link in tile["links"])


@pytest.mark.slow
def test_a_mask_reads_the_map_a_raw_explanation_kept(lite0, photo_dir, tmp_path) -> None:
    import numpy as np

    out = tmp_path / "out"
    cat = str(photo_dir / "chelsea.jpg")
    args = ["explain", cat, "-o", str(out), "--methods", "gradcam", "--raw", "--size", "256"]
    result = CliRunner().invoke(main, ["--quiet", *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    raw = next(out.glob("chelsea-*/explain-gradcam.npy"))
    h, w = np.load(raw).shape
    # computed or read, a subject mask's map is the very map of the explanation's panel
    from renderer.dream.mask import subject_map

    small = pil_to_tensor(prepare_photo(cat, 256).image)
    computed, _source = subject_map(lite0, small, -1)
    assert torch.equal(computed[0, 0], torch.from_numpy(np.load(raw)))
    # the kept map, replaced by one of our own: the mask must follow it, not a new Grad-CAM
    ours = np.zeros((h, w), np.float32)
    ours[:, : w // 2] = 1.0
    np.save(raw, ours)
    photo = prepare_photo(cat, 96)
    size = (photo.image.height, photo.image.width)
    recipe = TINY.replace(mask="subject", mask_feather=0.0)
    mask = build_mask(lite0, photo.path, size, recipe, explained=(out,), sha256=photo.sha256)
    assert mask.source["reused"].endswith("/explain-gradcam.png")
    assert torch.equal(mask.hard, threshold(fit(torch.from_numpy(ours)[None, None], size), 0.4))
    # another map size, another class or no folder: computed as before
    for kwargs in ({"map_size": 128}, {"explained": ()}):
        fresh = build_mask(
            lite0, photo.path, size, recipe, sha256=photo.sha256, **{"explained": (out,), **kwargs}
        )
        assert "reused" not in fresh.source and not torch.equal(fresh.hard, mask.hard)
    other = recipe.replace(mask_class=207)
    fresh = build_mask(lite0, photo.path, size, other, explained=(out,), sha256=photo.sha256)
    assert "reused" not in fresh.source and fresh.source["class_index"] == 207
