"""Clip jobs: dream a clip (or one segment of it), write its videos, posters and records.

A clip's outputs sit under ``<key>/`` as a photo's do: ``source.mp4`` (the working copy:
upright, at the dream's size and rate, with its sound), ``poster.png`` (its first frame),
``dream-<preset>.mp4`` and ``.webm`` and ``dream-<preset>-poster.png`` (the dream's first
frame, also the still shown to visitors who prefer reduced motion).
"""

from __future__ import annotations

from collections.abc import Iterator
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
    dreamer: TemporalDreamer, info: ClipInfo, start: int = 0, stop: int | None = None
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(source, dream) frames ``start`` to ``stop`` of a clip, ``start`` dreamt like a photo."""
    dreamer.reset()
    for frame, dream in dreamer.frames(read_frames(info, start, stop)):
        yield frame.rgb, dream


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
) -> list[Record]:
    """Dream a whole clip in one job; returns the published records (source and dream)."""
    clock = Stopwatch()
    out_dir = Path(out_dir)
    info = clip.info
    terms = resolve_terms(model, recipe.terms)
    objective, guide = dream_objective(model, recipe, terms)
    fitted = fit_recipe(recipe, info.height, info.width, model.spec.min_size)
    dreamer = TemporalDreamer(model, objective, fitted, settings, seed)
    stem = f"{clip.key}/dream-{slug(preset)}{guided_suffix(recipe)}"
    dream_paths = {"mp4": out_dir / f"{stem}.mp4", "webm": out_dir / f"{stem}.webm"}
    source_paths = {"mp4": out_dir / f"{clip.key}/source.mp4"}
    audio = info.path if info.has_audio else None
    size, rate = (info.width, info.height), info.rate
    bar = progress(total=info.frames, desc=info.path.name, unit="frame", leave=False)
    trusted = []
    try:
        with (
            ClipWriter(dream_paths, *size, rate, audio, info.start, info.seconds) as dreams,
            ClipWriter(source_paths, *size, rate, audio, info.start, info.seconds) as sources,
        ):
            for i, (source, dream) in enumerate(dream_span(dreamer, info)):
                if i == 0:
                    save_image_atomic(Image.fromarray(source), out_dir / f"{clip.key}/poster.png")
                    save_image_atomic(Image.fromarray(dream), out_dir / f"{stem}-poster.png")
                else:
                    trusted.append(dreamer.trusted)
                dreams.write(dream)
                sources.write(source)
                bar.update()
    finally:
        bar.close()
    layers = [str(t) for t in terms]
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
            "flow_trusted": round(float(np.mean(trusted)), 4) if trusted else 1.0,
            "caption": f"{preset} · {' + '.join(layers)} · {recipe.describe()} · "
            f"{info.frames} frames at {float(info.rate):g} fps",
            **facts,
        },
    )
    records = [source_record, dream_record]
    publish(out_dir, records)
    return records


def video_params(settings: VideoSettings) -> dict[str, object]:
    from dataclasses import asdict

    return asdict(settings)


def clip_facts(info: ClipInfo) -> dict[str, object]:
    return {
        "width": info.width,
        "height": info.height,
        "fps": round(float(info.rate), 3),
        "frames": info.frames,
        "seconds": round(info.seconds, 3),
        "source_seconds": round(info.source_seconds, 3),
        "cut": info.cut,
        "has_audio": info.has_audio,
        "rotation": info.rotation,
        "hdr": info.hdr,
    }
