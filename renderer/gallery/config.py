"""Gallery settings: defaults, then ``gallery.toml``, then command-line flags.

Paths in the file are relative to the file itself (as sigal does), so a gallery folder can
be moved or built from anywhere. Every value is checked when the ``GalleryConfig`` is built,
so a typo fails at once with one line, not after twenty minutes of rendering.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import RecipeError, UnknownNameError
from ..imageio import DEFAULT_MAX_PIXELS
from ..sizes import parse_size

try:  # Python 3.11+
    import tomllib
except ModuleNotFoundError:  # pragma: no cover - Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

CONFIG_NAME = "gallery.toml"

# The essay's class dreams (ch. 4): goldfish ... pizza.
ESSAY_CLASSES = ("1", "33", "77", "207", "254", "761", "771", "783", "817", "883", "963")

DEFAULT_PRESETS = ("classic", "intense", "swirls")
DEFAULT_LAYER_PRESET = "layer"
DEFAULT_CLASS_PRESET = "class-fast"
DEFAULT_ZOOM_PRESET = "classic"
DEFAULT_ZOOM_FRAMES = 24
DEFAULT_PER_PAGE = 48

# (section, key in the file) -> field name. Top-level keys have section "".
_FILE_KEYS: dict[tuple[str, str], str] = {
    ("", "photos"): "photos",
    ("", "render_dir"): "render_dir",
    ("", "site"): "site_dir",
    ("", "samples_dir"): "samples_dir",
    ("", "title"): "title",
    ("", "theme"): "theme",
    ("", "models"): "models",
    ("", "model"): "models",
    ("", "weights"): "weights",
    ("", "device"): "device",
    ("", "size"): "size",
    ("", "max_pixels"): "max_pixels",
    ("", "max_memory"): "max_memory",
    ("", "seed"): "seed",
    ("", "jobs"): "jobs",
    ("", "max_minutes"): "max_minutes",
    ("", "quick"): "quick",
    ("", "albums"): "albums",
    ("", "per_page"): "per_page",
    ("", "base_url"): "base_url",
    ("dreams", "presets"): "presets",
    ("dreams", "preset_file"): "preset_file",
    ("dreams", "frames"): "frames",
    ("layers", "layers"): "layers",
    ("layers", "preset"): "layer_preset",
    ("classes", "classes"): "classes",
    ("classes", "preset"): "class_preset",
    ("explain", "enabled"): "explain",
    ("zoom", "photos"): "zoom_photos",
    ("zoom", "preset"): "zoom_preset",
    ("zoom", "frames"): "zoom_frames",
    ("cluster", "address"): "cluster",
}
_PATH_FIELDS = (
    "photos",
    "render_dir",
    "site_dir",
    "samples_dir",
    "theme",
    "weights",
    "preset_file",
)
_SECTIONS = ("dreams", "layers", "classes", "explain", "zoom", "cluster")
# A Dask scheduler's address, or a LocalCluster here: "local" or "local:N".
_LOCAL_CLUSTER = re.compile(r"local(:[1-9][0-9]{0,2})?")
_SCHEDULER = re.compile(r"((tcp|tls|ws|wss|ucx)://)?[^\s/:]+(:[0-9]{1,5})?")


@dataclass(frozen=True)
class GalleryConfig:
    """Everything one gallery build needs to know; checked on construction."""

    photos: Path | None = None
    render_dir: Path = Path("renders/gallery")
    site_dir: Path = Path("gallery")
    samples_dir: Path = Path("renders/sample-photos")
    title: str = "dreamgallery"
    theme: Path | None = None
    models: tuple[str, ...] = ("efficientnet_lite0",)
    weights: Path | None = None
    device: str = "auto"
    # "auto" (the photo's long side, up to 2048 px), "full" (up to 4096) or pixels. None:
    # "auto" for your own photos; the presets' sizes for the sample gallery (small photos).
    size: int | str | None = None
    max_pixels: int = DEFAULT_MAX_PIXELS  # refuse photos with more pixels (bomb guard)
    max_memory: float | None = None  # GB for one dream's gradient step; None: a free share
    seed: int = 0
    quick: bool = False
    jobs: int | None = None  # None: one worker per core (at most 4); one process on a GPU
    max_minutes: float | None = None
    presets: tuple[str, ...] = DEFAULT_PRESETS
    preset_file: Path | None = None
    frames: bool = False
    layers: tuple[str, ...] | None = None
    layer_preset: str = DEFAULT_LAYER_PRESET
    classes: tuple[str, ...] = ESSAY_CLASSES
    class_preset: str = DEFAULT_CLASS_PRESET
    explain: bool = True
    explain_settings: Mapping[str, Any] = field(default_factory=dict)
    # File names of the photos to zoom into. None: the default, ``zooms`` (one sample photo
    # for the sample gallery, none of your own); an empty list turns zooms off.
    zoom_photos: tuple[str, ...] | None = None
    zoom_preset: str = DEFAULT_ZOOM_PRESET
    zoom_frames: int = DEFAULT_ZOOM_FRAMES
    cluster: str | None = None  # a Dask scheduler (tcp://host:8786), or local / local:N
    albums: bool = True  # each subfolder of the photos folder is an album; False flattens
    per_page: int = DEFAULT_PER_PAGE  # photos on one index page at most
    base_url: str | None = None  # the site's address: absolute share links and a sitemap

    def __post_init__(self) -> None:
        for name in _PATH_FIELDS:
            value = getattr(self, name)
            if value is not None:  # "~/pictures" arrives unexpanded through make's quotes
                object.__setattr__(self, name, Path(str(value)).expanduser())
        for name in ("models", "presets", "classes", "layers", "zoom_photos"):
            value = getattr(self, name)
            if value is None:
                continue
            if isinstance(value, (str, int)):
                value = (value,)
            value = tuple(str(v).strip() for v in value)
            if any(not v for v in value):
                raise RecipeError(f"gallery: {name} holds an empty name")
            if len(set(value)) != len(value):
                raise RecipeError(f"gallery: {name} lists a name twice: {', '.join(value)}")
            object.__setattr__(self, name, value)
        object.__setattr__(self, "explain_settings", dict(self.explain_settings))
        if not self.models:
            raise RecipeError("gallery: models must name at least one model")
        if self.size is not None:
            object.__setattr__(self, "size", parse_size(self.size, "gallery: size"))
        pixels = self.max_pixels
        if isinstance(pixels, bool) or not isinstance(pixels, int) or pixels < 1:
            raise RecipeError(f"gallery: max_pixels must be a whole number >= 1, got {pixels!r}")
        memory = self.max_memory
        if memory is not None and (
            isinstance(memory, bool) or not isinstance(memory, (int, float)) or not memory > 0
        ):
            raise RecipeError(f"gallery: max_memory must be a number of GB > 0, got {memory!r}")
        if not isinstance(self.seed, int) or self.seed < 0:
            raise RecipeError(f"gallery: seed must be a whole number >= 0, got {self.seed!r}")
        if self.jobs is not None and (not isinstance(self.jobs, int) or not 1 <= self.jobs <= 256):
            raise RecipeError(f"gallery: jobs must be 1..256, got {self.jobs!r}")
        if self.max_minutes is not None and not float(self.max_minutes) > 0:
            raise RecipeError(f"gallery: max_minutes must be > 0, got {self.max_minutes}")
        frames = self.zoom_frames
        if isinstance(frames, bool) or not isinstance(frames, int) or not 2 <= frames <= 600:
            raise RecipeError(f"gallery: [zoom] frames must be 2..600, got {frames!r}")
        if self.cluster is not None:
            address = str(self.cluster).strip()
            local = address == "local" or address.startswith("local:")
            if not (_LOCAL_CLUSTER if local else _SCHEDULER).fullmatch(address):
                raise RecipeError(
                    f"gallery: [cluster] address must be tcp://HOST:PORT, local or local:N, "
                    f"got {self.cluster!r}"
                )
            object.__setattr__(self, "cluster", address)
        if not isinstance(self.albums, bool):
            raise RecipeError(f"gallery: albums must be true or false, got {self.albums!r}")
        per_page = self.per_page
        if (
            isinstance(per_page, bool)
            or not isinstance(per_page, int)
            or not 1 <= per_page <= 10_000
        ):
            raise RecipeError(f"gallery: per_page must be 1..10000, got {per_page!r}")
        if self.base_url is not None:
            url = str(self.base_url).strip()
            if not url.startswith(("http://", "https://")) or len(url.split("/")) < 3:
                raise RecipeError(f"gallery: base_url must start with https://, got {url!r}")
            object.__setattr__(self, "base_url", url)
        if not self.title.strip():
            raise RecipeError("gallery: title must not be empty")
        for name in ("render_dir", "site_dir"):
            if str(getattr(self, name)) in ("", "."):
                raise RecipeError(f"gallery: {name} must be a folder of its own, not '.'")
        if self.render_dir.resolve() == self.site_dir.resolve():
            raise RecipeError("gallery: render_dir and site must be different folders")

    @property
    def dream_size(self) -> int | str | None:
        """The size of photo dreams: the setting, else ``"auto"`` for your own photos and
        the presets' own for the sample gallery (whose small photos keep its time)."""
        if self.size is not None:
            return self.size
        return "auto" if self.photos is not None else None

    @property
    def max_memory_bytes(self) -> int | None:
        return None if self.max_memory is None else int(self.max_memory * 2**30)

    @property
    def model(self) -> str:
        """The first model: the one that dreams and explains."""
        return self.models[0]

    @property
    def zooms(self) -> tuple[str, ...]:
        """The photos to zoom into: those listed, else the default (the sample gallery shows
        ``SAMPLE_ZOOMS``; your own photos get none unless you name them)."""
        if self.zoom_photos is not None:
            return self.zoom_photos
        if self.photos is None:
            from .samples import SAMPLE_ZOOMS

            return SAMPLE_ZOOMS
        return ()

    @property
    def site_options(self) -> dict[str, Any]:
        """How the site shows the photos: ``build_site``'s keywords."""
        return {
            "photos": self.photos,
            "flat": not self.albums,
            "per_page": self.per_page,
            "base_url": self.base_url,
        }

    def replace(self, **changes: Any) -> GalleryConfig:
        return dataclasses.replace(self, **changes)


