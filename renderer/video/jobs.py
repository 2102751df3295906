"""Clip jobs: dream a clip (or one segment of it), write its videos, posters and records.

A clip's outputs sit under ``<key>/`` as a photo's do: ``source.mp4`` (the working copy:
upright, at the dream's size and rate, with its sound), ``poster.png`` (its first frame),
``dream-<preset>.mp4`` and ``.webm`` and ``dream-<preset>-poster.png`` (the dream's first
frame, also the still shown to visitors who prefer reduced motion).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from ..clikit import Stopwatch, progress
from ..dream.jobs import dream_objective, guided_suffix
from ..dream.objectives import resolve_terms
from ..dream.recipe import DreamRecipe
from ..files import MB, hash_photo_file
from ..imageio import save_image_atomic
from ..models import LoadedModel
from ..naming import photo_key, slug
from ..provenance import InputFile, Record, publish
from .decode import MAX_VIDEO_MB, ClipInfo, probe, read_frames
from .dream import TemporalDreamer, fit_recipe
from .encode import ClipWriter
from .segments import SEGMENT_FILE, Segment, join, plan_segments, read_segment, write_frames
from .settings import VideoSettings


@dataclass(frozen=True)
class WorkingClip:
    """A checked clip: its plan, the sha256 of its bytes and its output key."""

    info: ClipInfo
    sha256: str

    @property
    def key(self) -> str:
        return photo_key(self.info.path.name, self.sha256)

    @property
    def input(self) -> InputFile:
        return InputFile(str(self.info.path), self.sha256)


def prepare_clip(path: str | Path, settings: VideoSettings) -> WorkingClip:
    """Check a clip and plan it (``decode.probe``) and hash it in chunks; a bad clip is a
    one-line ``BadInputError`` before any dreaming."""
    info = probe(path, settings)
    digest, _size = hash_photo_file(path, MAX_VIDEO_MB * MB)
    return WorkingClip(info, digest)


def dream_span(
    dreamer: TemporalDreamer,
    info: ClipInfo,
    start: int = 0,
    stop: int | None = None,
    keys: Sequence[int] = (),
) -> Iterator[np.ndarray]:
    """Dream frames ``start`` to ``stop`` of a clip, continuing the chain of the key
    frames ``keys`` (the earlier segments' starts; none: ``start`` is dreamt like a photo)."""
    frames = read_frames(info, start, stop)
    first = next(frames, None)
    if first is None:
        return
    dreamer.start_from_keys((_frame_at(info, k) for k in keys), first)
    for _frame, dream in dreamer.frames(_chain(first, frames)):
        yield dream


def _frame_at(info: ClipInfo, index: int):
    return next(read_frames(info, index, index + 1))


def segment_keys(segments: Sequence[Segment], segment: Segment) -> list[int]:
    """The key frames a segment's chain continues: the starts of the segments before it."""
    return [s.start for s in segments if s.index < segment.index]


def clip_dreamer(
    model: LoadedModel,
    info: ClipInfo,
    recipe: DreamRecipe,
    settings: VideoSettings,
    seed: int,
    on_frame: Callable[[], None] | None = None,
) -> tuple[TemporalDreamer, tuple[InputFile, ...], list[str]]:
    """The clip's dreamer (its recipe fitted to the clip's size), the guide picture it
    reads if any, and the resolved layer names."""
    terms = resolve_terms(model, recipe.terms)
    objective, guide = dream_objective(model, recipe, terms)
    fitted = fit_recipe(recipe, info.height, info.width, model.spec.min_size)
    dreamer = TemporalDreamer(model, objective, fitted, settings, seed)
    return dreamer, guide, [str(t) for t in terms]


def clip_segments(info: ClipInfo, settings: VideoSettings) -> list[Segment]:
    return plan_segments(info.frames, settings.segment_frames(float(info.rate)), settings.overlap)


def dream_segment_file(
    model: LoadedModel,
    clip: WorkingClip,
    recipe: DreamRecipe,
    settings: VideoSettings,
    segment: Segment,
    out_dir: Path,
    *,
    seed: int,
) -> Path:
    """One segment's dream frames, losslessly, as ``<out_dir>/segment.mkv`` (a gallery job)."""
    info = clip.info
    dreamer, _guide, _layers = clip_dreamer(model, info, recipe, settings, seed)
    bar = progress(total=segment.stop - segment.start, desc=info.path.name, unit="frame")
    path = Path(out_dir) / SEGMENT_FILE
    keys = segment_keys(clip_segments(info, settings), segment)
    try:
        frames = dream_span(dreamer, info, segment.start, segment.stop, keys)
        write_frames(path, _counted(frames, bar), info.rate)
    finally:
        bar.close()
    return path


def _counted(frames: Iterable[np.ndarray], bar) -> Iterator[np.ndarray]:
    for rgb in frames:
        yield rgb
        bar.update()


def dream_clip(
    model: LoadedModel,
    clip: WorkingClip,
    recipe: DreamRecipe,
    settings: VideoSettings,
    out_dir: Path,
    *,
    preset: str,
    seed: int,
    command: str,
    segment_files: Sequence[Path] | None = None,
    note: str = "",
) -> list[Record]:
    """Dream a clip (its segments one after another, or joined from ``segment_files``
    rendered apart) and write its videos, posters and records (``note`` ends the dream's
    caption); returns the records."""
    clock = Stopwatch()
    out_dir = Path(out_dir)
    info = clip.info
    dreamer, guide, layers = clip_dreamer(model, info, recipe, settings, seed)
    segments = clip_segments(info, settings)
    if segment_files is not None:
        spans: list[Iterable[np.ndarray]] = [read_segment(Path(p)) for p in segment_files]
    else:
        spans = [
            dream_span(dreamer, info, s.start, s.stop, segment_keys(segments, s)) for s in segments
        ]
    stem = f"{clip.key}/dream-{slug(preset)}{guided_suffix(recipe)}"
    write_clip_files(clip, join(segments, spans), out_dir, stem)
    facts = clip_facts(info)
    source_record = model.record(
        "video",
        f"{clip.key}/source.mp4",
        command,
        inputs=(clip.input,),
        params={"size": settings.size, "max_seconds": settings.max_seconds, "fps": settings.fps},
        extra={"name": info.path.name, "poster": f"{clip.key}/poster.png", **facts},
    )
    dream_record = model.record(
        "video-dream",
        f"{stem}.mp4",
        command,
        inputs=(clip.input, *guide),
        params={**recipe.to_params(), "video": video_params(settings)},
        seed=seed,
        wall_time_s=clock.seconds,
        extra={
            "preset": preset,
            "layers": layers,
            "webm": f"{stem}.webm",
            "poster": f"{stem}-poster.png",
            "segments": len(segments),
            "caption": f"{preset} · {' + '.join(layers)} · {recipe.describe()} · "
            f"{info.frames} frames at {float(info.rate):g} fps{note}",
            **facts,
        },
    )
    records = [source_record, dream_record]
    publish(out_dir, records)
    return records


def write_clip_files(
    clip: WorkingClip, dreams: Iterable[np.ndarray], out_dir: Path, stem: str
) -> None:
    """The dream's MP4, WebM and poster, and the working source's MP4 and poster, with
    the clip's sound; one progress bar counts the frames."""
    info = clip.info
    audio = info.path if info.has_audio else None
    size, rate = (info.width, info.height), info.rate
    dream_paths = {"mp4": out_dir / f"{stem}.mp4", "webm": out_dir / f"{stem}.webm"}
    source_paths = {"mp4": out_dir / f"{clip.key}/source.mp4"}
    bar = progress(total=info.frames, desc=info.path.name, unit="frame", leave=False)
    try:
        with (
            ClipWriter(dream_paths, *size, rate, audio, info.start, info.seconds) as dream_out,
            ClipWriter(source_paths, *size, rate, audio, info.start, info.seconds) as source_out,
        ):
            for i, (frame, dream) in enumerate(zip(read_frames(info), dreams, strict=True)):
                if i == 0:
                    save_image_atomic(
                        Image.fromarray(frame.rgb), out_dir / f"{clip.key}/poster.png"
                    )
                    save_image_atomic(Image.fromarray(dream), out_dir / f"{stem}-poster.png")
                dream_out.write(dream)
                source_out.write(frame.rgb)
                bar.update()
    finally:
        bar.close()


def explain_clip(
    model: LoadedModel, clip: WorkingClip, out_dir: Path, *, command: str
) -> list[Record]:
    """``<key>/gradcam.mp4`` and ``.webm``: Grad-CAM of the first frame's top class over
    every source frame (``video.explain``), its poster and its colour scale."""
    from .explain import COLORMAP, first_class, gradcam_frames, legend

    clock = Stopwatch()
    out_dir = Path(out_dir)
    info = clip.info
    frames = read_frames(info)
    first = next(frames)
    target = first_class(model, first.rgb)
    stem = f"{clip.key}/gradcam"
    paths = {"mp4": out_dir / f"{stem}.mp4", "webm": out_dir / f"{stem}.webm"}
    top = 0.0
    with ClipWriter(paths, info.width, info.height, info.rate) as out:
        for i, (rgb, scale) in enumerate(gradcam_frames(model, _chain(first, frames), target)):
            top = scale
            if i == 0:
                save_image_atomic(Image.fromarray(rgb), out_dir / f"{stem}-poster.png")
            out.write(rgb)
    save_image_atomic(legend(target, top), out_dir / f"{stem}-legend.png")
    record = model.record(
        "video-explain",
        f"{stem}.mp4",
        command,
        inputs=(clip.input,),
        params={"method": "gradcam", "layer": model.spec.default_layer},
        wall_time_s=clock.seconds,
        extra={
            "webm": f"{stem}.webm",
            "poster": f"{stem}-poster.png",
            "legend": {"image": f"{stem}-legend.png", "colormap": COLORMAP, "min": 0.0, "max": top},
            "target": target.to_dict(),
            "caption": f"Grad-CAM for {target.name} ({target.prob:.0%} on the first frame) "
            f"at {model.spec.default_layer}",
            **clip_facts(info),
        },
    )
    publish(out_dir, [record])
    return [record]


def _chain(first, rest):
    yield first
    yield from rest


def video_params(settings: VideoSettings) -> dict[str, object]:
    from dataclasses import asdict

    return asdict(settings)


def clip_facts(info: ClipInfo) -> dict[str, object]:
    return {
        "width": info.width,
        "height": info.height,
        "fps": round(float(info.rate), 3),
        "frame_count": info.frames,
        "seconds": round(info.seconds, 3),
        "source_seconds": round(info.source_seconds, 3),
        "cut": info.cut,
        "has_audio": info.has_audio,
        "rotation": info.rotation,
        "hdr": info.hdr,
    }
