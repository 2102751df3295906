"""The dream commands through Click: outputs, manifest and one-line errors."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from PIL import Image

from renderer.cli import main
from renderer.dream.sheet import contact_sheet

pytestmark = pytest.mark.slow
TINY = ["--octaves", "2", "--steps", "2", "--seed", "3"]


def _run(*args: str):
    return CliRunner().invoke(main, ["--quiet", *args], catch_exceptions=False)


def _manifest(out):
    return json.loads((out / "manifest.json").read_text())["entries"]


def test_three_commands_write_images_sidecars_and_manifest(lite0, photo_dir, tmp_path) -> None:
    out = tmp_path / "renders"
    result = _run(
        "dream",
        str(photo_dir / "chelsea.jpg"),
        "-o",
        str(out),
        "--size",
        "64",
        *TINY,
        "--layer",
        "blocks.2",
        "--layer",
        "blocks.3:0.5",
        "--frames",
    )
    assert result.exit_code == 0, result.output
    result = _run(
        "layer-dream", "-l", "blocks.2", "-l", "blocks.3:4", "-o", str(out), "--size", "48", *TINY
    )
    assert result.exit_code == 0, result.output
    result = _run("class-dream", "-c", "207", "-o", str(out), "--size", "48", *TINY)
    assert result.exit_code == 0, result.output

    entries = {e["output"]: e for e in _manifest(out)}
    kinds = sorted(e["kind"] for e in entries.values())
    assert kinds == ["class-dream", "dream", "layer-dream", "layer-dream", "photo"]
    for output, entry in entries.items():
        assert (out / output).is_file()
        sidecar = json.loads((out / output).with_suffix(".json").read_text())
        assert sidecar["output"] == output
        assert entry["seed"] in (None, 3)
    dream = next(e for e in entries.values() if e["kind"] == "dream")
    assert dream["extra"]["layers"] == ["blocks.2", "blocks.3:0.5"]
    assert dream["params"]["octaves"] == 2 and dream["params"]["lr"] == 0.025
    assert len(dream["extra"]["frames"]) == 2
    assert all((out / f).is_file() for f in dream["extra"]["frames"])
    assert "--layer blocks.3:0.5" in dream["command"]
    layer = entries["layer-dreams/blocks-3-4.png"]
    assert layer["extra"]["layers"] == ["blocks.3:4"]
    assert layer["extra"]["depth"] > entries["layer-dreams/blocks-2.png"]["extra"]["depth"]
    cls = entries["class-dreams/class-207-golden-retriever.png"]
    assert cls["extra"]["class_name"] == "golden retriever"

    sheet = contact_sheet(out, tmp_path / "sheet.png", tile=32, columns=4)
    # rows: 1 class dream, 2 layer dreams, 1 photo with its dream
    assert Image.open(sheet).size == (4 * 32, 3 * (32 + 18))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["layer-dream", "-l", "blocks.55"], "unknown layer for efficientnet_lite0 'blocks.55'"),
        (["class-dream", "-c", "golden retreiver"], "closest: golden retriever"),
        (["dream", "x.jpg", "--steps", "0"], "steps must be >= 1"),
        (["layer-dream", "-l", "blocks.5:900"], "channel 900 is out of range"),
        (["layer-dream", "--preset", "clasic"], "unknown preset 'clasic'"),
        (["dream", "x.jpg", "--lr", "-1"], "lr must be in"),
    ],
)
def test_mistakes_are_one_line_errors(lite0, tmp_path, args, message) -> None:
    result = CliRunner().invoke(main, [*args, "-o", str(tmp_path)])
    assert result.exit_code != 0
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and message in lines[0], lines


def test_a_bad_photo_is_reported_and_the_batch_goes_on(lite0, photo_dir, tmp_path) -> None:
    tiny = tmp_path / "tiny.png"
    Image.new("RGB", (20, 20), "red").save(tiny)
    result = _run(
        "dream",
        str(tiny),
        str(photo_dir / "coffee.jpg"),
        "-o",
        str(tmp_path / "o"),
        "--size",
        "48",
        *TINY,
    )
    assert result.exit_code == 2
    assert "too small" in result.output
    assert [e["kind"] for e in _manifest(tmp_path / "o")] == ["dream", "photo"]


def test_presets_lists_values_and_reads_user_files(tmp_path) -> None:
    extra = tmp_path / "mine.toml"
    extra.write_text('[dreamy]\nkind = "photo"\nlr = 0.3\n')
    result = _run("presets", "--presets", str(extra), "--json")
    rows = {r["name"]: r for r in json.loads(result.output)}
    assert {"essay-layer", "subtle", "classic", "intense", "class", "dreamy"} <= set(rows)
    assert rows["dreamy"]["lr"] == 0.3
    text = _run("presets").output
    assert "classic (photo)" in text and "lr=0.025" in text
