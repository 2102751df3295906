"""Reading clips with PyAV, streaming: one decoded frame in memory at a time.

A clip is checked before any work (``probe``): a regular file that FFmpeg can open, with a
video stream, at least one frame, and packets that reach its declared duration (a cut-off
download stops early: refused). Frames come out upright (the display matrix phones write
instead of rotating pixels), at the dream's size (the short side ``size``, never enlarged,
both sides even for yuv420p), on a constant rate taken from the timestamps: output frame
``k`` is the latest source frame shown at ``k / rate`` (a variable-rate phone clip repeats
or drops frames, it does not speed up or slow down).

Colour: SDR frames (8 or 10 bit) go to 8-bit sRGB through swscale with their own matrix
and range (BT.709 for untagged HD, BT.601 below 720 rows, as players guess). HDR frames
(PQ or HLG transfer) are tone-mapped, not clipped: BT.2408's reference white (203 nits)
is SDR white; up to ``KNEE`` of it light stays linear, above it highlights roll off
exponentially towards white (reference white lands at 93%, 1000 nits at 100%), on
luminance so hues keep; then BT.2020 primaries go to BT.709 and sRGB's curve.
"""

from __future__ import annotations

import contextlib
import logging
import math
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from ..errors import BadInputError, RendererError
from ..files import MB, open_regular
from .settings import VideoSettings

log = logging.getLogger("renderer.video")

MAX_VIDEO_MB = 8192  # a phone's 4K minute is ~400 MB; a longer clip is cut, not read whole
MIN_SIDE = 32  # the model's smallest input
_TRC_PQ, _TRC_HLG = 16, 18  # AVColorTransferCharacteristic
_REFERENCE_WHITE_NITS = 203.0
KNEE = 0.8
_BT2020_TO_709 = np.array(
    [[1.6605, -0.5876, -0.0728], [-0.1246, 1.1329, -0.0083], [-0.0182, -0.1006, 1.1187]],
    dtype=np.float32,
)


def _av():
    try:
        import av
    except ImportError:
        raise RendererError(
            "video needs PyAV: pip install 'dreamgallery[video]' (or pip install av)"
        ) from None
    return av


@dataclass(frozen=True)
class ClipInfo:
    """What ``probe`` learnt: the source's upright size, rotation, rate and span, and the
    plan for the dream (its size, rate, frame count, and whether it was cut)."""

    path: Path
    source_width: int
    source_height: int
    rotation: int  # degrees counter-clockwise, as the display matrix says
    source_fps: float
    seconds: float  # the span that is dreamt (cut at max_seconds)
    source_seconds: float
    width: int  # the dream's upright size
    height: int
    rate: Fraction
    frames: int
    has_audio: bool
    codec: str
    hdr: str  # "", "PQ" or "HLG"
    cut: bool  # longer than max_seconds: only its start is dreamt
    start: float = 0.0  # the first frame's timestamp, where the clip's time 0 is


@dataclass(frozen=True)
class ClipFrame:
    index: int
    time: float  # seconds from the clip's start: index / rate
    rgb: np.ndarray  # (H, W, 3) uint8, upright


def _even(x: float) -> int:
    return max(2, 2 * round(x / 2))


def dream_size(width: int, height: int, size: int) -> tuple[int, int]:
    """(width, height) with the short side ``size`` (never enlarged), both even."""
    scale = min(1.0, size / min(width, height))
    return _even(width * scale), _even(height * scale)


@contextlib.contextmanager
def open_container(path: str | Path):
    """The clip opened by PyAV from a checked regular file, or a one-line ``BadInputError``."""
    av = _av()
    with open_regular(path, MAX_VIDEO_MB * MB) as (handle, _size):
        try:
            container = av.open(handle, "r")
        except av.FFmpegError as exc:
            raise BadInputError(path, f"not a readable video ({_reason(exc)})") from None
        try:
            yield container
        finally:
            container.close()


def _reason(exc: Exception) -> str:
    text = getattr(exc, "strerror", None) or str(exc)
    text = str(text).split(";")[0].strip().rstrip(".")
    if "moov atom not found" in text or "End of file" in text:
        return "truncated or incomplete file"
    if "Invalid data found" in text:
        return "not a video file, or damaged"
    return text or type(exc).__name__


def _video_stream(container, path):
    if not container.streams.video:
        what = "audio only" if container.streams.audio else "no streams"
        raise BadInputError(path, f"no video stream ({what})")
    stream = container.streams.video[0]
    stream.thread_type = "AUTO"
    return stream


