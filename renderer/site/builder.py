"""Build the static site: read manifests, publish images, render Jinja2 pages, swap it in.

The site is built in a temporary folder beside ``out_dir`` and swapped in whole (see
``publish``), so a failed build leaves the previous site as it was. A write that fails (a
full disk, a read-only folder) fails the build with one line; so does, in a strict build,
any figure that cannot be published. Every URL is relative to the page
that holds it, so the site works from ``file://`` and under any sub-path.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2

from .. import __version__
from ..errors import BadInputError
from ..oserrors import DiskError, describe
from ..provenance import MANIFEST_NAME, read_manifest
from . import model as vm
from . import reuse
from .current import Built, Verdict, judge, site_key, source_table
from .figures import Where, publish_all
from .images import ImageSet
from .mediastore import MediaStore
from .options import SiteError, SiteOptions
from .pages import page_specs, sitemap, write_precompressed
from .publish import PreviousSite, build_prefix, recover, site_lock, swap_in, write_site_files
from .theme import copy_static, environment_for, make_environment, render_page, templates_dir

MARKER = ".dreamgallery-site"
PAGE_ASSETS = ("static/site.css", "static/gallery.js")
Manifests = list[tuple[Path, list[dict[str, Any]]]]  # each render dir and its entries


@dataclass(frozen=True)
class SiteReport:
    """What ``build_site`` decided and did: ``unchanged`` when the published site was
    current (nothing was written; the rest is what its build reported), else ``reason``
    says why it was built."""

    out_dir: Path
    pages: tuple[str, ...]
    images: int
    reused: int
    photos: int
    skipped: int
    index_bytes: int
    warnings: tuple[str, ...]
    seconds: float
    unchanged: bool = False
    reason: str = ""

    @classmethod
    def of(cls, out: Path, built: Built, verdict: Verdict, seconds: float) -> SiteReport:
        return cls(
            out_dir=out,
            pages=built.pages,
            images=built.written + built.reused,
            reused=built.reused,
            photos=built.photos,
            skipped=built.skipped,
            index_bytes=built.index_bytes,
            warnings=built.warnings,
            seconds=seconds,
            unchanged=verdict.current,
            reason=verdict.reason,
        )

    def summary(self) -> str:
        state = "unchanged, nothing written" if self.unchanged else f"{self.reused} reused"
        return (
            f"{len(self.pages)} pages, {self.photos} photos, {self.images} image files "
            f"({state}), index {self.index_bytes / 1024:.1f} KB "
            f"(HTML+CSS+JS), {self.skipped} skipped, {self.seconds:.1f} s -> {self.out_dir}"
        )


# --------------------------------------------------------------------------- inputs


def read_manifests(render_dirs: Sequence[Path]) -> Manifests:
    """Each render dir with its manifest's entries; a missing or unreadable one is one line."""
    found: Manifests = []
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
        found.append((folder, entries))
    return found


def sources_of(manifests: Manifests) -> list[vm.Source]:
    """Every entry as a typed record beside the folder its paths start from."""
    return [vm.Source(e, folder.resolve()) for folder, entries in manifests for e in entries]


def read_sources(render_dirs: Sequence[Path]) -> list[vm.Source]:
    return sources_of(read_manifests(render_dirs))


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


def site_code(theme: Path | None) -> str:
    """The fingerprint of the bytes that make the pages: templates, theme and site code."""
    return reuse.code_fingerprint((templates_dir(), theme, Path(__file__).parent), __version__)


# --------------------------------------------------------------------------- pages


def _render_pages(
    env: jinja2.Environment,
    gallery: vm.Gallery,
    site: Path,
    options: SiteOptions,
    code: str,
    previous: PreviousSite | None,
    warnings: Sequence[str],
) -> tuple[str, ...]:
    """Write every page; a photo page whose key is the previous build's is linked from
    it (``reuse``). Returns the pages' paths."""
    title, base_url = options.title, options.base_url
    fingerprint = reuse.code_fingerprint(
        (),
        code,
        title,
        base_url,
        bool(gallery.layer_dreams),
        bool(gallery.class_dreams),
        warnings,
        len(gallery.pending),  # every page says the gallery is still being made
    )
    old = reuse.load_keys(previous.root if previous else None)
    keys: dict[str, str] = {}
    specs = page_specs(gallery, options.per_page)
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
                continue
        extra = {**spec.extra, **share}
        html = render_page(env, gallery, spec.path, spec.template, title, extra, warnings)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(html, encoding="utf-8")
    reuse.save_keys(site, keys)
    if base_url:
        (site / "sitemap.xml").write_text(sitemap(specs, base_url), encoding="utf-8")
    return tuple(spec.path for spec in specs)


