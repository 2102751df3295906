"""Adaptive LIME against the answer LIME converges to: issue 26's bench section.

Per bench photo (scikit-image's and scikit-learn's sample photos at 128, 160 and 224 px,
to keep 180,000 model calls affordable on a CPU; 20-44 superpixels) it scores a **pool**
of antithetic mask pairs once (18,000 samples, black hiding, the product's scorer) and
keeps the scores on disk under a hash of the weights, the photo, its segments, the target
and the pool's layout, so a rerun costs no model call. The
pool serves twice, never for the same run:

* **the converged answer**: the weighted least-squares surrogate of every sample of the pool
  that a run did not use (16,000 samples: "lime at 16,000"; lime's runs leave out the
  pairs they drew a member of, 16,002); each member of a pair is marginally an i.i.d.
  Bernoulli(0.5) mask, so the pool's fit converges to lime's surrogate;
* **the runs**: a run replays the product's loop (``lime.settle``: rounds, running fit,
  bootstrap, stopping rule) on pairs drawn from the pool in a seeded order, without
  replacement; "lime at 1,000" replays lime's own estimator (1,000 i.i.d. masks: one member
  of each of 1,000 pairs, the original image first, ``Ridge(alpha=1)``).

Rules are compared on many replayed seeds of each photo (cheap: no model call), and the
rule's own time is measured on the real model against ``lime_image`` at 1,000 samples,
alternating in one process. Alone: ``python -m renderer.bench.lime [--pools-only]
[--only replays|timing]`` (``--pools-only`` fills the cache, e.g. in the background).
"""

from __future__ import annotations

import hashlib
import io
import itertools
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ..explain import lime
from ..explain.jobs import target_scorer
from ..explain.settings import ExplainSettings
from ..explain.stopping import StopRule
from ..explain.surrogate import RunningFit, settledness
from ..imageio import fit_long_side, pil_to_tensor, write_bytes_atomic
from ..models import LoadedModel, load_model

POOL_SAMPLES = 18_000  # 16,000 for the converged answer + up to 2,000 for the run
BLOCK = 1_000  # samples per cached file (500 pairs), so an interrupted fill resumes
HIDE = "black"  # the product's default hiding


@dataclass(frozen=True)
class BenchPhoto:
    name: str
    size: int
    segmentation: str

    @property
    def label(self) -> str:
        return f"{self.name}@{self.size} {self.segmentation}"


PHOTOS = (
    BenchPhoto("astronaut", 224, "quickshift:4,200,0.2"),
    BenchPhoto("chelsea", 160, "slic:50,10"),
    BenchPhoto("coffee", 160, "slic:25,10"),
    BenchPhoto("rocket", 160, "slic:50,10"),
    BenchPhoto("china", 160, "slic:50,10"),
    BenchPhoto("hubble_deep_field", 160, "quickshift:4,200,0.2"),
    BenchPhoto("flower", 128, "slic:25,10"),
    BenchPhoto("immunohistochemistry", 128, "slic:50,10"),
    BenchPhoto("motorcycle", 128, "slic:50,10"),
    BenchPhoto("coins", 128, "quickshift:4,200,0.2"),
)


def source_picture(name: str) -> Image.Image:
    """A bundled sample photo as RGB (grey ones repeated over three channels)."""
    if name in ("china", "flower"):
        from sklearn.datasets import load_sample_image

        array = load_sample_image(f"{name}.jpg")
    else:
        from skimage import data

        array = data.stereo_motorcycle()[0] if name == "motorcycle" else getattr(data, name)()
    if array.ndim == 2:
        array = np.repeat(array[..., None], 3, axis=2)
    return Image.fromarray(np.ascontiguousarray(array[..., :3]))


@dataclass(frozen=True)
class Case:
    """One bench photo at its size: pixels, superpixels and the class LIME explains."""

    photo: BenchPhoto
    picture: Image.Image
    image01: torch.Tensor  # (3, H, W) in [0, 1]
    segments: np.ndarray
    target: int

    @property
    def n_segments(self) -> int:
        return int(self.segments.max()) + 1


def make_case(model: LoadedModel, photo: BenchPhoto) -> Case:
    picture = fit_long_side(source_picture(photo.name), photo.size)
    image01 = pil_to_tensor(picture).to(model.device)
    with torch.inference_mode():
        target = int(model.logits(image01).float().argmax())
    segments = lime.segment(np.asarray(picture), photo.segmentation)
    return Case(photo, picture, image01[0], segments, target)


