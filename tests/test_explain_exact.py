"""Grad-CAM, Guided Backprop and Guided Grad-CAM on a network small enough to do by hand.

The network: a 1 -> 2 channel 3x3 convolution (no padding) on a 4x4 input, ReLU, and a linear
layer from the 8 rectified features to 2 classes. Every expected tensor below is worked out on
paper in the comments.
"""

from __future__ import annotations

import gc
import warnings

import pytest
import torch
from torch import nn

from renderer.errors import RecipeError
from renderer.explain.cam import (
    GradCAM,
    GradCAMPlusPlus,
    class_activation_map,
    class_activation_maps,
)
from renderer.explain.guided import (
    channel_sum,
    display_scale,
    guided_backprop,
    guided_gradcam,
)

X = torch.tensor(
    [
        [1.0, 2.0, 0.0, 1.0],
        [0.0, 1.0, 3.0, 0.0],
        [2.0, 0.0, 1.0, 1.0],
        [1.0, 1.0, 0.0, 2.0],
    ]
).view(1, 1, 4, 4)


class Tiny(nn.Module):
    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 2, 3)
        self.relu = nn.ReLU(inplace=inplace)
        self.fc = nn.Linear(8, 2)
        with torch.no_grad():
            # channel 0: only the centre tap (weight 1), bias -0.5 -> C0[i,j] = X[i+1,j+1] - 0.5
            self.conv.weight[0] = torch.tensor([[0.0, 0, 0], [0, 1, 0], [0, 0, 0]])
            self.conv.bias[0] = -0.5
            # channel 1: all ones, bias -9.5 -> C1[i,j] = (3x3 window sum) - 9.5
            self.conv.weight[1] = torch.ones(3, 3)
            self.conv.bias[1] = -9.5
            # features are flattened channel first: A0(0,0) A0(0,1) A0(1,0) A0(1,1) A1(...)
            self.fc.weight.copy_(
                torch.tensor(
                    [
                        [1.0, -1.0, 2.0, 1.0, 3.0, 1.0, -2.0, 0.0],
                        [0.0, 1.0, 0.0, 0.0, -1.0, 0.0, 0.0, 1.0],
                    ]
                )
            )
            self.fc.bias.zero_()
        self.requires_grad_(False)
        self.eval()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.relu(self.conv(x)).flatten(1))


# C0 = X[1:3, 1:3] - 0.5 = [[1, 3], [0, 1]] - 0.5            = [[0.5, 2.5], [-0.5, 0.5]]
# window sums: (0,0) 1+2+0+0+1+3+2+0+1 = 10, (0,1) 2+0+1+1+3+0+0+1+1 = 9,
#              (1,0) 0+1+3+2+0+1+1+1+0 = 9,  (1,1) 1+3+0+0+1+1+1+0+2 = 9
# C1 = sums - 9.5                                           = [[0.5, -0.5], [-0.5, -0.5]]
# A = ReLU(C): A0 = [[0.5, 2.5], [0, 0.5]], A1 = [[0.5, 0], [0, 0]]
# class 0: dy/dA0 = [[1, -1], [2, 1]], dy/dA1 = [[3, 1], [-2, 0]]  (rows of fc.weight[0])


def test_the_network_is_what_the_comments_say() -> None:
    net = Tiny()
    conv = net.conv(X)[0]
    assert torch.equal(conv[0], torch.tensor([[0.5, 2.5], [-0.5, 0.5]]))
    assert torch.equal(conv[1], torch.tensor([[0.5, -0.5], [-0.5, -0.5]]))
    # logit 0 = 0.5 - 2.5 + 0 + 0.5 + 3 * 0.5 = 0
    assert net(X)[0, 0].item() == pytest.approx(0.0)


