"""Feature accentuation (Hamblin et al. 2024): what would the network need to see more of?

A photo is written as MaCo's parametrization of itself (its own Fourier magnitude, phase
and mean colour), and its phase climbs a class's logit on random crops while a penalty
keeps the features of an intermediate layer close to the photo's. The result still looks
like the photo, with more of whatever makes the network sure of the class; its caption
gives the class probability before and after, and the likeness (SSIM) to the photo.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..errors import RecipeError
from ..hooks import run_until
from ..models import LoadedModel
from .crops import CropSpec
from .maco import MacoParam, ascend, normalize_map
from .objectives import class_objective


@dataclass(frozen=True)
class AccentSettings:
    """The accentuation's values; recorded whole in its provenance."""

    steps: int = 16
    lr: float = 0.1
    crops: int = 4
    crop_min: float = 0.6
    crop_max: float = 1.0
    noise: float = 0.02
    layer: str = "blocks.4"
    penalty: float = 5.0
    size: int = 512

    def __post_init__(self) -> None:
        checks = [
            (1 <= self.steps <= 10_000, f"steps must be in [1, 10000], got {self.steps}"),
            (0.0 < self.lr <= 10.0, f"lr must be in (0, 10], got {self.lr}"),
            (1 <= self.crops <= 256, f"crops must be in [1, 256], got {self.crops}"),
            (
                0.0 < self.crop_min <= self.crop_max <= 1.0,
                f"crop sizes must satisfy 0 < crop-min <= crop-max <= 1, "
                f"got {self.crop_min} and {self.crop_max}",
            ),
            (0.0 <= self.noise <= 0.5, f"noise must be in [0, 0.5], got {self.noise}"),
            (0.0 <= self.penalty <= 1e4, f"penalty must be in [0, 10000], got {self.penalty}"),
            (64 <= self.size <= 4096, f"size must be in [64, 4096] px, got {self.size}"),
        ]
        for ok, message in checks:
            if not ok:
                raise RecipeError(message)

    @property
    def crop_spec(self) -> CropSpec:
        return CropSpec(self.crops, self.crop_min, self.crop_max, 0.1, self.noise)

    def to_params(self) -> dict:
        from dataclasses import asdict

        return asdict(self)


@dataclass
class Accentuation:
    image: torch.Tensor  # (1, 3, H, W) in [0, 1], on the CPU
    attribution: torch.Tensor  # (1, H, W) in [0, 1]
    prob_before: float
    prob_after: float
    likeness: float  # SSIM to the photo, on luminance


def _thumbnail(model: LoadedModel, images: torch.Tensor) -> torch.Tensor:
    size = model.spec.input_size
    return F.interpolate(images, size=(size, size), mode="bilinear", antialias=True)


@torch.no_grad()
def class_probability(model: LoadedModel, images: torch.Tensor, index: int) -> float:
    logits = model.logits(_thumbnail(model, images.to(model.device))).float()
    return float(torch.softmax(logits, 1)[0, index])


def likeness(a: torch.Tensor, b: torch.Tensor) -> float:
    """SSIM of two (1, 3, H, W) pictures on their luminance (scikit-image)."""
    from skimage.metrics import structural_similarity

    weights = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
    ya = (a.cpu().float() * weights).sum(1)[0].numpy()
    yb = (b.cpu().float() * weights).sum(1)[0].numpy()
    return float(structural_similarity(ya, yb, data_range=1.0))


def accentuate(
    model: LoadedModel,
    photo: torch.Tensor,
    index: int,
    settings: AccentSettings,
    *,
    seed: int,
    on_step=None,
) -> Accentuation:
    """Accentuate class ``index`` in ``photo`` (1, 3, H, W in [0, 1])."""
    photo = photo.to(model.device).float()
    param = MacoParam.from_image(photo)
    start = param.image().detach()  # the photo as the parametrization sees it
    with torch.no_grad():
        target = run_until(model.net, model.normalize(_thumbnail(model, start)), [settings.layer])
    reference = target[settings.layer].float()
    scale = reference.square().mean().clamp(min=1e-8)

    def penalty(image: torch.Tensor) -> torch.Tensor:
        acts = run_until(model.net, model.normalize(_thumbnail(model, image)), [settings.layer])
        distance = (acts[settings.layer].float() - reference).square().flatten(1).mean(1)
        return settings.penalty * distance / scale

    attribution = ascend(
        model,
        class_objective([index]),
        param,
        steps=settings.steps,
        lr=settings.lr,
        spec=settings.crop_spec,
        crop_px=model.spec.input_size,
        generator=torch.Generator().manual_seed(seed),
        penalty=penalty,
        on_step=on_step,
        colour=False,
    )
    image = param.image().detach().clamp(0, 1).cpu()
    return Accentuation(
        image,
        normalize_map(attribution).cpu(),
        class_probability(model, photo, index),
        class_probability(model, image, index),
        likeness(image, photo),
    )


def accentuate_photo(
    model: LoadedModel,
    photo,
    settings: AccentSettings,
    out_dir,
    *,
    target: str | None,
    seed: int,
    command: str,
) -> list:
    """``<key>/accentuated-<class>.png`` and its transparency view, the working photo, their
    sidecars and manifest entries. The class is ``target``, or the photo's top-1."""
    from pathlib import Path

    from ..classes import resolve_class
    from ..classify import classify_whole_picture
    from ..clikit import Stopwatch
    from ..imageio import pil_to_tensor, save_image_atomic, tensor_to_pil
    from ..naming import slug
    from ..photos import publish_photo
    from ..provenance import publish
    from .maco import transparency_view

    clock = Stopwatch()
    out_dir = Path(out_dir)
    if target:
        cls = resolve_class(target)
        index, name = cls.index, cls.name
    else:
        top = classify_whole_picture(model, photo.image, top=1)[0]
        index, name = top.index, top.name
    result = accentuate(model, pil_to_tensor(photo.image), index, settings, seed=seed)
    stem = f"{photo.key}/accentuated-{slug(name)}"
    output, view = f"{stem}.png", f"{stem}-attribution.png"
    save_image_atomic(tensor_to_pil(result.image), out_dir / output)
    picture = transparency_view(result.image[0], result.attribution[0])
    save_image_atomic(tensor_to_pil(picture[None]), out_dir / view)
    caption = (
        f"Accentuated {name}: p {result.prob_before:.2f} → {result.prob_after:.2f} · "
        f"likeness to the photo (SSIM) {result.likeness:.2f}"
    )
    extra = {
        "class_index": index,
        "class_name": name,
        "prob_before": round(result.prob_before, 6),
        "prob_after": round(result.prob_after, 6),
        "ssim": round(result.likeness, 4),
        "attribution": view,
        "caption": caption,
    }
    records = [
        publish_photo(out_dir, photo, model, command),
        model.record(
            "accentuation",
            output,
            command,
            inputs=(photo.input,),
            params=settings.to_params(),
            seed=seed,
            wall_time_s=clock.seconds,
            extra=extra,
        ),
    ]
    publish(out_dir, records)
    return records
