"""Print-size bench: a photo dream's ``wall_time_s`` and peak memory at 512, 1024, 2048 and
4096 px from one 4032 x 3024 photo, the 2048/512 ratio (the goal is <= 10), and whether the
motifs keep the photo's scale (the 2048 px dream brought down to 512 px against the 512 px
dream: the share of the detail's energy in each frequency band).

Each size runs in a fresh process (``dream_photo``, the gallery's job function, with the
classic preset), so its peak resident size (Linux VmHWM) is its own. Run only this section
with ``make bench-printsize``; ``PRINTSIZE_SIZES=512,2048`` picks the sizes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import torch
from PIL import Image

from ..dream import regularizers as reg
from ..imageio import pil_to_tensor, save_image_atomic

SIZES = (512, 1024, 2048, 4096)
PHOTO_SIZE = (4032, 3024)
BANDS = 5

_SCRIPT = """
import json, sys, torch
torch.set_num_threads(int(sys.argv[4]))
from renderer.dream.jobs import dream_photo
from renderer.models import load_model
from renderer.photos import prepare_photo
from renderer.dream.presets import get_preset
def status(key):
    for line in open("/proc/self/status"):
        if line.startswith(key):
            return int(line.split()[1]) / 1024
path, size, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
model = load_model()
recipe = get_preset("classic").recipe.replace(size=size)
photo = prepare_photo(path, size, model.spec.min_size)
base = status("VmRSS")
records = dream_photo(model, photo, recipe, out, preset="classic", seed=0, command="bench")
dream = records[-1]
print(json.dumps({
    "wall_time_s": dream.wall_time_s, "peak_mib": status("VmHWM"), "base_mib": base,
    "output": dream.output, "photo": records[0].output,
    "size": [photo.image.width, photo.image.height],
}))
"""


def test_photo(path: Path) -> Path:
    """A 4032 x 3024 photo (a phone's 12 MP) from scikit-image's chelsea, cropped to 4:3 and
    enlarged: real shapes, though softer than a real 12 MP photo."""
    from skimage import data

    if not path.exists():
        img = Image.fromarray(data.chelsea()).crop((25, 0, 425, 300))
        img = img.resize(PHOTO_SIZE, Image.Resampling.LANCZOS)
        path.parent.mkdir(parents=True, exist_ok=True)
        img.save(path, quality=92)
    return path


def dream_in_process(photo: Path, size: int, out_dir: Path) -> dict:
    threads = str(torch.get_num_threads())
    out = subprocess.run(
        [sys.executable, "-c", _SCRIPT, str(photo), str(size), str(out_dir), threads],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def band_shares(detail: torch.Tensor, levels: int = BANDS) -> list[float]:
    """The share of the detail's energy in each Laplacian band, finest first."""
    energies = [float(b.square().sum()) for b in reg.laplacian_split(detail, levels)]
    total = sum(energies) or 1.0
    return [round(e / total, 3) for e in energies]


def motif_scale(out_dir: Path, small: dict, large: dict) -> dict:
    """Both dreams' detail at the small one's size, by band, and a side-by-side pair."""
    small_dream = Image.open(out_dir / small["output"]).convert("RGB")
    small_photo = Image.open(out_dir / small["photo"]).convert("RGB")
    size = small_dream.size

    def down(name: str) -> Image.Image:
        img = Image.open(out_dir / name).convert("RGB")
        return img.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)

    large_dream, large_photo = down(large["output"]), down(large["photo"])
    small_shares = band_shares(pil_to_tensor(small_dream) - pil_to_tensor(small_photo))
    large_shares = band_shares(pil_to_tensor(large_dream) - pil_to_tensor(large_photo))
    pair = Image.new("RGB", (2 * size[0] + 8, size[1]), "white")
    pair.paste(small_dream, (0, 0))
    pair.paste(large_dream, (size[0] + 8, 0))
    save_image_atomic(pair, out_dir / "pair-512-vs-2048-downscaled.png")
    return {
        "band_energy_512": small_shares,
        f"band_energy_{large['size'][0]}_at_512": large_shares,
        "band_energy_max_abs_difference": round(
            max(abs(a - b) for a, b in zip(small_shares, large_shares, strict=True)), 3
        ),
    }


def run(out_dir: Path) -> dict:
    out_dir = Path(out_dir) / "printsize"
    out_dir.mkdir(parents=True, exist_ok=True)
    photo = test_photo(out_dir / "photo-4032x3024.jpg")
    chosen = os.environ.get("PRINTSIZE_SIZES")
    sizes = tuple(int(s) for s in chosen.split(",")) if chosen else SIZES
    results: dict[str, object] = {"threads": torch.get_num_threads()}
    runs = {}
    for size in sizes:
        figures = dream_in_process(photo, size, out_dir / f"{size}px")
        figures["dir"] = f"{size}px"
        runs[size] = figures
        results[f"wall_time_s_{size}px"] = round(figures["wall_time_s"], 2)
        results[f"peak_rss_mib_{size}px"] = round(figures["peak_mib"])
        results[f"peak_added_mib_{size}px"] = round(figures["peak_mib"] - figures["base_mib"])
    if 512 in runs and 2048 in runs:
        results["ratio_2048_over_512"] = round(
            runs[2048]["wall_time_s"] / runs[512]["wall_time_s"], 2
        )
        small = {**runs[512], "output": f"512px/{runs[512]['output']}"}
        small["photo"] = f"512px/{runs[512]['photo']}"
        large = {**runs[2048], "output": f"2048px/{runs[2048]['output']}"}
        large["photo"] = f"2048px/{runs[2048]['photo']}"
        results.update(motif_scale(out_dir, small, large))
    return results
