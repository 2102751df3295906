"""The provenance format: sidecars, a manifest that merges, and commands that reproduce."""

from __future__ import annotations

import json
from pathlib import Path

import click
from click.testing import CliRunner

from renderer.clikit import command_line
from renderer.provenance import (
    InputFile,
    ModelInfo,
    Record,
    dumps,
    publish,
    read_manifest,
    sidecar_path,
)


def _record(output: str, seed: int) -> Record:
    return Record(
        kind="dream",
        output=output,
        command=f"renderer dream a.jpg --seed {seed}",
        model=ModelInfo("efficientnet_lite0", "ab" * 32),
        inputs=(InputFile("a.jpg", "cd" * 32),),
        params={"lr": 0.04, "layers": ("blocks.4",)},
        seed=seed,
    )


def test_publish_writes_sidecars_and_merges_the_manifest(tmp_path: Path) -> None:
    publish(tmp_path, [_record("a/dream.png", 1), _record("a/other.png", 1)])
    publish(tmp_path, [_record("a/dream.png", 2)])
    entries = {e["output"]: e for e in read_manifest(tmp_path)}
    assert sorted(entries) == ["a/dream.png", "a/other.png"]
    assert entries["a/dream.png"]["seed"] == 2
    sidecar = json.loads((tmp_path / "a" / "dream.json").read_text())
    assert sidecar == entries["a/dream.png"]
    assert sidecar["params"]["layers"] == ["blocks.4"]
    assert set(sidecar["versions"]) >= {"renderer", "torch", "torchvision", "kornia"}
    assert Record.from_dict(sidecar).model == ModelInfo("efficientnet_lite0", "ab" * 32)
    assert sidecar_path("x/y.png") == Path("x/y.json")


def test_command_line_keeps_only_what_was_given() -> None:
    seen: list[str] = []

    @click.command()
    @click.argument("photos", nargs=-1)
    @click.option("--lr", type=float, default=0.1)
    @click.option("--layer", multiple=True)
    @click.option("--frames/--no-frames", default=False)
    @click.option("--seed", type=int, default=0)
    @click.pass_context
    def dream(ctx, photos, lr, layer, frames, seed):
        seen.append(command_line(ctx, photos=["my cat.jpg"]))

    CliRunner().invoke(
        dream, ["a.jpg", "b.jpg", "--layer", "x", "--layer", "y:2", "--frames", "--lr", "0.5"]
    )
    assert seen == ["renderer dream --lr 0.5 --layer x --layer y:2 --frames 'my cat.jpg'"]


def test_a_pixel_or_fft_dream_lists_no_maco_crop_fields(tmp_path):
    from renderer.site.howmade import provenance_rows
    from renderer.site.model import Source

    crops = {"crops": 6, "crop_min": 0.25, "crop_px": 0, "noise": 0.02, "template": "average"}

    def labels(param: str) -> set[str]:
        entry = {"kind": "dream", "params": {"param": param, "steps": 10, **crops}}
        return {label for label, _ in provenance_rows(Source(entry, tmp_path), None)}

    assert "steps" in labels("pixel") and not labels("pixel") & set(crops)
    assert not labels("fft") & set(crops)
    assert set(crops) <= labels("maco")  # a MaCo dream reads them: they stay


def test_a_record_reads_back_whole_and_an_old_or_newer_entry_reads_as_far_as_it_says() -> None:
    record = _record("a/dream.png", 3)
    back = Record.from_dict(record.to_dict())
    assert back == Record.from_dict(json.loads(dumps(record.to_dict())))
    assert back.params == {"lr": 0.04, "layers": ["blocks.4"]} and back.seed == 3
    assert back.photo == InputFile("a.jpg", "cd" * 32) and back.created == record.created
    entry = {
        "kind": "explain",
        "output": "x.png",
        "model": {"name": "m", "weights_sha256": "ef", "later_field": 1},
        "inputs": [{"path": "/p/cat.jpg"}, "not an input"],
        "wall_time_s": "n/a",
        "a_later_field": {"k": 1},
    }
    old = Record.from_dict(entry)
    assert old.model == ModelInfo("m", "ef", "") and old.inputs == (InputFile("/p/cat.jpg", ""),)
    # what the entry does not say stays unknown: never this machine's versions or time
    assert (old.command, old.device, old.created, old.versions) == ("", "?", "", {})
    assert old.seconds is None and Record.from_dict({"kind": "skipped"}).photo is None
