"""LIME: planted classifiers with known answers, the kernel's direction, reproducibility."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from renderer.explain import lime
from renderer.explain.settings import ExplainSettings, SegmentSpec
from renderer.imageio import pil_to_tensor

PLANTED = {3: 0.3, 10: 0.2, 20: 0.1}
BASE = 0.1


def blocks_image(rows: int = 5, cols: int = 5, cell: int = 12) -> np.ndarray:
    """A grid of flat colour blocks, no black pixel anywhere."""
    rng = np.random.default_rng(1)
    colours = rng.integers(40, 256, size=(rows, cols, 3), dtype=np.uint8)
    return np.repeat(np.repeat(colours, cell, axis=0), cell, axis=1)


def planted_classifier(segments: torch.Tensor):
    """p = 0.1 + 0.3 [s3 intact] + 0.2 [s10 intact] + 0.1 [s20 intact], read off the pixels
    (a hidden superpixel is black)."""

    def predict(batch: torch.Tensor) -> torch.Tensor:
        visible = batch.amax(dim=1) > 0  # (B, H, W)
        out = torch.full((batch.shape[0],), BASE, dtype=torch.float64)
        for label, coef in PLANTED.items():
            intact = visible[:, segments == label].float().mean(dim=1) > 0.5
            out += coef * intact.double()
        return out

    return predict


@pytest.fixture(scope="module")
def planted() -> tuple[np.ndarray, np.ndarray]:
    picture = blocks_image()
    segments = lime.segment(picture, "slic:25,10")
    return picture, segments


def test_segment_labels_are_dense_from_zero(planted) -> None:
    _, segments = planted
    labels = np.unique(segments)
    assert labels[0] == 0 and np.array_equal(labels, np.arange(len(labels)))
    assert len(labels) >= 21


def test_quickshift_labels_are_dense_from_zero() -> None:
    segments = lime.segment(blocks_image(3, 3, 10), "quickshift:2,10,0.5")
    labels = np.unique(segments)
    assert np.array_equal(labels, np.arange(len(labels)))


def test_lime_recovers_the_planted_coefficients(planted) -> None:
    picture, segments = planted
    image = pil_to_tensor_np(picture)
    predict = planted_classifier(torch.from_numpy(segments).long())
    result = lime.explain(predict, image, segments, samples=300, p=0.5, batch=64, seed=3)
    for label in range(result.n_segments):
        assert result.weights[label] == pytest.approx(PLANTED.get(label, 0.0), abs=0.01)
    assert result.intercept == pytest.approx(BASE, abs=0.01)
    assert result.r2 > 0.99
    assert list(result.top(3)) == [3, 10, 20]
    # row 0 is the original image, which keeps every planted superpixel
    assert result.presence[0].all()
    assert result.scores[0] == pytest.approx(BASE + sum(PLANTED.values()))


def pil_to_tensor_np(picture: np.ndarray) -> torch.Tensor:
    from PIL import Image

    return pil_to_tensor(Image.fromarray(picture))[0]


def test_same_seed_same_weights_other_seed_other_samples(planted) -> None:
    picture, segments = planted
    image = pil_to_tensor_np(picture)
    rng_image = torch.rand(image.shape, generator=torch.Generator().manual_seed(0))

    def noisy(batch: torch.Tensor) -> torch.Tensor:  # a non-linear, non-trivial black box
        return torch.sigmoid((batch * rng_image).sum(dim=(1, 2, 3)) / 500 - 2)

    a = lime.explain(noisy, image, segments, samples=120, seed=7, batch=32)
    b = lime.explain(noisy, image, segments, samples=120, seed=7, batch=32)
    c = lime.explain(noisy, image, segments, samples=120, seed=8, batch=32)
    assert np.array_equal(a.presence, b.presence)
    assert np.array_equal(a.weights, b.weights)
    assert not np.array_equal(a.presence, c.presence)


def test_top_k_stability_tells_enough_samples_from_too_few(planted) -> None:
    picture, segments = planted
    predict = planted_classifier(torch.from_numpy(segments).long())
    result = lime.explain(predict, pil_to_tensor_np(picture), segments, samples=300, seed=3)
    z, y, w = result.presence, result.scores, result.kernel
    # Exactly linear: every refit puts the planted three on top.
    assert lime.top_k_stability(z, y, w, k=3) == 1.0
    # Scores that ignore the image: the "top 5" is noise, and resampling shows it.
    noise = np.random.default_rng(0).random(len(y))
    assert lime.top_k_stability(z, noise, w, k=5) < 0.2
    # Recorded on every explanation, from its own samples.
    assert result.top5_stability == lime.top_k_stability(z, y, w, k=5, seed=3)


def test_a_bootstrap_draw_is_a_multiplicity_weighting() -> None:
    # Drawing rows with replacement and weighting each row by its draw count fit the same
    # surrogate, so top_k_stability refits without copying rows.
    rng = np.random.default_rng(0)
    z = lime.sample_presence(200, 12, 0.5, seed=1)
    y = z @ rng.random(12) + 0.1 * rng.random(200)
    w = lime.kernel_weights(lime.cosine_distance_to_ones(z), 0.25)
    rows = rng.integers(0, 200, 200)
    copies = lime.weighted_linear_fit(z[rows], y[rows], w[rows])
    weighted = lime.weighted_linear_fit(z, y, w * np.bincount(rows, minlength=200))
    assert np.allclose(weighted.coef, copies.coef, rtol=0, atol=1e-10)
    assert weighted.intercept == pytest.approx(copies.intercept, abs=1e-10)
    assert weighted.r2 == pytest.approx(copies.r2, abs=1e-10)
    # the full fit's coefficients, given, are the ones it would fit itself
    full = lime.weighted_linear_fit(z, y, w).coef
    for k in (3, 5):
        assert lime.top_k_stability(z, y, w, k=k, seed=2, coef=full) == lime.top_k_stability(
            z, y, w, k=k, seed=2
        )


def test_samples_are_bernoulli_p_with_the_original_first() -> None:
    z = lime.sample_presence(4000, 30, 0.8, seed=0)
    assert z[0].all()
    assert z[1:].mean() == pytest.approx(0.8, abs=0.01)


def test_kernel_weights_close_samples_most() -> None:
    # cos(z, 1) for a 0/1 row with k ones out of n is k / (sqrt(k) sqrt(n)) = sqrt(k / n)
    z = np.array([[1, 1, 1, 1], [1, 1, 1, 0], [1, 0, 0, 0], [0, 0, 0, 0]])
    d = lime.cosine_distance_to_ones(z)
    assert d == pytest.approx([0.0, 1 - np.sqrt(3 / 4), 0.5, 1.0])
    w = lime.kernel_weights(d, 0.25)
    # one superpixel of four: d = 0.5, w = sqrt(exp(-0.25 / 0.0625)) = exp(-2)
    assert w[2] == pytest.approx(np.exp(-2.0))
    assert w[0] == 1.0
    assert np.all(np.diff(w) < 0)  # the essay's listing (similarity) would make this rise


def test_weighted_fit_weights_matter() -> None:
    x = np.array([[0.0], [1.0], [2.0], [3.0]])
    y = np.array([0.0, 1.0, 2.0, 10.0])
    low = lime.weighted_linear_fit(x, y, np.array([1.0, 1.0, 1.0, 1e-9]))
    assert low.coef[0] == pytest.approx(1.0, abs=1e-6)
    assert low.intercept == pytest.approx(0.0, abs=1e-6)
    assert low.r2 > 0.999
    even = lime.weighted_linear_fit(x, y, np.ones(4))
    assert even.r2 < 0.9


def test_mean_fill_and_black_fill() -> None:
    image = torch.tensor(
        [[[0.0, 1.0], [0.2, 0.4]], [[1.0, 1.0], [0.0, 0.0]], [[0.5, 0.5], [0.5, 0.5]]]
    )
    segments = torch.tensor([[0, 0], [1, 1]])
    means = lime.segment_means(image, segments)
    assert torch.allclose(means[0], torch.tensor([[0.5, 0.5], [0.3, 0.3]]))
    assert torch.allclose(means[1], torch.tensor([[1.0, 1.0], [0.0, 0.0]]))
    z = torch.tensor([[True, False], [False, True]])
    out = lime.perturb(image, torch.zeros_like(image), segments, z)
    assert torch.equal(out[0, :, 0], image[:, 0]) and out[0, :, 1].abs().sum() == 0
    assert torch.equal(out[1, :, 1], image[:, 1]) and out[1, :, 0].abs().sum() == 0


def test_settings_are_validated() -> None:
    from renderer.errors import RecipeError, UnknownNameError

    with pytest.raises(RecipeError):
        ExplainSettings(lime_p=1.5)
    with pytest.raises(RecipeError):
        ExplainSettings(lime_kernel=0)
    with pytest.raises(RecipeError):
        ExplainSettings(lime_hide="grey")
    with pytest.raises(UnknownNameError):
        ExplainSettings(methods="gradcam,lima")
    with pytest.raises(RecipeError):
        ExplainSettings(lime_segments="quickshift:4,200")
    assert SegmentSpec.parse("slic") == SegmentSpec("slic", (100.0, 10.0))
    assert ExplainSettings(methods="gradcam, gradcam++").methods == ("gradcam", "gradcam++")


def test_real_model_lime_is_reproducible(lite0, photo_dir) -> None:
    from renderer.explain.jobs import target_scorer
    from renderer.photos import prepare_photo

    photo = prepare_photo(photo_dir / "chelsea.jpg", 64)
    image = pil_to_tensor(photo.image)[0]
    segments = lime.segment(np.asarray(photo.image), "slic:30,10")
    score = target_scorer(lite0, 285)
    a = lime.explain(score, image, segments, samples=24, batch=12, seed=5)
    b = lime.explain(score, image, segments, samples=24, batch=12, seed=5)
    assert np.array_equal(a.weights, b.weights)
    assert a.intercept == b.intercept
