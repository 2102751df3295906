"""A clip dream's settings: one frozen, validated value (``[video]`` in gallery.toml)."""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import RecipeError

FPS_CAP = 30.0
QUICK_SIZE = 256
GALLERY_SEGMENT_SECONDS = 4.0
VIDEO_SUFFIXES = frozenset({".mp4", ".mov", ".m4v", ".webm", ".mkv"})


@dataclass(frozen=True)
class VideoSettings:
    """How a clip is read and dreamt.

    ``size`` is the short side in px (never enlarged); ``max_seconds`` cuts longer clips;
    ``fps`` 0 keeps the source's rate, capped at ``FPS_CAP``. Each frame after the first
    continues the previous dream: its residual warped by the flow, then ``refine_steps``
    steps at each of the ``refine_octaves`` finest octaves. ``segment_seconds`` splits a
    clip into jobs (gallery), which overlap by ``overlap`` frames, cross-faded.
    """

    size: int = 512
    max_seconds: float = 30.0
    fps: float = 0.0
    refine_octaves: int = 2
    refine_steps: int = 2
    segment_seconds: float = 0.0
    overlap: int = 6

    def __post_init__(self) -> None:
        checks = [
            (32 <= self.size <= 2160, f"video size must be in [32, 2160] px, got {self.size}"),
            (
                0 < self.max_seconds <= 3600,
                f"max_seconds must be in (0, 3600], got {self.max_seconds}",
            ),
            (0 <= self.fps <= 60, f"fps must be 0 (the source's) or in (0, 60], got {self.fps}"),
            (
                1 <= self.refine_octaves <= 12,
                f"refine_octaves must be in [1, 12], got {self.refine_octaves}",
            ),
            (
                1 <= self.refine_steps <= 100,
                f"refine_steps must be in [1, 100], got {self.refine_steps}",
            ),
            (
                self.segment_seconds == 0 or 0.5 <= self.segment_seconds <= 600,
                f"segment_seconds must be 0 (one segment) or in [0.5, 600], "
                f"got {self.segment_seconds}",
            ),
            (0 <= self.overlap <= 30, f"overlap must be in [0, 30] frames, got {self.overlap}"),
        ]
        for ok, message in checks:
            if not ok:
                raise RecipeError(message)

    def segment_frames(self, rate: float) -> int:
        """Frames per segment at ``rate`` (0: the whole clip is one)."""
        return round(self.segment_seconds * rate) if self.segment_seconds else 0

    def rate(self, source_fps: float) -> float:
        """Frames per second of the dream: ``fps``, or the source's capped at ``FPS_CAP``."""
        return self.fps if self.fps > 0 else min(source_fps, FPS_CAP)


def is_video_name(name: str) -> bool:
    lowered = name.lower()
    return not lowered.startswith(".") and any(lowered.endswith(s) for s in VIDEO_SUFFIXES)