def upsample_by_hand(a: float, b: float, c: float, d: float) -> torch.Tensor:
    """2x2 [[a, b], [c, d]] -> 4x4, bilinear, half-pixel centres: along each axis the
    source coordinates of outputs 0..3 are -0.25 (clamped to 0), 0.25, 0.75, 1.25 (clamped
    to 1), i.e. weights (1, 0), (0.75, 0.25), (0.25, 0.75), (0, 1)."""
    w = [(1.0, 0.0), (0.75, 0.25), (0.25, 0.75), (0.0, 1.0)]
    grid = [[a, b], [c, d]]
    return torch.tensor(
        [
            [sum(wr[i] * wc[j] * grid[i][j] for i in range(2) for j in range(2)) for wc in w]
            for wr in w
        ]
    )


def test_upsampling_helper_matches_values_written_out() -> None:
    # row [0.625, 1.875] -> [0.625, 0.9375, 1.5625, 1.875]
    assert upsample_by_hand(0.625, 1.875, 0, 0.375)[0].tolist() == [0.625, 0.9375, 1.5625, 1.875]


def test_gradcam_at_the_relu_layer() -> None:
    # alpha_0 = mean([1, -1, 2, 1]) = 3/4, alpha_1 = mean([3, 1, -2, 0]) = 1/2
    # 0.75 * A0 + 0.5 * A1 = [[0.375 + 0.25, 1.875], [0, 0.375]] = [[0.625, 1.875], [0, 0.375]]
    # ReLU changes nothing; upsampled:
    up = torch.tensor(
        [
            [0.625, 0.9375, 1.5625, 1.875],
            [0.46875, 0.7265625, 1.2421875, 1.5],
            [0.15625, 0.3046875, 0.6015625, 0.75],
            [0.0, 0.09375, 0.28125, 0.375],
        ]
    )
    assert torch.allclose(upsample_by_hand(0.625, 1.875, 0.0, 0.375), up)
    result = class_activation_map(Tiny(), X, 0, "relu")
    assert torch.allclose(result.coarse[0], torch.tensor([[0.625, 1.875], [0.0, 0.375]]))
    # min-max: min 0, max 1.875
    assert torch.allclose(result.maps[0], up / 1.875, atol=1e-6)


def test_gradcam_at_the_conv_layer_sees_the_relu_mask() -> None:
    # dy/dC = dy/dA * relu'(C): masks [[1, 1], [0, 1]] and [[1, 0], [0, 0]]
    # dC0 = [[1, -1], [0, 1]] -> alpha_0 = 1/4; dC1 = [[3, 0], [0, 0]] -> alpha_1 = 3/4
    # 0.25 * C0 + 0.75 * C1 = [[0.125 + 0.375, 0.625 - 0.375], [-0.125 - 0.375, 0.125 - 0.375]]
    #                       = [[0.5, 0.25], [-0.5, -0.25]] -> ReLU -> [[0.5, 0.25], [0, 0]]
    up = torch.tensor(
        [
            [0.5, 0.4375, 0.3125, 0.25],
            [0.375, 0.328125, 0.234375, 0.1875],
            [0.125, 0.109375, 0.078125, 0.0625],
            [0.0, 0.0, 0.0, 0.0],
        ]
    )
    assert torch.allclose(upsample_by_hand(0.5, 0.25, 0.0, 0.0), up)
    result = class_activation_map(Tiny(), X, 0, "conv")
    assert torch.allclose(result.coarse[0], torch.tensor([[0.5, 0.25], [0.0, 0.0]]))
    assert torch.allclose(result.maps[0], up / 0.5, atol=1e-6)


