"""The dream engine: photo, layer and class dreams on one multiscale gradient-ascent loop.

``recipe`` holds the frozen parameters, ``objectives`` what is maximized, ``parametrization``
how the image is represented (pixels, or FFT with decorrelated colour), ``regularizers`` the
blur, smoothing and gradient normalization, ``engine`` the one octave loop (and ``render``,
every dream's entry, which sends MaCo recipes to ``maco``'s sibling loop), ``octaves`` the
pyramid both loops climb, ``result`` what they return, ``presets`` the named recipes and
``jobs`` the functions that write PNGs, sidecars and manifest entries.
"""

from .recipe import DreamRecipe, LayerTerm, parse_target

__all__ = ["DreamRecipe", "LayerTerm", "parse_target"]
