"""Heatmaps over photos, colour legends and LIME panels, RGB from end to end.

Colour scales are perceptually uniform (inferno by default, the viridis family), never JET:
equal steps in the map look like equal steps in colour, so two photos' maps compare. The
lookup tables come from ``_luts.py`` (256 colours each, generated once from matplotlib, which
is not a runtime dependency). Every array here is H x W x 3 in R, G, B order, as PIL and the
model see it; nothing goes through OpenCV's BGR.
"""

from __future__ import annotations

from functools import cache

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

from ._luts import LUT_HEX

BOUNDARY_RGB = (255, 221, 0)  # the essay's yellow superpixel borders
POSITIVE_RGB = (0, 158, 115)  # Okabe-Ito bluish green: readable with red-green colour blindness
NEGATIVE_RGB = (213, 94, 0)  # Okabe-Ito vermillion
TEXT_RGB = (235, 235, 235)
STRIP_RGB = (24, 24, 24)


@cache
def lut(name: str = "inferno") -> np.ndarray:
    """The (256, 3) uint8 RGB table of a colormap (``gray`` is the linear grey ramp)."""
    if name == "gray":
        table = np.repeat(np.arange(256, dtype=np.uint8)[:, None], 3, axis=1)
        table.setflags(write=False)
        return table
    if name not in LUT_HEX:
        raise ValueError(f"unknown colormap {name!r}; known: {', '.join(LUT_HEX)}")
    table = np.frombuffer(bytes.fromhex("".join(LUT_HEX[name])), dtype=np.uint8)
    table = table.reshape(256, 3)
    table.setflags(write=False)
    return table


def _as_array(values: np.ndarray | torch.Tensor) -> np.ndarray:
    if isinstance(values, torch.Tensor):
        values = values.detach().float().cpu().numpy()
    return np.asarray(values, dtype=np.float64)


def colorize(map01: np.ndarray | torch.Tensor, colormap: str = "inferno") -> np.ndarray:
    """An (H, W) map in [0, 1] to (H, W, 3) uint8 RGB through the colormap."""
    values = np.nan_to_num(_as_array(map01), nan=0.0)
    index = np.clip(np.round(values * 255.0), 0, 255).astype(np.uint8)
    return lut(colormap)[index]


def blend(
    photo: Image.Image,
    map01: np.ndarray | torch.Tensor,
    alpha: float | np.ndarray = 0.5,
    colormap: str = "inferno",
) -> Image.Image:
    """``(1 - alpha) * photo + alpha * colour(map)``; alpha is a number or an (H, W) array.

    Where alpha is 0 the photo's pixels come through untouched."""
    base = np.asarray(photo.convert("RGB"), dtype=np.float64)
    colour = colorize(map01, colormap).astype(np.float64)
    if colour.shape != base.shape:
        raise ValueError(f"map {colour.shape[:2]} and photo {base.shape[:2]} differ in size")
    a = np.asarray(alpha, dtype=np.float64)
    if a.ndim == 2:
        a = a[..., None]
    out = (1.0 - a) * base + a * colour
    return Image.fromarray(np.clip(np.round(out), 0, 255).astype(np.uint8), mode="RGB")


def heatmap_image(map01: np.ndarray | torch.Tensor, colormap: str = "inferno") -> Image.Image:
    """A map on its own, full colour (for guided maps, which carry their own detail)."""
    return Image.fromarray(colorize(map01, colormap), mode="RGB")


# --------------------------------------------------------------------------- text and legends


@cache
def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1
        return ImageFont.load_default()


def _fmt(value: float) -> str:
    return f"{value:.3g}" if abs(value) >= 1e-3 or value == 0 else f"{value:.2e}"


