"""Optical flow between source frames, warping by it, and where it cannot be trusted.

The flow is scikit-image's iterative Lucas-Kanade (``optical_flow_ilk``) on grey frames
at half the dream's size, doubled back up. Measured on a pan and zoom over a photo (the
video bench prints the table): TV-L1 reached a slightly lower end-point error but cost
about twice the time per frame, and both are well under a pixel; OpenCV's DIS would add a
170 MB dependency for a gain the dream cannot show. A flow ``f`` from frame ``b`` to frame
``a`` is in pixels, (2, H, W) as (dy, dx): ``a[y, x]`` shows what ``b[y + dy, x + dx]``
showed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

METHODS = ("ilk", "tvl1")
MIN_FLOW_SIDE = 128  # a smaller frame's flow is found at its own size


@dataclass(frozen=True)
class FlowSettings:
    """Which estimator, at what fraction of the frame's size, and its window."""

    method: str = "tvl1"
    scale: float = 0.5
    radius: int = 7  # ilk's window
    # TV-L1's warps and iterations per warp: skimage's 5 and 10 cost 3x the time for a
    # 0.05 px better error on the bench clip; a flow image with a short side under
    # ``small`` px (cheap anyway) takes them: there 3 x 5 left 0.7 px of error on a pan
    warps: int = 3
    iterations: int = 5
    small: int = 160

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"flow method must be one of {METHODS}, got {self.method!r}")
        if not 0.1 <= self.scale <= 1.0 or min(self.radius, self.warps, self.iterations) < 1:
            raise ValueError(f"bad flow settings {self}")


def grey(rgb: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 or float in [0, 1] to (H, W) float32 luma."""
    x = rgb.astype(np.float32)
    if rgb.dtype == np.uint8:
        x /= 255.0
    return x @ np.array([0.299, 0.587, 0.114], dtype=np.float32)


def _resize2(a: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    t = torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32))[None]
    if t.dim() == 3:
        t = t[None]
    out = F.interpolate(t, size=size, mode="bilinear", align_corners=False, antialias=True)
    return out[0].squeeze(0).numpy()


def estimate(a: np.ndarray, b: np.ndarray, settings: FlowSettings = FlowSettings()) -> np.ndarray:
    """The flow from ``b`` to ``a`` (grey frames of one size): (2, H, W) float32 px."""
    from skimage.registration import optical_flow_ilk, optical_flow_tvl1

    h, w = a.shape
    scale = settings.scale if min(h, w) * settings.scale >= MIN_FLOW_SIDE else 1.0
    small = (round(h * scale), round(w * scale))
    sa, sb = (_resize2(x, small) if small != (h, w) else x for x in (a, b))
    if settings.method == "ilk":
        flow = optical_flow_ilk(sa, sb, radius=settings.radius, prefilter=True)
    else:
        full = min(small) < settings.small
        warps, iterations = (5, 10) if full else (settings.warps, settings.iterations)
        flow = optical_flow_tvl1(sa, sb, num_warp=warps, num_iter=iterations)
    flow = np.asarray(flow, dtype=np.float32)
    if small != (h, w):
        flow = _resize2(flow, (h, w))
        flow[0] *= h / small[0]
        flow[1] *= w / small[1]
    return flow


def _sample_points(flow: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Where each pixel of the new frame looks in the old one: (ys, xs), edges repeated."""
    _, h, w = flow.shape
    ys = (torch.arange(h, dtype=torch.float32).view(h, 1) + flow[0]).clamp(0, h - 1)
    xs = (torch.arange(w, dtype=torch.float32).view(1, w) + flow[1]).clamp(0, w - 1)
    return ys, xs


def warp(image: torch.Tensor, flow: np.ndarray | torch.Tensor) -> torch.Tensor:
    """``image`` (N, C, H, W) pulled along ``flow`` (the flow from ``image``'s frame to the
    new one): out[y, x] = image[y + dy, x + dx], bilinear, edges repeated. Written out
    rather than ``grid_sample``: a whole-pixel flow then copies pixels exactly (its
    normalized grid is off by float rounding)."""
    f = torch.as_tensor(flow, dtype=torch.float32).to(image.device)
    n, c, h, w = image.shape
    ys, xs = _sample_points(f)
    y0, x0 = ys.floor(), xs.floor()
    wy, wx = (ys - y0)[None, None], (xs - x0)[None, None]
    y0, x0 = y0.long(), x0.long()
    y1, x1 = (y0 + 1).clamp(max=h - 1), (x0 + 1).clamp(max=w - 1)
    flat = image.float().reshape(n, c, h * w)

    def at(yy: torch.Tensor, xx: torch.Tensor) -> torch.Tensor:
        index = (yy * w + xx).reshape(1, 1, h * w).expand(n, c, -1)
        return flat.gather(2, index).reshape(n, c, h, w)

    top = at(y0, x0) * (1 - wx) + at(y0, x1) * wx
    bottom = at(y1, x0) * (1 - wx) + at(y1, x1) * wx
    return top * (1 - wy) + bottom * wy


def consistent(backward: np.ndarray, forward: np.ndarray) -> np.ndarray:
    """Where the flow can be trusted, (H, W) bool: following ``backward`` (new -> previous)
    and then ``forward`` (previous -> new) returns near the start (Sundaram et al. 2010, as
    Ruder et al. 2016 use for video style transfer). Occluded, disoccluded and off-frame
    pixels fail."""
    b = torch.as_tensor(backward, dtype=torch.float32)
    f = torch.as_tensor(forward, dtype=torch.float32)
    f_at = warp(f[None], b)[0]
    round_trip = ((b + f_at) ** 2).sum(0)
    budget = 0.01 * ((b**2).sum(0) + (f_at**2).sum(0)) + 0.5
    _, h, w = b.shape
    ys = torch.arange(h, dtype=torch.float32).view(h, 1) + b[0]
    xs = torch.arange(w, dtype=torch.float32).view(1, w) + b[1]
    inside = (ys >= 0) & (ys <= h - 1) & (xs >= 0) & (xs <= w - 1)
    return ((round_trip <= budget) & inside).numpy()
