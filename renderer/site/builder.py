"""Build the static site: read manifests, publish images, render Jinja2 pages, swap it in.

The site is built in a temporary folder beside ``out_dir`` and swapped in whole (see
``publish``), so a failed build leaves the previous site as it was. A write that fails (a
full disk, a read-only folder) fails the build with one line; so does, in a strict build,
any figure that cannot be published. Every URL is relative to the page
that holds it, so the site works from ``file://`` and under any sub-path.
"""

from __future__ import annotations

import datetime as _dt
import os
import shutil
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
from PIL import Image

from .. import __version__
from ..errors import BadInputError, RendererError
from ..naming import slug
from ..oserrors import DiskError, describe
from ..provenance import MANIFEST_NAME, read_manifest
from . import model as vm
from . import reuse
from .albums import PER_PAGE
from .images import (
    FRAME_WIDTHS,
    PHOTO_MAX_SIDE,
    ImageSet,
    Picture,
    publish_animation,
    publish_image,
)
from .mediastore import MediaStore
from .pages import page_specs, sitemap, write_precompressed
from .publish import (
    PreviousSite,
    build_prefix,
    read_site_files,
    recover,
    site_damage,
    site_lock,
    swap_in,
    write_site_files,
)

MARKER = ".dreamgallery-site"
STATIC = "static"
PAGE_ASSETS = ("static/site.css", "static/gallery.js")
ANIMATED_KINDS = frozenset({"zoom"})  # published as the animation itself, beside a poster


class SiteError(RendererError):
    """A site that cannot be built: no manifest, a broken theme, a dangerous output folder."""


def templates_dir() -> Path:
    """The default theme: ``templates/`` beside the package in a checkout or editable install,
    else the copy shipped inside the package."""
    import renderer

    here = Path(renderer.__file__).resolve().parent
    for candidate in (here.parent / "templates", here / "site" / "templates"):
        if (candidate / "base.html").is_file():
            return candidate
    raise SiteError("the default site templates are missing (templates/base.html)")


@dataclass(frozen=True)
class SiteReport:
    out_dir: Path
    pages: tuple[str, ...]
    images: int
    reused: int
    photos: int
    skipped: int
    index_bytes: int
    warnings: tuple[str, ...]
    seconds: float
    unchanged: bool = False  # the published site was current: nothing was written

    def summary(self) -> str:
        state = "unchanged, nothing written" if self.unchanged else f"{self.reused} reused"
        return (
            f"{len(self.pages)} pages, {self.photos} photos, {self.images} image files "
            f"({state}), index {self.index_bytes / 1024:.1f} KB "
            f"(HTML+CSS+JS), {self.skipped} skipped, {self.seconds:.1f} s -> {self.out_dir}"
        )


# --------------------------------------------------------------------------- inputs


def read_sources(render_dirs: Sequence[Path]) -> list[vm.Source]:
    sources: list[vm.Source] = []
    for folder in render_dirs:
        folder = Path(folder)
        if not folder.is_dir():
            raise BadInputError(folder, "no such render directory")
        if not (folder / MANIFEST_NAME).is_file():
            raise BadInputError(folder, f"no {MANIFEST_NAME} here; render something first")
        try:
            entries = read_manifest(folder)
        except ValueError as exc:
            raise BadInputError(folder / MANIFEST_NAME, f"unreadable manifest ({exc})") from None
        base = folder.resolve()
        sources.extend(vm.Source(e, base) for e in entries)
    return sources


def _check_base_url(base_url: str | None) -> str | None:
    """``https://example.org/dreams`` -> ``https://example.org/dreams/``; None stays None."""
    if not base_url:
        return None
    from urllib.parse import urlsplit

    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise SiteError(f"base_url must be an http(s) address, not {base_url!r}")
    return base_url.rstrip("/") + "/"


def check_out_dir(render_dirs: Sequence[Path], out_dir: Path) -> None:
    """Refuse an output folder that is a file, holds a render dir, or is someone else's."""
    out = out_dir.resolve()
    for folder in render_dirs:
        src = Path(folder).resolve()
        if src == out or out in src.parents:
            raise SiteError(f"{out_dir}: the site folder would replace the render dir {folder}")
    if out.exists() and not out.is_dir():
        raise SiteError(f"{out_dir}: exists and is not a folder")
    if out.is_dir() and not (out / MARKER).exists():
        visible = [p for p in out.iterdir() if not p.name.startswith(".")]
        if visible:
            raise SiteError(
                f"{out_dir}: not empty and not a site built by renderer; refusing to replace it"
            )


