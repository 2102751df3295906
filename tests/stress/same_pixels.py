"""Same seeds, same bytes: does a refactor of the dream engine change any dream?

Not a CI test (it renders a dozen small dreams twice): run it as
``.venv/bin/python tests/stress/same_pixels.py --before /work/main --after .``.

Each side renders the same small dreams through ``renderer.dream.engine.render`` in its own
process on one thread: photo dreams with the ``classic`` preset (pixel and FFT), masked,
from a start picture, with octave frames, a video frame's finest octave from a detail, and
above a lowered ``BASE_SIZE`` (the refining octaves); layer dreams (FFT, pixel, MaCo) and a
class dream (MaCo, three starts). Every tensor of every result (images, frames, attribution,
objectives) is hashed; the two sides' hashes are compared case by case. Exits 1 on any
difference.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path


def _digest(result) -> str:
    import torch

    h = hashlib.sha256()
    tensors = [result.images, *result.frames]
    if result.attribution is not None:
        tensors.append(result.attribution)
    tensors.append(torch.tensor(result.objective_start + result.objective_end, dtype=torch.float64))
    for t in tensors:
        h.update(str(tuple(t.shape)).encode())
        h.update(t.contiguous().numpy().tobytes())
    return h.hexdigest()


def _photo(h: int, w: int):
    import numpy as np
    import torch
    from PIL import Image
    from skimage import data

    picture = Image.fromarray(data.chelsea()).resize((w, h), Image.Resampling.LANCZOS)
    array = np.asarray(picture, dtype=np.float32) / 255.0
    return torch.from_numpy(array).permute(2, 0, 1)[None].contiguous()


def _lower_base_size(side: int) -> None:
    """The refining octaves at a small size: ``BASE_SIZE`` wherever this side keeps it."""
    try:
        from renderer.dream import octaves as where
    except ImportError:
        from renderer.dream import engine as where
    where.BASE_SIZE = side


def render_all() -> dict[str, str]:
    import torch

    from renderer.dream.engine import render
    from renderer.dream.objectives import class_objective, layer_objective, resolve_terms
    from renderer.dream.presets import get_preset
    from renderer.models import load_model

    torch.set_num_threads(1)
    model = load_model("efficientnet_lite0", "cpu")
    classic = get_preset("classic").recipe.replace(octaves=3, steps=3)
    photo = _photo(72, 96)
    objective = layer_objective(resolve_terms(model, classic.terms))
    mask = torch.zeros(1, 1, 72, 96)
    mask[..., 10:60, 20:70] = 1.0
    mask[..., 8:10, :] = 0.5
    out = {}
    out["photo-pixel"] = render(model, objective, classic, seed=1, photo=photo)
    out["photo-fft"] = render(model, objective, classic.replace(param="fft"), seed=1, photo=photo)
    out["photo-mask"] = render(model, objective, classic, seed=2, photo=photo, mask=mask)
    out["photo-frames"] = render(model, objective, classic, seed=3, photo=photo, frames=True)
    out["start"] = render(model, objective, classic, seed=4, start=photo, measure=False)
    detail = (_photo(72, 96) - photo + 0.05).clamp(-1, 1)
    out["video-frame"] = render(
        model, objective, classic, seed=5, photo=photo, detail=detail, finest=1, measure=False
    )
    _lower_base_size(48)
    out["photo-refine"] = render(model, objective, classic, seed=6, photo=_photo(120, 160))
    _lower_base_size(512)
    for name in ("layer", "layer-psychedelic", "layer-maco"):
        recipe = get_preset(name).recipe.replace(octaves=2, steps=3)
        if recipe.param == "maco":
            recipe = recipe.replace(crops=2, crop_px=64)
        terms = layer_objective(resolve_terms(model, recipe.terms))
        out[name] = render(model, terms, recipe, seed=7, batch=2, size=(64, 64))
    recipe = get_preset("class").recipe.replace(steps=4, crops=2, crop_px=64)
    out["class-maco"] = render(
        model, class_objective([1, 963]), recipe, seed=8, batch=2, size=(64, 64)
    )
    return {name: _digest(result) for name, result in out.items()}


def _side(root: Path) -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": str(root.resolve()), "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [sys.executable, __file__, "--render"], env=env, capture_output=True, text=True
    )
    if done.returncode != 0:
        sys.exit(f"{root}: rendering failed\n{done.stderr}")
    return json.loads(done.stdout.splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", type=Path)
    parser.add_argument("--after", type=Path)
    parser.add_argument("--render", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.render:
        print(json.dumps(render_all()))
        return 0
    before, after = _side(args.before), _side(args.after)
    differ = 0
    for name in before:
        same = before[name] == after.get(name)
        differ += not same
        print(f"{name:18} {'same bytes' if same else 'DIFFERENT'}  {before[name][:16]}")
    print(f"{len(before) - differ} of {len(before)} cases byte-identical")
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
