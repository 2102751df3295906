"""Explanation timings on one 224 px photo: Grad-CAM, Guided Backprop and Grad-CAM's
deletion/insertion AUCs. LIME has its own section (``renderer.bench.lime``): its agreement
with the answer LIME converges to, and its time against ``lime_image``'s.
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import torch
from PIL import Image

from ..explain import faithfulness
from ..explain.cam import class_activation_map
from ..explain.guided import guided_backprop
from ..imageio import fit_long_side, pil_to_tensor
from ..models import LoadedModel, load_model

SIZE = 224


def probabilities(model: LoadedModel) -> Callable[[torch.Tensor], torch.Tensor]:
    """The plain network as a probability function: (B, 3, H, W) in [0, 1] -> (B, 1000);
    what ``lime_image`` calls in the LIME section."""

    def run(images: torch.Tensor) -> torch.Tensor:
        images = images.to(model.device).contiguous(memory_format=torch.channels_last)
        with torch.inference_mode():
            return torch.softmax(model.logits(images).float(), dim=1)

    return run


def _seconds(work: Callable[[], object], repeat: int = 3) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        work()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _photo(name: str = "chelsea") -> Image.Image:
    from skimage import data

    return fit_long_side(Image.fromarray(getattr(data, name)()), SIZE)


def run(out_dir: Path, device: str | None = None) -> dict:
    out_dir.mkdir(parents=True, exist_ok=True)
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    model = load_model("efficientnet_lite0", device)
    picture = _photo()
    image01 = pil_to_tensor(picture).to(model.device)
    inputs = model.normalize(image01)
    probs_fn = probabilities(model)
    target = int(probs_fn(image01).argmax())
    layer = model.spec.default_layer
    figures: dict[str, object] = {
        "device": str(model.device),
        "torch_threads": torch.get_num_threads(),
        "photo": f"skimage chelsea, {picture.width}x{picture.height}",
        "target_class": target,
    }

    class_activation_map(model.net, inputs, target, layer)  # warm-up
    figures["gradcam_s"] = round(
        _seconds(lambda: class_activation_map(model.net, inputs, target, layer)), 4
    )
    figures["guided_backprop_s"] = round(
        _seconds(lambda: guided_backprop(model.net, inputs, target)), 4
    )
    cam = class_activation_map(model.net, inputs, target, layer)
    score = lambda batch: probs_fn(batch)[:, target]  # noqa: E731
    fid = faithfulness.deletion_insertion(score, image01[0], cam.maps[0])
    figures["gradcam_deletion_auc"] = round(fid.deletion_auc, 4)
    figures["gradcam_insertion_auc"] = round(fid.insertion_auc, 4)
    return figures


def main(argv: list[str] | None = None) -> None:
    """``python -m renderer.bench.explain``: the explanation timings alone."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m renderer.bench.explain")
    parser.add_argument("--out", type=Path, default=Path("bench-results"))
    args = parser.parse_args(argv)
    print(json.dumps(run(args.out), indent=2))


if __name__ == "__main__":
    main()
