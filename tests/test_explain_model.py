"""The embedded EfficientNet-Lite0 on real photos: maps that mean something."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from renderer.errors import RecipeError
from renderer.explain.cam import class_activation_map
from renderer.explain.faithfulness import (
    deletion_insertion,
    randomized_copy,
    rank_correlation,
)
from renderer.explain.guided import guided_backprop
from renderer.explain.jobs import target_scorer
from renderer.imageio import pil_to_tensor
from renderer.photos import prepare_photo

EGYPTIAN_CAT, TABBY, GOLDEN_RETRIEVER = 285, 281, 207
# data.chelsea() is 451 x 300. Looked at with a 50 px grid: the eyes sit near (170, 115) and
# (320, 130), the nose near (265, 240), the cheeks at x = 110 and 370; left of x = 110 is the
# shoulder and whiskers, right of x = 370 the blurred room.
FACE_BOX = (110, 50, 370, 300)  # left, top, right, bottom in the 451 x 300 original


@pytest.fixture(scope="module")
def chelsea(lite0, photo_dir):
    photo = prepare_photo(photo_dir / "chelsea.jpg", 224)
    return photo, lite0.normalize(pil_to_tensor(photo.image))


def test_gradcam_peak_is_on_the_cats_face(lite0, chelsea) -> None:
    _, inputs = chelsea
    result = class_activation_map(lite0.net, inputs, EGYPTIAN_CAT, lite0.spec.default_layer)
    assert int(result.logits.argmax()) in (EGYPTIAN_CAT, TABBY, 282)  # a cat, first
    cam = result.maps[0]
    row, col = divmod(int(cam.argmax()), cam.shape[1])
    scale = 451 / cam.shape[1]
    x, y = (col + 0.5) * scale, (row + 0.5) * scale
    left, top, right, bottom = FACE_BOX
    assert left <= x <= right and top <= y <= bottom, (x, y)
    # and most of the heat is on the face, not the background
    rows = torch.arange(cam.shape[0])[:, None].float() + 0.5
    cols = torch.arange(cam.shape[1])[None, :].float() + 0.5
    inside = ((cols * scale >= left) & (cols * scale <= right) & (rows * scale >= top)).float()
    assert float((cam * inside).sum() / cam.sum()) > 0.6


def test_cat_and_dog_targets_give_different_maps(lite0, chelsea) -> None:
    _, inputs = chelsea
    layer = lite0.spec.default_layer
    cat = class_activation_map(lite0.net, inputs, EGYPTIAN_CAT, layer).maps[0]
    dog = class_activation_map(lite0.net, inputs, GOLDEN_RETRIEVER, layer).maps[0]
    assert (cat - dog).abs().mean() > 0.1
    assert rank_correlation(cat, dog) < 0.8


def test_randomized_weights_change_the_map(lite0, chelsea) -> None:
    _, inputs = chelsea
    layer = lite0.spec.default_layer
    before = {k: v.clone() for k, v in lite0.net.state_dict().items()}
    trained = class_activation_map(lite0.net, inputs, EGYPTIAN_CAT, layer).maps[0]
    random_net = randomized_copy(lite0.net, seed=0)
    randomized = class_activation_map(random_net, inputs, EGYPTIAN_CAT, layer).maps[0]
    assert rank_correlation(trained, randomized) < 0.5
    # the caller's network is untouched by the randomization
    after = lite0.net.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_gradcam_map_is_faithful_on_the_cat(lite0, photo_dir) -> None:
    photo = prepare_photo(photo_dir / "chelsea.jpg", 128)
    image = pil_to_tensor(photo.image)[0]
    inputs = lite0.normalize(image[None])
    cam = class_activation_map(lite0.net, inputs, EGYPTIAN_CAT, lite0.spec.default_layer)
    score = target_scorer(lite0, EGYPTIAN_CAT)
    good = deletion_insertion(score, image, cam.maps[0])
    reverse = deletion_insertion(score, image, 1 - cam.maps[0])
    assert len(good.deletion_curve) == 21
    assert good.deletion_curve[-1] == pytest.approx(good.insertion_curve[0])  # all black
    # deleting the hot pixels first hurts the cat more than deleting the cold ones first
    assert good.deletion_auc < reverse.deletion_auc
    assert good.insertion_auc > reverse.insertion_auc


class _GuidedReLU6(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x.clamp(0, 6)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad.clamp(min=0) * ((x > 0) & (x < 6)).to(grad.dtype)


class _Swapped(nn.Module):
    def forward(self, x):
        return _GuidedReLU6.apply(x)


def _swap_relu6(net: nn.Module) -> int:
    count = 0
    for module in list(net.modules()):
        for name, child in list(module.named_children()):
            if isinstance(child, nn.ReLU6):
                setattr(module, name, _Swapped())
                count += 1
    return count


def test_guided_backprop_goes_through_every_relu6_and_leaves_the_model_alone(
    lite0, photo_dir
) -> None:
    photo = prepare_photo(photo_dir / "chelsea.jpg", 64)
    inputs = lite0.normalize(pil_to_tensor(photo.image))

    def plain_pass() -> tuple[torch.Tensor, torch.Tensor]:
        x = inputs.clone().requires_grad_(True)
        out = lite0.net(x)
        out[0, EGYPTIAN_CAT].backward()
        return out.detach(), x.grad

    out_before, grad_before = plain_pass()
    guided = guided_backprop(lite0.net, inputs, EGYPTIAN_CAT)
    out_after, grad_after = plain_pass()
    assert torch.equal(out_before, out_after) and torch.equal(grad_before, grad_after)
    assert not torch.allclose(guided, grad_before)
    assert all(not m._forward_hooks and not m._backward_hooks for m in lite0.net.modules())
    assert all(m.inplace for m in lite0.net.modules() if isinstance(m, nn.ReLU6))
    # a reference with every ReLU6 replaced by a guided one gives the same gradients
    reference = copy.deepcopy(lite0.net)
    assert _swap_relu6(reference) > 30
    x = inputs.clone().requires_grad_(True)
    reference(x)[0, EGYPTIAN_CAT].backward()
    assert torch.allclose(guided, x.grad, atol=1e-6)


def test_resnet_default_layer_and_its_reused_relu() -> None:
    import torchvision

    torch.manual_seed(0)
    net = torchvision.models.resnet18(weights=None).eval().requires_grad_(False)
    x = torch.randn(2, 3, 64, 64)
    result = class_activation_map(net, x, [1, 2], "layer4")
    assert result.maps.shape == (2, 64, 64) and result.coarse.shape == (2, 2, 2)
    # each block's single nn.ReLU runs twice per forward: hooking it is refused, clearly
    with pytest.raises(RecipeError, match="ran 2 times"):
        class_activation_map(net, x, 1, "layer4.1.relu")
    reference = copy.deepcopy(net)
    for module in list(reference.modules()):
        for name, child in list(module.named_children()):
            if isinstance(child, nn.ReLU):
                setattr(module, name, _SwappedReLU())
    xr = x.clone().requires_grad_(True)
    reference(xr)[:, 1].sum().backward()
    assert torch.allclose(guided_backprop(net, x, 1), xr.grad, atol=1e-6)


class _GuidedReLU(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x.clamp(min=0)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad.clamp(min=0) * (x > 0).to(grad.dtype)


class _SwappedReLU(nn.Module):
    def forward(self, x):
        return _GuidedReLU.apply(x)
