"""Named recipes: the shipped ``presets.toml`` plus the artist's own file (``--presets``)."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import tomllib

from ..errors import RecipeError, UnknownNameError
from .recipe import DreamRecipe

KINDS = ("photo", "layer", "class", "any")
DEFAULT_PRESET = {"photo": "classic", "layer": "layer-maco", "class": "class"}


@dataclass(frozen=True)
class Preset:
    """A named recipe and the kind of dream (photo, layer, class or any) it is meant for."""

    name: str
    kind: str
    description: str
    recipe: DreamRecipe

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise RecipeError(
                f"preset {self.name!r}: kind must be one of {', '.join(KINDS)}, got {self.kind!r}"
            )


def _parse(text: str, where: str) -> dict[str, Preset]:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise RecipeError(f"{where}: not valid TOML ({exc})") from None
    presets = {}
    for name, table in data.items():
        if not isinstance(table, dict):
            raise RecipeError(f"{where}: {name!r} must be a table ([{name}])")
        values = dict(table)
        kind = str(values.pop("kind", "any"))
        description = str(values.pop("description", ""))
        recipe = DreamRecipe.from_mapping(values, where=f"{where} [{name}]")
        presets[name] = Preset(name, kind, description, recipe)
    return presets


def load_presets(extra_file: Path | None = None) -> dict[str, Preset]:
    """The shipped presets, then those of ``extra_file`` (which win on equal names)."""
    shipped = resources.files("renderer.dream").joinpath("presets.toml").read_text("utf-8")
    presets = _parse(shipped, "presets.toml")
    if extra_file is not None:
        path = Path(extra_file).expanduser()
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise RecipeError(f"presets file {path}: cannot read ({exc.strerror or exc})") from None
        presets.update(_parse(text, str(path)))
    return presets


def get_preset(name: str, extra_file: Path | None = None) -> Preset:
    presets = load_presets(extra_file)
    if name not in presets:
        raise UnknownNameError("preset", name, presets)
    return presets[name]
