"""LIME: planted classifiers with known answers, the kernel's direction, reproducibility,
adaptive stopping, the variance-reduced samplers and the running surrogate."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from renderer.explain import lime
from renderer.explain.sampling import SAMPLINGS, MaskSampler
from renderer.explain.settings import ExplainSettings, SegmentSpec
from renderer.explain.stopping import StopRule
from renderer.explain.surrogate import RunningFit, settledness, weighted_linear_fit
from renderer.imageio import pil_to_tensor

PLANTED = {3: 0.3, 10: 0.2, 20: 0.1}
# Six planted superpixels, so that the top 5 is well defined (the 5th and 6th differ).
PLANTED6 = {3: 0.3, 10: 0.22, 20: 0.16, 7: 0.11, 15: 0.07, 1: 0.035}
BASE = 0.1


def blocks_image(rows: int = 5, cols: int = 5, cell: int = 12) -> np.ndarray:
    """A grid of flat colour blocks, no black pixel anywhere."""
    rng = np.random.default_rng(1)
    colours = rng.integers(40, 256, size=(rows, cols, 3), dtype=np.uint8)
    return np.repeat(np.repeat(colours, cell, axis=0), cell, axis=1)


def planted_classifier(segments: torch.Tensor, planted=PLANTED, noise: float = 0.0):
    """p = 0.1 + 0.3 [s3 intact] + 0.2 [s10 intact] + 0.1 [s20 intact] (or ``planted``),
    read off the pixels (a hidden superpixel is black); ``noise`` adds a deterministic,
    wildly non-linear term of that amplitude (a hash of which superpixels are visible)."""
    n = int(segments.max()) + 1
    code = torch.from_numpy(np.random.default_rng(5).random(n))

    def predict(batch: torch.Tensor) -> torch.Tensor:
        visible = batch.amax(dim=1) > 0  # (B, H, W)
        out = torch.full((batch.shape[0],), BASE, dtype=torch.float64)
        intact = torch.stack(
            [visible[:, segments == label].float().mean(dim=1) > 0.5 for label in range(n)], 1
        ).double()
        for label, coef in planted.items():
            out += coef * intact[:, label]
        return out + noise * torch.sin(1e4 * (intact @ code))

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
    result = lime.explain(
        predict, image, segments, stop=StopRule(samples=300), p=0.5, batch=64, seed=3
    )
    assert result.stopped == "fixed" and result.samples == 300
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

    for sampling in SAMPLINGS:
        stop = StopRule(min_samples=100, max_samples=300)
        a, b, c = (
            lime.explain(noisy, image, segments, stop=stop, sampling=sampling, seed=s, batch=32)
            for s in (7, 7, 8)
        )
        assert np.array_equal(a.presence, b.presence)
        assert np.array_equal(a.weights, b.weights) and a.settled == b.settled
        assert not np.array_equal(a.presence, c.presence)


def test_top_k_stability_tells_enough_samples_from_too_few(planted) -> None:
    picture, segments = planted
    predict = planted_classifier(torch.from_numpy(segments).long())
    stop = StopRule(samples=300)
    result = lime.explain(predict, pil_to_tensor_np(picture), segments, stop=stop, seed=3)
    z, y, w = result.presence, result.scores, result.kernel
    # Exactly linear: every refit puts the planted three on top.
    assert lime.top_k_stability(z, y, w, k=3) == 1.0
    # Scores that ignore the image: the "top 5" is noise, and resampling shows it.
    noise = np.random.default_rng(0).random(len(y))
    assert lime.top_k_stability(z, noise, w, k=5) < 0.2
    assert result.top5_stability == result.settled.same


def adaptive(planted, planted_coefs=PLANTED6, noise=0.0, **rule):
    picture, segments = planted
    predict = planted_classifier(torch.from_numpy(segments).long(), planted_coefs, noise)
    image = pil_to_tensor_np(picture)
    return lime.explain(predict, image, segments, stop=StopRule(**rule), batch=100, seed=1)


def test_a_planted_linear_classifier_stops_early_with_the_planted_ranking(planted) -> None:
    result = adaptive(planted)
    assert result.stopped == "stable" and result.samples <= 300
    assert list(result.top(6)) == [3, 10, 20, 7, 15, 1]
    assert result.settled.within_one == result.settled.overlap == 1.0
    # it looked after every round of 50, and stopped at the first one past the floor
    assert [r.samples for r in result.rounds] == [50, 100, 150, 200]


def test_a_noisy_planted_classifier_takes_more_samples(planted) -> None:
    clean = adaptive(planted)
    noisy = adaptive(planted, noise=1.0)
    assert noisy.stopped == "stable" and noisy.samples > clean.samples + 200
    assert set(noisy.top(5)) == {3, 10, 20, 7, 15}
    target = StopRule().stability
    assert noisy.settled.within_one >= target > noisy.rounds[-2].settled.within_one


def test_never_before_the_floor_and_at_the_cap(planted) -> None:
    floor = adaptive(planted, min_samples=500)
    assert floor.stopped == "stable" and floor.samples == 500
    # scores with no linear part never settle: the run stops at the cap, wherever it falls
    capped = adaptive(planted, {}, noise=0.3, max_samples=450)
    assert capped.stopped == "cap" and capped.samples == 450 == len(capped.presence)
    assert capped.settled.within_one < StopRule().stability
    exact = adaptive(planted, samples=250)
    assert exact.stopped == "fixed" and exact.samples == 250


# A toy model linear in the superpixel mask, so its true LIME coefficients are known: the
# planted ones, every other superpixel 0.
TOY = {3: 0.3, 10: 0.25, 20: 0.2, 7: 0.15, 15: 0.1}
TOY_TOP5 = {3, 10, 20, 7, 15}


def toy_run(segments: np.ndarray, seed: int, noise: float, **rule) -> lime.LimeExplanation:
    """The product's loop (``lime.settle``, antithetic pairs) on the toy model, with seeded
    Gaussian observation noise of sd ``noise`` added to each score (mean 0, independent of
    the mask, so the true coefficients stay the planted ones)."""
    n = int(segments.max()) + 1
    truth = np.zeros(n)
    truth[list(TOY)] = list(TOY.values())
    masks_seed, boot_seed = np.random.SeedSequence(seed).spawn(2)
    sampler = MaskSampler("antithetic", n, 0.5, masks_seed)
    noise_rng = np.random.default_rng([seed, 99])

    def draw(m: int):
        z, unit = sampler.draw(m)
        return z, unit, BASE + z @ truth + noise * noise_rng.standard_normal(m)

    return lime.settle(draw, n, StopRule(**rule), 0.25, boot_seed)


def test_the_linear_toy_model_settles_on_its_exact_top5_never_before_the_floor(planted) -> None:
    _, segments = planted
    truth = np.bincount(list(TOY), list(TOY.values()), int(segments.max()) + 1)
    # Noise-free, the fit is exact from the first round: every seed stops at the floor.
    for seed in range(20):
        result = toy_run(segments, seed, 0.0)
        assert result.stopped == "stable" and result.samples == StopRule().min_samples
        assert set(result.top(5)) == TOY_TOP5
        assert result.weights == pytest.approx(truth, abs=1e-9)
    # With noise and a low floor the rule itself decides, and is right for every seed,
    # though some seeds' top 5 was wrong one round before.
    wrong_before = 0
    for seed in range(20):
        result = toy_run(segments, seed, 0.1, min_samples=50)
        assert result.stopped == "stable" and result.samples >= 50, seed
        assert set(result.top(5)) == TOY_TOP5, seed
        assert [r.samples for r in result.rounds] == list(range(50, result.samples + 1, 50))
        assert result.settled.within_one >= StopRule().stability
        wrong_before += len(result.rounds) > 1 and set(result.rounds[-2].top5) != TOY_TOP5
    assert wrong_before >= 3


def test_a_huge_stability_stops_at_the_cap_and_says_how_far(planted) -> None:
    from renderer.explain.jobs import lime_verdict

    _, segments = planted
    result = toy_run(segments, 0, 0.5, stability=1.0, max_samples=400)
    assert result.stopped == "cap" and result.samples == 400 == len(result.scores)
    assert result.settled.within_one < 1.0
    assert result.to_settle is None or result.to_settle > 400
    words = lime_verdict(result, StopRule(stability=1.0, max_samples=400))
    assert "stopped at the cap of 400 samples" in words
    assert f"{result.settled.within_one:.0%}" in words and "100%" in words
    # a reachable target projects how many samples would settle it, and roughly so
    close = toy_run(segments, 0, 0.5, max_samples=200)
    assert close.stopped == "cap" and close.to_settle is not None and close.to_settle > 200
    assert f"about {close.to_settle:,} samples" in lime_verdict(close, StopRule(max_samples=200))
    uncapped = toy_run(segments, 0, 0.5)
    assert uncapped.stopped == "stable" and 200 < uncapped.samples <= 2 * close.to_settle


def test_equal_seeds_give_equal_samples_coefficients_and_stop_round(planted) -> None:
    _, segments = planted
    a, b, c = (toy_run(segments, seed, 0.3) for seed in (4, 4, 5))
    assert np.array_equal(a.presence, b.presence) and np.array_equal(a.scores, b.scores)
    assert np.array_equal(a.weights, b.weights) and a.intercept == b.intercept
    assert a.rounds == b.rounds and a.samples == b.samples and a.stopped == b.stopped
    assert not np.array_equal(a.presence[: len(c.presence)], c.presence[: len(a.presence)])


def test_paired_sampling_recovers_the_planted_coefficients(planted) -> None:
    picture, segments = planted
    predict = planted_classifier(torch.from_numpy(segments).long(), PLANTED6)
    image = pil_to_tensor_np(picture)
    for sampling in SAMPLINGS:
        result = lime.explain(
            predict, image, segments, stop=StopRule(samples=200), sampling=sampling, seed=2
        )
        for label in range(result.n_segments):
            assert result.weights[label] == pytest.approx(PLANTED6.get(label, 0.0), abs=0.01)
        assert result.intercept == pytest.approx(BASE, abs=0.01)


def test_antithetic_pairs_are_complements_and_keep_p() -> None:
    z, unit = MaskSampler("antithetic", 10, 0.5, seed=0).draw(400)
    assert z[0].all() and not z[1].any()
    assert np.array_equal(z[2::2], ~z[3::2])
    assert np.array_equal(unit, np.arange(400) // 2)
    stream = MaskSampler("antithetic", 10, 0.5, seed=0)  # unit ids go on across rounds
    assert stream.draw(100)[1][-1] == 49 and stream.draw(100)[1][0] == 50
    # at p != 0.5 the partner comes from the same uniform (u < p, 1 - u < p): both keep p
    z = MaskSampler("antithetic", 40, 0.3, seed=1).draw(4000)[0]
    assert z[2::2].mean() == pytest.approx(0.3, abs=0.01)
    assert z[3::2].mean() == pytest.approx(0.3, abs=0.01)
    assert not (z[2::2] & z[3::2]).any()  # u < 0.3 and u > 0.7 never both


def test_every_sampling_keeps_bernoulli_p_marginals() -> None:
    for sampling in SAMPLINGS:
        z = MaskSampler(sampling, 30, 0.7, seed=0).draw(2000)[0]
        assert z[0].all()
        assert z[1:].mean(0) == pytest.approx(np.full(30, 0.7), abs=0.05)
        assert z[1:].mean() == pytest.approx(0.7, abs=0.01)


def test_stratified_counts_follow_the_binomial_quantiles() -> None:
    from scipy.stats import binom

    stream = MaskSampler("stratified", 20, 0.5, seed=3)
    stream.draw(1)  # the original image
    counts = np.sort(stream.draw(1000)[0].sum(1))
    expected = binom.ppf((np.arange(1000) + 0.5) / 1000, 20, 0.5)
    # one draw per 1/1000 band: each sorted count is its band's quantile, give or take one
    assert np.abs(counts - expected).max() <= 1


def test_the_running_fit_equals_a_full_refit() -> None:
    rng = np.random.default_rng(0)
    fit = RunningFit(12, resamples=7, seed=4)
    parts = []
    for m in (40, 100, 100, 37):  # rounds of different sizes
        z = rng.random((m, 12)) < 0.5
        y = z @ rng.random(12) + 0.3 * rng.random(m)
        w = lime.kernel_weights(lime.cosine_distance_to_ones(z), 0.25)
        fit.add(z, y, w, np.arange(m))
        parts.append((z, y, w))
    z, y, w = (np.concatenate(p) for p in zip(*parts, strict=True))
    full = weighted_linear_fit(z, y, w)
    intercept, coef = fit.solve()
    assert np.abs(coef - full.coef).max() < 1e-6 and abs(intercept - full.intercept) < 1e-6
    # every replicate of the batched bootstrap is a full refit with Poisson(1) count weights
    counts = np.random.default_rng(4)
    counts = np.hstack([counts.poisson(1.0, (7, len(p[0]))) for p in parts])
    boot = fit.bootstrap()
    for b in range(7):
        again = weighted_linear_fit(z, y, w * counts[b]).coef
        assert np.abs(boot[b] - again).max() < 1e-6


def test_settledness_by_hand() -> None:
    coef = np.array([0.5, 0.4, 0.3, 0.2, 0.1, 0.05, 0.0])  # top 5: 0..4, 5th-6th gap 0.05
    boot = np.array(
        [
            [0.5, 0.4, 0.3, 0.2, 0.1, 0.05, 0.0],  # same top 5, gap 0.05
            [0.5, 0.4, 0.3, 0.2, 0.0, 0.1, 0.0],  # 5 swapped for 4: 4 of 5, gap -0.1
        ]
    )
    s = settledness(coef, boot)
    assert s.overlap == pytest.approx(0.9) and s.same == 0.5 and s.within_one == 1.0
    assert s.gap_z == pytest.approx(0.05 / 0.075)  # the gaps' sd is 0.075
    # a third replicate keeps only 3 of 5 (0..2 and 5, 6 on top): within one is 2 of 3
    third = np.array([[0.5, 0.4, 0.3, 0.0, 0.0, 0.2, 0.1]])
    s = settledness(coef, np.vstack([boot, third]))
    assert s.within_one == pytest.approx(2 / 3) and s.overlap == pytest.approx(2.4 / 3)


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
    low = weighted_linear_fit(x, y, np.array([1.0, 1.0, 1.0, 1e-9]))
    assert low.coef[0] == pytest.approx(1.0, abs=1e-6)
    assert low.intercept == pytest.approx(0.0, abs=1e-6)
    assert low.r2 > 0.999
    even = weighted_linear_fit(x, y, np.ones(4))
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
    with pytest.raises(RecipeError):
        ExplainSettings(lime_min_samples=500, lime_max_samples=400)
    with pytest.raises(RecipeError):
        ExplainSettings(lime_stability=0)
    with pytest.raises(RecipeError):
        ExplainSettings(lime_stability=1.01)
    with pytest.raises(RecipeError):
        ExplainSettings(lime_samples=1)
    with pytest.raises(UnknownNameError):
        ExplainSettings(lime_sampling="sobel")
    assert SegmentSpec.parse("slic") == SegmentSpec("slic", (100.0, 10.0))
    assert ExplainSettings(methods="gradcam, gradcam++").methods == ("gradcam", "gradcam++")


def test_real_model_lime_is_reproducible(lite0, photo_dir) -> None:
    from renderer.explain.jobs import target_scorer
    from renderer.photos import prepare_photo

    photo = prepare_photo(photo_dir / "chelsea.jpg", 64)
    image = pil_to_tensor(photo.image)[0]
    segments = lime.segment(np.asarray(photo.image), "slic:30,10")
    score = target_scorer(lite0, 285)
    stop = StopRule(samples=24)
    a = lime.explain(score, image, segments, stop=stop, batch=12, seed=5)
    b = lime.explain(score, image, segments, stop=stop, batch=12, seed=5)
    assert np.array_equal(a.weights, b.weights)
    assert a.intercept == b.intercept
