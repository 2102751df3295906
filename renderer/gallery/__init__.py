"""The batch pipeline: a folder of photos -> content-addressed jobs -> one published site.

``config`` resolves the settings, ``plan`` turns them into jobs with cache keys, ``cache``
keeps each finished job in its own folder, ``run`` renders the missing ones, ``assemble``
merges their manifests and builds the site, and ``build`` (here) strings them together.
"""

from __future__ import annotations

from .build import BuildResult, build_gallery
from .config import GalleryConfig, load_config

__all__ = ["BuildResult", "GalleryConfig", "build_gallery", "load_config"]