def pool_key(model: LoadedModel, case: Case) -> str:
    """A hash of everything the pool's scores depend on."""
    key = hashlib.sha256()
    for part in (
        "pool-v1",
        model.name,
        str(model.weights_sha256),
        case.photo.label,
        HIDE,
        str(case.target),
        str(BLOCK),
    ):
        key.update(part.encode())
    key.update(np.asarray(case.picture).tobytes())
    key.update(np.ascontiguousarray(case.segments).tobytes())
    return key.hexdigest()[:16]


def pool_block_masks(key: str, block: int, n_segments: int) -> np.ndarray:
    """Block ``block`` of the pool: BLOCK/2 antithetic pairs (mask, complement), seeded by
    the pool's key and the block, so a block's masks never depend on the other blocks."""
    seed = np.random.SeedSequence([int(key, 16), block])
    u = np.random.default_rng(seed).random((BLOCK // 2, n_segments))
    return np.stack([u < 0.5, u >= 0.5], axis=1).reshape(BLOCK, n_segments)


@dataclass(frozen=True)
class Pool:
    """Scored antithetic pairs: rows 2i and 2i+1 are a mask and its complement."""

    z: np.ndarray  # (N, n) bool
    y: np.ndarray  # (N,) target probability

    @property
    def pairs(self) -> int:
        return len(self.y) // 2


def score_masks(
    score: Callable[[torch.Tensor], torch.Tensor], case: Case, z: np.ndarray, batch: int = 16
) -> np.ndarray:
    """The target's probability for each mask, black hiding (the product's perturbation)."""
    seg = torch.as_tensor(case.segments, device=case.image01.device).long()
    fill = torch.zeros_like(case.image01)
    on_device = torch.from_numpy(z).to(case.image01.device)
    y = np.empty(len(z), dtype=np.float64)
    with torch.inference_mode():
        for start in range(0, len(z), batch):
            chunk = on_device[start : start + batch]
            y[start : start + len(chunk)] = (
                score(lime.perturb(case.image01, fill, seg, chunk)).double().cpu().numpy()
            )
    return y


def load_pool(
    model: LoadedModel,
    case: Case,
    cache: Path,
    samples: int = POOL_SAMPLES,
    compute: bool = True,
    log: Callable[[str], object] | None = None,
) -> Pool:
    """The first ``samples`` of the photo's pool, scoring and caching missing blocks (or,
    with ``compute`` false, only the cached blocks in a row from the first)."""
    key = pool_key(model, case)
    score = target_scorer(model, case.target)
    zs, ys = [], []
    for block in range(-(-samples // BLOCK)):
        path = cache / f"lime-pool-{case.photo.name}-{key}-{block:03d}.npy"
        z = pool_block_masks(key, block, case.n_segments)
        if path.is_file():
            y = np.load(path)
        elif compute:
            start = time.process_time()
            y = score_masks(score, case, z)
            buffer = io.BytesIO()
            np.save(buffer, y)
            write_bytes_atomic(path, buffer.getvalue())
            if log:
                log(f"{case.photo.label}: block {block} ({time.process_time() - start:.0f} cpu s)")
        else:
            break
        zs.append(z)
        ys.append(y)
    if not zs:
        return Pool(np.zeros((0, case.n_segments), bool), np.zeros(0))
    return Pool(np.concatenate(zs), np.concatenate(ys))


def fill_pools(out_dir: Path, photos=PHOTOS, samples: int = POOL_SAMPLES) -> None:
    """Score every photo's pool (the costly part, once): for a background job."""
    model = load_model("efficientnet_lite0", "cuda" if torch.cuda.is_available() else "cpu")
    cache = out_dir / "lime-pools"
    for photo in sorted(photos, key=lambda p: p.size):  # the cheap ones first
        case = make_case(model, photo)
        print(f"{photo.label}: {case.n_segments} superpixels, class {case.target}", flush=True)
        load_pool(model, case, cache, samples, log=lambda line: print(line, flush=True))


# --------------------------------------------------------------------------- replays

REPLAY_CAP = 2_000  # the longest replayed run: the rest of the pool (16,000) is its reference
KERNEL = 0.25


@dataclass(frozen=True)
class Normal:
    """Weighted normal equations of a set of samples (X = [1, z])."""

    gram: np.ndarray
    moment: np.ndarray

    @classmethod
    def of(cls, z: np.ndarray, y: np.ndarray) -> Normal:
        x = np.hstack([np.ones((len(z), 1)), z.astype(np.float64)])
        w = lime.kernel_weights(lime.cosine_distance_to_ones(z), KERNEL)
        return cls(x.T @ (w[:, None] * x), x.T @ (w * y))

    def __sub__(self, other: Normal) -> Normal:
        return Normal(self.gram - other.gram, self.moment - other.moment)

    def coef(self, ridge: float = 0.0) -> np.ndarray:
        """The slopes; ``ridge`` penalizes them (not the intercept) like sklearn's Ridge
        with an intercept: the penalty acts on the weighted-centred problem."""
        if ridge == 0.0:
            return np.linalg.solve(self.gram, self.moment)[1:]
        total = self.gram[0, 0]
        mean_x = self.gram[0, 1:] / total
        mean_y = self.moment[0] / total
        centred = self.gram[1:, 1:] - total * np.outer(mean_x, mean_x)
        rhs = self.moment[1:] - total * mean_x * mean_y
        return np.linalg.solve(centred + ridge * np.eye(len(rhs)), rhs)


def agreement(top: np.ndarray | tuple[int, ...], truth: np.ndarray) -> int:
    """How many of ``top`` are in ``truth``."""
    return len({int(i) for i in top} & {int(i) for i in truth})


@dataclass(frozen=True)
class Replay:
    """The photo's pool, its two special scores and the full fit, ready for replayed runs."""

    case: Case
    pool: Pool
    y_original: float  # every superpixel visible
    y_empty: float  # every superpixel hidden
    everything: Normal

    @classmethod
    def of(cls, model: LoadedModel, case: Case, pool: Pool) -> Replay:
        ends = np.stack([np.ones(case.n_segments, bool), np.zeros(case.n_segments, bool)])
        y_original, y_empty = score_masks(target_scorer(model, case.target), case, ends)
        return cls(case, pool, float(y_original), float(y_empty), Normal.of(pool.z, pool.y))

    def converged_top5(self) -> np.ndarray:
        return lime.top_segments(self.everything.coef(), 5)

    def order(self, seed: int, pairs: int) -> np.ndarray:
        """A run's pairs: a seeded draw without replacement from the pool."""
        rng = np.random.default_rng([PHOTOS.index(self.case.photo), seed])
        return rng.permutation(self.pool.pairs)[:pairs]

    def stream(self, seed: int) -> tuple[Callable, np.ndarray]:
        """A replayed antithetic run: the product's first pair (the photo and the all-hidden
        image), then the pool's pairs in the seed's order; and the reference's top 5 (the
        pool without the run's REPLAY_CAP samples)."""
        pairs = self.order(seed, REPLAY_CAP // 2)
        rows = np.stack([2 * pairs, 2 * pairs + 1], axis=1).reshape(-1)
        n = self.case.n_segments
        z = np.concatenate([np.stack([np.ones(n, bool), np.zeros(n, bool)]), self.pool.z[rows]])
        y = np.concatenate([[self.y_original, self.y_empty], self.pool.y[rows]])
        reference = self.everything - Normal.of(self.pool.z[rows], self.pool.y[rows])
        state = {"at": 0}

        def draw(m: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
            at = state["at"]
            state["at"] = at + m
            unit = np.arange(at, at + m) // 2
            return z[at : at + m], unit, y[at : at + m]

        return draw, lime.top_segments(reference.coef(), 5)

    def lime_run(self, seed: int, samples: int = 1000) -> tuple[np.ndarray, np.ndarray]:
        """lime's estimator at ``samples``: the original image, then ``samples - 1`` i.i.d.
        masks (one random member of each of as many pairs), Ridge(alpha=1); and the top 5
        of the reference without those pairs."""
        rng = np.random.default_rng([PHOTOS.index(self.case.photo), seed, 1])
        pairs = rng.permutation(self.pool.pairs)[: samples - 1]
        rows = 2 * pairs + rng.integers(0, 2, len(pairs))
        n = self.case.n_segments
        z = np.concatenate([np.ones((1, n), bool), self.pool.z[rows]])
        y = np.concatenate([[self.y_original], self.pool.y[rows]])
        both = np.stack([2 * pairs, 2 * pairs + 1], axis=1).reshape(-1)
        reference = self.everything - Normal.of(self.pool.z[both], self.pool.y[both])
        top = lime.top_segments(Normal.of(z, y).coef(ridge=1.0), 5)
        return top, lime.top_segments(reference.coef(), 5)


def reference_settledness(pool: Pool) -> str:
    """How settled the whole pool's top 5 is by its own 100 bootstrap refits: the share
    keeping 4 of 5 and the share keeping all 5."""
    fit = RunningFit(pool.z.shape[1], seed=0)
    for start in range(0, len(pool.y), BLOCK):
        z, y = pool.z[start : start + BLOCK], pool.y[start : start + BLOCK]
        w = lime.kernel_weights(lime.cosine_distance_to_ones(z), KERNEL)
        fit.add(z, y, w, (start + np.arange(len(y))) // 2)
    settled = settledness(fit.solve()[1], fit.bootstrap())
    return f"4 of 5 kept by {settled.within_one:.2f}, all 5 by {settled.same:.2f}"


def replay(rep: Replay, rule: StopRule, seed: int) -> tuple[lime.LimeExplanation, np.ndarray]:
    """The product's loop (``lime.settle``, the same bootstrap seed as ``lime.explain``'s)
    on the seed's replayed stream; and the run's reference top 5."""
    draw, reference = rep.stream(seed)
    boot_seed = np.random.SeedSequence(seed).spawn(2)[1]
    result = lime.settle(draw, rep.case.n_segments, rule, KERNEL, boot_seed, lime.ROUND)
    return result, reference


def first_stop(rounds, rule: StopRule) -> int | None:
    """The round at which ``rule`` stops a run whose every round is ``rounds`` (None: never
    before the last)."""
    for i, r in enumerate(rounds):
        if rule.verdict(r.samples, r.settled) == "stable":
            return i
    return None


CALIBRATION_BINS = (0.0, 0.5, 0.8, 0.9, 0.95, 0.97, 0.99, 1.0)


def calibration_rows(pairs: list[tuple[float, bool]]) -> dict[str, str]:
    """Stated stability (binned) against the measured share that keeps >= 4 of the
    converged top 5: 'measured (runs)'."""
    stated = np.array([p[0] for p in pairs])
    kept = np.array([p[1] for p in pairs])
    rows = {}
    for low, high in itertools.pairwise(CALIBRATION_BINS):
        inside = (stated >= low) & ((stated < high) if high < 1.0 else (stated <= high))
        if inside.any():
            rows[f"{low:.2f}-{high:.2f}"] = (
                f"mean stated {stated[inside].mean():.3f}, measured {kept[inside].mean():.3f}"
                f" ({int(inside.sum())})"
            )
    return rows


SEEDS = 20  # replayed runs per photo and rule


def rules(settings: ExplainSettings) -> dict[str, StopRule]:
    """The rules compared: the default, a lower threshold and the rule of issue 15 it
    replaces (all capped at the replays' REPLAY_CAP)."""
    default = replace(settings.stop_rule, max_samples=min(settings.lime_max_samples, REPLAY_CAP))
    return {
        "default": default,
        "0.97, floor 200": replace(default, stability=0.97),
        "issue 15 (0.8, floor 200)": StopRule(0.8, 200, REPLAY_CAP),
    }


@dataclass(frozen=True)
class Outcome:
    photo: str
    samples: int
    stopped: str
    agree: int  # shared with the converged top 5 (the run's own reference)


def summarize(name: str, outcomes: list[Outcome]) -> dict[str, object]:
    """One rule over every replayed run: how often "settled" is right, agreement, samples."""
    settled = [o for o in outcomes if o.stopped == "stable"]
    samples = np.array([o.samples for o in outcomes])
    right = [o.agree >= 4 for o in settled]
    worst = min(
        (np.mean([o.agree >= 4 for o in settled if o.photo == p]), p)
        for p in dict.fromkeys(o.photo for o in settled)
    )
    return {
        f"{name}: settled runs": f"{len(settled)} of {len(outcomes)}",
        f"{name}: settled and >= 4 of the converged 5": f"{np.mean(right):.3f}",
        f"{name}: worst photo, settled and >= 4": f"{worst[0]:.3f} ({worst[1]})",
        f"{name}: mean shared with the converged 5": round(
            float(np.mean([o.agree for o in outcomes])), 3
        ),
        f"{name}: samples mean / median / 90th pct / max": (
            f"{samples.mean():.0f} / {np.median(samples):.0f} / "
            f"{np.percentile(samples, 90):.0f} / {samples.max()}"
        ),
    }


def run(out_dir: Path, device: str | None = None, parts=("replays", "timing")) -> dict:
    out_dir.mkdir(parents=True, exist_ok=True)
    model = load_model("efficientnet_lite0", device or "cpu")
    settings = ExplainSettings()
    figures = replays(model, out_dir, settings) if "replays" in parts else {}
    if "timing" in parts:
        figures.update(time_against_lime(model, out_dir, settings))
    return figures


def replays(model: LoadedModel, out_dir: Path, settings: ExplainSettings) -> dict:
    """Every photo's converged top 5, each rule's replayed runs against it, lime at 1,000
    samples against it, and the default rule's calibration table."""
    compared = rules(settings)
    default = compared["default"]
    figures: dict[str, object] = {
        "pool": f"{POOL_SAMPLES:,} antithetic samples per photo, black hiding; the converged "
        f"top 5 of a run is the fit of the other {POOL_SAMPLES - REPLAY_CAP:,}",
        "replays": f"{SEEDS} seeds per photo and rule, capped at {REPLAY_CAP:,} samples",
        "default rule": f"{default.stability:.0%} of 100 bootstrap refits keep 4 of the top 5, "
        f"floor {default.min_samples}, cap {settings.lime_max_samples}",
    }
    outcomes: dict[str, list[Outcome]] = {name: [] for name in compared}
    lime_agree: list[int] = []
    every_round: list[tuple[float, bool]] = []
    at_stop: list[tuple[float, bool]] = []
    consistent = True
    for photo in PHOTOS:
        case = make_case(model, photo)
        pool = load_pool(model, case, out_dir / "lime-pools", log=print)
        rep = Replay.of(model, case, pool)
        converged = rep.converged_top5()
        label = photo.label
        figures[f"{label}: superpixels, class"] = f"{case.n_segments}, {case.target}"
        figures[f"{label}: converged top 5"] = " ".join(map(str, converged))
        figures[f"{label}: converged top 5's own bootstrap"] = reference_settledness(pool)
        for name, rule in compared.items():
            for seed in range(SEEDS):
                result, reference = replay(rep, rule, seed)
                agree = agreement(result.top(5), reference)
                outcomes[name].append(Outcome(photo.name, result.samples, result.stopped, agree))
        mine = [o for o in outcomes["default"] if o.photo == photo.name]
        figures[f"{label}: default samples"] = " ".join(str(o.samples) for o in mine)
        figures[f"{label}: default shared"] = " ".join(str(o.agree) for o in mine)
        figures[f"{label}: default settled"] = sum(o.stopped == "stable" for o in mine)
        # Calibration: every round of a run taken to the cap, stated share against the truth
        full = replace(default, samples=REPLAY_CAP)
        for seed in range(SEEDS):
            result, reference = replay(rep, full, seed)
            rows = [
                (r.settled.within_one, agreement(r.top5, reference) >= 4) for r in result.rounds
            ]
            every_round += rows
            stop = first_stop(result.rounds, default)
            if stop is not None:
                at_stop.append(rows[stop])
            consistent &= (stop is None) == (mine[seed].stopped != "stable")
            consistent &= stop is None or result.rounds[stop].samples == mine[seed].samples
        lime_runs = [agreement(*rep.lime_run(seed)) for seed in range(SEEDS)]
        lime_agree += lime_runs
        figures[f"{label}: lime at 1,000 shared"] = " ".join(map(str, lime_runs))
    for name, runs in outcomes.items():
        figures.update(summarize(name, runs))
    figures["lime at 1,000: mean shared with the converged 5"] = round(
        float(np.mean(lime_agree)), 3
    )
    figures["lime at 1,000: >= 4 of the converged 5"] = f"{np.mean(np.array(lime_agree) >= 4):.3f}"
    figures["replayed stops equal the adaptive runs'"] = consistent
    for key, value in calibration_rows(every_round).items():
        figures[f"calibration, every round, stated {key}"] = value
    for key, value in calibration_rows(at_stop).items():
        figures[f"calibration, at the stop, stated {key}"] = value
    return figures


TIMED = ("astronaut", "coffee")  # photos whose LIME is timed on the real model
TIMED_SEEDS = (0, 1)


def time_against_lime(model: LoadedModel, out_dir: Path, settings: ExplainSettings) -> dict:
    """Our whole LIME part of an explain job (segmentation, masks, model calls, fits, the
    deletion/insertion curves, every panel and record written) against ``lime_image`` at its
    default 1,000 samples (its own segmentation call, black hiding, batch 10), alternating
    seed by seed in this process: wall and process CPU seconds, and their ratios."""
    try:
        from lime import lime_image
    except ImportError:
        return {"timing": "lime not installed (pip install '.[test]')"}
    from ..explain.jobs import _Job
    from ..photos import WorkingPhoto
    from .explain import probabilities

    probs_fn = probabilities(model)
    figures: dict[str, object] = {}
    ours_wall, ours_cpu, lime_wall, lime_cpu = [], [], [], []
    for photo in (p for p in PHOTOS if p.name in TIMED):
        case = make_case(model, photo)
        picture = np.asarray(case.picture)
        image = picture.astype(np.float64) / 255.0

        def classify(batch: np.ndarray) -> np.ndarray:
            tensor = torch.from_numpy(np.ascontiguousarray(batch)).permute(0, 3, 1, 2).float()
            return probs_fn(tensor).cpu().numpy()

        samples = []
        for seed in TIMED_SEEDS:
            explainer = lime_image.LimeImageExplainer(kernel_width=KERNEL, random_state=seed)
            wall, cpu = time.perf_counter(), time.process_time()
            explainer.explain_instance(
                image,
                classify,
                labels=(case.target,),
                top_labels=None,
                hide_color=0,
                num_samples=1000,
                batch_size=10,
                segmentation_fn=lambda img, spec=photo.segmentation: lime.segment(img, spec),
                random_seed=seed,
            )
            lime_wall.append(time.perf_counter() - wall)
            lime_cpu.append(time.process_time() - cpu)
            working = WorkingPhoto(Path(f"{photo.name}.png"), "0" * 64, photo.name, case.picture)
            job_settings = replace(
                settings, seed=seed, lime_segments=photo.segmentation, target=str(case.target)
            )
            job = _Job(model, working, job_settings, out_dir / "lime-timing", "bench")
            wall, cpu = time.perf_counter(), time.process_time()
            job.lime_panels()
            ours_wall.append(time.perf_counter() - wall)
            ours_cpu.append(time.process_time() - cpu)
            samples.append(job.records[-1].extra["lime"]["samples"])
        figures[f"timed {photo.label}: our samples"] = " ".join(map(str, samples))
    figures["timed: lime_image 1,000 wall s"] = " ".join(f"{t:.1f}" for t in lime_wall)
    figures["timed: ours wall s"] = " ".join(f"{t:.1f}" for t in ours_wall)
    figures["timed: lime_image 1,000 cpu s"] = " ".join(f"{t:.1f}" for t in lime_cpu)
    figures["timed: ours cpu s"] = " ".join(f"{t:.1f}" for t in ours_cpu)
    figures["time ratio ours/lime (wall, mean)"] = round(sum(ours_wall) / sum(lime_wall), 3)
    figures["time ratio ours/lime (cpu, mean)"] = round(sum(ours_cpu) / sum(lime_cpu), 3)
    figures["time ratio ours/lime (wall, worst run)"] = round(
        max(o / t for o, t in zip(ours_wall, lime_wall, strict=True)), 3
    )
    return figures


def main(argv: list[str] | None = None) -> None:
    """``python -m renderer.bench.lime [--out DIR] [--pools-only | --only replays|timing]``."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m renderer.bench.lime")
    parser.add_argument("--out", type=Path, default=Path("bench-results"))
    parser.add_argument("--pools-only", action="store_true", help="only score the pools")
    parser.add_argument("--samples", type=int, default=POOL_SAMPLES)
    parser.add_argument("--only", choices=("replays", "timing"), action="append")
    args = parser.parse_args(argv)
    if args.pools_only:
        fill_pools(args.out, samples=args.samples)
        return
    import json

    figures = run(args.out, parts=args.only or ("replays", "timing"))
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    sys.exit(main())
