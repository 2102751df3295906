"""How a site is built: one frozen ``SiteOptions``, checked on construction.

``build_site`` takes one of these; ``GalleryConfig.site_options()`` makes one from a
gallery's settings and ``renderer site build`` from its options. What the options say is
part of the site's key (``current``): a changed title or paging rebuilds the site.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from ..errors import RendererError

PER_PAGE = 48  # photos on one index page at most, by default


class SiteError(RendererError):
    """A site that cannot be built: no manifest, a broken theme, a dangerous output folder."""


@dataclass(frozen=True)
class SiteOptions:
    """What a site looks like, beside what it is built from.

    Each subfolder of ``photos`` (by default, the folder the photos share) is an album,
    unless ``flat``; an index page holds ``per_page`` photos at most. With ``base_url``
    the share previews carry absolute URLs and a ``sitemap.xml`` is written;
    ``precompress`` writes a ``.gz`` beside every HTML, CSS and JS file. ``strict``: a
    figure that cannot be published fails the build instead of costing a warning."""

    title: str = "dreamgallery"
    theme: Path | None = None
    photos: Path | None = None
    flat: bool = False
    per_page: int = PER_PAGE
    base_url: str | None = None
    precompress: bool = False
    strict: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.title, str):
            raise SiteError(f"title must be text, got {self.title!r}")
        for name in ("theme", "photos"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, Path(value))
        if isinstance(self.per_page, bool) or not isinstance(self.per_page, int):
            raise SiteError(f"per_page must be a whole number >= 1, got {self.per_page!r}")
        if self.per_page < 1:
            raise SiteError(f"per_page must be a whole number >= 1, got {self.per_page!r}")
        object.__setattr__(self, "base_url", _site_address(self.base_url))
        for name in ("flat", "precompress", "strict"):
            object.__setattr__(self, name, bool(getattr(self, name)))

    def key(self) -> tuple[object, ...]:
        """What of the options a built site depends on, with its folders made absolute."""
        return (
            self.title,
            str(self.theme.resolve()) if self.theme is not None else "",
            os.path.abspath(self.photos) if self.photos is not None else "",
            self.flat,
            self.per_page,
            self.base_url,
            self.precompress,
            self.strict,
        )


def _site_address(base_url: str | None) -> str | None:
    """``https://example.org/dreams`` -> ``https://example.org/dreams/``; None stays None."""
    if not base_url:
        return None
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise SiteError(f"base_url must be an http(s) address, not {base_url!r}")
    return base_url.rstrip("/") + "/"