# --------------------------------------------------------------------------- images


def _missing(fig: vm.Figure) -> bool:
    return not fig.src.is_file()


def _publish_all(
    gallery: vm.Gallery,
    site: Path,
    previous: PreviousSite | None,
    warnings: list[str],
    strict: bool = False,
    store: MediaStore | None = None,
) -> tuple[int, int]:
    """Publish every figure's images (threads: Pillow releases the GIL while it encodes),
    each linked from the previous site or the media ``store`` when it is there."""
    figures = gallery.figures
    for page in gallery.photos:
        for fig in page.figures:
            # the photo's short hash, not its name: a long file name would otherwise repeat
            # in every src and srcset of its page (the names inside are content hashes)
            fig.group = fig.group or f"media/{page.sha256[:8] or page.key}"
            fig.page_key = fig.page_key or page.key
    for fig in figures:
        if not fig.group.startswith("media/"):
            fig.group = f"media/{fig.group or 'misc'}"

    def work(fig: vm.Figure) -> tuple[int, int]:
        stem = slug(fig.src.stem.replace("+", "-plus"))
        source = Picture.read(fig.src)  # read and hashed once, for the poster and animation
        cap = PHOTO_MAX_SIDE if fig.kind == "photo" else None
        pub = publish_image(
            source, site, fig.group, stem, previous_site=previous, max_side=cap, store=store
        )
        fig.image = pub.image
        written, reused = pub.written, pub.reused
        if fig.legend_src is not None and fig.legend_src.is_file():
            leg = publish_image(
                fig.legend_src, site, fig.group, "legend", (), previous, store=store
            )
            fig.legend_image = leg.image
            written, reused = written + leg.written, reused + leg.reused
        if fig.alternate is not None and fig.alternate.is_file():
            alt = publish_image(
                fig.alternate,
                site,
                fig.group,
                f"{stem}-attribution",
                previous_site=previous,
                store=store,
            )
            fig.alternate_image = alt.image
            written, reused = written + alt.written, reused + alt.reused
        frames = []
        for i, frame in enumerate(fig.frames):
            if frame.is_file():
                pub = publish_image(
                    frame,
                    site,
                    fig.group,
                    f"{stem}-frame-{i}",
                    FRAME_WIDTHS,
                    previous,
                    store=store,
                )
                frames.append(pub.image)
                written, reused = written + pub.written, reused + pub.reused
        fig.frame_images = frames
        if fig.kind in ANIMATED_KINDS:
            fig.animation, again = publish_animation(source, site, fig.group, stem, previous, store)
            written, reused = written + (not again), reused + again
        if fig.video is not None:
            from ..video.site import publish_videos

            fig.media, again = publish_videos(fig, site, previous)
            written, reused = written + len(fig.media) - again, reused + again
        return written, reused

    failures: list[str] = []

    def guarded(fig: vm.Figure) -> tuple[int, int]:
        """An output that cannot be read (a corrupt file, a kind of output this version does
        not know how to show) costs its figure and a warning; in a strict build, the build.
        A site file that cannot be written always fails the build."""
        try:
            return work(fig)
        except (OSError, ValueError, SyntaxError, EOFError, Image.DecompressionBombError) as exc:
            if describe(exc) is not None:
                raise
            fig.image = None
            failures.append(f"cannot publish {fig.src.name} ({fig.alt}): {exc}")
            return 0, 0

    present = []
    for fig in figures:
        if _missing(fig):
            failures.append(f"missing output file {fig.src.name} ({fig.alt})")
        else:
            present.append(fig)
    workers = max(1, min(4, os.cpu_count() or 1))
    with ThreadPoolExecutor(workers) as pool:
        results = list(pool.map(guarded, present))
    if strict and failures:
        more = f" (and {len(failures) - 1} more)" if len(failures) > 1 else ""
        raise SiteError(f"{failures[0]}{more}; the previous site is left as it was")
    warnings.extend(failures)
    written = sum(r[0] for r in results)
    reused = sum(r[1] for r in results)
    _drop_missing(gallery)
    return written, reused


