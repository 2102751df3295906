"""Video dreams: decoding (rotation, rate, bad clips), flow and warping, sound, determinism.

Clips are tiny (64-128 px, a dozen frames) and built here with PyAV."""

from __future__ import annotations

import json
import logging
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

av = pytest.importorskip("av")

from renderer.cli import main  # noqa: E402
from renderer.errors import BadInputError  # noqa: E402
from renderer.video import flow as fl  # noqa: E402
from renderer.video.decode import probe, read_frames, tone_map  # noqa: E402
from renderer.video.settings import VideoSettings  # noqa: E402
from renderer.video.synthetic import Camera, render_clip, sample_camera, write_clip  # noqa: E402

TINY = VideoSettings(size=64)


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    from skimage import data

    return data.coffee()


@pytest.fixture(scope="module")
def frames(photo) -> np.ndarray:
    camera = sample_camera(photo.shape, 96, 64, 12)
    return render_clip(photo, camera, 12)


@pytest.fixture(scope="module")
def clip(tmp_path_factory, frames) -> Path:
    return write_clip(tmp_path_factory.mktemp("clips") / "pan.mp4", frames, fps=12)


def _run(*args: str):
    return CliRunner().invoke(main, ["--quiet", *args], catch_exceptions=False)


def _streams(path: Path) -> dict[str, float]:
    """Seconds of each stream, by type, from the decoded frames (not the header)."""
    out = {}
    with av.open(str(path)) as container:
        for stream in container.streams:
            if stream.type == "audio":
                samples = sum(f.samples for f in container.decode(stream))
                out["audio"] = samples / stream.codec_context.sample_rate
            elif stream.type == "video":
                out["video"] = float(stream.duration * stream.time_base) if stream.duration else 0
    return out


# ---------------------------------------------------------------- flow and warping


def test_warp_by_integer_shift_is_exact_in_the_interior():
    torch.manual_seed(1)
    image = torch.rand(1, 3, 40, 50)
    flow = np.zeros((2, 40, 50), np.float32)
    flow[0], flow[1] = 3, -5  # out[y, x] = image[y + 3, x - 5]
    out = fl.warp(image, flow)
    assert torch.equal(out[..., 0:37, 5:50], image[..., 3:40, 0:45])


def test_flow_on_a_synthetic_pan_is_within_half_a_pixel(photo):
    camera = Camera(128, 96, (200.0, 280.0), pan=(0.8, 1.7), zoom=1.0, scale=1.0)
    two = render_clip(photo, camera, 2, disc=False)
    est = fl.estimate(fl.grey(two[1]), fl.grey(two[0]))
    truth = camera.flow(1)
    # the camera moved by (0.8, 1.7): frame 1 at (y, x) shows what frame 0 had at (y, x) + that
    assert np.allclose(truth[:, 10, 10], (0.8, 1.7), atol=1e-4)
    epe = np.hypot(*(est - truth))[8:-8, 8:-8].mean()
    assert epe < 0.5


def test_consistency_check_flags_the_disc_it_cannot_follow(photo):
    camera = Camera(128, 96, (200.0, 280.0), pan=(0.0, 1.0), zoom=1.0)
    clip = render_clip(photo, camera, 6)  # the disc moves ~30 px a frame
    a, b = fl.grey(clip[2]), fl.grey(clip[3])
    trusted = fl.consistent(fl.estimate(b, a), fl.estimate(a, b))
    assert trusted[8:40, 8:-8].mean() > 0.95  # the upper half: the camera's pan only
    assert trusted.mean() < trusted[8:40, 8:-8].mean()


# ---------------------------------------------------------------- decoding


def test_a_90_degree_display_matrix_clip_comes_out_upright(tmp_path, frames):
    stored = np.ascontiguousarray(np.rot90(frames, k=-1, axes=(1, 2)))  # as a phone stores it
    path = write_clip(tmp_path / "phone.mp4", stored, tone_hz=None, rotation=90)
    info = probe(path, TINY)
    assert (info.source_width, info.source_height, info.rotation) == (96, 64, 90)
    got = next(read_frames(info)).rgb
    plain = next(read_frames(probe(write_clip(tmp_path / "flat.mp4", frames, tone_hz=None), TINY)))
    assert got.shape == plain.rgb.shape == (64, 96, 3)
    assert np.abs(got.astype(int) - plain.rgb.astype(int)).mean() < 8  # codec noise only
    turned = np.ascontiguousarray(np.rot90(plain.rgb, k=2))
    assert np.abs(got.astype(int) - turned.astype(int)).mean() > 20


