"""The static site built from a realistic render directory: valid pages, working relative
links, escaped hostile names, no leaked paths, atomic builds, themes, clean images."""

from __future__ import annotations

import gzip
import re
import shutil
import threading
import urllib.request
from pathlib import Path
from urllib.parse import unquote, urlsplit

import html5lib
import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image
from site_fixtures import HOSTILE_QUOTES, HOSTILE_SCRIPT, make_render_dir

from renderer.cli import main
from renderer.site import model as vm
from renderer.site import public
from renderer.site.builder import SiteError, SiteOptions, build_site
from renderer.site.images import MAX_THUMB_BYTES, byte_budget, publish_image
from renderer.site.serve import make_server

NS = "{http://www.w3.org/1999/xhtml}"


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("sitebuild")
    render = make_render_dir(root)
    report = build_site(render, root / "site", SiteOptions(title="Dreams & <Things>"))
    return root, render, root / "site", report


def _pages(site: Path) -> list[Path]:
    return sorted(site.rglob("*.html"))


def _parse(path: Path):
    parser = html5lib.HTMLParser(strict=True, namespaceHTMLElements=True)
    return parser.parse(path.read_text(encoding="utf-8"))


def _urls(doc) -> list[str]:
    urls = []
    for el in doc.iter():
        for attr in ("href", "src", "data-lightbox"):
            if el.get(attr):
                urls.append(el.get(attr))
        if el.get("srcset"):
            urls.extend(part.strip().split(" ")[0] for part in el.get("srcset").split(","))
    return urls


def _ids(doc) -> list[str]:
    return [el.get("id") for el in doc.iter() if el.get("id")]


def test_every_page_parses_and_every_link_resolves_inside_the_site(built) -> None:
    _, _, site, _ = built
    pages = _pages(site)
    assert {"index.html", "about.html", "layers.html", "classes.html"} <= {p.name for p in pages}
    assert len([p for p in pages if p.parent.name == "photos"]) == 5
    ids = {}
    for page in pages:
        doc = _parse(page)  # strict: raises on any parse error
        page_ids = _ids(doc)
        assert len(page_ids) == len(set(page_ids)), f"duplicate ids in {page}"
        ids[page.resolve()] = set(page_ids)
    checked = 0
    for page in pages:
        for url in _urls(_parse(page)):
            parts = urlsplit(url)
            assert not parts.scheme or parts.scheme == "data", f"{page.name}: absolute {url}"
            if parts.scheme == "data":
                continue
            target = (page.parent / unquote(parts.path)).resolve() if parts.path else page.resolve()
            assert target.is_file(), f"{page.relative_to(site)}: broken link {url}"
            assert site.resolve() in target.parents, f"{url} leaves the site"
            if parts.fragment:
                assert parts.fragment in ids[target], f"{page.name}: no anchor for {url}"
            checked += 1
    assert checked > 300


def test_no_absolute_path_of_the_build_machine_appears(built) -> None:
    root, render, site, _ = built
    forbidden = [str(root), str(render), "/work/", "/root/", "/home/", "/tmp/"]
    hidden = [p for p in site.glob(".*") if p.is_file()]  # the site's manifests too
    assert {p.name for p in hidden} >= {".dreamgallery-files.json", ".dreamgallery-pages.json"}
    for page in _pages(site) + hidden:
        text = page.read_text(encoding="utf-8")
        for needle in forbidden:
            assert needle not in text, f"{page.name} leaks {needle}"
    # the recorded commands survive, with paths made relative to the render dir's parent
    chelsea = next((site / "photos").glob("chelsea-*.html")).read_text(encoding="utf-8")
    assert "renderer dream photos/chelsea.jpg --out render --preset classic" in chelsea


def test_hostile_names_render_as_escaped_text_and_their_links_work(built) -> None:
    _, _, site, _ = built
    index = (site / "index.html").read_text(encoding="utf-8")
    assert "<script>alert" not in index
    assert "&lt;script&gt;alert(1)&lt;/script&gt;.jpg" in index
    assert "Dreams &amp; &lt;Things&gt;" in index
    doc = _parse(site / "index.html")
    titles = {a.text: a.get("href") for a in doc.iter(f"{NS}a") if a.get("class") == "cover-title"}
    assert HOSTILE_SCRIPT in titles and HOSTILE_QUOTES in titles
    for name in (HOSTILE_SCRIPT, HOSTILE_QUOTES):
        page = site / unquote(titles[name])
        h1 = next(_parse(page).iter(f"{NS}h1"))
        assert h1.text == name
    for page in _pages(site):
        scripts = [s.get("src") for s in _parse(page).iter(f"{NS}script")]
        assert len(scripts) == 1 and scripts[0].endswith("static/gallery.js")