def _drop_missing(gallery: vm.Gallery) -> None:
    keep = lambda figs: [f for f in figs if f.image is not None]  # noqa: E731
    gallery.layer_dreams = keep(gallery.layer_dreams)
    gallery.class_dreams = keep(gallery.class_dreams)
    for page in gallery.photos:
        if page.photo is not None and page.photo.image is None:
            page.photo = None
        for name in vm.PAGE_SECTIONS:
            setattr(page, name, keep(getattr(page, name)))


# --------------------------------------------------------------------------- templates


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
    env.filters["percent"] = vm.percent
    env.filters["kb"] = lambda n: f"{n / 1024:.0f} KB"
    env.filters["size"] = _size_text
    return env


def _size_text(n: int) -> str:
    """Bytes as a reader says them: 840 KB, 3.2 MB."""
    return f"{n / 1024:.0f} KB" if n < 1024 * 1024 else f"{n / 1024 / 1024:.1f} MB"


def _copy_static(site: Path, theme: Path | None) -> None:
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
    gallery: vm.Gallery,
    path: str,
    template: str,
    title: str,
    extra: dict[str, Any] | None = None,
    warnings: Sequence[str] = (),
) -> str:
    """One page's HTML; ``path`` is where it lands in the site, so its URLs are relative."""
    context = {
        "site_title": title,
        "gallery": gallery,
        "here": path,
        "url": lambda target: vm.relative_url(target, path),
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


def _render_pages(
    env: jinja2.Environment,
    gallery: vm.Gallery,
    site: Path,
    title: str,
    warnings: list[str],
    options: dict[str, Any],
) -> tuple[list[str], int]:
    """Write every page; a photo page whose key is the previous build's is reused.
    Returns the pages and how many were reused."""
    per_page, base_url, previous = options["per_page"], options["base_url"], options["previous"]
    fingerprint = reuse.code_fingerprint(
        (),
        options["code"],
        title,
        base_url,
        bool(gallery.layer_dreams),
        bool(gallery.class_dreams),
        warnings,
        len(gallery.pending),  # every page says the gallery is still being made
    )
    old = reuse.load_keys(previous.root if previous else None)
    keys: dict[str, str] = {}
    specs = page_specs(gallery, per_page)
    reused = 0
    for spec in specs:
        share = spec.share(gallery, title, base_url)
        target = site / spec.path
        if spec.kind == "photo":
            key = keys[spec.path] = reuse.photo_page_key(spec.extra["page"], share, fingerprint)
            before = previous.file(spec.path) if previous else None
            if (
                before is not None
                and old.get(spec.path) == key
                and reuse.reuse_page(before, target)
            ):
                reused += 1
                continue
        extra = {**spec.extra, **share}
        html = render_page(env, gallery, spec.path, spec.template, title, extra, warnings)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(html, encoding="utf-8")
    reuse.save_keys(site, keys)
    if base_url:
        (site / "sitemap.xml").write_text(sitemap(specs, base_url), encoding="utf-8")
    return [spec.path for spec in specs], reused


def _index_weight(site: Path) -> int:
    return sum(
        (site / p).stat().st_size for p in ("index.html", *PAGE_ASSETS) if (site / p).exists()
    )


def build_site(
    render_dirs: Sequence[Path] | Path,
    out_dir: Path,
    *,
    title: str = "dreamgallery",
    theme: Path | None = None,
    photos: Path | None = None,
    flat: bool = False,
    per_page: int = PER_PAGE,
    base_url: str | None = None,
    precompress: bool = False,
    stamp: str = "",
    strict: bool = False,
    pending: Sequence[vm.Pending] = (),
) -> SiteReport:
    """Build the gallery site from render directories into ``out_dir``, atomically.

    Each subfolder of ``photos`` (by default, the folder the photos share) is an album,
    unless ``flat``; an index page holds ``per_page`` photos at most. With ``base_url``
    the share previews carry absolute URLs and a ``sitemap.xml`` is written;
    ``precompress`` writes a ``.gz`` beside every HTML, CSS and JS file. ``stamp`` names
    what the site is built from (kept in its manifest, so a rebuild can tell whether it is
    current). ``strict``: a figure that cannot be published fails the build instead of
    costing a warning. ``pending``: published while a build still runs, the figures it is
    still making; each page says so in plain words (and nothing of it once it is done)."""
    clock = time.perf_counter()
    dirs = (
        [Path(render_dirs)]
        if isinstance(render_dirs, (str, os.PathLike))
        else [Path(d) for d in render_dirs]
    )
    if not dirs:
        raise SiteError("no render directory given")
    if not isinstance(per_page, int) or per_page < 1:
        raise SiteError(f"per_page must be a whole number >= 1, got {per_page!r}")
    base_url = _check_base_url(base_url)
    out = Path(out_dir)
    check_out_dir(dirs, out)
    code = reuse.code_fingerprint((templates_dir(), theme, Path(__file__).parent), __version__)
    env = environment_for(theme, code)
    sources = read_sources(dirs)
    anchor = dirs[0].resolve().parent
    gallery = vm.build_gallery(sources, anchor, photos=photos, flat=flat, pending=pending)
    final = out.resolve()
    options = {
        "per_page": per_page,
        "base_url": base_url,
        "theme": theme,
        "code": code,
        "store": MediaStore.beside(dirs[0]),
    }
    inputs = reuse.inputs_key(
        dirs,
        gallery,
        code,
        stamp,
        title,
        str(Path(theme).resolve()) if theme else "",
        os.path.abspath(photos) if photos is not None else "",
        flat,
        per_page,
        base_url,
        precompress,
        strict,
        sorted(repr(p) for p in pending),
    )
    unchanged = False
    try:
        with site_lock(final):
            recover(final)
            if (final / MARKER).exists() and site_damage(final, stamp, inputs) is None:
                built, unchanged = _as_published(final, gallery, per_page), True
            else:
                built = _build_into(
                    final, gallery, env, title, (stamp, inputs), strict, options, precompress
                )
    except OSError as exc:
        line = describe(exc, final.parent, "the site", _site_bytes(final, gallery))
        if line is None:
            raise
        raise DiskError(line) from None
    pages, written, reused, index_bytes, warnings = built
    return SiteReport(
        out_dir=out,
        pages=tuple(pages),
        images=written + reused,
        reused=reused,
        photos=len(gallery.photos),
        skipped=len(gallery.skipped),
        index_bytes=index_bytes,
        warnings=tuple(warnings),
        seconds=round(time.perf_counter() - clock, 2),
        unchanged=unchanged,
    )


def _as_published(
    out: Path, gallery: vm.Gallery, per_page: int
) -> tuple[list[str], int, int, int, list[str]]:
    """What a build would report for the site at ``out``, which is current: its pages, its
    image files (all of them reused) and the warnings its build gave."""
    manifest = read_site_files(out) or {}
    images = sum(1 for name in manifest.get("files", {}) if name.startswith("media/"))
    pages = [spec.path for spec in page_specs(gallery, per_page)]
    warnings = [str(w) for w in manifest.get("warnings") or []]
    return pages, 0, images, _index_weight(out), warnings


def _site_bytes(out: Path, gallery: vm.Gallery) -> int:
    """About how much a site takes: the one there now, else its full-size images and as
    much again for thumbnails and pages."""
    if out.is_dir():
        return sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    return 2 * sum(f.src.stat().st_size for f in gallery.figures if f.src.is_file())


def _build_into(
    out: Path,
    gallery: vm.Gallery,
    env: jinja2.Environment,
    title: str,
    stamps: tuple[str, str],
    strict: bool,
    options: dict[str, Any],
    precompress: bool = False,
) -> tuple[list[str], int, int, int, list[str]]:
    """Build the site beside ``out`` and swap it in; nothing of it stays if that fails."""
    tmp = Path(tempfile.mkdtemp(prefix=build_prefix(out), dir=out.parent))
    warnings: list[str] = []
    try:
        previous = PreviousSite(out) if (out / MARKER).exists() else None
        store = options["store"]
        written, reused = _publish_all(gallery, tmp, previous, warnings, strict, store)
        _copy_static(tmp, options["theme"])
        pages, _ = _render_pages(
            env, gallery, tmp, title, warnings, {**options, "previous": previous}
        )
        if precompress:
            write_precompressed(tmp)
        (tmp / MARKER).write_text(f"built by renderer {__version__}\n", encoding="utf-8")
        index_bytes = _index_weight(tmp)
        write_site_files(tmp, *stamps, previous=previous, warnings=warnings)
        os.chmod(tmp, 0o755)
        swap_in(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if store is not None:
        store.retain(p.name for p in (out / "media").rglob("*") if p.is_file())
    return pages, written, reused, index_bytes, warnings


__all__ = ["ImageSet", "SiteError", "SiteReport", "build_site", "make_environment", "render_page"]