def test_variable_frame_rate_follows_timestamps(tmp_path):
    """Frames shown at 0, 0.1, 0.5 and 0.6 s, each a flat grey, resampled at 10 fps: the
    frame shown at 0.1 s holds until 0.5 s (repeated, not sped through)."""
    path = tmp_path / "vfr.mkv"
    times = [0.0, 0.1, 0.5, 0.6]
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = 64, 64, "yuv420p"
        stream.codec_context.time_base = Fraction(1, 1000)
        for i, t in enumerate(times):
            frame = av.VideoFrame.from_ndarray(np.full((64, 64, 3), 40 + 60 * i, np.uint8))
            frame.pts, frame.time_base = round(t * 1000), Fraction(1, 1000)
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    info = probe(path, VideoSettings(size=64, fps=10))
    levels = [round(float(f.rgb.mean()) / 60) for f in read_frames(info)]
    assert info.frames == 7 and levels == [1, 2, 2, 2, 2, 3, 4]


def test_hdr_tone_map_by_hand():
    # PQ code 0.5806 is 203 nits, reference white: linear 1.0 -> 0.8 + 0.2 (1 - 1/e) = 0.926
    # -> sRGB 1.055 * 0.926 ** (1 / 2.4) - 0.055 = 0.967 -> 247
    grey = np.full((1, 1, 3), 0.5806, np.float32)
    assert tone_map(grey, 16).tolist() == [[[247, 247, 247]]]
    assert tone_map(np.full((1, 1, 3), 0.75, np.float32), 18).tolist() == [[[247, 247, 247]]]
    assert tone_map(np.zeros((1, 1, 3), np.float32), 16).tolist() == [[[0, 0, 0]]]
    ramp = tone_map(np.linspace(0, 1, 50, dtype=np.float32)[:, None, None].repeat(3, 2), 16)
    assert (np.diff(ramp[:, 0, 0].astype(int)) >= 0).all() and ramp[-1, 0, 0] == 255


def test_ten_bit_clip_decodes_to_eight_bit(tmp_path, frames):
    path = tmp_path / "deep.mkv"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx265", rate=12)
        stream.width, stream.height, stream.pix_fmt = 96, 64, "yuv420p10le"
        stream.options = {"x265-params": "log-level=error"}
        for i in range(3):
            frame = av.VideoFrame.from_ndarray(frames[i], format="rgb24")
            container.mux(stream.encode(frame.reformat(format="yuv420p10le")))
        container.mux(stream.encode())
    info = probe(path, TINY)
    got = list(read_frames(info))
    assert len(got) == 3 and got[0].rgb.dtype == np.uint8
    assert np.abs(got[0].rgb.astype(int) - frames[0].astype(int)).mean() < 10  # codec noise
    assert np.abs(got[0].rgb.astype(int) - frames[0][::-1].astype(int)).mean() > 20


def test_odd_sizes_become_even(tmp_path, photo):
    camera = Camera(101, 75, (200.0, 280.0))
    path = tmp_path / "odd.mkv"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libvpx-vp9", rate=12)
        stream.width, stream.height, stream.pix_fmt = 101, 75, "yuv444p"
        for view in render_clip(photo, camera, 2):
            container.mux(
                stream.encode(av.VideoFrame.from_ndarray(view).reformat(format="yuv444p"))
            )
        container.mux(stream.encode())
    info = probe(path, VideoSettings(size=64))
    assert (info.width, info.height) == (86, 64)
    assert next(read_frames(info)).rgb.shape == (64, 86, 3)


# ---------------------------------------------------------------- bad clips


