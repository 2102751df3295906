"""Video bench: flow accuracy and speed, flicker, strength and cost of clip dreams.

On a synthetic clip with known motion (``video.synthetic``: a slow pan and zoom over a
sample photo, and a disc crossing it):

- each flow estimator's end-point error against the true flow (the disc left out) and its
  CPU seconds per frame (two flows a frame: forward and backward);
- **flicker**: the mean change between consecutive dream frames after aligning the earlier
  one by the true motion (the disc, and a margin, left out), for the temporal dream and for
  frames dreamt independently (each a photo dream); goal: ratio <= 0.3;
- **strength**: mean |dream - source|, temporal over independent; goal: >= 0.7;
- **cost**: CPU seconds per temporal frame after the first over one photo dream of the
  same preset at the same size, both timed in this run; goal: <= 0.35.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..dream.engine import render
from ..dream.objectives import Objective, layer_objective, resolve_terms
from ..dream.presets import get_preset
from ..dream.recipe import DreamRecipe
from ..imageio import save_image_atomic
from ..models import LoadedModel, load_model
from ..video import flow as fl
from ..video.decode import ClipFrame
from ..video.dream import TemporalDreamer, to_rgb, to_tensor
from ..video.segments import join, plan_segments
from ..video.settings import VideoSettings
from ..video.synthetic import Camera, disc_mask, render_clip, sample_camera

PRESET = "classic"
SIZE = (384, 512)  # (H, W): a 512 px photo dream's size
FRAMES = int(os.environ.get("VIDEO_BENCH_FRAMES", "16"))  # enough to see a drift
MARGIN = 16


def synthetic_clip(frames: int = FRAMES, size: tuple[int, int] = SIZE):
    from skimage import data

    photo = data.coffee()
    camera = sample_camera(photo.shape, size[1], size[0], frames)
    return camera, render_clip(photo, camera, frames)


def _valid(camera: Camera, t: int, frames: int) -> np.ndarray:
    """Pixels of frame ``t`` whose true motion from ``t - 1`` is the camera's: inside both
    frames, away from the edges and from the disc in either frame."""
    h, w = camera.height, camera.width
    keep = np.zeros((h, w), dtype=bool)
    keep[MARGIN:-MARGIN, MARGIN:-MARGIN] = True
    disc = disc_mask(camera, t, frames) | disc_mask(camera, t - 1, frames)
    grown = torch.nn.functional.max_pool2d(
        torch.from_numpy(disc.astype(np.float32))[None, None], 9, 1, 4
    )[0, 0].numpy()
    return keep & (grown == 0)


def flicker(camera: Camera, frames: np.ndarray, steps: range | None = None) -> float:
    """Mean |frame t - frame t-1 aligned by the true motion| over the valid pixels, in [0, 1],
    over the transitions ``steps`` (all by default)."""
    changes = []
    n = len(frames)
    for t in steps or range(1, n):
        aligned = fl.warp(to_tensor(frames[t - 1]), camera.flow(t))
        diff = (to_tensor(frames[t]) - aligned).abs().mean(1)[0].numpy()
        changes.append(float(diff[_valid(camera, t, n)].mean()))
    return float(np.mean(changes))


def strength(dreams: np.ndarray, sources: np.ndarray) -> float:
    return float(np.abs(dreams.astype(np.float32) - sources.astype(np.float32)).mean() / 255)


def flow_table(camera: Camera, clip: np.ndarray) -> dict[str, float]:
    rows: dict[str, float] = {}
    n = len(clip)
    greys = [fl.grey(f) for f in clip]
    variants = {
        "ilk x0.5": fl.FlowSettings("ilk", 0.5),
        "ilk x1": fl.FlowSettings("ilk", 1.0),
        "tvl1 x0.5 (chosen)": fl.FlowSettings("tvl1", 0.5),
        "tvl1 x1": fl.FlowSettings("tvl1", 1.0),
        "tvl1 x0.5 skimage's 5x10 iterations": fl.FlowSettings("tvl1", 0.5, warps=5, iterations=10),
    }
    for name, settings in variants.items():
        errors, cpu = [], 0.0
        for t in range(1, n):
            start = time.process_time()
            est = fl.estimate(greys[t], greys[t - 1], settings)
            cpu += time.process_time() - start
            err = np.hypot(*(est - camera.flow(t)))
            errors.append(float(err[_valid(camera, t, n)].mean()))
        rows[f"flow {name} EPE px"] = float(np.mean(errors))
        rows[f"flow {name} cpu s/flow"] = cpu / (n - 1)
    return rows


@dataclass(frozen=True)
class Dreaming:
    """What every dream of the bench shares: the model, the preset's objective and recipe,
    and the synthetic clip."""

    model: LoadedModel
    objective: Objective
    recipe: DreamRecipe
    clip: np.ndarray

    def independent(self) -> tuple[list[np.ndarray], list[float]]:
        """Each frame dreamt alone as a photo: the dreams and their CPU seconds."""
        dreams, cpu = [], []
        for t, frame in enumerate(self.clip):
            start = time.process_time()
            result = render(
                self.model, self.objective, self.recipe, seed=t, photo=to_tensor(frame),
                measure=False,
            )  # fmt: skip
            cpu.append(time.process_time() - start)
            dreams.append(to_rgb(result.images))
        return dreams, cpu

    def chain(
        self, settings: VideoSettings, first: int = 0, stop: int = FRAMES, keys: Sequence[int] = ()
    ):
        """Frames ``first``..``stop`` dreamt as a clip, continuing the chain of the key
        frames ``keys`` (the earlier segments' starts, as the gallery does): the dreams, CPU
        seconds, and whether each frame's flow was trusted."""
        dreamer = TemporalDreamer(self.model, self.objective, self.recipe, settings, seed=0)
        opening = ClipFrame(first, first / 12, self.clip[first])
        dreamer.start_from_keys((ClipFrame(k, k / 12, self.clip[k]) for k in keys), opening)
        dreams, cpu, trusted = [], [], []
        for t in range(first, stop):
            start = time.process_time()
            dreams.append(dreamer.dream(ClipFrame(t, t / 12, self.clip[t])))
            cpu.append(time.process_time() - start)
            trusted.append(dreamer.trusted)
        return dreams, cpu, trusted


def refinement_table(
    dreaming: Dreaming, camera: Camera, independent: np.ndarray, independent_cpu: list[float]
) -> dict[str, float]:
    """Other refinements, (octaves, steps) of each frame after the first: flicker,
    strength and cost against the independent dreams."""
    rows: dict[str, float] = {}
    for octaves, steps in ((2, 3), (1, 4), (3, 3)):
        dreams, cpu, _ = dreaming.chain(VideoSettings(refine_octaves=octaves, refine_steps=steps))
        tag = f"refine {octaves} octaves x {steps} steps"
        rows[f"{tag}: flicker ratio"] = flicker(camera, np.stack(dreams)) / max(
            1e-9, flicker(camera, independent)
        )
        rows[f"{tag}: strength ratio"] = strength(np.stack(dreams), dreaming.clip) / strength(
            independent, dreaming.clip
        )
        rows[f"{tag}: cost ratio"] = float(np.mean(cpu[1:])) / float(np.mean(independent_cpu))
    return rows


def boundary_figures(
    dreaming: Dreaming, camera: Camera, settings: VideoSettings, independent: np.ndarray
) -> dict[str, object]:
    """Two segments dreamt apart and joined: the flicker across the boundary's cross-fade,
    and how far apart the two chains are where they are cross-faded: the later one
    continuing the key frames' chain (as the gallery does), or starting afresh."""
    segments = plan_segments(FRAMES, FRAMES * 5 // 8, settings.overlap)
    keys = [[p.start for p in segments[: s.index]] for s in segments]
    spans = [
        dreaming.chain(settings, s.start, s.stop, k)[0] for s, k in zip(segments, keys, strict=True)
    ]
    joined = np.stack(list(join(segments, spans)))
    later = segments[1]
    across = range(later.start, min(FRAMES, later.start + later.fade + 1))
    afresh = dreaming.chain(settings, later.start, later.stop)[0]

    def apart(dreams: list[np.ndarray]) -> float:
        pairs = [(spans[0][later.start + i], dreams[i]) for i in range(later.fade)]
        return float(np.mean([np.abs(a.astype(int) - b.astype(int)).mean() for a, b in pairs]))

    return {
        "segments": f"{[(s.start, s.stop) for s in segments]}",
        "flicker across a segment boundary (cross-fade)": flicker(camera, joined, across),
        "flicker ratio across the boundary": flicker(camera, joined, across)
        / flicker(camera, independent, across),
        "chains apart in the cross-fade, mean abs(A - B) (keyed)": apart(spans[1]),
        "chains apart in the cross-fade, mean abs(A - B) (afresh)": apart(afresh),
    }


def save_strips(folder: Path, clip: np.ndarray, independent: np.ndarray, temporal: np.ndarray):
    """The source, independent and temporal dream of the first, middle and last frames."""
    from PIL import Image

    for t in (0, len(clip) // 2, len(clip) - 1):
        strip = np.concatenate([clip[t], independent[t], temporal[t]], axis=1)
        save_image_atomic(Image.fromarray(strip), folder / f"frame-{t}.png")


def run(out: Path) -> dict:
    torch.set_num_threads(max(1, torch.get_num_threads()))
    camera, clip = synthetic_clip()
    results: dict[str, object] = {"frames": FRAMES, "size": f"{SIZE[1]}x{SIZE[0]}"}
    results.update(flow_table(camera, clip))
    model = load_model("efficientnet_lite0", torch.device("cpu"))
    recipe = get_preset(PRESET).recipe
    objective = layer_objective(resolve_terms(model, recipe.terms))
    dreaming = Dreaming(model, objective, recipe, clip)
    settings = VideoSettings()
    independent, independent_cpu = dreaming.independent()
    temporal, temporal_cpu, trusted = dreaming.chain(settings)
    independent_a, temporal_a = np.stack(independent), np.stack(temporal)
    results.update(refinement_table(dreaming, camera, independent_a, independent_cpu))
    boundary = boundary_figures(dreaming, camera, settings, independent_a)
    flicker_ind, flicker_tmp = flicker(camera, independent_a), flicker(camera, temporal_a)
    strength_ind, strength_tmp = strength(independent_a, clip), strength(temporal_a, clip)
    photo_cpu, frame_cpu = float(np.mean(independent_cpu)), float(np.mean(temporal_cpu[1:]))
    results.update(
        {
            "flicker source": flicker(camera, clip),
            "flicker independent": flicker_ind,
            "flicker temporal": flicker_tmp,
            "flicker ratio (goal <= 0.3)": flicker_tmp / flicker_ind,
            **boundary,
            "strength independent": strength_ind,
            "strength temporal": strength_tmp,
            "strength ratio (goal >= 0.7)": strength_tmp / strength_ind,
            "strength ratio, last frame": strength(temporal_a[-1:], clip[-1:])
            / strength(independent_a[-1:], clip[-1:]),
            "flow trusted share": float(np.mean(trusted[1:])),
            "photo dream cpu s": photo_cpu,
            "temporal frame cpu s": frame_cpu,
            "cost ratio (goal <= 0.35)": frame_cpu / photo_cpu,
        }
    )
    save_strips(Path(out) / "video", clip, independent_a, temporal_a)
    return results
