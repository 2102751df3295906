"""A dream's parameters: one frozen, validated value that travels through the engine.

Layer targets are text so a recipe round-trips through TOML, the CLI and the provenance:
``blocks.5`` (the whole layer), ``blocks.5:17`` (channel 17), ``blocks.5:0.5`` (the whole
layer with weight 0.5: a number with a decimal point is a weight), ``blocks.5:17:0.5``
(channel 17, weight 0.5). Several terms joined by ``+`` form one combined objective.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import PurePath
from typing import Any

from ..errors import RecipeError, suggest

BLUR_MODES = ("image", "gradient")
GRAD_NORMS = ("std", "mean-abs", "laplacian")
PARAMS = ("pixel", "fft", "maco")
BUILTIN_INITS = ("noise", "gray")
# the fields only a MaCo dream reads (a pixel or FFT dream ignores them)
MACO_FIELDS = frozenset(
    {
        "crops",
        "crop_min",
        "crop_max",
        "crop_spread",
        "crop_px",
        "noise",
        "template",
        "refine_steps",
        "refine_crop_min",
        "starts",
    }
)
# Fields added after dreams were first cached: a job key (a hash of ``to_params``) carries
# them only once they differ from these values, so adding one never re-renders a cache.
KEYED_WHEN_SET = {
    "refine_steps": 0,
    "refine_crop_min": 0.0,
    "starts": 1,
    "mask": "",
    "mask_feather": 16.0,
    "mask_invert": False,
    "mask_threshold": 0.4,
    "mask_class": -1,
}
# Where a photo dream may grow: the network's own explanation of the photo, or a picture.
MASK_MODES = ("subject", "background", "lime")

_INT = r"[+-]?\d+"
_FLOAT = r"[+-]?(?:\d+\.\d*|\.\d+|\d+(?:\.\d*)?[eE][+-]?\d+)"


@dataclass(frozen=True)
class LayerTerm:
    """One term of a layer objective: a layer, optionally one channel, and a weight."""

    layer: str
    channel: int | None = None
    weight: float = 1.0

    def __str__(self) -> str:
        text = self.layer if self.channel is None else f"{self.layer}:{self.channel}"
        return text if self.weight == 1.0 else f"{text}:{self.weight:g}"


def parse_term(text: str) -> LayerTerm:
    """``blocks.5``, ``blocks.5:17``, ``blocks.5:0.5`` or ``blocks.5:17:0.5``."""
    parts = text.strip().split(":")
    layer = parts[0].strip()
    if not layer or not re.fullmatch(r"[A-Za-z_][\w.]*", layer):
        raise RecipeError(f"bad layer target {text!r}: expected NAME[:CHANNEL][:WEIGHT]")
    rest = [p.strip() for p in parts[1:]]
    channel: int | None = None
    weight = 1.0
    if len(rest) == 1:
        if re.fullmatch(_INT, rest[0]):
            channel = int(rest[0])
        elif re.fullmatch(_FLOAT, rest[0]):
            weight = float(rest[0])
        else:
            raise RecipeError(
                f"bad layer target {text!r}: after the colon give a channel (17) or a weight (0.5)"
            )
    elif len(rest) == 2:
        if not re.fullmatch(_INT, rest[0]) or not (
            re.fullmatch(_FLOAT, rest[1]) or re.fullmatch(_INT, rest[1])
        ):
            raise RecipeError(f"bad layer target {text!r}: expected NAME:CHANNEL:WEIGHT")
        channel, weight = int(rest[0]), float(rest[1])
    elif len(rest) > 2:
        raise RecipeError(f"bad layer target {text!r}: expected NAME[:CHANNEL][:WEIGHT]")
    if channel is not None and channel < 0:
        raise RecipeError(f"bad layer target {text!r}: channel must be >= 0")
    if not weight or weight != weight or abs(weight) > 1e6:
        raise RecipeError(f"bad layer target {text!r}: weight must be a non-zero finite number")
    return LayerTerm(layer, channel, weight)


def parse_target(text: str) -> tuple[LayerTerm, ...]:
    """A combined objective: terms joined by ``+``."""
    terms = tuple(parse_term(part) for part in text.split("+"))
    return terms


@dataclass(frozen=True)
class DreamRecipe:
    """Every value that shapes a dream's pixels; recorded whole in its provenance."""

    layers: tuple[str, ...] = ("blocks.4",)
    octaves: int = 4
    octave_scale: float = 1.4
    steps: int = 10
    lr: float = 0.04
    blur_sigma: float = 0.0
    blur_mode: str = "gradient"
    jitter: int = 32
    grad_norm: str = "laplacian"
    laplacian_levels: int = 4
    size: int = 512
    param: str = "pixel"
    init: str = "noise"
    guide: str = ""  # a picture whose features photo dreams grow towards ("" = none)
    scale_jitter: float = 0.0
    tile: int = 0  # 0: tiles only when a step would not fit the memory budget
    stretch: float = 0.0
    # MaCo (param = "maco"): crops per step, their side as a fraction of the image's,
    # the spread of their centres, the px they are resampled to (0 = the model's input),
    # the noise added to them, and the magnitude template (average, power-law or a .npy)
    crops: int = 6
    crop_min: float = 0.25
    crop_max: float = 0.6
    crop_spread: float = 0.15
    crop_px: int = 0
    noise: float = 0.02
    template: str = "average"
    # MaCo octaves after the first: their steps (0 = ``steps``) and their smallest crop
    # (0 = ``crop_min``). The first octave draws the object from crops of most of the
    # picture; smaller crops then see the finer octave near its own resolution, so its new
    # frequencies grow detail instead of staying the template's random-phase grain.
    refine_steps: int = 0
    refine_crop_min: float = 0.0
    # MaCo: random phases each dream starts from; after a quarter of the first octave's
    # steps the one the network scores highest on random views goes on, alone
    starts: int = 1
    # Photo dreams: where the dream grows (``mask.py``): "" (everywhere), subject,
    # background, lime or a greyscale picture (white dreams, black stays); the width in px
    # of the soft edge; whether to swap dreaming and staying; the share of the Grad-CAM
    # range that counts as the subject; the class whose map places it (-1: the top class).
    mask: str = ""
    mask_feather: float = 16.0
    mask_invert: bool = False
    mask_threshold: float = 0.4
    mask_class: int = -1

    def __post_init__(self) -> None:
        layers = (self.layers,) if isinstance(self.layers, str) else self.layers
        object.__setattr__(self, "layers", tuple(str(x) for x in layers))
        for target in self.layers:
            parse_target(target)
        for checks in (_ascent_checks, _picture_checks, _crop_checks, _mask_checks, _start_checks):
            for ok, message in checks(self):
                if not ok:
                    raise RecipeError(message)
        if self.param == "maco":
            from .template import TEMPLATES, read_template

            if self.template not in TEMPLATES:
                read_template(PurePath(self.template))
        if self.guide and any(term.channel is not None for term in self.terms):
            raise RecipeError("a guide matches whole layers; give layers without channels")
        for value, choices, what in (
            (self.blur_mode, BLUR_MODES, "blur mode"),
            (self.grad_norm, GRAD_NORMS, "grad-norm"),
            (self.param, PARAMS, "param"),
        ):
            if value not in choices:
                raise RecipeError(f"{what} must be one of {', '.join(choices)}, got {value!r}")

    @property
    def refining_steps(self) -> int:
        """Steps of each MaCo octave after the first."""
        return self.refine_steps or self.steps

    @property
    def refining_crop_min(self) -> float:
        """The smallest crop of the MaCo octaves after the first."""
        return self.refine_crop_min or self.crop_min

    @property
    def trial_steps(self) -> int:
        """Steps each of several ``starts`` climbs before the best one goes on."""
        return max(1, self.steps // 4)

    @property
    def terms(self) -> tuple[LayerTerm, ...]:
        """All layer terms of the combined objective."""
        return tuple(t for target in self.layers for t in parse_target(target))

    def replace(self, **changes: Any) -> DreamRecipe:
        """A copy with some values changed (validated again); ``None`` values are ignored."""
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})

    def to_params(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["layers"] = list(self.layers)
        for name, unset in KEYED_WHEN_SET.items():
            if data[name] == unset:
                del data[name]
        return data

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any], where: str = "recipe") -> DreamRecipe:
        """Build from a TOML table; unknown keys get the closest names."""
        known = {f.name for f in dataclasses.fields(cls)}
        clean: dict[str, Any] = {}
        for key, value in values.items():
            name = key.replace("-", "_")
            if name not in known:
                close = suggest(name, known, n=2)
                raise RecipeError(f"{where}: unknown key {key!r}; closest: {', '.join(close)}")
            clean[name] = tuple(value) if isinstance(value, list) else value
        types = {f.name: f.type for f in dataclasses.fields(cls)}
        for name, value in clean.items():
            kind = types[name]
            if kind == "int" and not (isinstance(value, int) and not isinstance(value, bool)):
                raise RecipeError(f"{where}: {name} must be an integer, got {value!r}")
            if kind == "float" and not isinstance(value, (int, float)):
                raise RecipeError(f"{where}: {name} must be a number, got {value!r}")
            if kind == "float":
                clean[name] = float(value)
            if kind == "bool" and not isinstance(value, bool):
                raise RecipeError(f"{where}: {name} must be true or false, got {value!r}")
            if kind == "str" and not isinstance(value, str):
                raise RecipeError(f"{where}: {name} must be text, got {value!r}")
        return cls(**clean)

    def describe(self) -> str:
        """A short caption: ``4 octaves · blur · lr 0.04``."""
        bits = [f"{self.octaves} octave{'s' if self.octaves != 1 else ''}"]
        if self.blur_sigma > 0:
            bits.append("blur" if self.blur_mode == "image" else "smoothed gradient")
        if self.param == "fft":
            bits.append("FFT colour")
        if self.param == "maco":
            later = [self.refining_steps] * (self.octaves - 1)
            if later and later[0] != self.steps:
                steps = " + ".join(map(str, [self.steps, *later]))
            else:
                steps = f"{self.octaves} × {self.steps}"
            bits = [f"MaCo · {steps} steps × {self.crops} crops"]
            if self.starts > 1:
                bits.append(f"best of {self.starts} starts")
        if self.guide:
            bits.append(f"guided by {PurePath(self.guide).name}")
        bits.append(f"lr {self.lr:g}")
        return " · ".join(bits)


