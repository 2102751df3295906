"""A clip in segments: jobs of their own (cached, parallel, resumable), joined with fades.

A segment dreams its frames alone, needing no other segment's output: the first segment
starts with a photo dream, a later one continues the chain of key frames (the clip's
first frame's dream carried by one flow to each earlier segment's start and on to its
own: ``TemporalDreamer.start_from_keys``), so two adjacent segments grow from one dream.
Adjacent segments overlap by ``overlap`` frames; the join cross-fades there, from the
earlier segment's dream to the later one's, so the cut between two chains of dreams is a
short dissolve between two versions of one dream (started afresh, the later segment was
another dream, and the dissolve showed its creatures fading in over the other's). A
segment's frames are kept losslessly (FFV1 in Matroska, as BGR0), so joining segments
rendered apart gives the very frames one process would.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

SEGMENT_FILE = "segment.mkv"
BITEXACT = {"fflags": "+bitexact"}  # no random segment UID: equal frames, equal bytes


@dataclass(frozen=True)
class Segment:
    """Frames ``start`` to ``stop`` (not included) of a clip; the first ``fade`` of them
    are also the previous segment's last ones, and are cross-faded."""

    index: int
    start: int
    stop: int
    fade: int = 0

    def __post_init__(self) -> None:
        if not 0 <= self.start < self.stop or not 0 <= self.fade < self.stop - self.start:
            raise ValueError(f"bad segment {self}")


def plan_segments(frames: int, length: int, overlap: int) -> list[Segment]:
    """Segments of about ``length`` frames (a last one under half that joins the one before),
    each after the first starting ``overlap`` frames early."""
    if length <= 0 or frames <= length * 3 // 2:
        return [Segment(0, 0, frames)]
    overlap = min(overlap, length // 2)
    bounds = list(range(0, frames, length))
    if frames - bounds[-1] < length / 2:
        bounds.pop()
    segments = []
    for i, begin in enumerate(bounds):
        end = bounds[i + 1] if i + 1 < len(bounds) else frames
        start = max(0, begin - overlap) if i else 0
        segments.append(Segment(i, start, end, begin - start))
    return segments


def write_frames(path: Path, frames: Iterable[np.ndarray], rate) -> int:
    """Frames (H, W, 3) uint8 into a lossless FFV1 file, atomically; returns the count."""
    import av

    from ..imageio import atomic_path

    count = 0
    with (
        atomic_path(path) as tmp,
        av.open(str(tmp), "w", format="matroska", container_options=BITEXACT) as container,
    ):
        stream = None
        for rgb in frames:
            if stream is None:
                stream = container.add_stream("ffv1", rate=rate)
                stream.width, stream.height, stream.pix_fmt = rgb.shape[1], rgb.shape[0], "bgr0"
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="bgr0")
            frame.pts = count
            container.mux(stream.encode(frame))
            count += 1
        if stream is not None:
            container.mux(stream.encode())
    return count


def read_segment(path: Path) -> Iterator[np.ndarray]:
    """A segment file's frames, in order, exactly as written."""
    import av

    with av.open(str(path)) as container:
        for frame in container.decode(container.streams.video[0]):
            yield frame.to_ndarray(format="rgb24")


def cross_fade(earlier: np.ndarray, later: np.ndarray, step: int, fade: int) -> np.ndarray:
    """Frame ``step`` (0-based) of a ``fade``-frame dissolve from ``earlier`` to ``later``."""
    w = (step + 1) / (fade + 1)
    mixed = earlier.astype(np.float32) * (1 - w) + later.astype(np.float32) * w
    return np.round(mixed).astype(np.uint8)


def join(
    segments: Sequence[Segment], frames: Sequence[Iterable[np.ndarray]]
) -> Iterator[np.ndarray]:
    """The clip's frames from its segments' frames (one iterable per segment, in order),
    cross-faded where they overlap; at most one overlap of frames is held in memory."""
    held: deque[np.ndarray] = deque()
    for i, (segment, own) in enumerate(zip(segments, frames, strict=True)):
        following = segments[i + 1].fade if i + 1 < len(segments) else 0
        keep_from = segment.stop - segment.start - following
        for j, rgb in enumerate(own):
            if j < segment.fade:
                rgb = cross_fade(held.popleft(), rgb, j, segment.fade)
            if j >= keep_from:
                held.append(rgb)
            else:
                yield rgb
        if held and i + 1 == len(segments):
            yield from held
