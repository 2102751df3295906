"""MaCo's magnitude template: the mean Fourier magnitude of natural photos, in decorrelated colour.

MaCo (Fel et al. 2023) fixes an image's Fourier magnitude to that of natural images and
optimizes only the phase. Horama downloads its template; here it is computed from the
permissively licensed photos that scikit-image and scikit-learn install (run
``python -m renderer.dream.template``), and ships as ``renderer/data/maco-magnitude.npy``:
one (3, S, S // 2 + 1) float16 array in ``rfft2`` layout, the magnitudes of the three
decorrelated colour channels (luminance first) of Hann-windowed square windows. The window
keeps the photos' borders from adding a cross of false energy along the axes, and the axes
themselves take their neighbours' level (upright edges in the photos streaked the dreams).

``load_template`` resamples its ring profile to any image size at the image's frequencies
in cycles per pixel; ``power-law`` is the alternative: per channel ``A / f**alpha`` fitted
to the same average (it measured less recognizable; see docs/dreams.md).
"""

from __future__ import annotations

import sys
from importlib import resources
from pathlib import Path

import numpy as np
import torch

from ..errors import RecipeError
from .parametrization import COLOR_MATRIX

SIZE = 256
SHIPPED = "maco-magnitude.npy"
TEMPLATES = ("average", "power-law")


def _photos() -> list[np.ndarray]:
    """The colour photographs installed with scikit-image and scikit-learn."""
    from skimage import data
    from sklearn.datasets import load_sample_images

    pictures = [data.astronaut(), data.chelsea(), data.coffee(), data.rocket()]
    pictures.append(data.stereo_motorcycle()[0])
    pictures += list(load_sample_images().images)
    return pictures


def _windows(picture: np.ndarray, size: int) -> list[np.ndarray]:
    """Square windows: the whole short side resized to ``size``, plus tiles of ``size``."""
    from PIL import Image

    image = Image.fromarray(picture)
    side = min(image.size)
    out = []
    for scale in (size / side, 2 * size / side):
        w, h = round(image.width * scale), round(image.height * scale)
        scaled = np.asarray(image.resize((w, h), Image.Resampling.LANCZOS), np.float64) / 255
        for y in range(0, h - size + 1, size):
            for x in range(0, w - size + 1, size):
                out.append(scaled[y : y + size, x : x + size])
    return out


