"""Writing a clip's dream: an MP4 (H.264, yuv420p, faststart, AAC) and a WebM (VP9, Opus)
at once, frame by frame, with the source's sound carried over.

The sound is copied, packet for packet, when the container takes its codec (AAC into the
MP4; Opus or Vorbis into the WebM), and decoded and re-encoded only when it must (PCM,
AC-3, MP3... into the MP4 become AAC; AAC into the WebM becomes Opus). A copy keeps the
packet before the clip's start too (AAC's priming, Opus's pre-skip: the decoder needs
it); a cut clip's copy ends at the last packet that starts before the cut (it overhangs
the cut by less than a packet, 21 ms of AAC at 48 kHz), as a re-encoded one ends at the
last decoded frame that does. The sound is interleaved with the frames as they come, so
nothing of the clip is held in memory. Frames are tagged BT.709 (the matrix they are
converted with), so browsers show the colours the dream has. Both files appear
atomically when closed.
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
    copies: frozenset[str] = frozenset()  # audio codecs carried over without re-encoding


MP4 = Format(
    ".mp4",
    "mp4",
    "libx264",
    "aac",
    "fltp",
    {"crf": "20", "preset": "fast", "profile": "high"},
    {"movflags": "+faststart", "fflags": "+bitexact"},
    frozenset({"aac"}),
)
WEBM = Format(
    ".webm",
    "webm",
    "libvpx-vp9",
    "libopus",
    "flt",
    {"crf": "33", "b": "0", "deadline": "good", "cpu-used": "5", "row-mt": "1"},
    {"fflags": "+bitexact"},  # no random track UIDs: equal frames make equal files
    frozenset({"opus", "vorbis"}),
)


def audio_plan(fmt: Format, codec: str) -> str:
    """How ``fmt`` carries a source's audio ``codec``: "copy" (its container takes it as
    it is) or "encode" (to ``fmt.audio``)."""
    return "copy" if codec in fmt.copies else "encode"


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
        self.copies = False
        if audio is not None:
            self.copies = audio_plan(fmt, audio.codec_context.name) == "copy"
            if self.copies:
                self.audio = self.container.add_stream_from_template(audio)
            else:
                layout = "mono" if audio.codec_context.layout.nb_channels == 1 else "stereo"
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

    def copy_audio(self, data: bytes, pts: int, dts: int | None, duration: int, time_base):
        """A source packet, its time moved to the clip's, muxed as it is."""
        packet = self.av.Packet(data)
        packet.pts, packet.dts, packet.duration = pts, dts, duration
        packet.time_base = time_base
        packet.stream = self.audio
        self.container.mux(packet)

    def write_audio(self, frame) -> None:
        for out in self.resampler.resample(frame):
            out.pts = self.samples
            out.time_base = Fraction(1, AUDIO_RATE)
            self.samples += out.samples
            self.container.mux(self.audio.encode(out))

    def close(self) -> None:
        self.container.mux(self.video.encode())
        if self.audio is not None and not self.copies:
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
    complete (faststart MP4 rewritten), on an error none is left behind.

    ``audio_source``'s first audio stream is carried over from ``audio_start`` seconds of
    it (the clip's first frame) for ``seconds`` (the clip's span, cut or not)."""

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
        self._packets = None
        self._audio_stream = None
        self._held = None  # the packet before the clip's start: the decoder's pre-roll
        self._started = False
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
                self._audio_stream = audio_stream
                self._packets = source.demux(audio_stream)
                self._audio_done = False
        formats = {".mp4": MP4, ".webm": WEBM}
        for path in self.outputs.values():
            path.parent.mkdir(parents=True, exist_ok=True)
            fmt = formats[path.suffix.lower()]
            self._tracks.append(_Track(self.av, path, fmt, *self.size, self.rate, audio_stream))
        return self

    @property
    def audio_modes(self) -> dict[str, str]:
        """Per output file name, "copy" or "encode" for its sound (none: no sound)."""
        return {
            t.path.name: ("copy" if t.copies else "encode")
            for t in self._tracks
            if t.audio is not None
        }

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
        assert self._packets is not None and self._audio_stream is not None
        end = self.seconds if self.seconds is not None else float("inf")
        limit = min(float(t), end)
        base = self._audio_stream.time_base
        shift = round(self.audio_start / base)  # the clip's time 0, in the stream's units
        while True:
            packet = next(self._packets, None)
            if packet is None or packet.pts is None:
                if packet is not None and packet.size:
                    continue  # no time: cannot be placed
                self._flush_decoder(end)
                self._audio_done = True
                return
            start = float((packet.pts - shift) * base)
            length = float(packet.duration * base) if packet.duration else 0.0
            if start >= end:
                self._audio_done = True
                return
            if not self._started and start + length <= 0:
                self._decode(packet, end)  # the decoder's state, not heard
                self._held = (bytes(packet), packet.pts, packet.dts, packet.duration)
                continue
            if not self._started and self._held is not None:
                self._copy(*self._held, shift)
            self._started = True
            frames = self._decode(packet, end)
            self._copy(bytes(packet), packet.pts, packet.dts, packet.duration, shift)
            self._encode(frames)
            if start >= limit:
                return

    def _copy(self, data: bytes, pts: int, dts: int | None, duration: int, shift: int) -> None:
        base = self._audio_stream.time_base
        for track in self._tracks:
            if track.copies:
                moved = None if dts is None else dts - shift
                track.copy_audio(data, pts - shift, moved, duration, base)

    def _decode(self, packet, end: float) -> list:
        """The packet's decoded frames within the clip, when some output re-encodes."""
        if not any(t.audio is not None and not t.copies for t in self._tracks):
            return []
        return [f for f in self._audio_stream.decode(packet) if self._heard(f, end)]

    def _heard(self, frame, end: float) -> bool:
        start = float(frame.time or 0.0) - self.audio_start
        return start + frame.samples / frame.sample_rate > 0 and start < end

    def _encode(self, frames: list) -> None:
        for frame in frames:
            frame.pts = None
            for track in self._tracks:
                if track.audio is not None and not track.copies:
                    track.write_audio(frame)

    def _flush_decoder(self, end: float) -> None:
        if any(t.audio is not None and not t.copies for t in self._tracks):
            self._encode([f for f in self._audio_stream.decode(None) if self._heard(f, end)])

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
