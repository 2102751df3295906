"""Gallery settings: defaults, then ``gallery.toml``, then command-line flags.

Each setting is declared once, as a ``GalleryConfig`` field (``schema.setting``): its key in
the file, the check of its value, its flag and its comment. The schema, the template that
``renderer gallery init`` writes and the options of ``renderer gallery build`` are read from
those fields. Paths in the file are relative to the file itself (as sigal does), so a
gallery folder can be moved or built from anywhere. Every value is checked when the
``GalleryConfig`` is built, so a typo fails at once with one line, not after twenty minutes
of rendering.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click

from ..devices import DEVICE_CHOICES
from ..errors import RecipeError, UnknownNameError
from ..files import DEFAULT_MAX_FILE_MB
from ..imageio import DEFAULT_MAX_PIXELS
from ..site.options import SiteOptions
from ..sizes import parse_size
from . import schema
from .schema import (
    BOOL,
    CLASSES,
    CLUSTER,
    FPS,
    GIGABYTES,
    MASKS,
    NAMES,
    NON_EMPTY_TEXT,
    NUMBER,
    PATH,
    POSITIVE,
    SIZE,
    TEXT,
    URL,
    WHOLE,
    Flag,
    Setting,
    check_value,
    setting,
    whole,
)

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

_FILE = click.Path(path_type=Path)
_MORE_THAN_0 = click.FloatRange(min=0, min_open=True)

# The template's tables, in order, with the comment under each heading.
SECTIONS = {
    "dreams": "",
    "layers": "",
    "classes": "",
    "explain": "Other keys here are explanation settings, passed on as they are, for example:\n"
    "lime_samples = 1000      # exactly this many; the default stops once the top 5 settles\n"
    "lime_max_samples = 2000  # the adaptive default's cap (lime_min_samples: its floor, 200)\n"
    'lime_hide = "mean"       # hide superpixels with their mean colour instead of black',
    "zoom": "",
    "atlas": "",
    "video": "Clips (.mp4 .mov .m4v .webm .mkv) in the photos folder are dreamt with the first "
    "preset, in 4-second segments (jobs of their own), with their sound.",
    "cluster": "",
}
TEMPLATE_HEAD = (
    "gallery.toml: what `renderer gallery build` renders and where it publishes it.\n"
    "Settings resolve from the built-in defaults, then this file, then command-line flags.\n"
    "Paths are relative to this file. A line commented out keeps its default."
)


@dataclass(frozen=True)
class GalleryConfig:
    """Everything one gallery build needs to know; checked on construction. Each field
    declared with ``setting`` is a ``gallery.toml`` key (and maybe a flag); the fields'
    order is the flags' order in ``--help``, and each table's in the template."""

    photos: Path | None = setting(
        None,
        PATH,
        live=False,
        example="photos",
        note="The folder of photos. Leave it out to render the sample gallery "
        "(scikit-image photos).",
        flag=Flag(
            ("--photos",),
            "Folder of photos; each subfolder is an album. "
            "Default: the config's, else the sample photos.",
            type=_FILE,
        ),
    )
    site_dir: Path = setting(
        Path("gallery"),
        PATH,
        key="site",
        note="Where the static site is published; open <site>/index.html or run `make serve`.",
        flag=Flag(("--site", "--out"), "Where the site is published.", _FILE, shown_default=True),
    )
    render_dir: Path = setting(
        Path("renders/gallery"),
        PATH,
        note="Where finished jobs are cached (one folder per job, reused while nothing changes).",
        flag=Flag(
            ("--render-dir",),
            "Where finished jobs are cached.",
            _FILE,
            shown_default=True,
        ),
    )
    # None: ``sample-photos`` beside the render folder (renders/sample-photos by default), so
    # a build given its own --render-dir writes nothing where it was started
    samples_dir: Path | None = setting(
        None,
        PATH,
        live=False,
        example="renders/sample-photos",
        note="Where the sample photos are written. Left out: sample-photos beside render_dir.",
    )
    quick: bool = setting(
        False,
        BOOL,
        flag=Flag(
            ("--quick",), "A preview: small sizes, few steps, fewer LIME samples.", is_flag=True
        ),
    )
    jobs: int | None = setting(
        None,
        whole(1, 256),
        live=False,
        example=2,
        note="CPU worker processes; torch threads are divided between them (cores // jobs "
        "each). Leave it out for one single-threaded worker per core (at most 4); CUDA uses "
        "one process.",
        flag=Flag(
            ("--jobs", "-j"),
            "CPU worker processes, sharing the cores' torch threads; more than the cores (or "
            "than the free memory holds, 1 GB each) run as many as fit, with a warning.",
            int,  # checked with the other settings: 0 or -1 is one line, not a usage error
            shown_default="one per core, at most 4",
        ),
    )
    cluster: str | None = setting(
        None,
        CLUSTER,
        section="cluster",
        key="address",
        live=False,
        example="tcp://studio-server:8786",
        note="Run the jobs on a Dask cluster (pip install 'dreamgallery[cluster]'): a "
        'scheduler\'s address, or "local" / "local:N" for N worker processes on this '
        'machine. See the README, "More than one machine".',
        flag=Flag(
            ("--cluster",),
            "Run the jobs on a Dask cluster: a scheduler (tcp://HOST:8786), or local[:N] for "
            "N worker processes here. Needs the [cluster] extra.",
            metavar="ADDRESS",
        ),
    )
    max_minutes: float | None = setting(
        None,
        POSITIVE,
        live=False,
        example=30,
        note="Stop starting new jobs after this many minutes, and publish what is done.",
        flag=Flag(
            ("--max-minutes",),
            "Start no new job after this many minutes; publish what is done.",
            _MORE_THAN_0,
        ),
    )
    models: tuple[str, ...] = setting(
        ("efficientnet_lite0",),
        NAMES,
        aliases=("model",),
        note="Model(s): see `renderer models`. The first one dreams and explains.",
        flag=Flag(
            ("--model", "-m"),
            "Model name (repeatable); see `renderer models`.",
            multiple=True,
            shown_default=True,
        ),
    )
    weights: Path | None = setting(
        None,
        PATH,
        live=False,
        example="my-weights.pth",
        flag=Flag(
            ("--weights",),
            "A local state dict to load instead of the cached or embedded weights.",
            click.Path(dir_okay=False, path_type=Path),
        ),
    )
    device: str = setting(
        "auto",
        TEXT,
        note="auto, cpu, cuda or mps",
        flag=Flag(
            ("--device",),
            "Where to compute: auto picks CUDA, then MPS, then CPU.",
            click.Choice(DEVICE_CHOICES),
            shown_default=True,
        ),
    )
    seed: int = setting(
        0, whole(0), flag=Flag(("--seed",), "Seed for every job.", click.IntRange(min=0))
    )
    size: int | str | None = setting(
        None,
        SIZE,
        live=False,
        example="auto",
        note='Long side of the dreams: "auto" (your photo\'s own, up to 2048 px: print size), '
        '"full" (up to 4096 px) or pixels. A photo is never enlarged. Left out: "auto" for '
        "your photos, the presets' own size (512 px) for the sample gallery. Explanations "
        "stay at 256 px unless you give pixels here.",
        flag=Flag(
            ("--size",),
            "Long side of photo dreams: auto (the photo's own, up to 2048 px), full (up to "
            "4096) or pixels; never enlarged. Pixels also set explanations and noise dreams.",
            metavar="auto|full|PX",
            shown_default="auto; the sample gallery: the presets' own",
        ),
    )
    max_pixels: int = setting(
        DEFAULT_MAX_PIXELS,
        whole(1),
        live=False,
        flag=Flag(
            ("--max-pixels",),
            "Refuse photos with more pixels than this (decompression-bomb guard).",
            click.IntRange(min=1),
            shown_default=True,
        ),
    )
    max_memory: float | None = setting(
        None,
        GIGABYTES,
        live=False,
        example=2,
        note="GB one dream may hold for a gradient step; a larger picture is dreamt in tiles. "
        "Left out: a quarter of the free memory (on the CPU at most 2 GB).",
        flag=Flag(
            ("--max-memory",),
            "Memory one dream's gradient step may hold; a larger picture is dreamt in tiles.",
            _MORE_THAN_0,
            metavar="GB",
            shown_default="a quarter of the free memory, on the CPU at most 2 GB",
        ),
    )
    title: str = setting(
        "dreamgallery", NON_EMPTY_TEXT, flag=Flag(("--title",), "The site's title.")
    )
    theme: Path | None = setting(
        None,
        PATH,
        live=False,
        example="my-theme",
        note="A folder of templates overriding the site's own, one by one.",
    )
    albums: bool = setting(
        True,
        BOOL,
        note="Each subfolder of the photos folder is an album (false: one flat index, --flat).",
        flag=Flag(
            ("--flat",),
            "One index for every photo: subfolders of the photos folder are not albums.",
            is_flag=True,
            name="flat",
            invert=True,
        ),
    )
    per_page: int = setting(
        DEFAULT_PER_PAGE,
        whole(1, 10_000),
        flag=Flag(
            ("--per-page",),
            "Photos on one index page at most.",
            click.IntRange(1, 10_000),
            shown_default=True,
        ),
    )
    base_url: str | None = setting(
        None,
        URL,
        live=False,
        example="https://example.org/dreams/",
        note="The site's address: share previews get absolute URLs, and a sitemap.xml is written.",
        flag=Flag(
            ("--base-url",),
            "The site's address (https://...): absolute share previews and a sitemap.xml.",
        ),
    )
    max_file_mb: float = setting(
        DEFAULT_MAX_FILE_MB,
        POSITIVE,
        live=False,
        note="Photo files larger than this many MB are skipped unread (a photo is never that big).",
        flag=Flag(
            ("--max-file-mb",),
            "Skip photo files larger than this, unread.",
            _MORE_THAN_0,
            shown_default=True,
        ),
    )
    allow_empty: bool = setting(
        False,
        BOOL,
        flag=Flag(
            ("--allow-empty",),
            "Publish an empty gallery when the photos folder holds no photos.",
            is_flag=True,
        ),
    )
    presets: tuple[str, ...] = setting(
        DEFAULT_PRESETS,
        NAMES,
        section="dreams",
        note="Presets dreamt on every photo; `renderer presets` shows them.",
    )
    preset_file: Path | None = setting(
        None,
        PATH,
        section="dreams",
        live=False,
        example="my-presets.toml",
        note="A TOML file with your own presets, next to the built-in ones.",
    )
    frames: bool = setting(
        False,
        BOOL,
        section="dreams",
        note="also keep each octave's frame (a small-multiples strip)",
    )
    # Masked dreams with the first preset: "MODE" on every photo or "PHOTO:MODE" on one.
    # None: the default (``SAMPLE_MASKS`` for the sample gallery, none for your photos); a
    # sidecar NAME.mask.png beside a photo always adds one.
    masks: tuple[str, ...] | None = setting(
        None,
        MASKS,
        section="dreams",
        live=False,
        example=("cat.jpg:background",),
        note='Masked dreams with the first preset: "subject" (dream where Grad-CAM looks), '
        '"background" (dream around it) or "lime", on every photo, or "PHOTO:MODE" on one. '
        "A NAME.mask.png beside NAME.jpg (white dreams, black stays) adds a masked dream of "
        "that photo by itself.",
    )
    layers: tuple[str, ...] | None = setting(
        None,
        NAMES,
        section="layers",
        live=False,
        example=("blocks.2", "blocks.3", "blocks.4", "blocks.5", "blocks.6"),
        note="Layer dreams from noise, shallow to deep. Leave `layers` out for the model's "
        "own choice.",
    )
    layer_preset: str = setting(
        DEFAULT_LAYER_PRESET,
        TEXT,
        section="layers",
        key="preset",
        note='their preset (--quick dreams with "layer")',
    )
    classes: tuple[str, ...] = setting(
        ESSAY_CLASSES,
        CLASSES,
        section="classes",
        note="ImageNet classes dreamt from noise (index or name; `renderer classes pug`). "
        "The default is the essay's eleven.",
    )
    class_preset: str = setting(
        DEFAULT_CLASS_PRESET,
        TEXT,
        section="classes",
        key="preset",
        note='their preset (--quick dreams with "class-fast")',
    )
    explain: bool = setting(
        True,
        BOOL,
        section="explain",
        key="enabled",
        note="Grad-CAM and LIME: what the model sees in each photo",
    )
    # The other keys of [explain]: ``ExplainSettings`` fields, passed on as they are.
    explain_settings: Mapping[str, Any] = field(default_factory=dict)
    zoom_photos: tuple[str, ...] | None = setting(
        None,
        NAMES,
        section="zoom",
        key="photos",
        live=False,
        example=("cat.jpg",),
        note="Infinite-zoom animations (`renderer zoom`) of the photos named here (file "
        "names). Left out, the sample gallery zooms into {sample_zooms} and your own photos "
        "get none: 24 frames cost about as much as five dreams of the same photo. "
        "`photos = []` turns zooms off.",
    )
    zoom_preset: str = setting(DEFAULT_ZOOM_PRESET, TEXT, section="zoom", key="preset")
    zoom_frames: int = setting(DEFAULT_ZOOM_FRAMES, whole(2, 600), section="zoom", key="frames")
    atlas_photos: tuple[str, ...] | None = setting(
        None,
        NAMES,
        section="atlas",
        key="photos",
        live=False,
        example=("cat.jpg",),
        note="A layer atlas of each photo named here: the photo dreamt at every layer of the "
        "model, shallow to deep, at 256 px (each tile costs about a third of a dream). Left "
        "out, the sample gallery makes {sample_atlas}'s; your own photos get none.",
    )
    # Clips: the dream's short side (None: 512 px, 256 with quick), its longest span in
    # seconds (None: 30) and frames per second (None or 0: the source's, at most 30).
    video_size: int | None = setting(
        None,
        whole(32, 2160, "px"),
        section="video",
        key="size",
        live=False,
        example=512,
        note="the clips' short side in px (--quick: 256)",
    )
    video_max_seconds: float | None = setting(
        None,
        POSITIVE,
        section="video",
        key="max_seconds",
        live=False,
        example=30,
        note="the seconds kept of a longer clip",
    )
    video_fps: float | None = setting(
        None,
        FPS,
        section="video",
        key="fps",
        live=False,
        example=0,
        note="frames per second (0: the source's, at most 30)",
    )

    def __post_init__(self) -> None:
        for one in SETTINGS:
            value = getattr(self, one.field)
            if value is not None:
                check_value("gallery", one.label, one, value)
        self._normalize()
        if not self.models:
            raise RecipeError("gallery: models must name at least one model")
        self._check_masks()
        self._check_explain()
        for name in ("render_dir", "site_dir"):
            if str(getattr(self, name)) in ("", "."):
                raise RecipeError(f"gallery: {name} must be a folder of its own, not '.'")
        if self.samples_dir is None:
            object.__setattr__(self, "samples_dir", self.render_dir.parent / "sample-photos")
        if self.render_dir.resolve() == self.site_dir.resolve():
            raise RecipeError("gallery: render_dir and site must be different folders")

    def _normalize(self) -> None:
        """Paths expanded, names as tuples of distinct stripped text, text stripped."""
        for one in SETTINGS:
            value = getattr(self, one.field)
            if value is None:
                continue
            if one.value.kind == "path":  # "~/pictures" arrives unexpanded through make
                value = Path(str(value)).expanduser()
            elif one.value.kind == "names":
                value = _distinct_names(one.field, value)
            object.__setattr__(self, one.field, value)
        object.__setattr__(self, "explain_settings", dict(self.explain_settings))
        if self.size is not None:
            object.__setattr__(self, "size", parse_size(self.size, "gallery: size"))
        for name in ("cluster", "base_url"):
            if getattr(self, name) is not None:
                object.__setattr__(self, name, getattr(self, name).strip())

    def _check_masks(self) -> None:
        from ..dream.recipe import MASK_MODES

        for entry in self.masks or ():
            mode = entry.rsplit(":", 1)[-1].strip()
            if mode not in MASK_MODES:
                raise UnknownNameError("mask mode in [dreams] masks", mode, MASK_MODES)

    def _check_explain(self) -> None:
        if self.explain_settings:
            from ..explain.settings import ExplainSettings

            try:
                ExplainSettings(**self.explain_settings)
            except RecipeError as exc:
                raise RecipeError(f"gallery: [explain] {exc}") from None

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


SETTINGS: tuple[Setting, ...] = schema.settings_of(GalleryConfig)
# (section, key in the file) -> its setting. Top-level keys have section "".
SCHEMA: dict[tuple[str, str], Setting] = {
    (one.section, key): one for one in SETTINGS for key in (one.key, *one.aliases)
}
_SECTIONS = tuple(SECTIONS)


def _distinct_names(name: str, value: Any) -> tuple[str, ...]:
    """A name or a list of them, as a tuple of stripped text; none empty, none twice."""
    names = tuple(str(v).strip() for v in ((value,) if isinstance(value, (str, int)) else value))
    if any(not v for v in names):
        raise RecipeError(f"gallery: {name} holds an empty name")
    if len(set(names)) != len(names):
        raise RecipeError(f"gallery: {name} lists a name twice: {', '.join(names)}")
    return names


def flag_settings(*fields: str) -> tuple[Setting, ...]:
    """The settings that have a flag (those of ``fields`` only, when given)."""
    return tuple(s for s in SETTINGS if s.flag and (not fields or s.field in fields))


def flag_overrides(params: Mapping[str, Any]) -> dict[str, Any]:
    """The ``load_config`` overrides from a command's flag values (by parameter name);
    a flag not given is None and leaves the file's value, or the default."""
    return {
        s.field: s.flag.value(params[s.flag.name or s.field])
        for s in flag_settings()
        if s.flag and (s.flag.name or s.field) in params
    }


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
        value = BOOL
    elif isinstance(default, int):
        value = WHOLE
    elif isinstance(default, float):
        value = NUMBER
    elif isinstance(default, tuple):
        value = NAMES
    else:
        value = TEXT
    return Setting(value, section="explain", key=name, field="explain_settings")


