"""The CLI as users drive it: clean stdout, one-line errors, exit codes 0/1/2."""

from __future__ import annotations

import importlib
import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from renderer.cli import main
from renderer.commands import TABLE


def invoke(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def _command_paths(group: click.Group, prefix: tuple[str, ...] = ()):
    ctx = click.Context(group)
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        yield (*prefix, name)
        if isinstance(command, click.Group):
            yield from _command_paths(command, (*prefix, name))


def test_version_and_help_with_examples() -> None:
    assert "renderer, version" in invoke("--version").output
    paths = list(_command_paths(main))
    assert len(paths) >= 15
    for path in paths:
        result = invoke(*path, "--help")
        assert result.exit_code == 0 and "Example" in result.output, path


def test_root_help_answers_from_the_table_without_torch() -> None:
    code = (
        "import sys\n"
        "from click.testing import CliRunner\n"
        "from renderer.cli import main\n"
        "help_text = CliRunner().invoke(main, ['--help']).output\n"
        "typo = CliRunner().invoke(main, ['dreem'])\n"
        "print('torch' in sys.modules, typo.exit_code)\n"
        "print(help_text)\n"
        "print(typo.output)\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    first, _, rest = run.stdout.partition("\n")
    assert first == "False 2"
    assert "Did you mean 'dream'?" in rest
    for name in TABLE:
        assert f"  {name} " in rest


def test_command_table_matches_the_commands() -> None:
    modules = {module for module, _ in TABLE.values()}
    registered = {
        command.name: (module, command.get_short_help_str(1000))
        for module in modules
        for command in importlib.import_module(f"renderer.commands.{module}").COMMANDS
    }
    assert registered == TABLE


def test_classify_json_is_pure_and_traceable(photo_dir: Path, tmp_path: Path) -> None:
    bad = tmp_path / "broken.jpg"
    bad.write_text("not a photo")
    photos = [str(photo_dir / "chelsea.jpg"), str(bad), str(photo_dir / "coffee.jpg")]
    result = invoke("classify", "--json", "--top", "3", *photos)
    assert result.exit_code == 2
    items = json.loads(result.stdout)
    assert [Path(i["file"]).name for i in items] == ["chelsea.jpg", "coffee.jpg"]
    assert items[1]["predictions"][0] == {**items[1]["predictions"][0], "name": "espresso"}
    assert set(items[0]["predictions"][0]) == {"index", "name", "prob"}
    provenance = items[0]["provenance"]
    assert provenance["model"]["name"] == "efficientnet_lite0"
    assert len(provenance["inputs"][0]["sha256"]) == 64
    assert provenance["versions"]["torch"]
    assert shlex.split(provenance["command"]) == [
        "renderer",
        "classify",
        "--top",
        "3",
        "--json",
        photos[0],
    ]
    errors = result.stderr.strip().splitlines()
    assert errors[0] == f"error: {bad}: not an image, or a format that cannot be read"
    assert errors[-1].startswith("1 of 3 inputs failed")
    assert "Traceback" not in result.stderr


def test_unknown_names_are_one_line_usage_errors() -> None:
    result = invoke("layers", "--model", "vgg61")
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines() == [
        "error: unknown model 'vgg61'; closest: vgg19, vgg16, googlenet"
    ]
    assert invoke("classes", "golden_retriever").output.split() == ["207", "golden", "retriever"]
    out_of_range = invoke("classes", "1000")
    assert out_of_range.exit_code == 1 and out_of_range.stdout == ""
    assert out_of_range.stderr.strip() == "error: class index 1000 is out of range 0..999"


def test_layers_json_lists_shapes_and_the_default() -> None:
    rows = json.loads(invoke("layers", "--model", "vgg16", "--json").stdout)
    by_name = {r["name"]: r for r in rows}
    assert by_name["features.29"]["default_gradcam"] is True
    assert by_name["features.28"]["alias"] == "conv13"
    assert by_name["features.28"]["shape"] == [512, 14, 14]


def _run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "renderer", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=300,
    )


def test_offline_torchvision_model_gives_one_line(tmp_path: Path, photo_dir: Path) -> None:
    # A closed local proxy makes the download fail fast here and on any machine.
    closed = "http://127.0.0.1:9"
    env = {"TORCH_HOME": str(tmp_path), "https_proxy": closed, "HTTPS_PROXY": closed}
    result = _run("classify", "--model", "vgg16", str(photo_dir / "chelsea.jpg"), env=env)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    expected = tmp_path / "hub" / "checkpoints" / "vgg16-397923af.pth"
    assert "model vgg16" in lines[0] and str(expected) in lines[0] and "--weights" in lines[0]
    assert result.stdout == ""


@pytest.mark.slow
def test_real_subprocess_classifies_and_pipes_cleanly(photo_dir: Path) -> None:
    result = _run("classify", "--top", "1", str(photo_dir / "coffee.jpg"))
    assert result.returncode == 0, result.stderr
    assert "espresso" in result.stdout
    assert result.stderr == ""  # no progress bar when stderr is not a terminal
