"""Every gallery setting, from its one declaration on ``GalleryConfig``: in the generated
``gallery.toml``, in ``renderer gallery build --help``, checked with a one-line error, and
carried unchanged from the file and from its flag into the config."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner

from renderer.errors import RecipeError
from renderer.gallery.config import (
    SCHEMA,
    SETTINGS,
    GalleryConfig,
    config_template,
    flag_overrides,
    load_config,
)
from renderer.gallery.schema import Setting, shown, toml_value

try:  # Python 3.11+
    import tomllib
except ModuleNotFoundError:  # pragma: no cover - Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

# A value other than the default for every setting: a new setting needs one here.
SAMPLES: dict[str, Any] = {
    "photos": "pics",
    "site_dir": "www",
    "render_dir": "cache",
    "samples_dir": "samples",
    "quick": True,
    "jobs": 3,
    "max_minutes": 7.5,
    "models": ("efficientnet_lite0", "vgg16"),
    "weights": "w.pth",
    "device": "cpu",
    "seed": 7,
    "size": 1024,
    "max_pixels": 5000,
    "max_memory": 1.5,
    "title": "Holiday",
    "theme": "theme",
    "albums": False,
    "per_page": 24,
    "base_url": "https://x.org/d/",
    "max_file_mb": 12.5,
    "allow_empty": True,
    "presets": ("subtle",),
    "preset_file": "p.toml",
    "frames": True,
    "masks": ("cat.jpg:subject",),
    "layers": ("blocks.3",),
    "layer_preset": "layer",
    "classes": ("207", "pug"),
    "class_preset": "class-fast",
    "explain": False,
    "zoom_photos": ("a.jpg",),
    "zoom_preset": "intense",
    "zoom_frames": 12,
    "atlas_photos": ("b.jpg",),
    "video_size": 256,
    "video_max_seconds": 8.0,
    "video_fps": 12.0,
    "cluster": "local:2",
}
BY_FIELD = {s.field: s for s in SETTINGS}
FLAGGED = [s for s in SETTINGS if s.flag]
# The options of `gallery build` that are not settings.
NOT_SETTINGS = {"--config", "--force", "--dry-run"}


def ids(setting: Setting) -> str:
    return setting.label


def file_with(tmp_path: Path, setting: Setting, text: str) -> Path:
    """A gallery.toml holding one line, in the setting's table."""
    path = tmp_path / "gallery.toml"
    head = f"[{setting.section}]\n" if setting.section else ""
    path.write_text(f"{head}{setting.key} = {text}\n", encoding="utf-8")
    return path


def expected(setting: Setting, value: Any, base: Path | None) -> Any:
    """What the config holds for ``value``: a path relative to the file's folder (``base``),
    a list as a tuple."""
    if setting.value.kind == "path":
        return base / value if base is not None else Path(value)
    if isinstance(value, list):
        return tuple(value)
    return value


def test_the_source_is_whole():
    assert set(SAMPLES) == set(BY_FIELD), "every setting needs a sample value (and only those)"
    fields = {f for f in GalleryConfig.__dataclass_fields__ if f != "explain_settings"}
    assert fields == set(BY_FIELD)  # every field but [explain]'s extras is a declared setting
    assert len(SCHEMA) == len(SETTINGS) + 1  # one alias: model for models
    for setting in SETTINGS:
        assert SAMPLES[setting.field] != setting.default, setting.field


@pytest.fixture(scope="module")
def template() -> str:
    return config_template()


@pytest.fixture(scope="module")
def build_help() -> str:
    from renderer.cli import main

    result = CliRunner().invoke(main, ["gallery", "build", "--help"], terminal_width=200)
    assert result.exit_code == 0, result.output
    return result.output


@pytest.mark.parametrize("setting", SETTINGS, ids=ids)
def test_every_setting_is_in_the_template(setting: Setting, template: str):
    """Uncommented, the template names every setting in its own table, with its default
    (or an example, when it is written commented out)."""
    keys = {k for (_, k) in SCHEMA}
    opened = re.sub(
        r"^# (\w+) = ", lambda m: f"{m[1]} = " if m[1] in keys else m[0], template, flags=re.M
    )
    data = tomllib.loads(opened)
    table = data[setting.section] if setting.section else data
    assert setting.key in table, f"{setting.label} is not in the template"
    shown = setting.default if setting.live else setting.example
    if shown is not None:
        assert table[setting.key] == (list(shown) if isinstance(shown, tuple) else shown) or (
            setting.value.kind == "path" and table[setting.key] == Path(shown).as_posix()
        )
    live = tomllib.loads(template)
    assert (setting.key in (live.get(setting.section, {}) if setting.section else live)) is (
        setting.live
    )


@pytest.mark.parametrize("setting", SETTINGS, ids=ids)
def test_template_value_goes_through_the_config_unchanged(
    setting: Setting, template: str, tmp_path
):
    """The template's value (the default, or the example) read back from a file."""
    value = setting.default if setting.live else setting.example
    if value is None:
        value = setting.default
    if value is None:
        pytest.skip("no value to write")
    path = file_with(tmp_path, setting, toml_value(value))
    got = getattr(load_config(path), setting.field)
    assert got == expected(setting, value, tmp_path)


@pytest.mark.parametrize("setting", SETTINGS, ids=ids)
def test_a_file_value_goes_through_the_config_unchanged(setting: Setting, tmp_path: Path):
    sample = SAMPLES[setting.field]
    path = file_with(tmp_path, setting, toml_value(sample))
    config = load_config(path)
    assert getattr(config, setting.field) == expected(setting, sample, tmp_path)
    assert getattr(GalleryConfig(), setting.field) != getattr(config, setting.field)