def _index_weight(site: Path) -> int:
    return sum(
        (site / p).stat().st_size for p in ("index.html", *PAGE_ASSETS) if (site / p).exists()
    )


# --------------------------------------------------------------------------- the build


def build_site(
    render_dirs: Sequence[Path] | Path,
    out_dir: Path,
    options: SiteOptions | None = None,
    *,
    pending: Sequence[vm.Pending] = (),
    on_build: Callable[[str], None] | None = None,
) -> SiteReport:
    """Build the gallery site from render directories into ``out_dir``, atomically, unless
    the site there is current: the one place that decides it (``current.judge``), under
    the site's lock, after putting back what a killed publish left. ``pending``: published
    while a build still runs, the figures it is still making; each page says so in plain
    words (and nothing of it once it is done). ``on_build(reason)`` is told, before it
    starts, that the site is built and why."""
    clock = time.perf_counter()
    options = SiteOptions() if options is None else options
    dirs = (
        [Path(render_dirs)]
        if isinstance(render_dirs, (str, os.PathLike))
        else [Path(d) for d in render_dirs]
    )
    if not dirs:
        raise SiteError("no render directory given")
    out = Path(out_dir)
    check_out_dir(dirs, out)
    code = site_code(options.theme)
    env = environment_for(options.theme, code)
    manifests = read_manifests(dirs)
    key = site_key(manifests, code, options.key(), pending)
    final = out.resolve()
    try:
        with site_lock(final):
            recover(final)
            there = (final / MARKER).exists()
            verdict = judge(final, key) if there else Verdict("there is none yet")
            if verdict.built is not None:
                built = verdict.built
            else:
                if on_build is not None:
                    on_build(verdict.reason)
                gallery = vm.build_gallery(
                    sources_of(manifests),
                    dirs[0].resolve().parent,
                    photos=options.photos,
                    flat=options.flat,
                    pending=pending,
                )
                built = _build_into(final, gallery, env, options, code, key, dirs[0])
    except OSError as exc:
        line = describe(exc, final.parent, "the site", _site_bytes(final, manifests))
        if line is None:
            raise
        raise DiskError(line) from None
    return SiteReport.of(out, built, verdict, round(time.perf_counter() - clock, 2))


def _site_bytes(out: Path, manifests: Manifests) -> int:
    """About how much a site takes: the one there now, else its full-size images and as
    much again for thumbnails and pages."""
    if out.is_dir():
        return sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    outputs = [folder / str(e["output"]) for folder, es in manifests for e in es if e.get("output")]
    return 2 * sum(p.stat().st_size for p in outputs if p.is_file())


def _build_into(
    out: Path,
    gallery: vm.Gallery,
    env: jinja2.Environment,
    options: SiteOptions,
    code: str,
    key: str,
    render_dir: Path,
) -> Built:
    """Build the site beside ``out`` and swap it in; nothing of it stays if that fails."""
    tmp = Path(tempfile.mkdtemp(prefix=build_prefix(out), dir=out.parent))
    warnings: list[str] = []
    store = MediaStore.beside(render_dir)
    try:
        previous = PreviousSite(out) if (out / MARKER).exists() else None
        sources = source_table((p for fig in gallery.figures for p in fig.files), out)
        tally = publish_all(gallery, Where(tmp, previous, store), warnings, options.strict)
        copy_static(tmp, options.theme)
        pages = _render_pages(env, gallery, tmp, options, code, previous, warnings)
        if options.precompress:
            write_precompressed(tmp)
        (tmp / MARKER).write_text(f"built by renderer {__version__}\n", encoding="utf-8")
        built = Built(
            pages=pages,
            written=tally.written,
            reused=tally.reused,
            photos=len(gallery.photos),
            skipped=len(gallery.skipped),
            index_bytes=_index_weight(tmp),
            warnings=tuple(warnings),
        )
        write_site_files(tmp, key, previous, warnings, sources, built.to_dict())
        os.chmod(tmp, 0o755)
        swap_in(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    store.retain(p.name for p in (out / "media").rglob("*") if p.is_file())
    return built


__all__ = [
    "ImageSet",
    "SiteError",
    "SiteOptions",
    "SiteReport",
    "build_site",
    "check_out_dir",
    "make_environment",
    "read_sources",
    "render_page",
    "templates_dir",
]