def _flatten(data: Mapping[str, Any], source: Path) -> dict[str, Any]:
    """The file's sections -> ``GalleryConfig`` field values; unknown keys are errors."""
    values: dict[str, Any] = {}
    known = [k for (_, k) in _FILE_KEYS] + list(_SECTIONS)
    for key, value in data.items():
        if key in _SECTIONS:
            if not isinstance(value, Mapping):
                raise RecipeError(f"{source}: [{key}] must be a table")
            for sub, subvalue in value.items():
                if key == "explain" and (key, sub) not in _FILE_KEYS:
                    values.setdefault("explain_settings", {})[sub] = subvalue
                    continue
                if (key, sub) not in _FILE_KEYS:
                    choices = [k for (s, k) in _FILE_KEYS if s == key]
                    raise UnknownNameError(f"key in [{key}] of {source}", sub, choices)
                values[_FILE_KEYS[(key, sub)]] = subvalue
        elif ("", key) in _FILE_KEYS:
            values[_FILE_KEYS[("", key)]] = value
        else:
            raise UnknownNameError(f"key in {source}", key, known)
    base = source.parent
    for name in _PATH_FIELDS:
        if isinstance(values.get(name), str):
            text = values[name].strip()
            if not text:
                values[name] = None
                continue
            path = Path(text).expanduser()
            values[name] = path if path.is_absolute() else base / path
    return values