@pytest.mark.parametrize("setting", SETTINGS, ids=ids)
def test_a_value_of_the_wrong_type_is_one_line_naming_it(setting: Setting, tmp_path: Path):
    path = file_with(tmp_path, setting, "{ wrong = 1 }")
    with pytest.raises(RecipeError) as info:
        load_config(path)
    message = str(info.value)
    assert message.startswith(f"{path}: {setting.label} must be {setting.expected}, got ")
    assert "\n" not in message


def test_the_model_key_is_an_alias_checked_alike(tmp_path: Path):
    (tmp_path / "gallery.toml").write_text('model = "vgg16"\n')
    assert load_config(tmp_path / "gallery.toml").models == ("vgg16",)
    (tmp_path / "gallery.toml").write_text("model = 3\n")
    with pytest.raises(RecipeError, match="model must be a name or a list of names, got 3"):
        load_config(tmp_path / "gallery.toml")


def flag_args(setting: Setting, value: Any) -> list[str]:
    flag = setting.flag
    assert flag is not None
    if flag.is_flag:
        assert value is (not flag.invert)
        return [flag.decls[0]]
    values = value if flag.multiple else (value,)
    return [word for v in values for word in (flag.decls[-1], str(v))]


def parsed(command: click.Command, args: list[str]) -> dict[str, Any]:
    """The command's parameters for ``args``, as click hands them to it (nothing runs)."""
    with command.make_context(command.name or "", args) as ctx:
        return dict(ctx.params)


@pytest.mark.parametrize("setting", FLAGGED, ids=ids)
def test_every_flag_is_in_build_help(setting: Setting, build_help: str):
    assert setting.flag is not None
    for decl in setting.flag.decls:
        assert re.search(rf"(^|[ ,]){re.escape(decl)}\b", build_help, re.M), decl
    words = " ".join(build_help.split())
    assert " ".join(setting.flag.help.split()) in words
    if setting.flag.shown_default is True:  # the default shown is the setting's own
        assert f"[default: {shown(setting.default)}]" in words


@pytest.mark.parametrize("setting", [s for s in SETTINGS if s.flag is None], ids=ids)
def test_a_setting_without_a_flag_is_named_in_build_help(setting: Setting, build_help: str):
    words = " ".join(build_help.split())
    assert "Settings only in gallery.toml" in words
    listed = words.split("Settings only in gallery.toml", 1)[1]
    assert re.search(rf"(: |, ){re.escape(setting.label)}[,.]", listed), setting.label


def test_build_has_no_flag_outside_the_source(build_help: str):
    from renderer.commands.gallery import build

    declared = {d for s in FLAGGED for d in s.flag.decls}  # type: ignore[union-attr]
    options = {o for p in build.params for o in (*p.opts, *p.secondary_opts)}
    assert options - declared == NOT_SETTINGS
    assert declared <= options
    for s in SETTINGS:  # a setting without a flag has none by its own name either
        assert s.flag or f"--{s.field.replace('_', '-')}" not in options, s.field
    assert "--config" in build_help and "--dry-run" in build_help


@pytest.mark.parametrize("setting", FLAGGED, ids=ids)
def test_a_flag_value_goes_through_the_config_unchanged(
    setting: Setting, tmp_path: Path, monkeypatch
):
    from renderer.commands.gallery import build

    monkeypatch.chdir(tmp_path)  # no ./gallery.toml is read
    sample = SAMPLES[setting.field]
    params = parsed(build, flag_args(setting, sample))
    overrides = flag_overrides(params)
    assert {k for k, v in overrides.items() if v is not None} == {setting.field}
    assert getattr(load_config(None, overrides), setting.field) == expected(setting, sample, None)
    # not given, the flag leaves the default
    assert getattr(load_config(None, flag_overrides(parsed(build, []))), setting.field) == (
        setting.default if setting.field != "samples_dir" else GalleryConfig().samples_dir
    )


@pytest.mark.parametrize("setting", FLAGGED, ids=ids)
def test_a_flag_overrides_the_file_and_its_absence_keeps_it(
    setting: Setting, tmp_path: Path, monkeypatch
):
    from renderer.commands.gallery import build

    monkeypatch.chdir(tmp_path)
    sample = SAMPLES[setting.field]
    path = file_with(tmp_path, setting, toml_value(sample))
    from_file = getattr(load_config(path, flag_overrides(parsed(build, []))), setting.field)
    assert from_file == expected(setting, sample, tmp_path)
    if setting.flag and setting.flag.is_flag:
        return  # an on/off flag only turns on; the file's value stays otherwise
    default = setting.default
    if default is None:
        return
    args = flag_args(setting, default if not isinstance(default, Path) else str(default))
    flagged = getattr(load_config(path, flag_overrides(parsed(build, args))), setting.field)
    assert flagged == default


def test_prune_takes_the_plan_s_flags_from_the_same_source(tmp_path: Path, monkeypatch):
    from renderer.commands.gallery import prune

    monkeypatch.chdir(tmp_path)
    params = parsed(prune, ["--photos", "pics", "--render-dir", "cache", "--quick"])
    config = load_config(None, flag_overrides(params))
    assert (config.photos, config.render_dir, config.quick) == (Path("pics"), Path("cache"), True)
    options = {o for p in prune.params for o in p.opts}
    assert options == {"--config", "--photos", "--render-dir", "--quick", "--yes"}