def compute_template(pictures: list[np.ndarray], size: int = SIZE) -> np.ndarray:
    """The mean |rfft2| of Hann-windowed windows in decorrelated colour, (3, size, size//2+1)."""
    inverse = np.linalg.inv(COLOR_MATRIX.double().numpy())
    hann = np.outer(np.hanning(size), np.hanning(size))
    total = np.zeros((3, size, size // 2 + 1))
    count = 0
    for picture in pictures:
        for window in _windows(picture, size):
            centred = window - window.mean(axis=(0, 1))
            decorrelated = np.einsum("hwc,dc->dhw", centred, inverse) * hann
            total += np.abs(np.fft.rfft2(decorrelated, norm="ortho"))
            count += 1
    return (total / count).astype(np.float32)


def radial_frequency(h: int, w: int) -> torch.Tensor:
    """|f| in cycles per pixel on the (h, w // 2 + 1) rfft2 grid."""
    fy = torch.fft.fftfreq(h, dtype=torch.float64).view(-1, 1)
    fx = torch.fft.rfftfreq(w, dtype=torch.float64).view(1, -1)
    return torch.sqrt(fy.square() + fx.square())


def fit_power_law(template: np.ndarray) -> list[tuple[float, float]]:
    """Per channel (A, alpha) of ``A / f**alpha``, least squares in log-log space over
    2/S to 1/4 cycles per pixel (below, the window blurs the spectrum; above, the photos'
    JPEG compression and resizing have removed detail)."""
    s = template.shape[-2]
    f = radial_frequency(s, s).numpy()
    keep = (f >= 2 / s) & (f <= 0.25)
    fits = []
    for channel in template:
        slope, intercept = np.polyfit(np.log(f[keep]), np.log(channel[keep] + 1e-12), 1)
        fits.append((float(np.exp(intercept)), float(-slope)))
    return fits


def log_log_slope(template: np.ndarray) -> float:
    """The luminance channel's falloff exponent (natural images: about -1)."""
    return -fit_power_law(template)[0][1]


def read_template(path: Path | None = None) -> np.ndarray:
    """The shipped template, or ``path``: (3, S, S//2+1), finite, non-negative."""
    where = str(path) if path is not None else f"the shipped template {SHIPPED}"
    try:
        if path is None:
            with resources.files("renderer").joinpath("data", SHIPPED).open("rb") as f:
                array = np.load(f, allow_pickle=False)
        else:
            array = np.load(Path(path).expanduser(), allow_pickle=False)
    except FileNotFoundError:
        raise RecipeError(f"magnitude template {where}: no such file") from None
    except (OSError, ValueError, EOFError) as exc:
        raise RecipeError(f"magnitude template {where}: not a .npy array ({exc})") from None
    array = np.asarray(array, dtype=np.float32)
    if array.ndim != 3 or array.shape[0] != 3 or array.shape[2] != array.shape[1] // 2 + 1:
        raise RecipeError(
            f"magnitude template {where}: expected shape (3, S, S//2+1), got {array.shape}"
        )
    if not np.isfinite(array).all() or (array < 0).any() or not array.any():
        raise RecipeError(f"magnitude template {where}: values must be finite, >= 0, not all 0")
    return array


def radial_profile(template: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The template averaged over rings of width 1/S: (frequencies, (3, rings) magnitudes).
    An isotropic magnitude: upright edges in the photos had left a band of extra energy
    near the axes that streaked every dream with faint vertical and horizontal lines."""
    s = template.shape[-2]
    f = radial_frequency(s, s).numpy()
    ring = np.rint(f * s).astype(int)
    weights = np.bincount(ring.ravel())
    keep = weights > 0
    profile = np.stack([np.bincount(ring.ravel(), c.ravel()) for c in template])
    centres = np.arange(len(weights)) / s
    return centres[keep], (profile[:, keep] / weights[keep])


def _from_profile(template: np.ndarray, h: int, w: int) -> torch.Tensor:
    freqs, profile = radial_profile(template)
    f = radial_frequency(h, w).numpy()
    rings = [np.interp(f, freqs[1:], channel[1:]) for channel in profile]  # DC: its own
    return torch.from_numpy(np.stack(rings)).float()


def load_template(kind: str, h: int, w: int) -> torch.Tensor:
    """The magnitude for an (h, w) image, (3, h, w//2+1): ``average`` (the shipped mean's
    ring profile, at the image's frequencies in cycles per pixel), ``power-law`` (its fit)
    or a path to a .npy of the same layout. Zero at the DC bin: the mean colour is a
    parameter of its own."""
    if kind == "power-law":
        f = radial_frequency(h, w).clamp(min=1.0 / max(h, w))
        fits = fit_power_law(read_template())
        magnitude = torch.stack([a * f.pow(-alpha) for a, alpha in fits]).float()
    else:
        array = read_template(None if kind == "average" else Path(kind))
        magnitude = _from_profile(array, h, w)
    magnitude[:, 0, 0] = 0.0
    return magnitude


def main(argv: list[str] | None = None) -> int:
    """Compute the template from the installed photos and write it (float16 .npy)."""
    out = Path(argv[0]) if argv else Path(__file__).resolve().parents[1] / "data" / SHIPPED
    template = compute_template(_photos())
    tmp = out.with_suffix(".tmp.npy")
    np.save(tmp, template.astype(np.float16), allow_pickle=False)
    tmp.replace(out)
    print(f"{out}: shape {template.shape}, luminance slope {log_log_slope(template):.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
