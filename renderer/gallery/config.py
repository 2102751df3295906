"""Gallery settings: defaults, then ``gallery.toml``, then command-line flags.

Paths in the file are relative to the file itself (as sigal does), so a gallery folder can
be moved or built from anywhere. Every value is checked when the ``GalleryConfig`` is built,
so a typo fails at once with one line, not after twenty minutes of rendering.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import RecipeError, UnknownNameError
from ..files import DEFAULT_MAX_FILE_MB
from ..imageio import DEFAULT_MAX_PIXELS
from ..site.options import SiteOptions
from ..sizes import parse_size

try:  # Python 3.11+
    import tomllib
except ModuleNotFoundError:  # pragma: no cover - Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

CONFIG_NAME = "gallery.toml"

# The essay's class dreams (ch. 4): goldfish ... pizza.
ESSAY_CLASSES = ("1", "33", "77", "207", "254", "761", "771", "783", "817", "883", "963")

DEFAULT_PRESETS = ("classic", "intense", "swirls")
DEFAULT_LAYER_PRESET = "layer-maco"  # a preview (--quick) dreams with "layer"
DEFAULT_CLASS_PRESET = "class"  # a preview (--quick) dreams with "class-fast"
DEFAULT_ZOOM_PRESET = "classic"
DEFAULT_ZOOM_FRAMES = 24
DEFAULT_PER_PAGE = 48


@dataclass(frozen=True)
class Setting:
    """One setting: the ``GalleryConfig`` field it fills and what its value must be (in
    words, for the one-line error, and as a test). A new key is one line of ``SCHEMA``."""

    field: str
    expected: str
    check: Callable[[Any], bool]


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _int_in(low: int, high: int) -> Callable[[Any], bool]:
    return lambda v: _is_int(v) and low <= v <= high


def _names(value: Any, item: tuple[type, ...] = (str,)) -> bool:
    items = value if isinstance(value, (list, tuple)) else [value]
    return all(isinstance(v, item) and not isinstance(v, bool) for v in items)


def _is_size(value: Any) -> bool:
    try:
        parse_size(value)
    except RecipeError:
        return False
    return True


def _is_url(value: Any) -> bool:
    url = value.strip() if isinstance(value, str) else ""
    return url.startswith(("http://", "https://")) and len(url.split("/")) >= 3


# A Dask scheduler's address, or a LocalCluster here: "local" or "local:N".
_LOCAL_CLUSTER = re.compile(r"local(:[1-9][0-9]{0,2})?")
_SCHEDULER = re.compile(r"((tcp|tls|ws|wss|ucx)://)?[^\s/:]+(:[0-9]{1,5})?")


def _is_cluster(value: Any) -> bool:
    address = value.strip() if isinstance(value, str) else ""
    local = address == "local" or address.startswith("local:")
    return bool((_LOCAL_CLUSTER if local else _SCHEDULER).fullmatch(address))


_PATH = ("a path (text)", lambda v: isinstance(v, (str, os.PathLike)))
_TEXT = ("text", lambda v: isinstance(v, str))
_BOOL = ("true or false", lambda v: isinstance(v, bool))
_NAMES = ("a name or a list of names", _names)
_POSITIVE = ("a number > 0", lambda v: _is_number(v) and v > 0)

# (section, key in the file) -> its setting. Top-level keys have section "".
SCHEMA: dict[tuple[str, str], Setting] = {
    ("", "photos"): Setting("photos", *_PATH),
    ("", "render_dir"): Setting("render_dir", *_PATH),
    ("", "site"): Setting("site_dir", *_PATH),
    ("", "samples_dir"): Setting("samples_dir", *_PATH),
    ("", "title"): Setting("title", "non-empty text", lambda v: isinstance(v, str) and v.strip()),
    ("", "theme"): Setting("theme", *_PATH),
    ("", "models"): Setting("models", *_NAMES),
    ("", "model"): Setting("models", *_NAMES),
    ("", "weights"): Setting("weights", *_PATH),
    ("", "device"): Setting("device", *_TEXT),
    ("", "size"): Setting("size", '"auto", "full" or 32..4096 pixels', _is_size),
    ("", "max_pixels"): Setting(
        "max_pixels", "a whole number >= 1", lambda v: _is_int(v) and v >= 1
    ),
    ("", "max_memory"): Setting("max_memory", "a number of GB > 0", _POSITIVE[1]),
    ("", "seed"): Setting("seed", "a whole number >= 0", lambda v: _is_int(v) and v >= 0),
    ("", "jobs"): Setting("jobs", "a whole number 1..256", _int_in(1, 256)),
    ("", "max_minutes"): Setting("max_minutes", *_POSITIVE),
    ("", "max_file_mb"): Setting("max_file_mb", *_POSITIVE),
    ("", "allow_empty"): Setting("allow_empty", *_BOOL),
    ("", "quick"): Setting("quick", *_BOOL),
    ("", "albums"): Setting("albums", *_BOOL),
    ("", "per_page"): Setting("per_page", "a whole number 1..10000", _int_in(1, 10_000)),
    ("", "base_url"): Setting("base_url", "an http:// or https:// address", _is_url),
    ("dreams", "presets"): Setting("presets", *_NAMES),
    ("dreams", "preset_file"): Setting("preset_file", *_PATH),
    ("dreams", "frames"): Setting("frames", *_BOOL),
    ("dreams", "masks"): Setting(
        "masks", "a list of subject, background or lime, each as MODE or PHOTO:MODE", _names
    ),
    ("atlas", "photos"): Setting("atlas_photos", *_NAMES),
    ("layers", "layers"): Setting("layers", *_NAMES),
    ("layers", "preset"): Setting("layer_preset", *_TEXT),
    ("classes", "classes"): Setting(
        "classes", "a class (index or name) or a list of them", lambda v: _names(v, (str, int))
    ),
    ("classes", "preset"): Setting("class_preset", *_TEXT),
    ("explain", "enabled"): Setting("explain", *_BOOL),
    ("zoom", "photos"): Setting("zoom_photos", *_NAMES),
    ("zoom", "preset"): Setting("zoom_preset", *_TEXT),
    ("zoom", "frames"): Setting("zoom_frames", "a whole number 2..600", _int_in(2, 600)),
    ("cluster", "address"): Setting("cluster", "tcp://HOST:PORT, local or local:N", _is_cluster),
    ("video", "size"): Setting("video_size", "a whole number 32..2160 (px)", _int_in(32, 2160)),
    ("video", "max_seconds"): Setting("video_max_seconds", *_POSITIVE),
    ("video", "fps"): Setting(
        "video_fps", "a number 0..60 (0: the source's)", lambda v: _is_number(v) and 0 <= v <= 60
    ),
}
_BY_FIELD: dict[str, tuple[str, Setting]] = {}
for (_section, _key), _setting in SCHEMA.items():
    _BY_FIELD.setdefault(_setting.field, (f"[{_section}] {_key}" if _section else _key, _setting))
_PATH_FIELDS = tuple(s.field for s in SCHEMA.values() if s.expected == _PATH[0])


def check_value(where: str, label: str, setting: Setting, value: Any) -> None:
    """One line naming the file (or "gallery"), the key and what it must be."""
    if not setting.check(value):
        raise RecipeError(f"{where}: {label} must be {setting.expected}, got {value!r}")


def _explain_setting(name: str) -> Setting | None:
    """``[explain]`` keys other than ``enabled`` are ``ExplainSettings`` fields, each typed
    like its default."""
    from ..explain.settings import ExplainSettings

    fields = {f.name: f for f in dataclasses.fields(ExplainSettings)}
    if name not in fields:
        return None
    default = fields[name].default
    if default is None:  # optional: typed by its annotation ("int | None")
        kind = str(fields[name].type)
        default = 0 if "int" in kind else 0.0 if "float" in kind else ""
    if isinstance(default, bool):
        return Setting(name, *_BOOL)
    if isinstance(default, int):
        return Setting(name, "a whole number", _is_int)
    if isinstance(default, float):
        return Setting(name, "a number", _is_number)
    if isinstance(default, tuple):
        return Setting(name, *_NAMES)
    return Setting(name, *_TEXT)


_SECTIONS = ("dreams", "layers", "classes", "explain", "zoom", "video", "cluster", "atlas")


@dataclass(frozen=True)
class GalleryConfig:
    """Everything one gallery build needs to know; checked on construction."""

    photos: Path | None = None
    render_dir: Path = Path("renders/gallery")
    site_dir: Path = Path("gallery")
    # None: ``sample-photos`` beside the render folder (renders/sample-photos by default), so
    # a build given its own --render-dir writes nothing where it was started
    samples_dir: Path | None = None
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
    max_file_mb: float = DEFAULT_MAX_FILE_MB  # larger photo files are skipped unread
    allow_empty: bool = False  # publish an empty gallery from a folder without photos
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
    # Masked dreams with the first preset: "MODE" on every photo or "PHOTO:MODE" on one.
    # None: the default (``SAMPLE_MASKS`` for the sample gallery, none for your photos); a
    # sidecar NAME.mask.png beside a photo always adds one.
    masks: tuple[str, ...] | None = None
    # File names of the photos whose layer atlas the site shows. None: the sample
    # gallery's ``SAMPLE_ATLAS``, none of your own.
    atlas_photos: tuple[str, ...] | None = None
    cluster: str | None = None  # a Dask scheduler (tcp://host:8786), or local / local:N
    albums: bool = True  # each subfolder of the photos folder is an album; False flattens
    per_page: int = DEFAULT_PER_PAGE  # photos on one index page at most
    base_url: str | None = None  # the site's address: absolute share links and a sitemap
    # Clips: the dream's short side (None: 512 px, 256 with quick), its longest span in
    # seconds (None: 30) and frames per second (None or 0: the source's, at most 30).
    video_size: int | None = None
    video_max_seconds: float | None = None
    video_fps: float | None = None

    def __post_init__(self) -> None:
        for name, (label, setting) in _BY_FIELD.items():
            value = getattr(self, name)
            if value is not None:
                check_value("gallery", label, setting, value)
        for name in _PATH_FIELDS:
            value = getattr(self, name)
            if value is not None:  # "~/pictures" arrives unexpanded through make's quotes
                object.__setattr__(self, name, Path(str(value)).expanduser())
        for name in (
            "models",
            "presets",
            "classes",
            "layers",
            "zoom_photos",
            "masks",
            "atlas_photos",
        ):
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
        if self.cluster is not None:
            object.__setattr__(self, "cluster", self.cluster.strip())
        for entry in self.masks or ():
            from ..dream.recipe import MASK_MODES

            mode = entry.rsplit(":", 1)[-1].strip()
            if mode not in MASK_MODES:
                raise UnknownNameError("mask mode in [dreams] masks", mode, MASK_MODES)
        if self.base_url is not None:
            object.__setattr__(self, "base_url", self.base_url.strip())
        if self.explain_settings:
            from ..explain.settings import ExplainSettings

            try:
                ExplainSettings(**self.explain_settings)
            except RecipeError as exc:
                raise RecipeError(f"gallery: [explain] {exc}") from None
        for name in ("render_dir", "site_dir"):
            if str(getattr(self, name)) in ("", "."):
                raise RecipeError(f"gallery: {name} must be a folder of its own, not '.'")
        if self.samples_dir is None:
            object.__setattr__(self, "samples_dir", self.render_dir.parent / "sample-photos")
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
    def mask_list(self) -> tuple[tuple[str, str], ...]:
        """(photo file name or "" for every photo, mode) for each masked dream asked for."""
        masks = self.masks
        if masks is None:
            from .samples import SAMPLE_MASKS

            masks = SAMPLE_MASKS if self.photos is None else ()
        pairs = (m.rsplit(":", 1) if ":" in m else ("", m) for m in masks)
        return tuple((photo.strip(), mode.strip()) for photo, mode in pairs)

    @property
    def atlases(self) -> tuple[str, ...]:
        """The photos whose layer atlas is made: those listed, else the sample gallery's."""
        if self.atlas_photos is not None:
            return self.atlas_photos
        if self.photos is None:
            from .samples import SAMPLE_ATLAS

            return SAMPLE_ATLAS
        return ()

    def site_options(self) -> SiteOptions:
        """How the site looks: its title and theme, albums, paging and address."""
        return SiteOptions(
            title=self.title,
            theme=self.theme,
            photos=self.photos,
            flat=not self.albums,
            per_page=self.per_page,
            base_url=self.base_url,
        )

    def replace(self, **changes: Any) -> GalleryConfig:
        return dataclasses.replace(self, **changes)