def colorbar(
    colormap: str, low: float, high: float, label: str, width: int = 320, height: int = 64
) -> Image.Image:
    """A horizontal colour bar with its minimum and maximum written under the ends."""
    img = Image.new("RGB", (width, height), STRIP_RGB)
    pad, bar_h = 10, 18
    ramp = np.linspace(0.0, 1.0, width - 2 * pad)
    bar = np.repeat(colorize(ramp[None, :], colormap), bar_h, axis=0)
    img.paste(Image.fromarray(bar, mode="RGB"), (pad, 6))
    draw = ImageDraw.Draw(img)
    font = _font(12)
    lo_text, hi_text = _fmt(low), _fmt(high)
    y = 6 + bar_h + 4
    draw.text((pad, y), lo_text, fill=TEXT_RGB, font=font)
    hi_w = draw.textlength(hi_text, font=font)
    draw.text((width - pad - hi_w, y), hi_text, fill=TEXT_RGB, font=font)
    label_w = draw.textlength(label, font=font)
    draw.text(((width - label_w) / 2, y + 16), label, fill=TEXT_RGB, font=font)
    return img


def with_caption(img: Image.Image, lines: list[str], size: int = 13) -> Image.Image:
    """The image with a dark strip of text lines under it."""
    font = _font(size)
    line_h = size + 5
    out = Image.new("RGB", (img.width, img.height + line_h * len(lines) + 8), STRIP_RGB)
    out.paste(img.convert("RGB"), (0, 0))
    draw = ImageDraw.Draw(out)
    for i, line in enumerate(lines):
        draw.text((6, img.height + 4 + i * line_h), line, fill=TEXT_RGB, font=font)
    return out


def side_by_side(images: list[Image.Image], gap: int = 4) -> Image.Image:
    height = max(i.height for i in images)
    width = sum(i.width for i in images) + gap * (len(images) - 1)
    out = Image.new("RGB", (width, height), STRIP_RGB)
    x = 0
    for img in images:
        out.paste(img.convert("RGB"), (x, 0))
        x += img.width + gap
    return out


# --------------------------------------------------------------------------- LIME panels


def boundary_mask(segments: np.ndarray) -> np.ndarray:
    """Pixels on the border between superpixels (both sides, one pixel each)."""
    seg = np.asarray(segments)
    edge = np.zeros(seg.shape, dtype=bool)
    horizontal = seg[:, 1:] != seg[:, :-1]
    vertical = seg[1:, :] != seg[:-1, :]
    edge[:, 1:] |= horizontal
    edge[:, :-1] |= horizontal
    edge[1:, :] |= vertical
    edge[:-1, :] |= vertical
    return edge


def segments_panel(photo: Image.Image, segments: np.ndarray) -> Image.Image:
    """The photo with its superpixel borders drawn in yellow, as in the essay's figures."""
    arr = np.array(photo.convert("RGB"))
    arr[boundary_mask(segments)] = BOUNDARY_RGB
    return Image.fromarray(arr, mode="RGB")


def top_segments_panel(photo: Image.Image, segments: np.ndarray, chosen: np.ndarray) -> Image.Image:
    """Only the chosen superpixels, the rest black (the essay's ``image * mask``), with the
    chosen region's outline in yellow."""
    keep = np.isin(segments, chosen)
    arr = np.array(photo.convert("RGB"))
    arr[~keep] = 0
    arr[boundary_mask(keep.astype(np.int8)) & keep] = BOUNDARY_RGB
    return Image.fromarray(arr, mode="RGB")


def posneg_panel(
    photo: Image.Image, segments: np.ndarray, weights: np.ndarray, count: int = 10
) -> Image.Image:
    """The ``count`` superpixels with the largest |weight|, tinted green when they raise the
    target probability and vermillion when they lower it; the rest dimmed."""
    arr = np.asarray(photo.convert("RGB"), dtype=np.float64)
    order = np.lexsort((np.arange(len(weights)), -np.abs(weights)))[:count]
    out = arr * 0.35
    scale = float(np.abs(weights[order]).max()) if len(order) else 0.0
    for index in order:
        region = segments == index
        tint = np.array(POSITIVE_RGB if weights[index] > 0 else NEGATIVE_RGB, dtype=np.float64)
        strength = 0.35 + 0.3 * (abs(float(weights[index])) / scale if scale > 0 else 0.0)
        out[region] = (1 - strength) * arr[region] + strength * tint
    result = np.clip(np.round(out), 0, 255).astype(np.uint8)
    chosen = np.isin(segments, order)
    result[boundary_mask(segments) & chosen] = (255, 255, 255)
    return Image.fromarray(result, mode="RGB")
