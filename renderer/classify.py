"""Top-k ImageNet predictions for pictures."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from PIL import Image

from .classes import class_names
from .imageio import pil_to_tensor
from .models import LoadedModel

CROP_FRACTION = 0.875


@dataclass(frozen=True)
class Prediction:
    index: int
    name: str
    prob: float

    def to_dict(self) -> dict[str, object]:
        return {"index": self.index, "name": self.name, "prob": round(self.prob, 6)}


def classifier_input(img: Image.Image, size: int) -> torch.Tensor:
    """The standard evaluation view: short side to size/0.875, then a centre crop of ``size``."""
    short = round(size / CROP_FRACTION)
    scale = short / min(img.size)
    resized = img.resize(
        (max(size, round(img.width * scale)), max(size, round(img.height * scale))),
        Image.Resampling.BICUBIC,
    )
    left = (resized.width - size) // 2
    top = (resized.height - size) // 2
    return pil_to_tensor(resized.crop((left, top, left + size, top + size)))


@torch.inference_mode()
def top_predictions(
    model: LoadedModel, images: torch.Tensor, top: int = 5
) -> list[list[Prediction]]:
    """The ``top`` most probable classes for each image of a (N, 3, H, W) batch in [0, 1]."""
    probs = torch.softmax(model.logits(images.to(model.device)).float(), dim=1).cpu()
    values, indices = probs.topk(min(top, probs.shape[1]), dim=1)
    names = class_names()
    return [
        [Prediction(int(i), names[int(i)], float(p)) for p, i in zip(row_p, row_i, strict=True)]
        for row_p, row_i in zip(values, indices, strict=True)
    ]


def classify_picture(model: LoadedModel, img: Image.Image, top: int = 5) -> list[Prediction]:
    """Top-k predictions for one RGB picture, seen the way the model was trained to see."""
    return top_predictions(model, classifier_input(img, model.spec.input_size), top)[0]


def classify_whole_picture(model: LoadedModel, img: Image.Image, top: int = 5) -> list[Prediction]:
    """Top-k for the whole picture, uncropped, its short side at the model's input size.

    Dreams and explanations work on whole pictures, so the gallery's "what the network sees"
    uses this view too; at the training scale the model stays as confident as it was trained.
    """
    size = model.spec.input_size
    scale = size / min(img.size)
    view = img.resize(
        (max(1, round(img.width * scale)), max(1, round(img.height * scale))),
        Image.Resampling.BICUBIC,
    )
    return top_predictions(model, pil_to_tensor(view), top)[0]