def _flatten(data: Mapping[str, Any], source: Path) -> dict[str, Any]:
    """The file's sections -> ``GalleryConfig`` field values, each checked against
    ``SCHEMA``: an unknown key or a value of the wrong type is one line naming both."""
    values: dict[str, Any] = {}
    known = [k for (_, k) in SCHEMA] + list(_SECTIONS)
    for key, value in data.items():
        if key in _SECTIONS:
            if not isinstance(value, Mapping):
                raise RecipeError(f"{source}: [{key}] must be a table")
            for sub, subvalue in value.items():
                setting = SCHEMA.get((key, sub))
                label = f"[{key}] {sub}"
                if setting is None and key == "explain":
                    setting = _explain_setting(sub)
                    if setting is not None:
                        check_value(str(source), label, setting, subvalue)
                        values.setdefault("explain_settings", {})[sub] = subvalue
                        continue
                if setting is None:
                    choices = [k for (s, k) in SCHEMA if s == key]
                    if key == "explain":
                        from ..explain.settings import ExplainSettings

                        choices += [f.name for f in dataclasses.fields(ExplainSettings)]
                    raise UnknownNameError(f"key in [{key}] of {source}", sub, choices)
                check_value(str(source), label, setting, subvalue)
                values[setting.field] = subvalue
        elif ("", key) in SCHEMA:
            setting = SCHEMA[("", key)]
            check_value(str(source), key, setting, value)
            values[setting.field] = value
        else:
            raise UnknownNameError(f"key in {source}", key, known)
    if "explain_settings" in values:
        from ..explain.settings import ExplainSettings

        try:
            ExplainSettings(**values["explain_settings"])
        except RecipeError as exc:
            raise RecipeError(f"{source}: [explain] {exc}") from None
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

