"""Grad-CAM of a clip, frame by frame: where the network finds the class it sees first.

The class is the model's top-1 on the clip's first source frame, kept for the whole clip.
Each frame is one forward and backward pass (``explain.cam``). The colour scale is fixed
for the clip at the first frame's largest raw value (a per-frame min-max would make the
colours pulse whenever the evidence grows or fades); later values above it saturate.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import numpy as np
from PIL import Image

from ..classify import Prediction, classify_whole_picture
from ..explain.cam import class_activation_map, upsample
from ..explain.overlay import blend, colorbar
from ..models import LoadedModel
from .decode import ClipFrame
from .dream import to_tensor

COLORMAP = "inferno"
ALPHA = 0.5


def first_class(model: LoadedModel, rgb: np.ndarray) -> Prediction:
    return classify_whole_picture(model, Image.fromarray(rgb), top=1)[0]


def gradcam_frames(
    model: LoadedModel, frames: Iterable[ClipFrame], target: Prediction
) -> Iterator[tuple[np.ndarray, float]]:
    """Each frame with its Grad-CAM for ``target`` blended over it, and the scale's top
    (the first frame's largest raw value)."""
    layer = model.spec.default_layer
    top = None
    for frame in frames:
        x = model.normalize(to_tensor(frame.rgb).to(model.device))
        cam = class_activation_map(model.net, x, target.index, layer)
        raw = upsample(cam.coarse, tuple(x.shape[-2:]))[0].detach().cpu()
        if top is None:
            top = max(float(raw.max()), 1e-8)
        picture = blend(Image.fromarray(frame.rgb), (raw / top).clamp(0, 1), ALPHA, COLORMAP)
        yield np.asarray(picture), top


def legend(target: Prediction, top: float) -> Image.Image:
    return colorbar(COLORMAP, 0.0, top, f"Grad-CAM for {target.name} (raw; fixed for the clip)")