def _truncated(tmp_path, frames) -> Path:
    whole = write_clip(tmp_path / "whole.mp4", frames)
    data = whole.read_bytes()
    cut = tmp_path / "truncated.mp4"
    cut.write_bytes(data[: len(data) // 2])
    return cut


def _truncated_faststart(tmp_path, frames) -> Path:
    """Cut in the middle of its frames' data, its index (moov) first and whole."""
    from renderer.video.encode import ClipWriter

    whole = tmp_path / "fast.mp4"
    with ClipWriter({"mp4": whole}, 96, 64, Fraction(12)) as out:
        for rgb in frames:
            out.write(np.ascontiguousarray(rgb))
    data = whole.read_bytes()
    assert data.index(b"moov") < data.index(b"mdat")
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) * 2 // 3])
    return cut


def _audio_only(tmp_path) -> Path:
    path = tmp_path / "voice.mp4"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("aac", rate=48000)
        frame = av.AudioFrame.from_ndarray(
            np.zeros((1, 1024), np.float32), format="fltp", layout="mono"
        )
        frame.sample_rate = 48000
        container.mux(stream.encode(frame))
        container.mux(stream.encode())
    return path


def _no_frames(tmp_path) -> Path:
    """A Matroska file with a video track and no frame in it (only a little sound): MP4
    and MOV muxers drop such a track, which then reads as audio only."""
    path = tmp_path / "empty.mkv"
    with av.open(str(path), "w") as container:
        video = container.add_stream("libx264", rate=12)
        video.width, video.height, video.pix_fmt = 64, 64, "yuv420p"
        audio = container.add_stream("aac", rate=48000)
        audio.layout = "mono"
        frame = av.AudioFrame.from_ndarray(
            np.zeros((1, 1024), np.float32), format="fltp", layout="mono"
        )
        frame.sample_rate, frame.pts = 48000, 0
        container.mux(audio.encode(frame))
        container.mux(audio.encode())
        container.mux(video.encode())
    return path


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (_truncated, "truncated"),
        (_truncated_faststart, "truncated (video stops at"),
        (
            lambda tmp, _f: (tmp / "clip.mp4").write_text("not a video\n") and tmp / "clip.mp4",
            "not a video file",
        ),
        (lambda tmp, _f: _audio_only(tmp), "no video stream (audio only)"),
        (lambda tmp, _f: _no_frames(tmp), "no video frames"),
    ],
    ids=["truncated", "truncated-faststart", "text", "audio-only", "zero-frames"],
)
def test_bad_clips_are_refused_with_a_reason(tmp_path, frames, make, reason):
    path = make(tmp_path, frames)
    with pytest.raises(BadInputError) as caught:
        probe(path, TINY)
    assert reason in str(caught.value) and "\n" not in str(caught.value)


def test_bad_clip_in_a_batch_is_named_and_the_rest_goes_on(tmp_path, clip):
    bad = tmp_path / "clip.mp4"
    bad.write_text("not a video\n")
    out = tmp_path / "out"
    result = _run(
        "video", str(bad), str(clip), "--size", "64", "--max-seconds", "0.25", "-o", str(out)
    )
    assert result.exit_code == 2
    assert "clip.mp4: not a readable video" in result.output
    assert "Traceback" not in result.output
    assert len(list(out.glob("pan-*/dream-classic.mp4"))) == 1


def test_an_over_long_clip_is_cut_with_one_line(clip, caplog):
    caplog.set_level(logging.WARNING, logger="renderer.video")
    logger = logging.getLogger("renderer.video")  # "renderer" may not propagate (the CLI's)
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append
    logger.addHandler(handler)
    try:
        info = probe(clip, VideoSettings(size=64, max_seconds=0.5))
    finally:
        logger.removeHandler(handler)
    assert info.cut and info.frames == 6 and len(list(read_frames(info))) == 6
    assert [r.getMessage() for r in records] == ["pan.mp4: 1.0 s long; cut at 0.5 s (max_seconds)"]


# ---------------------------------------------------------------- the command


def _audio_packets(path: Path) -> list[bytes]:
    with av.open(str(path)) as container:
        return [bytes(p) for p in container.demux(container.streams.audio[0]) if p.size]