# Photo files larger than this many MB are skipped unread (a photo is never that big).
# max_file_mb = 200

[dreams]
# Presets dreamt on every photo; `renderer dream --list-presets` shows them.
presets = {presets}
# A TOML file with your own presets, next to the built-in ones.
# preset_file = "my-presets.toml"
frames = false           # also keep each octave's frame (a small-multiples strip)
# Masked dreams with the first preset: "subject" (dream where Grad-CAM looks), "background"
# (dream around it) or "lime", on every photo, or "PHOTO:MODE" on one. A NAME.mask.png
# beside NAME.jpg (white dreams, black stays) adds a masked dream of that photo by itself.
# masks = ["cat.jpg:background"]

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
# lime_max_samples = 2000  # the adaptive default's cap (lime_min_samples: its floor, 200)
# lime_hide = "mean"       # hide superpixels with their mean colour instead of black

[zoom]
# Infinite-zoom animations (`renderer zoom`) of the photos named here (file names). Left out,
# the sample gallery zooms into {sample_zooms} and your own photos get none: 24 frames
# cost about as much as five dreams of the same photo. `photos = []` turns zooms off.
# photos = {sample_zoom_list}
preset = "{zoom_preset}"
frames = {zoom_frames}

[atlas]
# A layer atlas of each photo named here: the photo dreamt at every layer of the model, shallow
# to deep, at 256 px (each tile costs about a third of a dream). Left out, the sample
# gallery makes the cat's; your own photos get none.
# photos = ["cat.jpg"]

[video]
# Clips (.mp4 .mov .m4v .webm .mkv) in the photos folder are dreamt with the first preset,
# in 4-second segments (jobs of their own), with their sound. Their short side in px
# (--quick: 256), the seconds kept of a longer clip, and frames per second (0: the source's,
# at most 30).
# size = 512
# max_seconds = 30
# fps = 0

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