# Each check of a recipe: (holds, the one-line message when it does not), in the order they
# are tried; the first that fails is the error.
Checks = list[tuple[bool, str]]


def _ascent_checks(r: DreamRecipe) -> Checks:
    """The octave pyramid and the gradient steps."""
    return [
        (r.octaves >= 1, f"octaves must be >= 1, got {r.octaves}"),
        (r.octaves <= 12, f"octaves must be <= 12, got {r.octaves}"),
        (r.steps >= 1, f"steps must be >= 1, got {r.steps}"),
        (r.steps <= 10_000, f"steps must be <= 10000, got {r.steps}"),
        (1.0 <= r.octave_scale <= 4.0, f"octave-scale must be in [1, 4], got {r.octave_scale}"),
        (0.0 < r.lr <= 10.0, f"lr must be in (0, 10], got {r.lr}"),
        (0.0 <= r.blur_sigma <= 10.0, f"blur-sigma must be in [0, 10], got {r.blur_sigma}"),
        (0 <= r.jitter <= 512, f"jitter must be in [0, 512] px, got {r.jitter}"),
        (
            1 <= r.laplacian_levels <= 8,
            f"laplacian-levels must be in [1, 8], got {r.laplacian_levels}",
        ),
    ]


def _picture_checks(r: DreamRecipe) -> Checks:
    """The picture's size, tiles, levels and start."""
    return [
        (r.size >= 1, f"size must be positive, got {r.size}"),
        (r.size <= 8192, f"size must be <= 8192 px, got {r.size}"),
        (0.0 <= r.scale_jitter < 0.5, f"scale-jitter must be in [0, 0.5), got {r.scale_jitter}"),
        (r.tile == 0 or r.tile >= 64, f"tile must be 0 (automatic) or >= 64, got {r.tile}"),
        (0.0 <= r.stretch < 50.0, f"stretch must be in [0, 50) percent, got {r.stretch}"),
        (bool(str(r.init).strip()), "init must be noise, gray or a photo path"),
    ]