def test_video_keeps_its_sound_and_a_silent_clip_gets_none(tmp_path, frames):
    loud = write_clip(tmp_path / "loud.mp4", frames[:6], fps=12)
    pcm = write_clip(tmp_path / "pcm.mov", frames[:6], fps=12, audio_codec="pcm_s16le")
    quiet = write_clip(tmp_path / "quiet.mp4", frames[:6], fps=12, tone_hz=None)
    out = tmp_path / "out"
    result = _run("video", str(loud), str(pcm), str(quiet), "--size", "64", "-o", str(out))
    assert result.exit_code == 0, result.output
    (loud_dir,) = out.glob("loud-*")
    (pcm_dir,) = out.glob("pcm-*")
    (quiet_dir,) = out.glob("quiet-*")
    for name in ("dream-classic.mp4", "dream-classic.webm", "source.mp4"):
        for folder in (loud_dir, pcm_dir):
            seconds = _streams(folder / name)
            assert abs(seconds["audio"] - 0.5) <= 0.1, (folder.name, name, seconds)
        assert "audio" not in _streams(quiet_dir / name)
    # AAC goes into the MP4 as it is, packet for packet; PCM is encoded to AAC
    source_packets = _audio_packets(loud)
    assert _audio_packets(loud_dir / "dream-classic.mp4") == source_packets
    assert _audio_packets(loud_dir / "source.mp4") == source_packets
    with av.open(str(pcm_dir / "dream-classic.mp4")) as container:
        assert container.streams.audio[0].codec_context.name == "aac"
    with av.open(str(loud_dir / "dream-classic.mp4")) as container:
        video = container.streams.video[0]
        assert video.codec_context.name == "h264" and video.format.name == "yuv420p"
        assert container.streams.audio[0].codec_context.name == "aac"
    head = (loud_dir / "dream-classic.mp4").read_bytes()[:4096]
    assert head.index(b"moov") < head.index(b"mdat") if b"mdat" in head else b"moov" in head
    with av.open(str(loud_dir / "dream-classic.webm")) as container:
        assert container.streams.video[0].codec_context.name == "vp9"
        assert container.streams.audio[0].codec_context.name == "opus"
    record = json.loads((loud_dir / "dream-classic.json").read_text())
    assert record["kind"] == "video-dream" and record["extra"]["frame_count"] == 6


def test_equal_seeds_give_byte_identical_frames_and_the_dream_moves(clip, lite0):
    from renderer.dream.objectives import layer_objective, resolve_terms
    from renderer.dream.presets import get_preset
    from renderer.video.dream import TemporalDreamer, fit_recipe

    info = probe(clip, VideoSettings(size=64, max_seconds=0.33))
    recipe = fit_recipe(get_preset("classic").recipe, info.height, info.width, 32)
    objective = layer_objective(resolve_terms(lite0, recipe.terms))

    def dreams(seed: int) -> list[np.ndarray]:
        dreamer = TemporalDreamer(lite0, objective, recipe, TINY, seed)
        return [d for _f, d in dreamer.frames(read_frames(info))]

    first, again, other = dreams(3), dreams(3), dreams(4)
    sources = [f.rgb for f in read_frames(info)]
    assert len(first) == 4
    assert all(a.tobytes() == b.tobytes() for a, b in zip(first, again, strict=True))
    assert any(a.tobytes() != b.tobytes() for a, b in zip(first, other, strict=True))
    for dream, source in zip(first, sources, strict=True):  # every frame is dreamt
        assert np.abs(dream.astype(int) - source.astype(int)).mean() > 8