def test_every_figure_has_alt_srcset_size_caption_and_provenance(built) -> None:
    _, _, site, _ = built
    figures, alts = 0, set()
    for page in _pages(site):
        for fig in _parse(page).iter(f"{NS}figure"):
            if "fig" not in (fig.get("class") or "").split() or "compare-" in fig.get("class"):
                continue
            figures += 1
            img = next(fig.iter(f"{NS}img"))
            alt = img.get("alt")
            assert alt and len(alt) > 20 and not re.fullmatch(r"\S+\.(png|webp|jpg)", alt), alt
            alts.add(alt)
            assert int(img.get("width")) > 0 and int(img.get("height")) > 0
            widths = [int(w) for w in re.findall(r" (\d+)w", img.get("srcset"))]
            assert widths == sorted(widths) and widths[-1] == int(img.get("width"))  # to full
            assert widths[0] <= 120 or len(widths) == 1
            assert fig.get("id")
            assert next(fig.iter(f"{NS}figcaption")).find(f".//{NS}details/{NS}dl") is not None
            pre = fig.find(f".//{NS}pre")
            assert pre is not None and "".join(pre.itertext()).startswith("renderer ")
            hrefs = [a.get("href") for a in fig.iter(f"{NS}a")]
            assert any(h.endswith(".png") for h in hrefs), "no link to the full-size PNG"
    assert figures > 45
    assert "DeepDream of chelsea.jpg at layer blocks.5, preset classic" in alts
    assert "Grad-CAM of coffee.jpg for the class espresso (71%) at layer bn2" in alts


def test_layer_dreams_go_from_shallow_to_deep_and_classes_show_their_probability(built) -> None:
    _, _, site, _ = built
    doc = _parse(site / "layers.html")
    titles = [s.text for s in doc.iter(f"{NS}a") if s.get("class") == "fig-title"]
    assert titles == [
        "Layer blocks.3",
        "Layer blocks.6",  # from noise, depth 1 and 5
        "Layer blocks.2",
        "Layer blocks.3",
        "Layer blocks.4",
        "Layer blocks.6",
    ]
    classes = (site / "classes.html").read_text(encoding="utf-8")
    assert "golden retriever" in classes and "Class 207 · the network gives it 91%" in classes
    chelsea = next((site / "photos").glob("chelsea-*.html")).read_text(encoding="utf-8")
    assert chelsea.index('explain-gradcam"') < chelsea.index('explain-guided-gradcam"')
    assert "R² = 0.47" in chelsea and "deletion AUC 0.210" in chelsea
    stability = "stay the same in <strong>87%</strong> of 100 refits on resampled 1000 samples."
    assert stability in chelsea
    assert "viridis · min-max per image · α 0.5 · target tabby (281), 52%" in chelsea


def test_skipped_records_show_their_reason(built) -> None:
    _, _, site, report = built
    index = (site / "index.html").read_text(encoding="utf-8")
    assert "skipped: photos/broken.jpg: corrupt image (truncated data)" in index
    assert report.skipped == 1


def test_index_is_light_and_thumbnails_fit_their_budget(built) -> None:
    _, _, site, report = built
    assert 5_000 < report.index_bytes < 100_000
    assert report.index_bytes == sum(
        (site / p).stat().st_size for p in ("index.html", "static/site.css", "static/gallery.js")
    )
    assert all(p.stat().st_size <= MAX_THUMB_BYTES for p in site.rglob("*.webp"))


def test_copies_fit_their_byte_budget_carry_no_exif_and_a_photo_is_capped(tmp_path: Path) -> None:
    from skimage import data

    big = Image.fromarray(data.astronaut()).resize((1240, 1240), Image.LANCZOS)
    exif = Image.Exif()
    exif[0x010F] = "SpyCam"  # Make
    exif[0x8825] = {2: (48.0, 51.0, 24.0)}  # GPS latitude
    src = tmp_path / "dream.png"
    big.save(src, exif=exif.tobytes())
    assert Image.open(src).getexif()  # the source really carries EXIF
    pub = publish_image(src, tmp_path / "site", "media/x", "dream")
    assert [v.width for v in pub.image.variants] == [120, 240, 480, 960, 1240]  # up to full
    for v in pub.image.variants:
        path = tmp_path / "site" / v.path
        assert path.stat().st_size <= byte_budget(v.width, v.height)
        with Image.open(path) as thumb:
            assert thumb.size == (v.width, v.height) and not thumb.getexif()
    assert byte_budget(1240, 1240) == 60_000 * 1240 * 1240 // (800 * 600)
    with Image.open(tmp_path / "site" / pub.image.full) as full:
        assert full.size == (1240, 1240) and not full.getexif() and "exif" not in full.info
        assert np.array_equal(np.asarray(full), np.asarray(big))
    # An original photo of 2400 x 1600 is published at 2048 px on its long side, never whole.
    photo = tmp_path / "photo.png"
    big.resize((2400, 1600)).save(photo, exif=exif.tobytes())
    capped = publish_image(photo, tmp_path / "site", "media/y", "photo", max_side=2048).image
    assert (capped.width, capped.height) == (2048, 1365) and capped.largest.width == 2048
    with Image.open(tmp_path / "site" / capped.full) as full:
        assert full.size == (2048, 1365) and not full.getexif()


