"""The model zoo: the embedded model's real predictions, weights files, layers and classes."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from PIL import Image
from skimage import data

from renderer.classes import resolve_class
from renderer.classify import classify_picture
from renderer.devices import resolve_device
from renderer.errors import DeviceError, ModelUnavailableError, RendererError, UnknownNameError
from renderer.models import (
    LoadedModel,
    _embedded_weights_file,
    get_spec,
    list_layers,
    load_model,
    resolve_layer,
)

CATS = {"Egyptian cat", "tabby", "tiger cat"}


def test_embedded_model_sees_the_cat_and_the_espresso(lite0) -> None:
    cat = classify_picture(lite0, Image.fromarray(data.chelsea()), top=3)
    coffee = classify_picture(lite0, Image.fromarray(data.coffee()), top=1)
    assert cat[0].name in CATS
    assert {p.name for p in cat} == CATS
    assert coffee[0].name == "espresso" and coffee[0].prob > 0.5


def test_an_iphone_heic_of_the_cat_is_still_a_cat(lite0, tmp_path: Path) -> None:
    pytest.importorskip("pillow_heif")
    from renderer.imageio import _open_heif, load_photo

    _open_heif()
    Image.fromarray(data.chelsea()).save(tmp_path / "IMG_4521.HEIC", format="HEIF", quality=80)
    picture, _ = load_photo(tmp_path / "IMG_4521.HEIC")
    assert {p.name for p in classify_picture(lite0, picture, top=3)} == CATS


def test_normalize_serves_autograd_even_when_first_used_in_inference_mode() -> None:
    spec = get_spec("efficientnet_lite0")  # mean = std = 0.5
    model = LoadedModel(spec, torch.nn.Identity(), torch.device("cpu"), "0" * 64, "test")
    with torch.inference_mode():
        model.normalize(torch.rand(1, 3, 2, 2))  # LIME or a classification comes first
    x = torch.full((1, 3, 2, 2), 0.75, requires_grad=True)
    y = model.normalize(x)
    y.sum().backward()
    assert torch.equal(y, torch.full_like(y, 0.5))  # (0.75 - 0.5) / 0.5
    assert torch.equal(x.grad, torch.full_like(x, 2.0))  # d/dx of (x - 0.5) / 0.5


def test_lukemelas_weights_map_tensor_for_tensor() -> None:
    spec = get_spec("efficientnet_lite0")
    state = torch.load(_embedded_weights_file(spec), map_location="cpu", weights_only=True)
    tensors = [k for k in state if not k.endswith("num_batches_tracked")]
    assert len(tensors) == 247 and tensors[0].startswith("_conv_stem")


def test_model_is_frozen_and_loaded_once(lite0) -> None:
    assert load_model("efficientnet-lite0", "cpu") is lite0
    assert not lite0.net.training
    assert not any(p.requires_grad for p in lite0.net.parameters())
    assert lite0.spec.mean == (0.5, 0.5, 0.5)
    assert len(lite0.weights_sha256) == 64


@pytest.fixture(scope="module")
def resnet18_file(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, torch.nn.Module]:
    import torchvision

    torch.manual_seed(1)
    net = torchvision.models.resnet18(weights=None)
    path = tmp_path_factory.mktemp("weights") / "my-resnet18.pth"
    torch.save({"state_dict": {f"module.{k}": v for k, v in net.state_dict().items()}}, path)
    return path, net.eval()


def test_weights_file_is_loaded_exactly(resnet18_file) -> None:
    path, reference = resnet18_file
    loaded = load_model("resnet18", "cpu", weights=path)
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        assert torch.equal(loaded.net(x), reference(x))
    assert loaded.info().weights_source == str(path.resolve())


def test_weights_that_do_not_fit_are_explained(tmp_path: Path, resnet18_file) -> None:
    path, reference = resnet18_file
    state = reference.state_dict()
    wrong_shape = dict(state, **{"fc.weight": torch.zeros(10, 512), "fc.bias": torch.zeros(10)})
    torch.save(wrong_shape, tmp_path / "ten-classes.pth")
    with pytest.raises(ModelUnavailableError, match=r"fc\.(weight|bias): file \(10"):
        load_model("resnet18", "cpu", weights=tmp_path / "ten-classes.pth")
    with pytest.raises(ModelUnavailableError, match="missing"):
        load_model("vgg16", "cpu", weights=path)
    (tmp_path / "junk.pth").write_text("not a checkpoint")
    with pytest.raises(ModelUnavailableError, match="not a readable state dict"):
        load_model("resnet18", "cpu", weights=tmp_path / "junk.pth")
    with pytest.raises(ModelUnavailableError, match="not found"):
        load_model("resnet18", "cpu", weights=tmp_path / "absent.pth")


def test_googlenet_checkpoint_with_aux_heads(tmp_path: Path) -> None:
    import torchvision

    net = torchvision.models.googlenet(weights=None, aux_logits=True, init_weights=False)
    torch.save(net.state_dict(), tmp_path / "googlenet.pth")
    loaded = load_model("googlenet", "cpu", weights=tmp_path / "googlenet.pth")
    assert loaded.net.aux1 is None and loaded.net.aux2 is None
    with torch.no_grad():
        assert loaded.logits(torch.rand(1, 3, 96, 96)).shape == (1, 1000)


def test_googlenet_gets_the_input_scale_its_imagenet_weights_expect(tmp_path: Path) -> None:
    """torchvision's ImageNet GoogLeNet is built with transform_input=True and fed
    ImageNet-normalized pictures; the network then sees transform_input's output. Ours must
    hand the network exactly that."""
    import torchvision

    net = torchvision.models.googlenet(weights=None, aux_logits=True, init_weights=False)
    torch.save(net.state_dict(), tmp_path / "googlenet.pth")
    reference = torchvision.models.googlenet(
        weights=None, aux_logits=True, init_weights=False, transform_input=True
    )
    loaded = load_model("googlenet", "cpu", weights=tmp_path / "googlenet.pth")
    x = torch.rand(2, 3, 8, 8)
    imagenet = torchvision.transforms.Normalize((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
    seen_by_torchvision = reference._transform_input(imagenet(x))
    assert torch.allclose(loaded.normalize(x), seen_by_torchvision, atol=1e-5)
    assert not torch.allclose(imagenet(x), seen_by_torchvision, atol=0.1)


def test_layers_and_essay_aliases() -> None:
    vgg = {i.name: i for i in list_layers("vgg16")}
    assert vgg["features.29"].shape == (512, 14, 14)
    assert vgg["features.30"].shape == (512, 7, 7)
    assert vgg["features.28"].alias == "conv13"
    assert resolve_layer("vgg16", "conv1") == "features.0"
    assert resolve_layer("vgg16", "conv10") == "features.21"
    lite = {i.name: i for i in list_layers("efficientnet_lite0")}
    assert lite["bn2"].shape == (1280, 7, 7)
    assert lite["blocks.4"].channels == 112
    assert {i.name: i for i in list_layers("resnet18")}["layer4"].shape == (512, 7, 7)
    assert {i.name: i for i in list_layers("googlenet")}["inception5b"].shape == (1024, 7, 7)


def test_wrong_layer_and_model_names_get_three_suggestions() -> None:
    with pytest.raises(UnknownNameError) as info:
        resolve_layer("efficientnet_lite0", "block.5")
    assert len(info.value.suggestions) == 3 and "blocks.5" in info.value.suggestions
    with pytest.raises(UnknownNameError, match="vgg16"):
        get_spec("vgg61")


def test_classes_by_index_name_and_underscores() -> None:
    assert resolve_class("207").name == "golden retriever"
    assert resolve_class("golden retriever").index == 207
    assert resolve_class("Golden_Retriever").index == 207
    with pytest.raises(UnknownNameError, match="golden retriever"):
        resolve_class("golden retreiver")
    assert resolve_class("Cardigan").index == 264  # the corgi
    assert resolve_class("cardigan").index == 474  # the sweater
    with pytest.raises(RendererError, match=r"ambiguous.*264.*474"):
        resolve_class("CARDIGAN")
    with pytest.raises(RendererError, match="out of range"):
        resolve_class("1000")


def test_device_resolution() -> None:
    assert resolve_device("cpu").type == "cpu"
    if not torch.cuda.is_available():
        assert resolve_device("auto").type in ("cpu", "mps")
        with pytest.raises(DeviceError, match="CUDA is not available"):
            resolve_device("cuda")
    with pytest.raises(DeviceError, match="unknown device"):
        resolve_device("tpu")


@pytest.mark.parametrize("variant", ["efficientnet_lite1", "efficientnet_lite2"])
def test_larger_lite_models_from_their_packages(variant: str) -> None:
    model = load_model(variant, "cpu")
    cat = classify_picture(model, Image.fromarray(data.chelsea()), top=1)
    assert cat[0].name in CATS
    assert model.spec.input_size in (240, 260)


def test_whole_picture_view_sees_what_the_crop_sees(lite0) -> None:
    from renderer.classify import classify_whole_picture

    big = Image.fromarray(data.chelsea()).resize((902, 600))
    assert classify_whole_picture(lite0, big, top=1)[0].name in CATS
    coffee = classify_whole_picture(lite0, Image.fromarray(data.coffee()), top=1)[0]
    assert coffee.name == "espresso" and coffee.prob > 0.5


def test_shipped_class_list_is_torchvisions() -> None:
    from torchvision.models._meta import _IMAGENET_CATEGORIES

    from renderer.classes import class_names

    assert class_names() == tuple(_IMAGENET_CATEGORIES)