def _source_fps(stream) -> float:
    for rate in (stream.average_rate, stream.guessed_rate, stream.base_rate):
        if rate and 0 < float(rate) < 1000:
            return float(rate)
    return 30.0


def probe(path: str | Path, settings: VideoSettings) -> ClipInfo:
    """Check a clip and plan its dream, decoding one frame and demuxing (not decoding) the
    packets up to ``max_seconds``: cheap, and a 2-hour clip is read only that far."""
    path = Path(path)
    with open_container(path) as container:
        stream = _video_stream(container, path)
        fps = _source_fps(stream)
        first = _first_frame(container, stream, path)
        rotation = int(first.rotation or 0)
        turned = (round(rotation / 90) % 2) == 1
        w, h = (first.height, first.width) if turned else (first.width, first.height)
        if min(w, h) < MIN_SIDE:
            raise BadInputError(path, f"too small ({w}x{h}); the model needs {MIN_SIDE} px")
        start, end = _packet_span(container, stream, settings.max_seconds, fps, path)
        declared = _declared_seconds(container, stream)
        has_audio = bool(container.streams.audio)
        codec = stream.codec_context.name
    span = end - start
    slack = max(2.5 / fps, 0.05 * declared)  # a frame's rounding, an audio track's tail
    if declared and span < declared - slack and span < settings.max_seconds:
        raise BadInputError(path, f"truncated (video stops at {span:.1f} s of {declared:.1f} s)")
    source_seconds = max(span, declared or 0.0)
    seconds = min(span, settings.max_seconds)
    rate = Fraction(settings.rate(fps)).limit_denominator(1001)
    width, height = dream_size(w, h, settings.size)
    frames = max(1, math.ceil(seconds * rate - 1e-3))
    trc = first.color_trc
    info = ClipInfo(
        path=path,
        source_width=w,
        source_height=h,
        rotation=rotation,
        source_fps=fps,
        seconds=frames / float(rate),
        source_seconds=source_seconds,
        width=width,
        height=height,
        rate=rate,
        frames=frames,
        has_audio=has_audio,
        codec=codec,
        hdr={_TRC_PQ: "PQ", _TRC_HLG: "HLG"}.get(trc, ""),
        cut=span > settings.max_seconds + 1e-6,
        start=float(first.time or 0.0),
    )
    if info.cut:
        log.warning(
            "%s: %.1f s long; cut at %g s (max_seconds)",
            path.name,
            source_seconds,
            settings.max_seconds,
        )
    return info


def _first_frame(container, stream, path):
    av = _av()
    try:
        for frame in container.decode(stream):
            return frame
    except av.FFmpegError as exc:
        raise BadInputError(path, f"cannot decode its video ({_reason(exc)})") from None
    raise BadInputError(path, "no video frames (0-frame clip)")


def _declared_seconds(container, stream) -> float:
    if stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    if container.duration:
        return container.duration / 1_000_000
    return 0.0


def _packet_span(container, stream, limit: float, fps: float, path) -> tuple[float, float]:
    """(first, last + its duration) presentation time of the video packets, reading no
    further than ``limit`` seconds past the first."""
    av = _av()
    container.seek(0, stream=stream, backward=True, any_frame=False)
    start = end = None
    try:
        for packet in container.demux(stream):
            if packet.pts is None:
                continue
            t = float(packet.pts * packet.time_base)
            dur = float(packet.duration * packet.time_base) if packet.duration else 1.0 / fps
            start = t if start is None else min(start, t)
            end = t + dur if end is None else max(end, t + dur)
            if end - start > limit + 1.0:
                break
    except av.FFmpegError as exc:
        raise BadInputError(path, f"damaged video data ({_reason(exc)})") from None
    if start is None or end is None:
        raise BadInputError(path, "no video frames (0-frame clip)")
    return start, end


