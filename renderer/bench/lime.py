"""Adaptive LIME against the answer LIME converges to: issue 26's bench section.

Per bench photo (scikit-image's and scikit-learn's sample photos, 160-224 px, 19-44
superpixels) it scores a **pool** of antithetic mask pairs once (17,000 samples, black
hiding, the product's scorer) and keeps the scores on disk under a hash of the weights, the
photo, its segments, the target and the pool's layout, so a rerun costs no model call. The
pool serves twice, never for the same run:

* **the converged answer**: the weighted least-squares surrogate of every sample of the pool
  that a run did not use (>= 16,000 samples, "lime at 16,000"); each member of a pair is
  marginally an i.i.d. Bernoulli(0.5) mask, so the pool's fit converges to lime's surrogate;
* **the runs**: a run replays the product's loop (``lime.settle``: rounds, running fit,
  bootstrap, stopping rule) on pairs drawn from the pool in a seeded order, without
  replacement; "lime at 1,000" replays lime's own estimator (1,000 i.i.d. masks: one member
  of each of 1,000 pairs, the original image first, ``Ridge(alpha=1)``).

Rules are compared on many replayed seeds of each photo (cheap: no model call), and the
rule's own time is measured on the real model against ``lime_image`` at 1,000 samples,
alternating in one process. Alone: ``python -m renderer.bench.lime [--pools-only]``.
"""

from __future__ import annotations

import hashlib
import io
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ..explain import lime
from ..explain.jobs import target_scorer
from ..imageio import fit_long_side, pil_to_tensor, write_bytes_atomic
from ..models import LoadedModel, load_model

POOL_SAMPLES = 17_000  # 16,000 for the converged answer + up to 1,000 for the run
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
    BenchPhoto("chelsea", 224, "quickshift:4,200,0.2"),
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

REPLAY_CAP = 1_000  # the longest replayed run: the rest of the pool (16,000) is its reference
KERNEL = 0.25


@dataclass(frozen=True)
class Normal:
    """Weighted normal equations of a set of samples (X = [1, z])."""

    gram: np.ndarray
    moment: np.ndarray

    @classmethod
    def of(cls, z: np.ndarray, y: np.ndarray, ridge: float = 0.0) -> Normal:
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


def main(argv: list[str] | None = None) -> None:
    """``python -m renderer.bench.lime [--out DIR] [--pools-only]``."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m renderer.bench.lime")
    parser.add_argument("--out", type=Path, default=Path("bench-results"))
    parser.add_argument("--pools-only", action="store_true", help="only score the pools")
    parser.add_argument("--samples", type=int, default=POOL_SAMPLES)
    args = parser.parse_args(argv)
    if args.pools_only:
        fill_pools(args.out, samples=args.samples)
        return
    import json

    print(json.dumps(run(args.out), indent=2))


def run(out_dir: Path) -> dict:  # filled in below
    raise NotImplementedError


if __name__ == "__main__":
    sys.exit(main())
