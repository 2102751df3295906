"""The built-in job kinds, one module each, registered into ``jobkind.KINDS`` as they are
imported: every module of this package is imported here, the built-in ones first in the
order their jobs are planned (the plan's order is the manifest's, and so the pages').

A new kind is one module here that registers its ``JobKind`` (plus its template, if its
figures need one of their own): nothing else changes. See ``dream.py`` for a kind made per
photo, ``classes.py`` for one made once per gallery, ``video.py`` for one per clip.
"""

from __future__ import annotations

import importlib
import pkgutil

# isort: off
from . import video, dream, zoom, explain, accentuate, atlas, layers, classes  # noqa: F401

# isort: on
from ..jobkind import KINDS, JobKind
from ..run import Toolkit
from .accentuate import AccentPayload, accentuate_spec
from .atlas import AtlasPayload, atlas_specs
from .classes import CLASS_BATCH, ClassPayload, class_specs
from .common import (
    EXPLAIN_SIZE,
    QUICK_NOISE_SIZE,
    QUICK_SIZE,
    Limits,
    device,
    load,
    preset_recipe,
    quick_recipe,
    recipe_params,
    relocate,
    weights_sha256,
)
from .dream import DreamPayload, dream_spec, mask_specs
from .explain import ExplainPayload, explain_spec
from .layers import layer_specs
from .video import video_specs
from .zoom import ZoomPayload, zoom_spec

for _module in pkgutil.iter_modules(__path__):  # any other kind registers after these
    importlib.import_module(f"{__name__}.{_module.name}")


def real_toolkit() -> Toolkit:
    """Every registered kind with its real planning and runner, and the real model."""
    return Toolkit(tuple(KINDS), load, weights_sha256, device, relocate)


__all__ = [
    "CLASS_BATCH",
    "EXPLAIN_SIZE",
    "KINDS",
    "QUICK_NOISE_SIZE",
    "QUICK_SIZE",
    "AccentPayload",
    "AtlasPayload",
    "ClassPayload",
    "DreamPayload",
    "ExplainPayload",
    "JobKind",
    "Limits",
    "ZoomPayload",
    "accentuate_spec",
    "atlas_specs",
    "class_specs",
    "dream_spec",
    "explain_spec",
    "layer_specs",
    "mask_specs",
    "preset_recipe",
    "quick_recipe",
    "real_toolkit",
    "recipe_params",
    "video_specs",
    "zoom_spec",
]