# Guided Backprop, class 0: at the ReLU the gradient becomes max(g, 0) * relu'(C):
#   channel 0: max([[1, -1], [2, 1]], 0) * [[1, 1], [0, 1]] = [[1, 0], [0, 1]]
#   channel 1: max([[3, 1], [-2, 0]], 0) * [[1, 0], [0, 0]] = [[3, 0], [0, 0]]
# back through the convolution: channel 0's centre tap puts 1 at X(1,1) and X(2,2);
# channel 1's all-ones kernel spreads 3 over the window of output (0,0), rows and cols 0..2.
GUIDED = torch.tensor(
    [
        [3.0, 3.0, 3.0, 0.0],
        [3.0, 4.0, 3.0, 0.0],
        [3.0, 3.0, 4.0, 0.0],
        [0.0, 0.0, 0.0, 0.0],
    ]
)
# The plain gradient lets channel 0's -1 at (0,1) through: X(1,2) gets 3 - 1 = 2 instead of 3.
PLAIN = GUIDED.clone()
PLAIN[1, 2] = 2.0


def test_guided_backprop_by_hand() -> None:
    net = Tiny()
    grads = guided_backprop(net, X, 0)
    assert torch.equal(grads[0, 0], GUIDED)
    x = X.clone().requires_grad_(True)
    net(x)[0, 0].backward()
    assert torch.equal(x.grad[0, 0], PLAIN)


def test_guided_display_is_the_channel_sum_scaled_around_zero() -> None:
    # one input channel: the sum is GUIDED itself; q = max |v| = 4 with percentile 100,
    # so 0 -> 0.5, 3 -> 0.5 + 0.5 * 3/4 = 0.875, 4 -> 1
    shown = display_scale(channel_sum(guided_backprop(Tiny(), X, 0)), percentile=100)
    assert shown.limits == [4.0]
    assert torch.allclose(shown.maps[0], 0.5 + 0.5 * GUIDED / 4)


def test_guided_gradcam_is_the_elementwise_product() -> None:
    cam = class_activation_map(Tiny(), X, 0, "relu").maps
    product = guided_gradcam(cam, channel_sum(guided_backprop(Tiny(), X, 0)))
    # Grad-CAM at the ReLU (above) times GUIDED, e.g. (0,0): 0.625/1.875 * 3 = 1,
    # (1,1): 0.7265625/1.875 * 4 = 1.55, the last row and column: 0 wherever GUIDED is 0
    cam_by_hand = (
        torch.tensor(
            [
                [0.625, 0.9375, 1.5625, 1.875],
                [0.46875, 0.7265625, 1.2421875, 1.5],
                [0.15625, 0.3046875, 0.6015625, 0.75],
                [0.0, 0.09375, 0.28125, 0.375],
            ]
        )
        / 1.875
    )
    assert torch.allclose(product[0], cam_by_hand * GUIDED, atol=1e-6)
    assert product[0, 0, 0].item() == pytest.approx(1.0)
    assert product[0, 1, 1].item() == pytest.approx(0.7265625 / 1.875 * 4)


def test_gradcam_plus_plus_weights_only_positive_gradients() -> None:
    # At the ReLU layer: sum A0 = 3.5, sum A1 = 0.5. Per position alpha = g^2 / (2 g^2 + S g^3)
    # channel 0: g = 1 -> 1 / (2 + 3.5) = 2/11 (twice: (0,0), (1,1)); g = 2 -> 4 / (8 + 28) = 1/9;
    #            g = -1 ignored by ReLU(g); w0 = 2/11 * 1 * 2 + 1/9 * 2 = 4/11 + 2/9
    # channel 1: g = 3 -> 9 / (18 + 13.5) = 2/7; g = 1 -> 1 / (2 + 0.5) = 2/5
    #            w1 = 2/7 * 3 + 2/5 * 1 = 6/7 + 2/5
    with GradCAMPlusPlus(Tiny(), "relu") as cam:
        result = cam(X, torch.tensor([0]))
    w0, w1 = 4 / 11 + 2 / 9, 6 / 7 + 2 / 5
    expected = torch.relu(
        w0 * torch.tensor([[0.5, 2.5], [0.0, 0.5]]) + w1 * torch.tensor([[0.5, 0.0], [0.0, 0.0]])
    )
    assert torch.allclose(result.coarse[0], expected, atol=1e-6)


