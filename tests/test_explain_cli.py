"""``renderer explain`` end to end on real photos: every panel, record and raw array."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from renderer.cli import main
from renderer.provenance import read_manifest

LIME_PANELS = ["lime-segments", "lime-top5", "lime-top10", "lime-top15", "lime-posneg"]
ROBUSTNESS = [
    f"robustness-{kind}-{level}"
    for kind in ("noise", "brightness", "contrast")
    for level in (1, 2, 3, 4)
]
HEATMAPS = ["gradcam", "gradcam++", "guided-backprop", "guided-gradcam"]


@pytest.fixture(scope="module")
def rendered(tmp_path_factory, photo_dir, lite0):
    out = tmp_path_factory.mktemp("explain")
    bad = photo_dir.parent / "broken.jpg"
    bad.write_bytes(b"not a jpeg")
    result = CliRunner().invoke(
        main,
        [
            "explain",
            str(photo_dir / "chelsea.jpg"),
            str(photo_dir / "coffee.jpg"),
            str(bad),
            str(photo_dir / "astronaut.jpg"),
            "--out",
            str(out),
            "--device",
            "cpu",
            "--size",
            "64",
            "--methods",
            "all,gradcam++",
            "--lime-samples",
            "16",
            "--lime-batch",
            "16",
            "--lime-segments",
            "slic:20,10",
            "--raw",
            "--sanity",
        ],
    )
    return out, result


def test_a_bad_photo_is_one_line_and_the_batch_goes_on(rendered) -> None:
    _, result = rendered
    assert result.exit_code == 2, result.output
    assert "broken.jpg" in result.output
    assert "Traceback" not in result.output


def test_every_panel_and_record(rendered) -> None:
    out, _ = rendered
    entries = read_manifest(out)
    explains = [e for e in entries if e["kind"] == "explain"]
    photos = {e["inputs"][0]["sha256"] for e in entries if e["kind"] == "photo"}
    assert len(photos) == 3
    methods = HEATMAPS + LIME_PANELS + ROBUSTNESS
    assert len(explains) == 3 * len(methods)
    for entry in explains:
        extra = entry["extra"]
        assert (out / entry["output"]).is_file()
        assert (out / entry["output"]).with_suffix(".json").is_file()
        assert entry["output"].endswith(f"explain-{extra['method']}.png")
        assert set(extra["target"]) == {"index", "name", "prob"}
        assert 0.0 < extra["target"]["prob"] <= 1.0
        assert extra["caption"]
        assert entry["params"]["lime_samples"] == 16 and entry["seed"] == 0
        method = extra["method"]
        if method in HEATMAPS or method.startswith("robustness"):
            legend = extra["legend"]
            assert (out / legend["image"]).is_file()
            assert legend["min"] <= legend["max"] and legend["colormap"]
        if method in ("gradcam", "gradcam++") or method.startswith("lime"):
            fid = extra["faithfulness"]
            assert len(fid["deletion_curve"]) == len(fid["insertion_curve"]) == 21
            assert 0 <= fid["deletion_auc"] <= 1 and 0 <= fid["insertion_auc"] <= 1
        if method.startswith("lime"):
            assert extra["lime"]["samples"] == 16 and extra["lime"]["segments"] > 1
            assert extra["lime"]["stopped"] == "fixed"
            verdict = extra["lime"]["verdict"]
            assert verdict.startswith("LIME drew a fixed 16 samples: ")
            assert "% of 100 bootstrap refits keep at least 4 of its 5" in verdict
            assert extra["lime"]["r2"] <= 1.0
        if method.startswith("robustness"):
            rob = extra["robustness"]
            assert rob["original"]["index"] == extra["target"]["index"]
            assert 1 <= rob["level"] <= 4
        if method in ("gradcam", "gradcam++"):
            assert extra["layer"] == "bn2"
            assert "rank_correlation" in extra["sanity"]


def test_raw_arrays(rendered) -> None:
    out, _ = rendered
    entries = {e["output"]: e for e in read_manifest(out)}
    cam = next(e for k, e in entries.items() if k.endswith("explain-gradcam.png"))
    array = np.load(out / cam["extra"]["raw"])
    photo = Image.open(out / cam["output"].replace("explain-gradcam.png", "photo.png"))
    assert array.dtype == np.float32 and array.shape == (photo.height, photo.width)
    assert array.min() >= 0.0 and array.max() <= 1.0 and array.max() > 0.99
    lime_entry = next(e for k, e in entries.items() if k.endswith("explain-lime-top5.png"))
    with np.load(out / lime_entry["extra"]["raw"]) as data:
        segments, weights = data["segments"], data["weights"]
    assert segments.shape == array.shape and np.issubdtype(segments.dtype, np.integer)
    assert weights.shape == (segments.max() + 1,) == (lime_entry["extra"]["lime"]["segments"],)


def test_sidecar_is_the_record(rendered) -> None:
    out, _ = rendered
    entry = next(e for e in read_manifest(out) if e["output"].endswith("explain-lime-posneg.png"))
    sidecar = json.loads((out / entry["output"]).with_suffix(".json").read_text())
    assert sidecar == entry


def test_user_mistakes_are_one_line(tmp_path, photo_dir) -> None:
    runner = CliRunner()
    base = ["explain", str(photo_dir / "chelsea.jpg"), "--out", str(tmp_path)]
    for extra, word in (
        (["--layer", "blocks.99"], "layer"),
        (["--target", "golden retreiver"], "golden retriever"),
        (["--methods", "gradcam,lime2"], "lime"),
        (["--lime-p", "2"], "lime_p"),
        (["--lime-min-samples", "500", "--lime-max-samples", "400"], "floor (500 samples)"),
    ):
        result = runner.invoke(main, base + extra)
        assert result.exit_code == 1, result.output
        assert word in result.output and "Traceback" not in result.output
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize(
    "extra, option",
    [
        (["--lime-stability", "0"], "--lime-stability"),
        (["--lime-stability", "1.5"], "--lime-stability"),
        (["--lime-sampling", "hadamard2"], "--lime-sampling"),
    ],
)
def test_bad_lime_options_are_refused_before_any_work(tmp_path, photo_dir, extra, option) -> None:
    base = ["explain", str(photo_dir / "chelsea.jpg"), "--out", str(tmp_path / "out")]
    result = CliRunner().invoke(main, base + extra)
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and option in lines[0], lines
    assert "explain --help" in lines[0]
    assert "Traceback" not in result.output and not (tmp_path / "out").exists()


def test_adaptive_lime_stops_between_its_floor_and_cap(tmp_path, photo_dir, lite0) -> None:
    args = ["explain", str(photo_dir / "chelsea.jpg"), "--out", str(tmp_path), "--size", "64"]
    args += ["--methods", "lime", "--lime-segments", "slic:20,10", "--lime-batch", "50"]
    args += ["--lime-min-samples", "200", "--lime-max-samples", "300", "--device", "cpu"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    entry = next(e for e in read_manifest(tmp_path) if e["output"].endswith("lime-top5.png"))
    info = entry["extra"]["lime"]
    assert entry["params"]["lime_samples"] is None and info["max_samples"] == 300
    assert (info["stopped"], info["samples"]) in (("stable", 200), ("stable", 300), ("cap", 300))
    assert (info["stability"] >= info["stability_target"] == 0.99) == (info["stopped"] == "stable")
    stable = info["stopped"] == "stable"
    words = "stopped once its top 5 had settled" if stable else "the cap of 300"
    assert words in info["verdict"] and f"{info['samples']:,} samples" in entry["extra"]["caption"]
    if stable:
        assert info["to_settle"] is None
    else:  # how far from settled: the samples projected to settle it, or none within 16x
        far = info["to_settle"]
        assert far is None or far > 300
        assert (f"about {far:,} samples would settle it" if far else "would not settle it") in (
            info["verdict"]
        )


def test_help_has_an_example() -> None:
    result = CliRunner().invoke(main, ["explain", "--help"])
    assert result.exit_code == 0 and "renderer explain cat.jpg" in result.output