def read_frames(info: ClipInfo, start: int = 0, stop: int | None = None) -> Iterator[ClipFrame]:
    """Frames ``start`` to ``stop`` (not included) of the planned clip, upright and at the
    dream's size, one in memory at a time. Frame ``k`` is the latest source frame whose
    timestamp is at most ``k / rate``; a later start seeks to the key frame before it."""
    av = _av()
    stop = info.frames if stop is None else min(stop, info.frames)
    if start >= stop:
        return
    rate = float(info.rate)
    tolerance = min(1e-3, 0.1 / rate)
    with open_container(info.path) as container:
        stream = _video_stream(container, info.path)
        origin = None
        decoded = container.decode(stream)
        first = next(decoded, None)
        if first is None:
            raise BadInputError(info.path, "no video frames (0-frame clip)")
        origin = float(first.time or 0.0)
        if start > 0:
            target = origin + start / rate
            container.seek(
                int(target / stream.time_base), stream=stream, backward=True, any_frame=False
            )
            decoded = container.decode(stream)
            first = next(decoded, None)
        k = start
        held = None  # (source frame, its rgb once converted)
        try:
            for frame in _chain(first, decoded):
                t = float(frame.time or 0.0) - origin
                while held is not None and k < stop and t > k / rate + tolerance:
                    held = _converted(held, info)
                    yield ClipFrame(k, k / rate, held[1])
                    k += 1
                if k >= stop:
                    return
                held = (frame, None)
        except av.FFmpegError as exc:
            if k == start and held is None:
                raise BadInputError(info.path, f"cannot decode ({_reason(exc)})") from None
            log.warning("%s: damaged data after frame %d; held the last frame", info.path, k)
        while held is not None and k < stop:
            held = _converted(held, info)
            yield ClipFrame(k, k / rate, held[1])
            k += 1


def _chain(first, rest):
    if first is not None:
        yield first
    yield from rest


def _converted(held, info: ClipInfo):
    frame, rgb = held
    return held if rgb is not None else (frame, frame_to_rgb(frame, info.width, info.height))


_COLORSPACES = {1: 1, 4: 4, 5: 5, 6: 5, 7: 7, 9: 9, 10: 9}  # AVColorSpace -> swscale's


def frame_to_rgb(frame, width: int, height: int) -> np.ndarray:
    """A decoded frame as (height, width, 3) uint8 sRGB, upright (see the module's note on
    colour)."""
    av = _av()
    quarter = round(int(frame.rotation or 0) / 90) % 4
    sw, sh = (height, width) if quarter % 2 else (width, height)
    interp = av.video.reformatter.Interpolation
    how = interp.AREA | interp.ACCURATE_RND
    colorspace = _COLORSPACES.get(frame.colorspace, 1 if frame.height >= 720 else 5)
    options = {"src_colorspace": colorspace, "interpolation": how}
    if frame.color_range in (1, 2):
        options["src_color_range"] = frame.color_range
    if frame.color_trc in (_TRC_PQ, _TRC_HLG):
        deep = frame.reformat(sw, sh, "rgb48le", **options).to_ndarray()
        rgb = tone_map(deep.astype(np.float32) / 65535.0, frame.color_trc)
    else:
        rgb = frame.reformat(sw, sh, "rgb24", **options).to_ndarray()
    if quarter:
        rgb = np.rot90(rgb, k=quarter)
    return np.ascontiguousarray(rgb)


def tone_map(signal: np.ndarray, trc: int) -> np.ndarray:
    """HDR R'G'B' (BT.2020, PQ or HLG, in [0, 1]) to 8-bit sRGB (see the module's note)."""
    x = np.clip(signal, 0.0, 1.0)
    if trc == _TRC_PQ:
        m1, m2 = 2610 / 16384, 2523 / 4096 * 128
        c1, c2, c3 = 3424 / 4096, 2413 / 4096 * 32, 2392 / 4096 * 32
        p = x ** (1 / m2)
        nits = 10000.0 * (np.maximum(p - c1, 0) / (c2 - c3 * p)) ** (1 / m1)
        linear = nits / _REFERENCE_WHITE_NITS
    else:  # HLG: inverse OETF; the 75% signal of reference white becomes 1
        a, b, c = 0.17883277, 0.28466892, 0.55991073
        scene = np.where(x <= 0.5, x * x / 3, (np.exp((x - c) / a) + b) / 12)
        linear = scene / 0.26496256
    luma = linear @ np.array([0.2627, 0.6780, 0.0593], dtype=np.float32)
    over = np.maximum(luma - KNEE, 0.0) / (1 - KNEE)
    mapped = np.where(luma <= KNEE, luma, KNEE + (1 - KNEE) * (1 - np.exp(-over)))
    gain = np.where(luma > 1e-6, mapped / np.maximum(luma, 1e-6), 1.0)
    rgb709 = np.clip((linear * gain[..., None]) @ _BT2020_TO_709.T, 0.0, 1.0)
    srgb = np.where(rgb709 <= 0.0031308, 12.92 * rgb709, 1.055 * rgb709 ** (1 / 2.4) - 0.055)
    return np.round(srgb * 255).astype(np.uint8)
