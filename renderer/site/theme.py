"""The theme: the templates that make the pages, the filters they use, and their static files.

A theme is a folder of Jinja2 templates that replace the default ones (``templates/``) one
by one, plus an optional ``static/`` folder copied over the default assets.
"""

from __future__ import annotations

import datetime as _dt
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import jinja2

from .. import __version__
from .captions import percent
from .model import Gallery, relative_url
from .options import SiteError

STATIC = "static"


def templates_dir() -> Path:
    """The default theme: ``templates/`` beside the package in a checkout or editable install,
    else the copy shipped inside the package."""
    import renderer

    here = Path(renderer.__file__).resolve().parent
    for candidate in (here.parent / "templates", here / "site" / "templates"):
        if (candidate / "base.html").is_file():
            return candidate
    raise SiteError("the default site templates are missing (templates/base.html)")


_ENVIRONMENTS: dict[tuple[str, str], jinja2.Environment] = {}


def environment_for(theme: Path | None, code: str) -> jinja2.Environment:
    """``make_environment(theme)``, made once per process for templates whose bytes hash to
    ``code``: a build that publishes every 30 s compiles its templates once."""
    key = (str(theme or ""), code)
    if key not in _ENVIRONMENTS:
        _ENVIRONMENTS.clear()  # the templates changed: the old ones are of no more use
        _ENVIRONMENTS[key] = make_environment(theme)
    return _ENVIRONMENTS[key]


def make_environment(theme: Path | None = None) -> jinja2.Environment:
    """Autoescaping Jinja2 with the theme's templates first, then the default theme's."""
    loaders: list[jinja2.BaseLoader] = []
    if theme is not None:
        if not Path(theme).is_dir():
            raise SiteError(f"{theme}: no such theme folder")
        loaders.append(jinja2.FileSystemLoader(str(theme)))
    loaders.append(jinja2.FileSystemLoader(str(templates_dir())))
    env = jinja2.Environment(
        loader=jinja2.ChoiceLoader(loaders),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,  # one build: each template is read and compiled once
    )
    env.filters["percent"] = percent
    env.filters["kb"] = lambda n: f"{n / 1024:.0f} KB"
    env.filters["size"] = _size_text
    return env


def _size_text(n: int) -> str:
    """Bytes as a reader says them: 840 KB, 3.2 MB."""
    return f"{n / 1024:.0f} KB" if n < 1024 * 1024 else f"{n / 1024 / 1024:.1f} MB"


def copy_static(site: Path, theme: Path | None) -> None:
    """The theme's static files, the default theme's first (file by file: a failed copy
    raises its own OSError, not shutil's list of them)."""
    for folder in (templates_dir(), theme):
        static = Path(folder) / STATIC if folder else None
        if static and static.is_dir():
            for path in sorted(static.rglob("*")):
                if path.is_file():
                    target = site / STATIC / path.relative_to(static)
                    target.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(path, target)


def render_page(
    env: jinja2.Environment,
    gallery: Gallery,
    path: str,
    template: str,
    title: str,
    extra: Mapping[str, Any] | None = None,
    warnings: Sequence[str] = (),
) -> str:
    """One page's HTML; ``path`` is where it lands in the site, so its URLs are relative."""
    context = {
        "site_title": title,
        "gallery": gallery,
        "here": path,
        "url": lambda target: relative_url(target, path),
        "built": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "version": __version__,
        "has_layers": bool(gallery.layer_dreams),
        "has_classes": bool(gallery.class_dreams),
        "warnings": list(warnings),
        "shared": [],
        "groups": [],
        "description": title,
        "og_image": None,
        "canonical": None,
        **(extra or {}),
    }
    try:
        return env.get_template(template).render(context)
    except jinja2.TemplateError as exc:
        where = getattr(exc, "filename", None) or template
        line = getattr(exc, "lineno", None)
        at = f"{Path(where).name}:{line}" if line else Path(where).name
        raise SiteError(f"template {at}: {exc.message or exc}") from None