def _crop_checks(r: DreamRecipe) -> Checks:
    """MaCo's crops, noise, starts and refining octaves."""
    return [
        (1 <= r.crops <= 256, f"crops must be in [1, 256], got {r.crops}"),
        (
            0.0 < r.crop_min <= r.crop_max <= 1.0,
            f"crop sizes must satisfy 0 < crop-min <= crop-max <= 1, "
            f"got {r.crop_min} and {r.crop_max}",
        ),
        (0.0 <= r.crop_spread <= 1.0, f"crop-spread must be in [0, 1], got {r.crop_spread}"),
        (
            r.crop_px == 0 or 32 <= r.crop_px <= 1024,
            f"crop-px must be 0 (the model's input size) or in [32, 1024], got {r.crop_px}",
        ),
        (0.0 <= r.noise <= 0.5, f"noise must be in [0, 0.5], got {r.noise}"),
        (1 <= r.starts <= 16, f"starts must be in [1, 16], got {r.starts}"),
        (
            0 <= r.refine_steps <= 10_000,
            f"refine-steps must be 0 (= steps) or in [1, 10000], got {r.refine_steps}",
        ),
        (
            r.refine_crop_min == 0.0 or 0.0 < r.refine_crop_min <= r.crop_max,
            f"refine-crop-min must be 0 (= crop-min) or in (0, crop-max = {r.crop_max}], "
            f"got {r.refine_crop_min}",
        ),
    ]


def _mask_checks(r: DreamRecipe) -> Checks:
    """Where a photo dream grows: the mask's edge, threshold and class."""
    return [
        (
            0.0 <= r.mask_feather <= 1024.0,
            f"mask-feather must be in [0, 1024] px, got {r.mask_feather}",
        ),
        (
            0.0 < r.mask_threshold < 1.0,
            f"mask-threshold must be in (0, 1), got {r.mask_threshold}",
        ),
        (
            -1 <= r.mask_class < 1000,
            f"mask-class must be -1 (the top class) or a class index, got {r.mask_class}",
        ),
        (
            not r.mask or r.param == "pixel",
            f"a mask shapes pixel photo dreams, not {r.param!r} ones",
        ),
    ]


def _start_checks(r: DreamRecipe) -> Checks:
    """A MaCo dream's phase starts from noise."""
    return [
        (r.param != "maco" or r.init == "noise", f"a maco dream starts from noise, not {r.init!r}")
    ]
