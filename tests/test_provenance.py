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