def test_both_cams_from_one_pass_equal_a_pass_each() -> None:
    net = Tiny()
    passes = []
    handle = net.register_forward_hook(lambda *_: passes.append(1))
    both = class_activation_maps(net, X, 0, "relu")
    assert len(passes) == 1
    handle.remove()
    assert list(both) == ["gradcam", "gradcam++"]
    for method, kind in (("gradcam", GradCAM), ("gradcam++", GradCAMPlusPlus)):
        with kind(Tiny(), "relu") as cam:
            alone = cam(X, torch.tensor([0]))
        assert torch.equal(both[method].maps, alone.maps)
        assert torch.equal(both[method].coarse, alone.coarse)
        assert torch.equal(both[method].logits, alone.logits)
        assert torch.equal(class_activation_map(Tiny(), X, 0, "relu", method).maps, alone.maps)
    assert _hook_count(net) == 0


def _hook_count(net: nn.Module) -> int:
    return sum(
        len(m._forward_hooks) + len(m._backward_hooks) + len(m._forward_pre_hooks)
        for m in net.modules()
    )


def test_hooks_are_removed_even_when_the_call_fails() -> None:
    net = Tiny()
    with pytest.raises(RuntimeError), GradCAM(net, "relu") as cam:
        assert _hook_count(net) == 1
        cam(X, torch.tensor([5]))  # no class 5: gather fails inside the hooked pass
    assert _hook_count(net) == 0
    class_activation_map(net, X, 1, "conv")
    guided_backprop(net, X, 1)
    assert _hook_count(net) == 0


def test_a_layer_changed_in_place_afterwards_is_refused() -> None:
    with pytest.raises(RecipeError, match="in place"):
        class_activation_map(Tiny(inplace=True), X, 0, "conv")


def _live_tensors() -> int:
    gc.collect()
    with warnings.catch_warnings():  # isinstance() on torch.distributed's deprecated aliases
        warnings.simplefilter("ignore")
        return sum(1 for o in gc.get_objects() if isinstance(o, torch.Tensor))


def test_five_hundred_explanations_do_not_grow_memory() -> None:
    net = Tiny()
    images = torch.rand(500, 1, 1, 4, 4, generator=torch.Generator().manual_seed(0))
    for image in images[:20]:
        class_activation_map(net, image, 0, "relu")
        guided_backprop(net, image, 0)
    before = _live_tensors()
    kept = []
    for image in images:
        with GradCAM(net, "relu") as cam:
            kept.append(float(cam(image, torch.tensor([0])).maps.sum()))
        guided_backprop(net, image, 1)
    assert _live_tensors() <= before
    assert _hook_count(net) == 0
    assert len(kept) == 500


class TinyFunctional(Tiny):
    """The same network with its rectifier written the ways other models write it."""

    def __init__(self, how: str) -> None:
        super().__init__()
        self.how = how

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c = self.conv(x)
        if self.how == "F.relu_inplace":  # torchvision's GoogLeNet
            a = torch.nn.functional.relu(c, inplace=True)
        elif self.how == "relu6":  # timm's EfficientNet-Lite: nn.ReLU6 -> F.hardtanh(0, 6)
            a = nn.ReLU6(inplace=True)(c)
        else:
            a = c.relu()
        return self.fc(a.flatten(1))


@pytest.mark.parametrize("how", ["F.relu_inplace", "relu6", "method"])
def test_guided_backprop_sees_functional_and_inplace_rectifiers(how: str) -> None:
    # all values of C stay below 6, so ReLU6 is ReLU here and the hand result holds
    assert torch.equal(guided_backprop(TinyFunctional(how), X, 0)[0, 0], GUIDED)


def test_a_hardtanh_with_a_negative_floor_is_not_a_rectifier() -> None:
    class Tanhish(Tiny):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.fc(torch.nn.functional.hardtanh(self.conv(x), -1.0, 1.0).flatten(1))

    with pytest.raises(ValueError, match="no rectifier"):
        guided_backprop(Tanhish(), X, 0)
