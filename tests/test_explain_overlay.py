"""Colours, overlays, legends, faithfulness arithmetic and the degradations."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from renderer.explain import faithfulness, overlay, robustness
from renderer.imageio import pil_to_tensor, tensor_to_pil


def test_luts_are_matplotlibs() -> None:
    matplotlib = pytest.importorskip("matplotlib")
    for name in ("inferno", "viridis"):
        theirs = np.asarray(matplotlib.colormaps[name].resampled(256)(np.arange(256)))[:, :3]
        assert np.abs(overlay.lut(name) / 255.0 - theirs).max() <= 0.5 / 255 + 1e-9


def test_inferno_runs_from_black_to_pale_yellow_in_rgb_order() -> None:
    low, high = overlay.colorize(np.array([[0.0, 1.0]]))[0]
    assert tuple(low) == (0, 0, 4)  # blue-black: B > R
    assert tuple(high) == (252, 255, 164)  # yellow: R, G >> B; a BGR swap reads (164, 255, 252)


def test_a_red_photo_stays_red_where_alpha_is_zero() -> None:
    red = Image.new("RGB", (6, 4), (255, 0, 0))
    heat = np.linspace(0, 1, 24).reshape(4, 6)
    alpha = np.zeros((4, 6))
    alpha[:, 3:] = 1.0
    out = np.asarray(overlay.blend(red, heat, alpha))
    assert (out[:, :3] == (255, 0, 0)).all()
    assert np.array_equal(out[:, 3:], overlay.colorize(heat)[:, 3:])
    # and through the tensor round trip the model sees, red is channel 0
    tensor = pil_to_tensor(red)
    assert tensor[0, 0].min() == 1.0 and tensor[0, 1:].max() == 0.0
    assert tensor_to_pil(tensor).getpixel((0, 0)) == (255, 0, 0)


def test_blend_at_a_stated_alpha() -> None:
    grey = Image.new("RGB", (2, 1), (100, 100, 100))
    out = np.asarray(overlay.blend(grey, np.ones((1, 2)), 0.5))
    # (100 + 252) / 2 = 176, (100 + 255) / 2 = 177.5 -> 178 (half to even), (100 + 164) / 2 = 132
    assert tuple(out[0, 0]) == (176, 178, 132)


def test_colorbar_has_the_ramp_and_a_dark_strip() -> None:
    bar = np.asarray(overlay.colorbar("inferno", 0.0, 2.5, "Grad-CAM"))
    ramp = bar[10]  # a row through the bar
    assert tuple(ramp[10]) == tuple(overlay.lut("inferno")[0])
    assert tuple(ramp[-11]) == tuple(overlay.lut("inferno")[255])


def test_segment_panels() -> None:
    photo = Image.new("RGB", (4, 2), (10, 20, 30))
    segments = np.array([[0, 0, 1, 1], [0, 0, 1, 1]])
    borders = np.asarray(overlay.segments_panel(photo, segments))
    assert (borders[:, 1:3] == overlay.BOUNDARY_RGB).all()
    assert (borders[:, [0, 3]] == (10, 20, 30)).all()
    top = np.asarray(overlay.top_segments_panel(photo, segments, np.array([1])))
    assert (top[:, :2] == 0).all() and (top[:, 2:] != 0).any()
    posneg = np.asarray(overlay.posneg_panel(photo, segments, np.array([-1.0, 2.0])))
    assert posneg[0, 0, 0] > posneg[0, 0, 1]  # the negative one leans vermillion (red)
    assert posneg[0, 3, 1] > posneg[0, 3, 0]  # the positive one leans green


def test_deletion_and_insertion_on_a_planted_score() -> None:
    image = torch.ones(3, 10, 10)
    saliency = torch.zeros(10, 10)
    saliency[0] = 1.0  # the first row is what matters, and the map says so

    def score(batch: torch.Tensor) -> torch.Tensor:
        return batch[:, 0, 0].mean(dim=1)

    fid = faithfulness.deletion_insertion(score, image, saliency, steps=10)
    # step k hides round(k/10 * 100) = 10k pixels, most salient first: step 1 hides row 0
    assert fid.deletion_curve == (1.0,) + (0.0,) * 10
    assert fid.insertion_curve == (0.0,) + (1.0,) * 10
    assert fid.deletion_auc == pytest.approx(0.05)  # (1 + 0) / 2 / 10
    assert fid.insertion_auc == pytest.approx(0.95)  # 0.05 + 9 / 10


def test_removal_masks_count_and_order() -> None:
    saliency = torch.tensor([[0.1, 0.9], [0.5, 0.5]])
    masks = faithfulness.removal_masks(saliency, steps=4)
    assert masks.sum(dim=(1, 2)).tolist() == [0, 1, 2, 3, 4]
    assert masks[1].tolist() == [[False, True], [False, False]]
    assert masks[2].tolist() == [[False, True], [True, False]]  # ties in reading order


def test_degradations_increase_and_are_seeded() -> None:
    image = torch.rand(3, 16, 16, generator=torch.Generator().manual_seed(0)) * 0.5 + 0.25
    steps, batch = robustness.degraded_batch(image, seed=1)
    assert len(steps) == 12 and batch.shape == (12, 3, 16, 16)
    by_kind = {k: [batch[i] for i, s in enumerate(steps) if s.kind == k] for k in robustness.KINDS}
    noise = [float((b - image).abs().mean()) for b in by_kind["noise"]]
    bright = [float(b.mean()) for b in by_kind["brightness"]]
    contrast = [float(b.std()) for b in by_kind["contrast"]]
    assert noise == sorted(noise) and bright == sorted(bright)
    assert contrast == sorted(contrast, reverse=True)
    _, again = robustness.degraded_batch(image, seed=1)
    _, other = robustness.degraded_batch(image, seed=2)
    assert torch.equal(batch, again) and not torch.equal(batch[:4], other[:4])
    assert [s.method for s in steps[:2]] == ["robustness-noise-1", "robustness-noise-2"]
