"""The engine's pure parts, checked against values worked out by hand on tiny inputs and a
tiny hand-weighted network."""

from __future__ import annotations

import logging

import pytest
import torch
from torch import nn

from renderer.dream import regularizers as reg
from renderer.dream.engine import _Ascent
from renderer.dream.objectives import class_objective, evaluate, layer_objective
from renderer.dream.octaves import octave_sizes
from renderer.dream.parametrization import COLOR_MATRIX, FFTParam, PixelParam
from renderer.dream.recipe import DreamRecipe, LayerTerm
from renderer.dream.result import stretch_contrast
from renderer.models import LoadedModel, get_spec


class Tiny(nn.Module):
    """conv(3->2, 3x3, all weights 1/27 for channel 0, centre-only for channel 1), then a
    linear 'classifier' on the spatial mean."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 2, 3, padding=1, bias=False)
        with torch.no_grad():
            self.conv.weight.zero_()
            self.conv.weight[0] = 1.0 / 27.0
            self.conv.weight[1, :, 1, 1] = 1.0
        self.head = nn.Linear(2, 3, bias=False)
        with torch.no_grad():
            self.head.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, -1.0]]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.conv(x).mean(dim=(2, 3)))


@pytest.fixture()
def tiny() -> LoadedModel:
    spec = get_spec("efficientnet_lite0")
    net = Tiny().eval().requires_grad_(False)
    return LoadedModel(spec, net, torch.device("cpu"), "0" * 64, "tiny")


def test_layer_objective_is_the_mean_square_by_hand(tiny: LoadedModel) -> None:
    x01 = torch.full((1, 3, 4, 4), 0.75)  # normalized: (0.75 - 0.5) / 0.5 = 0.5 everywhere
    # channel 1 = sum over colours of the centre pixel = 1.5 everywhere -> mean square 2.25
    got = evaluate(tiny, layer_objective([LayerTerm("conv", 1)]), x01)
    assert got.item() == pytest.approx(2.25)
    # weights add: 2 x channel 1 + 0.5 x channel 1
    both = layer_objective([LayerTerm("conv", 1, 2.0), LayerTerm("conv", 1, 0.5)])
    assert evaluate(tiny, both, x01).item() == pytest.approx(2.5 * 2.25)


def test_class_objective_picks_each_images_logit(tiny: LoadedModel) -> None:
    x01 = torch.stack([torch.full((3, 4, 4), 0.75), torch.full((3, 4, 4), 0.25)])
    got = evaluate(tiny, class_objective([1, 2]), x01)
    # image 0: channel 1 mean = 1.5 -> logit 1 = 1.5; image 1: channel 0 mean at the
    # interior... take logit 2 = ch0 - ch1, with ch1 = -1.5 everywhere and ch0 = -0.5 inside
    ch0 = torch.nn.functional.conv2d(
        torch.full((1, 3, 4, 4), -0.5), torch.full((1, 3, 3, 3), 1 / 27), padding=1
    ).mean()
    assert got[0].item() == pytest.approx(1.5)
    assert got[1].item() == pytest.approx(ch0.item() + 1.5)


def test_tiled_gradient_equals_untiled_when_the_halo_covers_the_receptive_field(tiny) -> None:
    torch.manual_seed(1)
    x = torch.rand(1, 3, 128, 192)
    objective = layer_objective([LayerTerm("conv")])
    whole = _Ascent(tiny, objective, DreamRecipe(tile=0, jitter=0), torch.Generator(), False)
    tiled = _Ascent(tiny, objective, DreamRecipe(tile=64, jitter=5), torch.Generator(), False)
    tiled.generator.manual_seed(0)
    g1, v1 = tiled.gradient(PixelParam(x))
    # A 3x3 conv sees 1 px; the roll's wrap-around is the only difference, so compare the
    # rolled gradient of the whole image.
    dy, dx = torch.randint(-5, 6, (2,), generator=torch.Generator().manual_seed(0)).tolist()
    rolled = torch.roll(x, (dy, dx), dims=(-2, -1))
    g_ref, v_ref = whole.gradient(PixelParam(rolled))
    assert torch.allclose(g1, torch.roll(g_ref, (-dy, -dx), dims=(-2, -1)), atol=1e-6)
    assert v1.item() == pytest.approx(v_ref.item(), rel=0.01)  # tile means, halo included


def test_octave_sizes_grow_to_the_target_and_clamp_with_a_warning(caplog) -> None:
    assert octave_sizes(300, 450, 3, 1.5, 32) == [(133, 200), (200, 300), (300, 450)]
    with caplog.at_level(logging.WARNING, logger="renderer.dream"):
        sizes = octave_sizes(64, 96, 5, 2.0, 32)
    assert min(min(s) for s in sizes) >= 32
    assert sizes[-1] == (64, 96)
    assert "clamped" in caplog.text


def test_normalizations_by_hand() -> None:
    g = torch.tensor([1.0, 2.0, 3.0, 6.0]).view(1, 1, 2, 2)
    std = torch.tensor([1.0, 2.0, 3.0, 6.0]).std()
    assert torch.allclose(reg.normalize_std(g).flatten(), (g.flatten() - 3.0) / std, atol=1e-6)
    assert torch.allclose(reg.normalize_mean_abs(g).flatten(), g.flatten() / 3.0)
    batch = torch.cat([g, 10 * g])
    assert torch.allclose(reg.normalize_std(batch)[0], reg.normalize_std(batch)[1], atol=1e-5)


def test_laplacian_pyramid_splits_and_merges_exactly() -> None:
    x = torch.rand(2, 3, 37, 50)
    bands = reg.laplacian_split(x, 4)
    assert len(bands) == 4
    assert torch.allclose(reg.laplacian_merge(bands), x, atol=1e-5)


def test_laplacian_normalization_lifts_coarse_structure_over_static() -> None:
    torch.manual_seed(0)
    _yy, xx = torch.meshgrid(torch.linspace(0, 1, 64), torch.linspace(0, 1, 64), indexing="ij")
    smooth = torch.sin(2 * torch.pi * xx).expand(1, 3, 64, 64)
    static = torch.randn(1, 3, 64, 64) * 5
    g = smooth + static
    assert reg.high_frequency_share(reg.normalize_laplacian(g)) < reg.high_frequency_share(
        reg.normalize_std(g)
    )


def test_a_refining_step_keeps_only_the_finest_bands() -> None:
    """A refining octave's step: a smooth bump under static keeps only the static's band
    (measured: 0.994 of the step's energy in the finest band, 0.898 with every band), and a
    constant has no fine band, not even at the border (unreflected: 0.66 of it there)."""
    torch.manual_seed(0)
    yy, xx = torch.meshgrid(torch.linspace(-1, 1, 64), torch.linspace(-1, 1, 64), indexing="ij")
    g = 10 * torch.exp(-3 * (xx**2 + yy**2)).expand(1, 3, 64, 64) + torch.randn(1, 3, 64, 64)

    def finest_share(step: torch.Tensor) -> float:
        energies = [float(b.square().sum()) for b in reg.laplacian_split(step, 4)]
        return energies[0] / sum(energies)

    for mode in ("laplacian", "std", "mean-abs"):
        assert finest_share(reg.normalize(g, mode, 4, keep=1)) > 0.98
        assert finest_share(reg.normalize(g, mode, 4)) < 0.9
    assert torch.equal(reg.normalize(g, "std", 4, keep=0), reg.normalize_std(g))
    assert reg.high_pass(torch.full((1, 3, 32, 33), 0.7), 2).abs().max() < 1e-5


def test_high_frequency_share_of_known_signals() -> None:
    checker = (torch.arange(32).view(-1, 1) + torch.arange(32).view(1, -1)) % 2
    assert reg.high_frequency_share(checker.float().expand(1, 3, 32, 32)) == pytest.approx(1.0)
    ramp = torch.cos(2 * torch.pi * torch.arange(32) / 32).view(1, -1).expand(1, 3, 32, 32)
    assert reg.high_frequency_share(ramp) == pytest.approx(0.0, abs=1e-6)


def test_smoothing_removes_static_but_keeps_a_constant() -> None:
    g = torch.ones(1, 3, 16, 16)
    assert torch.allclose(reg.smooth_gradient(g, 1.0), g, atol=1e-6)
    noise = torch.randn(1, 3, 64, 64)
    assert reg.smooth_gradient(noise, 1.0).std() < 0.5 * noise.std()


def test_fft_parametrization_inverts_and_decorrelates() -> None:
    image = torch.rand(2, 3, 24, 30) * 0.9 + 0.05
    param = FFTParam.from_image(image)
    assert torch.allclose(param.image(), image, atol=1e-4)
    assert COLOR_MATRIX.norm(dim=0).max().item() == pytest.approx(1.0)


def test_stretch_maps_percentiles_to_black_and_white() -> None:
    x = torch.linspace(0.25, 0.75, 3 * 10 * 10).view(1, 3, 10, 10)
    out = stretch_contrast(x, 1.0)
    assert out.min().item() == 0.0 and out.max().item() == 1.0
    assert torch.equal(stretch_contrast(x, 0.0), x)


def test_folded_batchnorms_give_the_same_outputs_and_leave_the_model_alone() -> None:
    from renderer.fusion import ActOnly, fold_batchnorms

    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU6(), nn.Conv2d(4, 2, 1)
    )
    bn = net[1]
    with torch.no_grad():
        bn.running_mean.uniform_(-1, 1)
        bn.running_var.uniform_(0.5, 2)
        bn.weight.uniform_(0.5, 2)
        bn.bias.uniform_(-1, 1)
    net.eval().requires_grad_(False)
    x = torch.rand(2, 3, 8, 8)
    twin = fold_batchnorms(net)
    assert isinstance(twin[1], ActOnly) and isinstance(net[1], nn.BatchNorm2d)
    assert torch.allclose(twin(x), net(x), atol=1e-5)
    assert fold_batchnorms(net, protected=["0"]) is net  # a target conv keeps its BN


def test_targets_share_one_folded_twin_unless_a_target_is_a_folded_conv(lite0) -> None:
    from renderer.fusion import dream_network

    shared = dream_network(lite0, ("blocks.2",))
    assert dream_network(lite0, ("blocks.5", "blocks.4.0.bn2")) is shared
    own = dream_network(lite0, ("conv_stem",))  # its BN must stay: it is the target
    assert own is not shared and isinstance(dict(own.named_modules())["bn1"], nn.BatchNorm2d)
