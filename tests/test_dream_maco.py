"""MaCo: the fixed magnitude holds for any phase, crops are exact resizes of their boxes,
the template falls off like natural images, dreams climb and repeat byte for byte, and
bad recipes are one-line errors before any work."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from click.testing import CliRunner

from renderer.cli import main
from renderer.dream.crops import CropSpec, crop, halve, random_boxes, resample_boxes
from renderer.dream.maco import MacoParam
from renderer.dream.recipe import DreamRecipe
from renderer.dream.template import load_template, log_log_slope, read_template
from renderer.errors import RecipeError


@pytest.mark.parametrize(("h", "w"), [(64, 64), (48, 80), (63, 50), (256, 256)])
@pytest.mark.parametrize("template", ["average", "power-law"])
def test_the_pre_squash_image_has_the_template_magnitude_for_any_phase(h, w, template):
    generator = torch.Generator().manual_seed(h + w)
    param = MacoParam.random(load_template(template, h, w), 2, h, w, generator, "cpu")
    param.leaf = param.leaf * 7.0 + 3.0  # any phase, far from the start
    param.leaf.requires_grad_(True)
    spatial = param.spectrum_image()
    values = spatial.detach()
    magnitude = torch.fft.rfft2(spatial, norm="ortho").abs()
    assert float((magnitude.detach() - param.magnitude).abs().max()) < 1e-4
    # unit variance over the three channels, zero mean (the DC is the colour's)
    assert abs(float(values.std()) - 1.0) < 1e-2 and abs(float(values.mean())) < 1e-4
    weights = torch.randn(spatial.shape, generator=generator)
    (grad,) = torch.autograd.grad((spatial * weights).sum(), param.leaf)
    assert float(grad.abs().mean()) > 1e-3


def test_a_box_crop_is_the_region_cut_and_resized_by_hand() -> None:
    image = torch.rand(2, 3, 40, 50, generator=torch.Generator().manual_seed(1))
    boxes = torch.tensor([[1, 6.0, 4.0, 22.0, 20.0], [0, 30.0, 10.0, 46.0, 26.0]])
    same = crop(image, boxes, 16)  # 16 px boxes to 16 px: the pixels themselves
    assert torch.allclose(same[0], image[1, :, 4:20, 6:22], atol=1e-6)
    assert torch.allclose(same[1], image[0, :, 10:26, 30:46], atol=1e-6)
    half = crop(image, boxes, 8)  # to 8 px: each output pixel is the mean of 2 x 2
    by_hand = F.avg_pool2d(image[1:2, :, 4:20, 6:22], 2)[0]
    assert torch.allclose(half[0], by_hand, atol=1e-6)
    # 32 px to 8 px is read from the image halved twice: the means of 4 x 4 pixels
    big = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(2))
    quarter = crop(big, torch.tensor([[0, 8.0, 16.0, 40.0, 48.0]]), 8)
    assert torch.allclose(quarter[0], F.avg_pool2d(big[:, :, 16:48, 8:40], 4)[0], atol=1e-6)


def _roi_align_crop(images, boxes, size):
    """The crop as it was before the tap passes: torchvision's roi_align on avg_pool2d's
    pyramid (the reference the faster crop must equal)."""
    from torchvision.ops import roi_align

    side = boxes[:, 3] - boxes[:, 1]
    levels = torch.floor(torch.log2(side / size + 1e-6)).clamp(min=0).long()
    out = images.new_empty((len(boxes), images.shape[1], size, size))
    level_image = images
    for level in range(int(levels.max()) + 1):
        if level:
            level_image = F.avg_pool2d(level_image, 2, ceil_mode=True)
        chosen = (levels == level).nonzero()[:, 0]
        if len(chosen):
            scaled = boxes[chosen].clone()
            scaled[:, 1:] /= 2**level
            out[chosen] = roi_align(level_image, scaled, (size, size), 1.0, -1, aligned=True)
    return out


def test_the_tap_passes_equal_roi_align_and_its_gradient() -> None:
    """Random images, sizes and boxes (some reaching outside the image, where roi_align's
    edge rules apply), in float64: values and gradients agree to rounding."""
    from torchvision.ops import roi_align

    generator = torch.Generator().manual_seed(0)
    for trial in range(60):
        h, w = torch.randint(2, 70, (2,), generator=generator).tolist()
        size = int(torch.randint(1, 33, (1,), generator=generator))
        image = torch.rand(2, 3, h, w, generator=generator, dtype=torch.float64)
        spec = CropSpec(3, 0.05, 1.0, 0.3 if trial % 2 else 0.0, 0.0)
        boxes = random_boxes(spec, 2, h, w, generator).double()
        if trial % 3 == 0:
            boxes[:, 1:] += 4 * torch.randn(len(boxes), 4, generator=generator).double()
            boxes[:, 3] = torch.maximum(boxes[:, 3], boxes[:, 1] + 0.5)
            boxes[:, 4] = torch.maximum(boxes[:, 4], boxes[:, 2] + 0.5)
        ours, theirs = image.clone().requires_grad_(), image.clone().requires_grad_()
        mine = resample_boxes(ours, boxes, size)
        reference = roi_align(theirs, boxes, (size, size), 1.0, -1, aligned=True)
        weights = torch.rand(mine.shape, generator=generator, dtype=torch.float64)
        (mine * weights).sum().backward()
        (reference * weights).sum().backward()
        assert torch.allclose(mine, reference, atol=1e-12), (trial, h, w, size)
        assert torch.allclose(ours.grad, theirs.grad, atol=1e-12), (trial, h, w, size)


@pytest.mark.parametrize("shape", [(1, 3, 8, 8), (2, 3, 7, 9), (1, 3, 5, 4), (1, 1, 1, 3)])
def test_halving_is_avg_pool2d_with_ceil_mode(shape) -> None:
    x = torch.rand(shape, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    ours, theirs = x.clone().requires_grad_(), x.clone().requires_grad_()
    mine, reference = halve(ours), F.avg_pool2d(theirs, 2, ceil_mode=True)
    weights = torch.rand(mine.shape, dtype=torch.float64)
    (mine * weights).sum().backward()
    (reference * weights).sum().backward()
    assert torch.allclose(mine, reference, atol=1e-12)
    assert torch.allclose(ours.grad, theirs.grad, atol=1e-12)


def test_a_maco_step_gives_the_gradient_the_roi_align_step_gave(lite0) -> None:
    """One step of the class preset's crops on a 512 px picture through Lite0: the phase
    gradient with the tap crops is the one with roi_align's up to float32 rounding, which
    moves it about as much as nudging every crop pixel by 1e-7 does (0.16% and 0.22% of
    its norm here: a ReLU6 at its edge flips). A whole dream differs more: 120 steps of
    the ascent amplify such rounding into another picture of the same class."""
    import renderer.dream.maco as maco
    from renderer.dream.objectives import class_objective
    from renderer.dream.presets import get_preset

    recipe = get_preset("class").recipe

    def phase_gradient(crop_function):
        generator = torch.Generator().manual_seed(0)
        magnitude = load_template(recipe.template, 512, 512)
        param = MacoParam.random(magnitude, 1, 512, 512, generator, "cpu")
        param.leaf.requires_grad_(True)
        image = param.image()
        original = maco.crop
        maco.crop = crop_function
        try:
            grad, _ = maco.image_gradient(
                lite0, class_objective([254]), lite0.net, image, maco.crop_spec(recipe),
                recipe.crop_px, generator,
            )  # fmt: skip
        finally:
            maco.crop = original
        image.backward(-grad)
        return param.leaf.grad

    ours, theirs = phase_gradient(crop), phase_gradient(_roi_align_crop)
    nudged = phase_gradient(lambda *args: _roi_align_crop(*args) + 1e-7)
    err = float((ours - theirs).norm() / theirs.norm())
    noise = float((nudged - theirs).norm() / theirs.norm())
    assert err < 1e-2 and err < 5 * noise, (err, noise)  # here: 0.16% and 0.22%


def test_random_boxes_stay_inside_and_within_their_sizes() -> None:
    spec = CropSpec(count=50, low=0.3, high=0.5, spread=0.4, noise=0.0)
    boxes = random_boxes(spec, 3, 100, 200, torch.Generator().manual_seed(0))
    assert boxes.shape == (150, 5)
    side = boxes[:, 3] - boxes[:, 1]
    assert torch.allclose(side, boxes[:, 4] - boxes[:, 2])
    assert float(side.min()) >= 30 - 1e-4 and float(side.max()) <= 50 + 1e-4
    assert float(boxes[:, 1:3].min()) >= 0 and float(boxes[:, 3].max()) <= 200
    assert float(boxes[:, 4].max()) <= 100
    assert boxes[:3, 0].tolist() == [0, 1, 2]  # crop-major


def test_the_template_falls_off_like_natural_images() -> None:
    template = read_template()
    slope = log_log_slope(template)
    assert -1.5 <= slope <= -0.5, slope
    # Lucid's colour space whitens photos: the three channels carry like energies
    energy = (template.astype(np.float64) ** 2).sum(axis=(1, 2))
    assert energy.max() < 3 * energy.min(), energy


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"crop_min": 0.0}, "crop sizes must satisfy 0 < crop-min"),
        ({"crop_max": 1.5}, "crop sizes must satisfy"),
        ({"crop_min": 0.7, "crop_max": 0.5}, "crop sizes must satisfy"),
        ({"crops": 0}, "crops must be in [1, 256]"),
        ({"steps": 0}, "steps must be >= 1"),
        ({"template": "/nonexistent/m.npy"}, "no such file"),
        ({"starts": 0}, "starts must be in [1, 16]"),
    ],
)
def test_bad_maco_recipes_are_refused(values, message) -> None:
    with pytest.raises(RecipeError, match=message.replace("[", r"\[").replace("]", r"\]")):
        DreamRecipe(param="maco", **values)


def test_a_corrupt_or_misshapen_template_is_refused(tmp_path) -> None:
    corrupt = tmp_path / "bad.npy"
    corrupt.write_bytes(b"not an array at all")
    with pytest.raises(RecipeError, match=r"not a \.npy array"):
        DreamRecipe(param="maco", template=str(corrupt))
    misshapen = tmp_path / "flat.npy"
    np.save(misshapen, np.ones((3, 8, 8), np.float32))
    with pytest.raises(RecipeError, match=r"expected shape \(3, S, S//2\+1\)"):
        DreamRecipe(param="maco", template=str(misshapen))
    ok = tmp_path / "ok.npy"
    np.save(ok, np.ones((3, 8, 5), np.float32))
    assert DreamRecipe(param="maco", template=str(ok)).template == str(ok)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["class-dream", "--param", "maco", "--crop-max", "1.2"], "crop sizes must satisfy"),
        (["class-dream", "--param", "maco", "--crops", "0"], "crops must be in"),
        (["class-dream", "--param", "maco", "--template", "nope.npy"], "no such file"),
        (["class-dream", "--param", "maco", "-c", "golden retreiver"], "golden retriever"),
        (["layer-dream", "--preset", "layer-maco", "-l", "blocks.55"], "unknown layer"),
    ],
)
def test_maco_mistakes_are_one_line_errors(tmp_path, args, message) -> None:
    result = CliRunner().invoke(main, [*args, "-o", str(tmp_path)])
    assert result.exit_code != 0
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and message in lines[0], lines
    assert not any(tmp_path.iterdir())  # refused before any work


@pytest.mark.slow
def test_a_short_class_dream_raises_its_target_logit_threefold(lite0) -> None:
    from renderer.dream.engine import render
    from renderer.dream.objectives import class_objective

    recipe = DreamRecipe(
        param="maco", octaves=2, octave_scale=2.0, size=128, steps=8, crops=2, crop_px=128, lr=0.3
    )
    result = render(lite0, class_objective([1, 963]), recipe, seed=0, batch=2)
    for start, end in zip(result.objective_start, result.objective_end, strict=True):
        assert end >= 3 * max(start, 1.0), (start, end)
    assert result.attribution is not None and result.attribution.shape == (2, 128, 128)


def test_a_start_is_scored_on_random_views_of_its_picture(lite0) -> None:
    """A uniform picture looks the same from every box: its view score (here of a
    hand-made objective, the crops' mean brightness) is its own brightness."""
    import renderer.dream.maco as maco
    from renderer.dream.maco import view_score
    from renderer.dream.objectives import Objective

    mean = Objective((), False, lambda acts, _logits: acts["x"].mean((1, 2, 3)))

    def evaluate(_model, objective, crops, _net=None):  # the network left out: pixels
        return objective.values({"x": crops}, None)

    spec = CropSpec(count=1, low=0.3, high=0.8, spread=0.0, noise=0.0)
    pictures = torch.stack([torch.full((3, 64, 64), 0.2), torch.full((3, 64, 64), 0.7)])
    original = maco.evaluate
    maco.evaluate = evaluate
    try:
        score = view_score(lite0, mean, pictures, spec, 32, torch.Generator().manual_seed(0))
    finally:
        maco.evaluate = original
    assert torch.allclose(score, torch.tensor([0.2, 0.7]), atol=1e-6)


@pytest.mark.slow
def test_several_starts_are_byte_identical_and_change_the_dream(lite0) -> None:
    from renderer.dream.engine import render
    from renderer.dream.objectives import class_objective
    from renderer.dream.octaves import octave_plan

    recipe = DreamRecipe(
        param="maco", octaves=1, size=64, steps=4, crops=2, crop_px=64, lr=0.3, starts=3
    )
    assert octave_plan(64, 64, recipe, 32)[0].steps == 4 + 2 * 1  # 2 more starts of 1 step
    objective = class_objective([1, 963])
    first = render(lite0, objective, recipe, seed=3, batch=2)
    again = render(lite0, objective, recipe, seed=3, batch=2)
    one = render(lite0, objective, recipe.replace(starts=1), seed=3, batch=2)
    assert torch.equal(first.images, again.images)
    assert torch.equal(first.attribution, again.attribution)
    assert not torch.equal(first.images, one.images)


@pytest.mark.slow
def test_equal_seeds_give_byte_identical_maco_dreams(lite0, tmp_path) -> None:
    from renderer.classes import resolve_class
    from renderer.dream.jobs import dream_classes

    recipe = DreamRecipe(param="maco", octaves=1, size=64, steps=3, crops=2, crop_px=64, lr=0.3)
    classes = [resolve_class("pug")]

    def run(folder, seed):
        records = dream_classes(lite0, classes, recipe, tmp_path / folder, seed=seed, command="t")
        extra = records[0].extra
        image = (tmp_path / folder / records[0].output).read_bytes()
        return image, (tmp_path / folder / extra["attribution"]).read_bytes()

    first, again, other = run("a", 5), run("b", 5), run("c", 6)
    assert first == again
    assert first[0] != other[0]


@pytest.mark.slow
def test_accentuation_raises_the_class_and_keeps_the_photo(lite0, photo_dir) -> None:
    from renderer.dream.accentuate import AccentSettings, accentuate
    from renderer.imageio import pil_to_tensor
    from renderer.photos import prepare_photo

    photo = pil_to_tensor(prepare_photo(photo_dir / "chelsea.jpg", 160).image)
    settings = AccentSettings(steps=8, crops=2, size=160)
    result = accentuate(lite0, photo, 281, settings, seed=0)  # tiger cat: stripes grow
    assert result.prob_after > max(2 * result.prob_before, result.prob_before + 0.05), result
    assert result.likeness >= 0.5, result
    # and the parametrization starts from the photo itself
    from renderer.dream.maco import MacoParam

    start = MacoParam.from_image(photo.clamp(0.01, 0.99)).image()
    assert float((start - photo.clamp(0.01, 0.99)).abs().max()) < 1e-4


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's heap settings")
def test_inside_heap_only_a_big_tensor_reuses_its_pages_instead_of_faulting_them_in():
    """A 64 MB tensor made and freed 8 times: glibc maps and unmaps it each time (every
    page faulted in again), except inside ``heap_only``, where the freed block is reused
    (the best of three rounds of 8: the heap may take a round to grow).
    Measured in a fresh process: in this one, earlier tests leave free blocks in the heap."""
    import subprocess
    import sys

    code = (
        "import resource, torch\n"
        "from renderer.heap import heap_only, keep_freed_memory\n"
        "keep_freed_memory()\n"
        "def faults():\n"
        "    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt\n"
        "    for _ in range(8):\n"
        "        torch.ones(16 * 2**20).sum()  # 64 MB, every page written\n"
        "    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before\n"
        "outside = faults()\n"
        "with heap_only():\n"
        "    inside = min(faults() for _ in range(3))\n"
        "print(outside, inside)\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=300
    )
    outside, inside = map(int, run.stdout.split())
    pages = 16 * 2**20 * 4 // 4096
    assert outside >= 6 * pages, (outside, pages)
    # The heap grows to fit in the first rounds (up to 7 faulted copies seen on one
    # thread); once it has, a round of 8 reuses the block: at most one copy is faulted.
    assert inside <= pages, (inside, pages)
