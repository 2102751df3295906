"""A synthetic clip with known motion: a camera panning and zooming over a photo, and a
disc crossing it. The bench measures flow and flicker on it against the true motion; the
sample gallery and the tests use it as a clip (no video is downloaded).
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class Camera:
    """Frame ``t`` shows the photo around ``centre + t * pan`` (photo px), magnified
    ``zoom ** t`` times from ``scale`` photo px per frame px."""

    width: int
    height: int
    centre: tuple[float, float]  # (y, x) in the photo
    pan: tuple[float, float] = (0.0, 1.5)  # photo px per frame
    zoom: float = 1.004
    scale: float = 1.0  # photo px per frame px at frame 0

    def photo_coords(self, t: int) -> tuple[np.ndarray, np.ndarray]:
        """Where each pixel of frame ``t`` looks in the photo: (ys, xs)."""
        y, x = np.mgrid[0 : self.height, 0 : self.width].astype(np.float64)
        k = self.scale / self.zoom**t
        cy, cx = self.centre[0] + t * self.pan[0], self.centre[1] + t * self.pan[1]
        return cy + (y - (self.height - 1) / 2) * k, cx + (x - (self.width - 1) / 2) * k

    def flow(self, t: int) -> np.ndarray:
        """The true flow from frame ``t - 1`` to frame ``t`` (see ``flow.py``): (2, H, W)."""
        ys, xs = self.photo_coords(t)
        k = self.scale / self.zoom ** (t - 1)
        cy, cx = self.centre[0] + (t - 1) * self.pan[0], self.centre[1] + (t - 1) * self.pan[1]
        py = (ys - cy) / k + (self.height - 1) / 2
        px = (xs - cx) / k + (self.width - 1) / 2
        y, x = np.mgrid[0 : self.height, 0 : self.width].astype(np.float64)
        return np.stack([py - y, px - x]).astype(np.float32)


def _sample(photo: torch.Tensor, ys: np.ndarray, xs: np.ndarray) -> torch.Tensor:
    h, w = photo.shape[-2:]
    grid = torch.from_numpy(np.stack([xs / (w - 1) * 2 - 1, ys / (h - 1) * 2 - 1], -1)).float()
    out = F.grid_sample(
        photo, grid[None], mode="bicubic", padding_mode="border", align_corners=True
    )
    return out.clamp(0, 1)


def disc_mask(camera: Camera, t: int, frames: int) -> np.ndarray:
    """Where the moving disc covers frame ``t``: (H, W) bool. It crosses the frame's lower
    half from left to right over the clip, at screen speed (the camera does not carry it)."""
    h, w = camera.height, camera.width
    r = 0.12 * min(h, w)
    cx = -r + (w + 2 * r) * t / max(1, frames - 1)
    cy = 0.68 * h
    y, x = np.mgrid[0:h, 0:w]
    return (y - cy) ** 2 + (x - cx) ** 2 <= r * r


def render_clip(photo: np.ndarray, camera: Camera, frames: int, disc: bool = True) -> np.ndarray:
    """(frames, H, W, 3) uint8: the camera's views of ``photo`` (H, W, 3 uint8), with the
    disc drawn on top when ``disc``."""
    t_photo = torch.from_numpy(photo).permute(2, 0, 1)[None].float() / 255.0
    out = np.empty((frames, camera.height, camera.width, 3), dtype=np.uint8)
    for t in range(frames):
        view = _sample(t_photo, *camera.photo_coords(t))[0].permute(1, 2, 0).numpy()
        if disc:
            mask = disc_mask(camera, t, frames)
            view[mask] = (0.95, 0.35, 0.1)
        out[t] = np.round(view * 255).astype(np.uint8)
    return out


def sample_camera(photo_shape: tuple[int, ...], width: int, height: int, frames: int) -> Camera:
    """A slow pan across and zoom into ``photo``, staying inside it for ``frames`` frames."""
    ph, pw = photo_shape[:2]
    scale = min(0.9 * pw / width, 0.9 * ph / height)
    pan_x = 0.06 * pw / max(1, frames)
    return Camera(width, height, (ph / 2, pw / 2 - 0.03 * pw), (0.0, pan_x), 1.003, scale)


def write_clip(
    path: str | Path,
    frames: np.ndarray,
    fps: int = 12,
    tone_hz: float | None = 440.0,
    rotation: int = 0,
    codec: str = "libx264",
    audio_codec: str | None = None,
) -> Path:
    """Write ``frames`` as a video (H.264 in MP4/MOV, VP9 in WebM/MKV when ``codec`` says
    so), with a sine tone of the clip's length when ``tone_hz`` (AAC, Opus in WebM, or
    ``audio_codec``: "pcm_s16le" in a MOV, say), and a display matrix of ``rotation``
    degrees (the pixels are stored as given)."""
    import av

    path = Path(path)
    n, h, w, _ = frames.shape
    with av.open(str(path), "w") as container:
        video = container.add_stream(codec, rate=fps)
        video.width, video.height, video.pix_fmt = w, h, "yuv420p"
        video.options = {"preset": "veryfast"} if codec == "libx264" else {}
        if rotation:
            video.set_display_rotation(rotation)
        audio = None
        if tone_hz:
            default = "aac" if path.suffix != ".webm" else "libopus"
            audio = container.add_stream(audio_codec or default, 48000)
            audio.layout = "mono"
            name = audio.codec_context.name
            sample_format = {"aac": "fltp", "libopus": "flt"}.get(
                name, audio.codec_context.format.name
            )
        for i in range(n):
            frame = av.VideoFrame.from_ndarray(frames[i], format="rgb24")
            frame.pts = i
            frame.time_base = Fraction(1, fps)
            container.mux(video.encode(frame))
        container.mux(video.encode())
        if audio is not None:
            total = round(n / fps * 48000)
            for start in range(0, total, 960):
                count = min(960, total - start)
                t = (np.arange(start, start + count) / 48000).astype(np.float32)
                wave = (0.2 * np.sin(2 * np.pi * tone_hz * t)).astype(np.float32)[None]
                if sample_format.startswith("s16"):
                    wave = np.round(wave * 32767).astype(np.int16)
                frame = av.AudioFrame.from_ndarray(wave, format=sample_format, layout="mono")
                frame.sample_rate = 48000
                frame.pts = start
                frame.time_base = Fraction(1, 48000)
                container.mux(audio.encode(frame))
            container.mux(audio.encode())
    return path


SAMPLE_CLIP = "cat-pan.mp4"


def write_sample_clip(
    folder: str | Path, seconds: float = 4.0, fps: int = 12, size: tuple[int, int] = (256, 176)
) -> Path:
    """The sample gallery's clip (once; an existing file is left alone): a slow pan and zoom
    over scikit-image's cat, ``size`` (W, H) px, a disc crossing it, and a quiet tone.
    Small, so that dreaming it adds little to the sample gallery's time."""
    path = Path(folder) / SAMPLE_CLIP
    if path.is_file():
        return path
    from skimage import data

    from ..imageio import atomic_path

    photo = data.chelsea()
    frames = round(seconds * fps)
    camera = sample_camera(photo.shape, *size, frames)
    with atomic_path(path) as tmp:
        write_clip(tmp.with_suffix(".mp4"), render_clip(photo, camera, frames), fps)
        tmp.with_suffix(".mp4").replace(tmp)
    return path
