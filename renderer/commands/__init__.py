"""Every CLI command, one module per feature; each module lists its commands in COMMANDS.

``renderer --help``, ``--version`` and a mistyped command name answer from the table below,
without importing the feature modules (and torch with them, about 3 s): a module is
imported when one of its commands runs or shows its own help.
"""

from __future__ import annotations

import importlib

import click

# command name -> (module in this package, the command's short help as Click shows it).
TABLE: dict[str, tuple[str, str]] = {
    "models": ("zoo", "List the models, their weights and licences."),
    "layers": (
        "zoo",
        "List a model's layers for dreams and Grad-CAM, with shapes at its input size.",
    ),
    "classes": ("zoo", "Look up ImageNet classes by index or name; with no query, list all 1000."),
    "classify": ("zoo", "Print the top-k ImageNet classes for each image."),
    "dream": (
        "dream",
        "DeepDream on your photos: multiscale gradient ascent with detail re-injection.",
    ),
    "layer-dream": (
        "dream",
        "Dream what whole layers (or channels) respond to, from noise: one image per --layer.",
    ),
    "class-dream": (
        "dream",
        "Dream an ImageNet class from noise by raising its logit; all classes in one batch.",
    ),
    "presets": ("dream", "List the dream presets with all their values."),
    "atlas": ("atlas", "Dream one photo at every dreamable layer of a model, shallow to deep."),
    "accentuate": (
        "accentuate",
        "Accentuate a class in your photos: what the network would need to see more of.",
    ),
    "zoom": (
        "zoom",
        "Infinite-zoom dreams: an animated WebP that keeps falling into each photo's dream.",
    ),
    "video": (
        "video",
        "Dream your clips: each frame continues the last one's dream, warped by optical flow.",
    ),
    "explain": (
        "explain",
        "Explain what the model sees in each photo: heatmaps, LIME superpixels, robustness.",
    ),
    "site": ("site", "Build the static gallery site from render directories, and preview it."),
    "gallery": ("gallery", "Render a folder of photos and publish the gallery site."),
}


def load_command(name: str) -> click.Command | None:
    """The command called ``name``, importing its module; None for an unknown name."""
    if name not in TABLE:
        return None
    module = importlib.import_module(f"{__name__}.{TABLE[name][0]}")
    return next(command for command in module.COMMANDS if command.name == name)