def test_segments_dreamt_apart_and_joined_equal_one_job(tmp_path, clip, lite0):
    """Two segments rendered as separate jobs (lossless files) and joined give the frames a
    single job makes, exactly; outside the cross-fade each is its own segment's frame; in
    it the two chains share their motifs."""
    from renderer.dream.presets import get_preset
    from renderer.video.jobs import (
        clip_dreamer,
        clip_segments,
        dream_segment_file,
        dream_span,
        prepare_clip,
        segment_keys,
    )
    from renderer.video.segments import join, read_segment

    settings = VideoSettings(size=64, segment_seconds=0.5, overlap=2)
    working = prepare_clip(clip, settings)
    recipe = get_preset("classic").recipe
    segments = clip_segments(working.info, settings)
    assert [(s.start, s.stop, s.fade) for s in segments] == [(0, 6, 0), (4, 12, 2)]
    files = []
    for segment in segments:
        folder = tmp_path / f"job-{segment.index}"
        files.append(dream_segment_file(lite0, working, recipe, settings, segment, folder, seed=1))
    apart = list(join(segments, [list(read_segment(f)) for f in files]))
    dreamer, _, _ = clip_dreamer(lite0, working.info, recipe, settings, 1)
    spans = [
        list(dream_span(dreamer, working.info, s.start, s.stop, segment_keys(segments, s)))
        for s in segments
    ]
    together = list(join(segments, spans))
    assert len(apart) == len(together) == 12
    assert all(a.tobytes() == b.tobytes() for a, b in zip(apart, together, strict=True))
    first, second = spans
    assert together[3].tobytes() == first[3].tobytes()  # before the fade: segment 0's
    assert together[6].tobytes() == second[2].tobytes()  # after it: segment 1's
    for i, j in ((4, 0), (5, 1)):  # in the fade: between the two
        lo = np.minimum(first[i], second[j]).astype(int) - 1
        hi = np.maximum(first[i], second[j]).astype(int) + 1
        assert ((together[i] >= lo) & (together[i] <= hi)).all()
        assert together[i].tobytes() not in (first[i].tobytes(), second[j].tobytes())
    # the later segment continues the key frames' chain (frame 0's dream carried to frame 4):
    # in the cross-fade it is nearer the earlier segment than a chain started afresh
    afresh = list(dream_span(dreamer, working.info, 4, 12))

    def apart(later: list[np.ndarray]) -> float:
        return float(np.mean([np.abs(first[4 + k].astype(int) - later[k]).mean() for k in (0, 1)]))

    assert apart(second) < 0.8 * apart(afresh), (apart(second), apart(afresh))


def test_the_carried_residual_is_held_at_the_first_frames_strength():
    from renderer.video.dream import cap_strength

    residual = torch.zeros(1, 3, 2, 2)
    residual[0, :, 0, 0] = 0.4  # mean |r| over channels: 0.4 at (0, 0), 0 elsewhere
    residual[0, :, 1, 1] = -0.2
    where = torch.tensor([[True, False], [False, True]])  # mean over these: 0.3
    assert torch.allclose(cap_strength(residual, where, 0.15), residual * 0.5)
    assert torch.equal(cap_strength(residual, where, 0.31), residual)  # under it: unchanged
    assert torch.equal(cap_strength(residual, torch.zeros(2, 2, dtype=torch.bool), 0.1), residual)


def test_gallery_toml_video_section(tmp_path):
    from renderer.errors import RecipeError
    from renderer.gallery.config import GalleryConfig, read_config_file
    from renderer.video.gallery import gallery_settings

    path = tmp_path / "gallery.toml"
    path.write_text("[video]\nsize = 256\nmax_seconds = 12.5\nfps = 15\n")
    settings = gallery_settings(GalleryConfig(**read_config_file(path)))
    assert (settings.size, settings.max_seconds, settings.fps) == (256, 12.5, 15)
    assert settings.segment_seconds == 4.0
    quick = gallery_settings(GalleryConfig(quick=True))
    assert (quick.size, quick.max_seconds, quick.fps) == (256, 30.0, 0.0)
    path.write_text("[video]\nfps = 100\n")
    with pytest.raises(RecipeError, match=r"\[video\] fps must be a number 0..60"):
        read_config_file(path)


def test_equal_frames_make_byte_identical_videos(tmp_path, clip):
    from renderer.video.encode import ClipWriter

    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 255, (48, 64, 3), dtype=np.uint8) for _ in range(6)]
    for k in (1, 2):
        paths = {"mp4": tmp_path / f"{k}.mp4", "webm": tmp_path / f"{k}.webm"}
        with ClipWriter(paths, 64, 48, Fraction(12), clip, 0.0, 0.5) as out:
            for rgb in frames:
                out.write(rgb)
    for suffix in ("mp4", "webm"):
        one, two = (tmp_path / f"{k}.{suffix}" for k in (1, 2))
        assert one.read_bytes() == two.read_bytes(), suffix