def read_config_file(path: str | Path) -> dict[str, Any]:
    """The field values a ``gallery.toml`` sets (paths made relative to its folder)."""
    source = Path(path)
    try:
        text = source.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RecipeError(
            f"config file {source} not found; `renderer gallery init` writes one"
        ) from None
    except OSError as exc:
        raise RecipeError(f"config file {source}: cannot read ({exc.strerror or exc})") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise RecipeError(f"config file {source}: not valid TOML ({exc})") from None
    return _flatten(data, source)


def load_config(
    path: str | Path | None = None, overrides: Mapping[str, Any] | None = None
) -> GalleryConfig:
    """Defaults, then the config file (``path``, or ``./gallery.toml`` when present), then
    the non-``None`` overrides (the command-line flags)."""
    values: dict[str, Any] = {}
    if path is None and Path(CONFIG_NAME).is_file():
        path = Path(CONFIG_NAME)
    if path is not None:
        values.update(read_config_file(path))
    fields = {f.name for f in dataclasses.fields(GalleryConfig)}
    for key, value in (overrides or {}).items():
        if key not in fields:
            raise ValueError(f"not a gallery setting: {key}")
        if value is None:
            continue
        if key == "explain_settings":
            values["explain_settings"] = {**values.get("explain_settings", {}), **value}
        else:
            values[key] = value
    try:
        return GalleryConfig(**values)
    except TypeError as exc:  # a value of the wrong type in the file
        raise RecipeError(f"gallery: {exc}") from None