def test_a_reused_image_is_not_decoded_and_thumbnails_flatten_alpha_on_grey(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from renderer.imageio import NEUTRAL_BACKGROUND
    from renderer.site import images

    rgba = np.zeros((300, 500, 4), dtype=np.uint8)
    rgba[..., 0] = 255  # red, and wholly transparent on the left half
    rgba[:, 250:, 3] = 255
    src = tmp_path / "cut-out.png"
    Image.fromarray(rgba, mode="RGBA").save(src)
    first = publish_image(src, tmp_path / "one", "media/x", "cut")
    assert first.written == 1 + len(first.image.variants) and first.reused == 0
    with Image.open(tmp_path / "one" / first.image.variants[-1].path) as thumb:  # 500 px
        left, right = thumb.getpixel((10, 150)), thumb.getpixel((390, 150))
    assert all(abs(a - b) <= 6 for a, b in zip(left, NEUTRAL_BACKGROUND, strict=True))  # not black
    assert right[0] > 240 and right[1] < 15

    def no_decoding(self):  # every file is in the previous site: nothing to decode
        raise AssertionError(f"{self.picture.path} decoded for nothing")

    monkeypatch.setattr(images._Pixels, "image", property(no_decoding))
    again = publish_image(src, tmp_path / "two", "media/x", "cut", previous_site=tmp_path / "one")
    assert again.image == first.image and again.written == 0
    assert again.reused == first.written


def test_a_failed_build_leaves_the_previous_site_intact(built, tmp_path: Path) -> None:
    _, render, _, _ = built
    out = tmp_path / "site"
    build_site(render, out)
    (out / ".gitkeep").write_text("")
    before = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    theme = tmp_path / "broken-theme"
    theme.mkdir()
    (theme / "photo.html").write_text(
        "{% extends 'base.html' %}{% block main %}{{ page.nope }}{% endblock %}"
    )
    with pytest.raises(SiteError, match=r"photo\.html"):
        build_site(render, out, SiteOptions(theme=theme))
    after = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert after == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken-theme", "site"]
    report = build_site(render, out)  # and a good rebuild reuses every image, keeps .gitkeep
    assert report.reused == report.images > 0 and (out / ".gitkeep").exists()


def test_a_theme_overrides_one_template_and_inherits_the_rest(built, tmp_path: Path) -> None:
    _, render, _, _ = built
    theme = tmp_path / "theme"
    (theme / "static").mkdir(parents=True)
    (theme / "about.html").write_text(
        "{% extends 'base.html' %}{% block main %}<p id=themed>Our own words</p>{% endblock %}"
    )
    (theme / "static" / "extra.css").write_text("body{}")
    out = tmp_path / "site"
    build_site(render, out, SiteOptions(theme=theme))
    about = (out / "about.html").read_text(encoding="utf-8")
    assert "Our own words" in about and 'aria-label="Site"' in about
    assert "How this was made" not in about
    assert "How this was made" not in (out / "index.html").read_text(encoding="utf-8")
    assert "The photograph and its dreams" in next((out / "photos").glob("*.html")).read_text()
    assert (out / "static" / "extra.css").exists() and (out / "static" / "site.css").exists()


def test_it_refuses_to_replace_a_folder_that_is_not_a_site(built, tmp_path: Path) -> None:
    _, render, _, _ = built
    out = tmp_path / "important"
    out.mkdir()
    (out / "thesis.tex").write_text("years of work")
    with pytest.raises(SiteError, match="refusing"):
        build_site(render, out)
    assert (out / "thesis.tex").read_text() == "years of work"
    with pytest.raises(SiteError, match="replace the render dir"):
        build_site(render, render.parent)


def test_cli_builds_and_reports_user_mistakes_in_one_line(built, tmp_path: Path) -> None:
    _, render, _, _ = built
    runner = CliRunner()
    result = runner.invoke(
        main,
        ["site", "build", "--from", str(render), "--out", str(tmp_path / "s"), "--title", "Cats"],
    )
    assert result.exit_code == 0, result.output
    assert "<title>Cats</title>" in (tmp_path / "s" / "index.html").read_text()
    empty = tmp_path / "empty"
    empty.mkdir()
    result = runner.invoke(
        main, ["site", "build", "--from", str(empty), "--out", str(tmp_path / "s2")]
    )
    assert result.exit_code != 0
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and "manifest.json" in lines[0]
    assert not (tmp_path / "s2").exists()


def test_serve_previews_the_site_gzipped_with_hashed_media_cached_for_good(built) -> None:
    _, _, site, _ = built
    server = make_server(site, 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()

    def get(path: str, gzip_ok: bool = False):
        headers = {"Accept-Encoding": "gzip"} if gzip_ok else {}
        request = urllib.request.Request(f"http://127.0.0.1:{port}/{path}", headers=headers)
        with urllib.request.urlopen(request, timeout=5) as resp:
            return resp.status, resp.headers, resp.read()

    try:
        host, port = server.server_address[:2]
        assert host == "127.0.0.1"
        status, headers, body = get("index.html")
        assert status == 200 and b"cover-grid" in body and "Content-Encoding" not in headers
        status, headers, body = get("index.html", gzip_ok=True)
        assert headers["Content-Encoding"] == "gzip" and headers["Cache-Control"] == "no-cache"
        assert gzip.decompress(body) == (site / "index.html").read_bytes()
        assert len(body) < (site / "index.html").stat().st_size / 3
        media = next(site.glob("media/*/*-120.webp"))
        status, headers, body = get(media.relative_to(site).as_posix(), gzip_ok=True)
        assert "Content-Encoding" not in headers and body == media.read_bytes()
        assert headers["Cache-Control"] == "public, max-age=31536000, immutable"
    finally:
        server.shutdown()
        server.server_close()


ALBUMS = {
    "": 3,
    "<script>alert(1)": 2,
    "Été à Paris": 1,
    "Été à Paris/with space": 7,
}


def _album_links(doc) -> dict[str, str]:
    return {
        "".join(a.itertext()): a.get("href")
        for a in doc.iter(f"{NS}a")
        if a.get("class") == "cover-title"
    }


def _check_links(site: Path) -> None:
    for page in _pages(site):
        for url in _urls(_parse(page)):
            parts = urlsplit(url)
            if parts.path and not parts.scheme:
                target = (page.parent / unquote(parts.path)).resolve()
                assert target.is_file(), f"{page.relative_to(site)}: broken link {url}"


def test_albums_nest_escape_their_names_page_and_keep_their_urls(tmp_path: Path) -> None:
    from renderer.bench.site import fake_render_dir

    render, photos = fake_render_dir(tmp_path, ALBUMS, skipped={"only bad": 2})
    (photos / "empty album").mkdir()
    report = build_site(render, tmp_path / "site", SiteOptions(photos=photos, per_page=4))
    site = tmp_path / "site"
    _check_links(site)
    top = _parse(site / "index.html")
    links = _album_links(top)
    assert set(links) == {"<script>alert(1)", "Été à Paris", "only bad", "photo 0000.png"}
    index = (site / "index.html").read_text(encoding="utf-8")
    assert "<script>alert" not in index and "&lt;script&gt;alert(1)" in index
    assert "empty album" not in index  # nothing in it: not listed
    bad = (site / unquote(links["only bad"])).read_text(encoding="utf-8")
    assert "broken 0.jpg" in bad and "broken 1.jpg" in bad and "corrupt image" in bad
    # Nested: the album's own index, cover and breadcrumb; 7 photos page as 4 + 3.
    paris = site / unquote(links["Été à Paris"])
    inner = paris.parent / unquote(_album_links(_parse(paris))["with space"])
    crumbs = [
        "".join(li.itertext()).strip()
        for nav in _parse(inner).iter(f"{NS}nav")
        if nav.get("class") == "crumb"
        for li in nav.iter(f"{NS}li")
    ]
    assert crumbs == ["Photographs", "Été à Paris", "with space"]
    inner_doc = _parse(inner)
    assert len(_album_links(inner_doc)) == 4
    second = inner.with_name("page-2.html")
    assert len(_album_links(_parse(second))) == 3
    pager = {a.get("rel"): a.get("href") for a in inner_doc.iter(f"{NS}a") if a.get("rel")}
    assert pager == {"next": "page-2.html"}
    # A photo page's neighbours are in its own album.
    album_pages = {(inner.parent / unquote(h)).resolve() for h in _album_links(inner_doc).values()}
    first = site / "photos" / unquote(_album_links(inner_doc)["photo 0001.png"]).split("/")[-1]
    rel = {a.get("rel"): a.get("href") for a in _parse(first).iter(f"{NS}a") if a.get("rel")}
    assert set(rel) == {"prev", "next"}
    assert (first.parent / rel["prev"]).resolve() in album_pages
    # Stable URLs: another photo elsewhere moves no page.
    before = set(report.pages)
    render2, photos2 = fake_render_dir(tmp_path / "more", {**ALBUMS, "": 4})
    again = build_site(render2, tmp_path / "site2", SiteOptions(photos=photos2, per_page=4))
    kept = {p for p in before if p.startswith(("photos/", "albums/")) and "only-bad" not in p}
    assert kept <= set(again.pages) and len(again.pages) > len(kept)
    # Flat: one index for all of them.
    flat = build_site(
        render, tmp_path / "flat", SiteOptions(photos=photos, flat=True, per_page=100)
    )
    assert not any(p.startswith("albums/") for p in flat.pages)
    assert (tmp_path / "flat" / "index.html").read_text().count('class="cover"') == 13


def test_a_gallery_of_60_photos_pages_its_index(tmp_path: Path) -> None:
    from renderer.bench.site import fake_render_dir

    render, photos = fake_render_dir(tmp_path, {"": 60})
    build_site(render, tmp_path / "site", SiteOptions(photos=photos))
    site = tmp_path / "site"
    first, second = _parse(site / "index.html"), _parse(site / "page-2.html")
    assert not (site / "page-3.html").exists()
    assert len(_album_links(first)) == 48 and len(_album_links(second)) == 12
    pager = next(n for n in second.iter(f"{NS}nav") if n.get("class") == "pager")
    numbers = {a.text: (a.get("href"), a.get("aria-current")) for a in pager.iter(f"{NS}a")}
    assert numbers["1"] == ("index.html", None) and numbers["2"] == ("page-2.html", "page")
    rel = {a.get("rel"): a.get("href") for a in second.iter(f"{NS}a") if a.get("rel")}
    assert rel == {"prev": "index.html"}
    _check_links(site)


def _meta(doc) -> dict[str, str]:
    found = {}
    for el in doc.iter(f"{NS}meta"):
        key = el.get("name") or el.get("property")
        if key:
            found[key] = el.get("content")
    return found


def test_share_previews_are_relative_without_a_base_url_and_absolute_with_one(
    built, tmp_path: Path
) -> None:
    _, render, site, _ = built
    descriptions = set()
    for page in _pages(site):  # every page, about.html too, has its own words and picture
        meta = _meta(_parse(page))
        assert len(meta["description"]) > 30 and meta["og:title"] and meta["og:description"]
        assert meta["og:description"] == meta["description"]
        descriptions.add(meta["description"])
        image = meta["og:image"]
        assert not urlsplit(image).scheme and (page.parent / unquote(image)).is_file()
    assert len(descriptions) == len(_pages(site))
    chelsea = _meta(_parse(next((site / "photos").glob("chelsea-*.html"))))
    assert "tabby (52%)" in chelsea["description"]
    assert not (site / "sitemap.xml").exists()
    build_site(render, tmp_path / "s", SiteOptions(base_url="https://example.org/dreams"))
    meta = _meta(_parse(next((tmp_path / "s" / "photos").glob("chelsea-*.html"))))
    assert meta["og:image"].startswith("https://example.org/dreams/media/")
    assert meta["og:url"].startswith("https://example.org/dreams/photos/chelsea-")
    sitemap = (tmp_path / "s" / "sitemap.xml").read_text(encoding="utf-8")
    assert sitemap.count("<loc>https://example.org/dreams/") == len(_pages(tmp_path / "s"))
    with pytest.raises(SiteError, match="base_url"):
        build_site(render, tmp_path / "s3", SiteOptions(base_url="example.org"))


def test_photo_pages_are_lean_and_link_each_dreams_full_size_file(built) -> None:
    _, _, site, _ = built
    for page in (site / "photos").glob("*.html"):
        assert page.stat().st_size <= 40_000, page.name
    chelsea = next((site / "photos").glob("chelsea-*.html"))
    text = chelsea.read_text(encoding="utf-8")
    assert text.count("9" * 64) == 1  # the weights' checksum, stated once for the page
    assert text.count("torchvision 0.29.1") == 1
    doc = _parse(chelsea)
    downloads = {a.get("href") for a in doc.iter(f"{NS}a") if a.get("class") == "download"}
    for fig in doc.iter(f"{NS}figure"):
        if (fig.get("id") or "").startswith(("dream-", "layer-")):
            img = next(fig.iter(f"{NS}img"))
            full = [a.get("href") for a in fig.iter(f"{NS}a") if a.get("class") == "download"]
            assert len(full) == 1 and full[0].endswith(".png") and full[0] in downloads
            with Image.open(chelsea.parent / unquote(full[0])) as png:
                assert png.format == "PNG" and png.width == int(img.get("width"))
                assert not png.getexif()
            largest = img.get("srcset").split(", ")[-1]
            assert largest.endswith(f" {png.width}w")  # the srcset goes up to the full size
    assert len(downloads) == 2 + 4  # two dreams, four layer dreams

    def rows(dl) -> set[tuple[str, str]]:
        terms = [(e.text or "") for e in dl if e.tag == f"{NS}dt"]
        return set(zip(terms, [(e.text or "") for e in dl if e.tag == f"{NS}dd"], strict=True))

    made = next(s for s in doc.iter(f"{NS}section") if s.get("id") == "made")
    after = list(made)
    heading = next(i for i, e in enumerate(after) if e.get("id") == "made-dreams")
    every_dream = rows(after[heading + 1])
    assert ("octaves", "4") in every_dream  # both dreams' recipe field, said once
    for fig in doc.iter(f"{NS}figure"):
        if (fig.get("id") or "").startswith("dream-"):
            own = rows(next(fig.iter(f"{NS}dl")))
            assert own and not own & every_dream, fig.get("id")


def test_precompress_writes_gz_beside_text_files(built, tmp_path: Path) -> None:
    _, render, _, _ = built
    build_site(render, tmp_path / "s", SiteOptions(precompress=True))
    site = tmp_path / "s"
    for page in [*_pages(site), site / "static" / "site.css", site / "static" / "gallery.js"]:
        assert gzip.decompress(page.with_name(page.name + ".gz").read_bytes()) == page.read_bytes()
    assert not list(site.glob("media/**/*.gz"))


def test_public_paths_and_relative_urls() -> None:
    anchor = Path("/srv/art")
    cmd = "renderer dream '/srv/art/photos/my cat.jpg' --out /srv/art/render --weights=/opt/w.pth"
    assert public.public_command(cmd, anchor) == (
        "renderer dream 'photos/my cat.jpg' --out render --weights=w.pth"
    )
    assert public.public_text("/elsewhere/x.jpg: corrupt", anchor) == "x.jpg: corrupt"
    assert vm.relative_url("media/a b/x,1.webp", "photos/p.html") == "../media/a%20b/x%2C1.webp"
    assert vm.relative_url("index.html", "index.html") == "index.html"
    assert vm.relative_url("photos/p.html", "index.html") == "photos/p.html"


def test_missing_output_files_become_warnings_not_broken_images(built, tmp_path: Path) -> None:
    import shutil

    _, render, _, _ = built
    copy = tmp_path / "render"
    shutil.copytree(render, copy)
    victim = next(copy.glob("chelsea-*/dream-deep.png"))
    victim.unlink()
    report = build_site(copy, tmp_path / "site")
    assert len(report.warnings) == 1 and "dream-deep.png" in report.warnings[0]
    page = next((tmp_path / "site" / "photos").glob("chelsea-*.html")).read_text()
    assert 'id="dream-deep"' not in page and 'id="dream-classic"' in page


def test_a_full_index_page_of_48_photos_stays_under_100_kb() -> None:
    from renderer.site.albums import index_pages
    from renderer.site.builder import make_environment, render_page
    from renderer.site.images import ImageSet, Variant

    params = {f"param_{i}": i * 0.25 for i in range(20)}
    entries = []
    for n in range(60):
        sha = f"{n:064x}"
        inputs = [{"path": f"/home/artist/photos/photo {n}.jpg", "sha256": sha}]
        entries.append(
            {
                "kind": "photo",
                "output": f"p{n}/photo.png",
                "inputs": inputs,
                "command": "renderer dream x",
                "extra": {"name": f"photo {n}.jpg"},
            }
        )
        entries.append(
            {
                "kind": "dream",
                "output": f"p{n}/dream-classic.png",
                "inputs": inputs,
                "command": f"renderer dream '/home/artist/photos/photo {n}.jpg'",
                "model": {"name": "efficientnet_lite0", "weights_sha256": "ab" * 32},
                "params": params,
                "seed": 3,
                "extra": {
                    "preset": "classic",
                    "layers": ["blocks.4"],
                    "caption": "classic · blocks.4 · 3 octaves · lr 0.025",
                    "predictions": [{"index": 1, "name": "goldfish", "prob": 0.5}],
                },
            }
        )
    gallery = vm.build_gallery([vm.Source(e, Path("/r")) for e in entries], Path("/"))
    widths = (120, 240, 480, 960, 1600, 2048)
    for fig in gallery.figures:
        group = f"media/{fig.src.parent.name}"
        variants = tuple(
            Variant(f"{group}/0123456789ab-{w}.webp", w, w * 3 // 4, 40_000) for w in widths
        )
        fig.image = ImageSet(f"{group}/{fig.src.stem}-0123456789ab.png", 2048, 1536, variants)
    first, second = index_pages(gallery.album)
    html = render_page(
        make_environment(), gallery, "index.html", "index.html", "dreamgallery", {"index": first}
    )
    assert html.count('class="cover"') == 48 and len(second.photos) == 12
    assert "/home/artist" not in html
    assert len(html.encode()) <= 100_000, len(html.encode())


def test_records_group_by_photo_hash_and_a_photo_without_its_record_still_gets_a_page() -> None:
    sha_a, sha_b = "a" * 64, "b" * 64

    def entry(kind: str, output: str, sha: str, **extra) -> dict:
        inputs = [{"path": f"/x/{'cat' if sha == sha_a else 'dog'}.jpg", "sha256": sha}]
        return {"kind": kind, "output": output, "inputs": inputs, "command": "", "extra": extra}

    entries = [
        entry("explain", "k/explain-guided-gradcam.png", sha_a, method="guided-gradcam"),
        entry("photo", "k/photo.png", sha_a, name="cat.jpg"),
        entry("explain", "k/explain-gradcam.png", sha_a, method="gradcam"),
        entry("dream", "j/dream-deep.png", sha_b, preset="deep", layers=["blocks.6"]),
        entry(
            "explain",
            "k/explain-robustness-noise-2.png",
            sha_a,
            method="robustness-noise-2",
            robustness={"kind": "noise", "level": 2},
        ),
        entry(
            "explain",
            "k/explain-robustness-noise-1.png",
            sha_a,
            method="robustness-noise-1",
            robustness={"kind": "noise", "level": 1},
        ),
    ]
    gallery = vm.build_gallery([vm.Source(e, Path("/r")) for e in entries])
    cat, dog = gallery.photos
    assert (cat.name, dog.name) == ("cat.jpg", "dog.jpg")
    assert [f.details["method"] for f in cat.gradcam] == ["gradcam", "guided-gradcam"]
    assert [f.id for f in cat.robustness] == [
        "explain-robustness-noise-1",
        "explain-robustness-noise-2",
    ]
    assert dog.photo is None and [f.alt for f in dog.dreams] == [
        "DeepDream of dog.jpg at layer blocks.6, preset deep"
    ]
    assert cat.cover is cat.photo and dog.cover is dog.dreams[0]


def test_an_unchanged_photo_page_is_reused_and_any_change_renders_it_again(tmp_path: Path):
    from renderer.bench.site import fake_render_dir

    render, photos = fake_render_dir(tmp_path, {"": 3, "a": 2})
    site = tmp_path / "site"

    def pages() -> dict[str, int]:
        return {p.relative_to(site).as_posix(): p.stat().st_ino for p in _pages(site)}

    build_site(render, site, SiteOptions(photos=photos))
    first = pages()
    build_site(render, site, SiteOptions(photos=photos))
    assert pages() == first  # a no-change rebuild writes nothing
    photo_pages = {p for p in first if p.startswith("photos/")}
    assert len(photo_pages) == 5
    # the indexes change, no photo page
    build_site(render, site, SiteOptions(photos=photos, per_page=2))
    second = pages()
    assert all(first[p] == second[p] for p in photo_pages)  # linked from the previous site
    assert first["index.html"] != second["index.html"]  # indexes are rendered again
    build_site(render, site, SiteOptions(photos=photos, title="Another title"))
    third = pages()
    assert all(third[p] != second[p] for p in photo_pages)
    assert "Another title" in (site / sorted(photo_pages)[0]).read_text(encoding="utf-8")
    # the neighbours move
    build_site(render, site, SiteOptions(photos=photos, title="Another title", flat=True))
    fourth = pages()
    assert any(fourth[p] != third[p] for p in photo_pages)
    _check_links(site)


def test_build_site_alone_decides_whether_the_site_is_current_and_says_why(tmp_path: Path):
    import json
    import os

    from renderer.bench.site import fake_render_dir
    from renderer.provenance import MANIFEST_NAME

    render, photos = fake_render_dir(tmp_path, {"": 3})
    site, options = tmp_path / "site", SiteOptions(photos=photos)
    first = build_site(render, site, options)
    assert not first.unchanged and first.reason == "there is none yet"
    again = build_site(render, site, SiteOptions(photos=photos))  # equal options, new object
    assert again.unchanged and again.reason == ""
    assert (again.pages, again.images, again.photos) == (first.pages, first.images, 3)
    # a failure recorded again (a new time stamp on its skipped record) is no new input
    manifest = json.loads((render / MANIFEST_NAME).read_text(encoding="utf-8"))
    manifest["entries"].append(
        {"kind": "skipped", "output": None, "command": "", "created": "2026-01-01T00:00:00"}
    )
    (render / MANIFEST_NAME).write_text(json.dumps(manifest), encoding="utf-8")
    assert not build_site(render, site, options).unchanged  # a new skipped file is
    manifest["entries"][-1]["created"] = "2026-01-02T00:00:00"
    (render / MANIFEST_NAME).write_text(json.dumps(manifest), encoding="utf-8")
    assert build_site(render, site, options).unchanged
    # a figure's file rewritten in place, with the manifest as it was
    output = next(render.rglob("dream-classic.png"))
    os.utime(output, ns=(output.stat().st_atime_ns, output.stat().st_mtime_ns + 10**9))
    changed = build_site(render, site, options)
    assert not changed.unchanged and output.name in changed.reason
    assert build_site(render, site, options).unchanged
    # another option, a pending figure, a damaged site: each builds it again, and says why
    told: list[str] = []
    titled = build_site(render, site, SiteOptions(photos=photos, title="T"), on_build=told.append)
    assert told == [titled.reason] == ["it was built from other inputs"]
    pending = (vm.Pending("dream", "x [deep]"),)
    assert not build_site(render, site, options, pending=pending).unchanged
    assert not build_site(render, site, options).unchanged  # and once it is done
    next((site / "media").rglob("*.webp")).unlink()
    assert "missing" in build_site(render, site, options).reason
    assert build_site(render, site, options).unchanged


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"per_page": 0}, "per_page must be a whole number >= 1, got 0"),
        ({"per_page": True}, "per_page must be a whole number >= 1, got True"),
        ({"per_page": "4"}, "per_page must be a whole number >= 1, got '4'"),
        ({"base_url": "example.org"}, "base_url must be an http(s) address, not 'example.org'"),
        ({"title": None}, "title must be text, got None"),
    ],
)
def test_site_options_are_checked_when_made(changes: dict, message: str) -> None:
    with pytest.raises(SiteError) as caught:
        SiteOptions(**changes)
    assert str(caught.value) == message
    options = SiteOptions(base_url="https://example.org/dreams", theme="my-theme")
    assert options.base_url == "https://example.org/dreams/" and options.theme == Path("my-theme")
    assert options == SiteOptions(base_url="https://example.org/dreams/", theme=Path("my-theme"))


def test_a_site_built_anew_links_its_media_from_the_store_unless_one_was_edited(
    tmp_path: Path,
) -> None:
    from renderer.site.mediastore import MediaStore

    render = make_render_dir(tmp_path)
    first = build_site(render, tmp_path / "one")
    assert first.reused < first.images  # the first site encoded its media
    again = build_site(render, tmp_path / "two")  # another --out: nothing to encode
    assert again.reused == again.images == first.images
    one = sorted(p.relative_to(tmp_path / "one") for p in (tmp_path / "one/media").rglob("*"))
    two = sorted(p.relative_to(tmp_path / "two") for p in (tmp_path / "two/media").rglob("*"))
    assert one == two
    # a site file edited in place edits its stored hard link too: that one is made anew
    edited = next((tmp_path / "two/media").rglob("*.webp"))
    edited.write_bytes(b"not a webp")
    store = MediaStore.beside(render)
    assert store.find(edited.name) is None
    shutil.rmtree(tmp_path / "one")
    third = build_site(render, tmp_path / "one")
    assert third.reused == third.images - 1
    remade = tmp_path / "one" / edited.relative_to(tmp_path / "two")
    assert remade.read_bytes()[:4] == b"RIFF"