def _section_setting(source: Path, section: str, key: str) -> Setting:
    """The setting of ``key`` in ``[section]``; an unknown key is one line with the closest."""
    found = SCHEMA.get((section, key))
    if found is None and section == "explain":
        found = _explain_setting(key)
    if found is None:
        choices = [k for (s, k) in SCHEMA if s == section]
        if section == "explain":
            from ..explain.settings import ExplainSettings

            choices += [f.name for f in dataclasses.fields(ExplainSettings)]
        raise UnknownNameError(f"key in [{section}] of {source}", key, choices)
    return found


def _file_paths(values: dict[str, Any], base: Path) -> None:
    """The file's paths, relative to its folder ("" leaves the default)."""
    for one in SETTINGS:
        if one.value.kind == "path" and isinstance(values.get(one.field), str):
            text = values[one.field].strip()
            path = Path(text).expanduser()
            values[one.field] = None if not text else path if path.is_absolute() else base / path


def _flatten(data: Mapping[str, Any], source: Path) -> dict[str, Any]:
    """The file's sections -> ``GalleryConfig`` field values, each checked against
    ``SCHEMA``: an unknown key or a value of the wrong type is one line naming both."""
    values: dict[str, Any] = {}
    for key, value in data.items():
        if key in _SECTIONS:
            if not isinstance(value, Mapping):
                raise RecipeError(f"{source}: [{key}] must be a table")
            for sub, subvalue in value.items():
                one = _section_setting(source, key, sub)
                check_value(str(source), one.label, one, subvalue)
                if one.field == "explain_settings":
                    values.setdefault("explain_settings", {})[sub] = subvalue
                else:
                    values[one.field] = subvalue
        elif ("", key) in SCHEMA:
            one = SCHEMA[("", key)]
            check_value(str(source), key, one, value)
            values[one.field] = value
        else:
            known = [k for (_, k) in SCHEMA] + list(_SECTIONS)
            raise UnknownNameError(f"key in {source}", key, known)
    if "explain_settings" in values:
        from ..explain.settings import ExplainSettings

        try:
            ExplainSettings(**values["explain_settings"])
        except RecipeError as exc:
            raise RecipeError(f"{source}: [explain] {exc}") from None
    _file_paths(values, source.parent)
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


def config_template() -> str:
    """The commented ``gallery.toml`` that ``renderer gallery init`` writes: every setting,
    from ``SETTINGS``, with its default (or an example, commented out)."""
    from .samples import SAMPLE_ATLAS, SAMPLE_ZOOMS

    return schema.template(
        SETTINGS,
        TEMPLATE_HEAD,
        SECTIONS,
        sample_zooms=", ".join(SAMPLE_ZOOMS),
        sample_atlas=", ".join(SAMPLE_ATLAS),
    )