@pytest.mark.parametrize(
    ("source", "codec", "modes"),
    [
        ("aac.mp4", None, {"mp4": "copy", "webm": "encode"}),
        ("opus.mkv", "libopus", {"mp4": "encode", "webm": "copy"}),
        ("pcm.mov", "pcm_s16le", {"mp4": "encode", "webm": "encode"}),
        ("ac3.mkv", "ac3", {"mp4": "encode", "webm": "encode"}),
    ],
)
def test_a_cut_clips_sound_stops_at_the_cut(tmp_path, frames, source, codec, modes):
    """12 frames of sound (1 s), cut after 6 (0.5 s): a copy keeps the source's packets
    up to the cut, none after; a re-encoding ends there too (both within a packet)."""
    from renderer.video.encode import ClipWriter

    clip = write_clip(tmp_path / source, frames, fps=12, audio_codec=codec)
    paths = {"mp4": tmp_path / "cut.mp4", "webm": tmp_path / "cut.webm"}
    with ClipWriter(paths, 96, 64, Fraction(12), clip, 0.0, 0.5) as out:
        for rgb in frames[:6]:
            out.write(rgb)
        assert out.audio_modes == {f"cut.{k}": v for k, v in modes.items()}
    for suffix, mode in modes.items():
        seconds = _streams(paths[suffix])["audio"]
        assert 0.5 <= seconds <= 0.5 + 0.05, (suffix, seconds)
        if mode == "copy":
            kept, whole = _audio_packets(paths[suffix]), _audio_packets(clip)
            assert kept == whole[: len(kept)] and len(kept) < len(whole) * 2 // 3


def test_a_segments_estimate_by_hand(clip):
    """One 10-step octave over 96 x 64 px for the clip's first frame; 2 refine steps and the
    flows (their floor, at this size) for each later one; one Grad-CAM pass for each frame
    a segment adds."""
    from types import SimpleNamespace

    from renderer.dream.presets import get_preset
    from renderer.gallery.estimate import pixel_steps
    from renderer.gallery.plan import PhotoSource
    from renderer.video.estimate import clip_lines
    from renderer.video.gallery import SegmentPayload
    from renderer.video.segments import Segment

    recipe = get_preset("classic").recipe.replace(octaves=1, steps=10)
    settings = VideoSettings(size=64, segment_seconds=0.5)

    def job(segment: Segment) -> SimpleNamespace:
        payload = SegmentPayload("classic", recipe, settings, segment, 0)
        return SimpleNamespace(kind="video-segment", payload=payload, photo=PhotoSource(clip, ""))

    pixels = 96 * 64  # 6,144
    flows = 300_000  # two flows at 96 x 64 px: FLOW_FLOOR, more than 1.5 x 6,144
    later = 2 * pixels + flows
    first, second = job(Segment(0, 0, 6)), job(Segment(1, 3, 12, 3))
    assert pixel_steps(first, 32) == pytest.approx(10 * pixels + 5 * later + 6 * pixels)
    # the second continues the chain from frame 0's photo dream: its 9 frames, and the
    # key step's trust check (two flows)
    assert pixel_steps(second, 32) == pytest.approx(10 * pixels + 9 * later + flows + 6 * pixels)
    (line,) = clip_lines([first, second], 1e-5, 32)
    # 1,659,744 + 3,208,896 pixel-steps at 10 us each: 49 s
    assert line == (
        "estimate  video pan.mp4: 15 frames at 96x64 in 2 segment(s) to dream, "
        "and the join, about 49 s"
    )


def test_a_segment_after_a_cut_starts_afresh(tmp_path, frames, lite0):
    """Frames 0-5 pan over the coffee, 6-11 over the cat: the flow from key frame 0 to
    frame 6 is not to be trusted, so the second segment dreams frame 6 like a photo, as a
    segment with no keys does; after a pan it continues the key's dream instead."""
    from skimage import data

    from renderer.dream.presets import get_preset
    from renderer.video.jobs import clip_dreamer, dream_span, prepare_clip

    cat = data.chelsea()
    other = render_clip(cat, sample_camera(cat.shape, 96, 64, 6), 6)
    cut = write_clip(tmp_path / "cut.mp4", np.concatenate([frames[:6], other]), fps=12)
    recipe = get_preset("classic").recipe
    for path, afresh in ((cut, True), (write_clip(tmp_path / "pan.mp4", frames), False)):
        info = prepare_clip(path, VideoSettings(size=64)).info
        dreamer, _, _ = clip_dreamer(lite0, info, recipe, VideoSettings(size=64), 2)
        keyed = next(dream_span(dreamer, info, 6, 8, keys=[0]))
        alone = next(dream_span(dreamer, info, 6, 8))
        assert (keyed.tobytes() == alone.tobytes()) is afresh, path.name