CONFIG_TEMPLATE = """\
# gallery.toml: what `renderer gallery build` renders and where it publishes it.
# Settings resolve from the built-in defaults, then this file, then command-line flags.
# Paths are relative to this file.

# The folder of photos. Leave it out to render the sample gallery (scikit-image photos).
# photos = "photos"

# Where finished jobs are cached (one folder per job, reused while nothing changes).
render_dir = "renders/gallery"

# Where the static site is published; open <site>/index.html or run `make serve`.
site = "gallery"
title = "dreamgallery"
# Each subfolder of the photos folder is an album (false: one flat index, `--flat`).
albums = true
per_page = {per_page}          # photos on one index page at most
# The site's address: share previews get absolute URLs, and a sitemap.xml is written.
# base_url = "https://example.org/dreams/"

# Model(s): see `renderer models`. The first one dreams and explains.
models = ["efficientnet_lite0"]
device = "auto"          # auto, cpu, cuda or mps

# Long side of the dreams: "auto" (your photo's own, up to 2048 px: print size), "full"
# (up to 4096 px) or pixels. A photo is never enlarged. Left out: "auto" for your photos,
# the presets' own size (512 px) for the sample gallery. Explanations stay at 256 px unless
# you give pixels here.
# size = "auto"
seed = 0

# Refuse photos with more pixels than this (a decompression-bomb guard).
# max_pixels = 100000000
# GB one dream may hold for a gradient step; a larger picture is dreamt in tiles.
# Left out: a quarter of the free memory (on the CPU at most 2 GB).
# max_memory = 2

# CPU worker processes; torch threads are divided between them (cores // jobs each).
# Leave it out for one single-threaded worker per core (at most 4); CUDA uses one process.
# jobs = 2

# Stop starting new jobs after this many minutes, and publish what is done.
# max_minutes = 30

[dreams]
# Presets dreamt on every photo; `renderer dream --list-presets` shows them.
presets = {presets}
# A TOML file with your own presets, next to the built-in ones.
# preset_file = "my-presets.toml"
frames = false           # also keep each octave's frame (a small-multiples strip)

[layers]
# Layer dreams from noise, shallow to deep. Leave `layers` out for the model's own choice.
# layers = ["blocks.2", "blocks.3", "blocks.4", "blocks.5", "blocks.6"]
preset = "{layer_preset}"

[classes]
# ImageNet classes dreamt from noise (index or name; `renderer classes pug`).
# The default is the essay's eleven.
classes = {classes}
preset = "{class_preset}"

[explain]
enabled = true
# Other keys here are explanation settings, passed on as they are, for example:
# lime_samples = 1000      # exactly this many; the default stops once the top 5 settles
# lime_max_samples = 3000  # the adaptive default's cap (lime_min_samples: its floor, 200)
# lime_hide = "mean"       # hide superpixels with their mean colour instead of black

[zoom]
# Infinite-zoom animations (`renderer zoom`) of the photos named here (file names). Left out,
# the sample gallery zooms into {sample_zooms} and your own photos get none: 24 frames
# cost about as much as five dreams of the same photo. `photos = []` turns zooms off.
# photos = {sample_zoom_list}
preset = "{zoom_preset}"
frames = {zoom_frames}

[cluster]
# Run the jobs on a Dask cluster (pip install 'dreamgallery[cluster]'): a scheduler's
# address, or "local" / "local:N" for N worker processes on this machine. See the README,
# "More than one machine".
# address = "tcp://studio-server:8786"
"""


def config_template() -> str:
    """The commented ``gallery.toml`` that ``renderer gallery init`` writes."""
    from .samples import SAMPLE_ZOOMS

    def toml_list(items: tuple[str, ...]) -> str:
        return "[" + ", ".join(f'"{i}"' for i in items) + "]"

    return CONFIG_TEMPLATE.format(
        presets=toml_list(DEFAULT_PRESETS),
        layer_preset=DEFAULT_LAYER_PRESET,
        classes=toml_list(ESSAY_CLASSES),
        class_preset=DEFAULT_CLASS_PRESET,
        zoom_preset=DEFAULT_ZOOM_PRESET,
        zoom_frames=DEFAULT_ZOOM_FRAMES,
        per_page=DEFAULT_PER_PAGE,
        sample_zooms=", ".join(SAMPLE_ZOOMS),
        sample_zoom_list=toml_list(SAMPLE_ZOOMS),
    )
