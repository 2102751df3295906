"""Writing a clip's dream: an MP4 (H.264, yuv420p, faststart, AAC) and a WebM (VP9, Opus)
at once, frame by frame, with the source's sound carried over.

The sound is decoded from the source and re-encoded (AAC for the MP4, Opus for the WebM):
one path for every source codec, and the cut at ``max_seconds`` falls on a sample, not
on a packet. It is interleaved with the frames as they come, so nothing of the clip is
held in memory. Frames are tagged BT.709 (the matrix they are converted with), so
browsers show the colours the dream has. Both files appear atomically when closed.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import numpy as np

from ..files import MB, open_regular
from .decode import MAX_VIDEO_MB

AUDIO_RATE = 48000


@dataclass(frozen=True)
class Format:
    suffix: str
    container: str
    video: str
    audio: str
    audio_format: str
    video_options: dict[str, str] = field(default_factory=dict)
    container_options: dict[str, str] = field(default_factory=dict)


MP4 = Format(
    ".mp4",
    "mp4",
    "libx264",
    "aac",
    "fltp",
    {"crf": "20", "preset": "fast", "profile": "high"},
    {"movflags": "+faststart", "fflags": "+bitexact"},
)
WEBM = Format(
    ".webm",
    "webm",
    "libvpx-vp9",
    "libopus",
    "flt",
    {"crf": "33", "b": "0", "deadline": "good", "cpu-used": "5", "row-mt": "1"},
    {"fflags": "+bitexact"},  # no random track UIDs: equal frames make equal files
)


class _Track:
    """One output file: its container, video and (optional) audio streams."""

    def __init__(
        self, av, path: Path, fmt: Format, width: int, height: int, rate: Fraction, audio
    ) -> None:
        self.av = av
        self.tmp = path.with_name(f".{path.name}.tmp")
        self.path = path
        self.container = av.open(
            str(self.tmp), "w", format=fmt.container, options=fmt.container_options
        )
        video = self.container.add_stream(fmt.video, rate=rate)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        video.options = dict(fmt.video_options)
        ctx = video.codec_context
        ctx.colorspace, ctx.color_range = 1, 1  # BT.709, limited range
        ctx.color_primaries, ctx.color_trc = 1, 1
        self.video = video
        self.rate = rate
        self.audio = None
        if audio is not None:
            layout = "mono" if audio.layout.nb_channels == 1 else "stereo"
            stream = self.container.add_stream(fmt.audio, rate=AUDIO_RATE)
            stream.layout = layout
            self.audio = stream
            self.resampler = av.AudioResampler(fmt.audio_format, layout, AUDIO_RATE)
            self.samples = 0

    def write(self, index: int, rgb: np.ndarray) -> None:
        frame = self.av.VideoFrame.from_ndarray(rgb, format="rgb24")
        frame = frame.reformat(
            format="yuv420p", dst_colorspace=1, dst_color_range=1, interpolation="BICUBIC"
        )
        frame.pts = index
        frame.time_base = 1 / self.rate
        self.container.mux(self.video.encode(frame))

    def write_audio(self, frame) -> None:
        for out in self.resampler.resample(frame):
            out.pts = self.samples
            out.time_base = Fraction(1, AUDIO_RATE)
            self.samples += out.samples
            self.container.mux(self.audio.encode(out))

    def close(self) -> None:
        self.container.mux(self.video.encode())
        if self.audio is not None:
            for out in self.resampler.resample(None):
                out.pts = self.samples
                out.time_base = Fraction(1, AUDIO_RATE)
                self.samples += out.samples
                self.container.mux(self.audio.encode(out))
            self.container.mux(self.audio.encode())
        self.container.close()
        self.tmp.replace(self.path)

    def abandon(self) -> None:
        with contextlib.suppress(Exception):
            self.container.close()
        self.tmp.unlink(missing_ok=True)


class ClipWriter:
    """Context manager: ``write(rgb)`` the frames in order; on a clean exit the files are
    complete (faststart MP4 rewritten), on an error none is left behind."""

    def __init__(
        self,
        outputs: dict[str, Path],
        width: int,
        height: int,
        rate: Fraction,
        audio_source: Path | None = None,
        audio_start: float = 0.0,
        seconds: float | None = None,
    ) -> None:
        import av

        self.av = av
        self.outputs = {name: Path(p) for name, p in outputs.items()}
        self.size = (width, height)
        self.rate = Fraction(rate)
        self.audio_source = audio_source
        self.audio_start = audio_start
        self.seconds = seconds
        self.index = 0
        self._stack = contextlib.ExitStack()
        self._tracks: list[_Track] = []
        self._audio_frames = None
        self._audio_done = True

    def __enter__(self) -> ClipWriter:
        audio_stream = None
        if self.audio_source is not None:
            handle, _size = self._stack.enter_context(
                open_regular(self.audio_source, MAX_VIDEO_MB * MB)
            )
            source = self._stack.enter_context(self.av.open(handle, "r"))
            if source.streams.audio:
                audio_stream = source.streams.audio[0]
                self._audio_frames = source.decode(audio_stream)
                self._audio_done = False
        formats = {".mp4": MP4, ".webm": WEBM}
        for path in self.outputs.values():
            path.parent.mkdir(parents=True, exist_ok=True)
            fmt = formats[path.suffix.lower()]
            self._tracks.append(_Track(self.av, path, fmt, *self.size, self.rate, audio_stream))
        return self

    def write(self, rgb: np.ndarray) -> None:
        if rgb.shape[:2] != (self.size[1], self.size[0]):
            raise ValueError(f"frame of {rgb.shape[1]}x{rgb.shape[0]}, expected {self.size}")
        for track in self._tracks:
            track.write(self.index, rgb)
        self.index += 1
        self._audio_until(self.index / self.rate)

    def _audio_until(self, t: float) -> None:
        """Carry the source's sound over up to ``t`` seconds of the clip (or its cut)."""
        if self._audio_done:
            return
        end = self.seconds if self.seconds is not None else float("inf")
        limit = min(float(t), end)
        while True:
            frame = next(self._audio_frames, None)
            if frame is None:
                self._audio_done = True
                return
            start = float(frame.time or 0.0) - self.audio_start
            if start + frame.samples / frame.sample_rate <= 0:
                continue
            if start >= end:
                self._audio_done = True
                return
            frame.pts = None
            for track in self._tracks:
                track.write_audio(frame)
            if start >= limit:
                return

    def __exit__(self, kind, value, tb) -> None:
        try:
            if kind is None:
                self._audio_until(self.seconds if self.seconds is not None else float("inf"))
                for track in self._tracks:
                    track.close()
        finally:
            if kind is not None:
                for track in self._tracks:
                    track.abandon()
            self._stack.close()
