"""The site in a real browser: Debian's headless Chromium, driven by Playwright, from file://:
keyboard use, axe-core on every kind of page, phone widths, and a zoom that waits."""

from __future__ import annotations

from pathlib import Path

import pytest
from site_fixtures import make_render_dir

from renderer.bench.site import fake_render_dir
from renderer.site.builder import SiteOptions, build_site

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium (.ci/run)"
    ),
]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The realistic render dir, plus a nested album (with a hostile name) that pages."""
    root = tmp_path_factory.mktemp("browser")
    render = make_render_dir(root)
    fake_render_dir(root, {"Été à Paris": 2, "Été à Paris/<script>x": 5})
    build_site(render, root / "site", SiteOptions(photos=root / "photos", per_page=4))
    return root / "site"


@pytest.fixture(scope="module")
def building(site: Path) -> Path:
    """The same gallery published while a build still runs: a class batch and one of
    chelsea's dreams are still being made."""
    from renderer.site import model as vm
    from renderer.site.builder import read_sources

    render = site.parent / "render"
    chelsea = next(
        p for p in vm.build_gallery(read_sources([render])).photos if "chelsea" in p.name
    )
    pending = [
        vm.Pending("class-dream", "class dreams (6 classes)"),
        vm.Pending("dream", "dream chelsea.jpg [deep]", chelsea.sha256),
    ]
    out = site.parent / "building"
    build_site(render, out, SiteOptions(photos=site.parent / "photos"), pending=pending)
    return out


# Images that cannot be shown: each one loaded now (none left lazy), then decoded.
BROKEN_IMAGES = """(async () => {
  const images = [...document.images];
  images.forEach(i => { i.loading = 'eager'; });
  const failed = await Promise.all(images.map(i => i.decode().then(() => null, () => i.src)));
  return failed.filter(Boolean);
})()"""


# Images whose smallest srcset candidate is wider than twice their box, or without a size.
OVERSIZED = """[...document.images].filter(i => i.clientWidth > 0).filter(i => {
  const ws = (i.getAttribute('srcset') || '').split(',').map(c => parseInt(c.trim().split(' ')[1]));
  const shown = i.clientHeight * i.naturalWidth / Math.max(i.naturalHeight, 1);  // object-fit
  return !i.getAttribute('width') || !i.getAttribute('height') || !ws.length
    || Math.min(...ws) > 2 * Math.max(i.clientWidth, shown, 1);
}).map(i => [i.currentSrc || i.src, i.clientWidth, i.getAttribute('srcset')])"""


def _kinds(site: Path) -> dict[str, Path]:
    """One page of every kind: index, its page 2, an album, a paged nested album, a photo,
    layers, classes, about."""
    paris = next(site.glob("albums/ete-a-paris-*"))
    nested = next(paris.glob("script-x-*"))
    return {
        "index": site / "index.html",
        "index-2": site / "page-2.html",
        "album": paris / "index.html",
        "album-2": nested / "page-2.html",
        "photo": next((site / "photos").glob("chelsea-*")),
        "layers": site / "layers.html",
        "classes": site / "classes.html",
        "about": site / "about.html",
    }


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, headless=True)
        yield b
        b.close()


def _open(browser, url: str, width: int, height: int = 900, scheme: str = "light", js=True):
    page = browser.new_page(
        viewport={"width": width, "height": height}, color_scheme=scheme, java_script_enabled=js
    )
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("requestfailed", lambda r: errors.append(f"failed: {r.url}"))
    page.goto(url)
    page.wait_for_load_state("load")
    return page, errors


def _load_all_images(page) -> None:
    page.evaluate("document.querySelectorAll('img[loading=lazy]').forEach(i => i.loading='eager')")
    page.wait_for_load_state("networkidle")
    page.wait_for_function("[...document.images].every(i => i.complete)")


def test_index_then_photo_page_then_the_lightbox_by_keyboard(site, browser, artifacts) -> None:
    page, errors = _open(browser, (site / "index.html").as_uri(), 1280)
    _load_all_images(page)
    assert errors == []
    broken = page.evaluate("[...document.images].filter(i => !i.naturalWidth).map(i => i.src)")
    assert broken == []
    page.screenshot(path=str(artifacts / "site-index-1280.png"), full_page=True)

    page.click("a.cover-title >> text=chelsea.jpg")
    page.wait_for_load_state("load")
    assert "/photos/chelsea-" in page.url
    _load_all_images(page)
    assert page.evaluate("[...document.images].filter(i => !i.naturalWidth).length") == 0
    assert page.locator(".slider input[type=range]").count() == 1  # the before/after slider
    page.screenshot(path=str(artifacts / "site-photo-1280.png"), full_page=True)

    first = page.locator("a[data-lightbox]").first
    first.focus()
    page.keyboard.press("Enter")
    dialog = page.locator("[role=dialog]")
    dialog.wait_for(state="visible")
    assert dialog.get_attribute("aria-modal") == "true"
    count = page.locator(".lb-count")
    total = page.locator("a[data-lightbox]").count()
    assert count.inner_text() == f"1 / {total}"
    src1 = page.locator(".lb img").get_attribute("src")
    thumb = first.locator("img")
    assert page.locator(".lb img").get_attribute("srcset") == thumb.get_attribute("srcset")
    page.wait_for_function("document.querySelector('.lb img').naturalWidth > 0")
    # On a large screen the viewer shows the full size: the srcset's largest candidate.
    largest = thumb.get_attribute("srcset").split(", ")[-1].split(" ")[0].removeprefix("../")
    assert page.evaluate("document.querySelector('.lb img').currentSrc").endswith(largest)
    page.screenshot(path=str(artifacts / "site-lightbox-1280.png"))

    page.keyboard.press("ArrowRight")
    assert count.inner_text() == f"2 / {total}"
    assert page.locator(".lb img").get_attribute("src") != src1
    for _ in range(5):  # the focus stays trapped inside the dialog
        page.keyboard.press("Tab")
        assert page.evaluate("document.querySelector('.lb').contains(document.activeElement)")
    assert page.evaluate("document.querySelector('main').inert")
    page.keyboard.press("Escape")
    dialog.wait_for(state="hidden")
    assert page.evaluate("document.activeElement.hasAttribute('data-lightbox')")
    assert not page.evaluate("document.querySelector('main').inert")
    assert errors == []
    page.close()


def test_axe_finds_no_violation_on_any_kind_of_page_light_or_dark_wide_or_narrow(
    site, browser
) -> None:
    from axe_playwright_python.sync_playwright import Axe

    axe = Axe()
    found = {}
    runs = 0
    for scheme in ("light", "dark"):
        for width in (1280, 390):
            page = browser.new_page(viewport={"width": width, "height": 900}, color_scheme=scheme)
            for kind, path in _kinds(site).items():
                page.goto(path.as_uri())
                page.wait_for_load_state("load")
                result = axe.run(page)
                runs += 1
                if scheme == "light":  # right-sized: no slot gets a smallest copy over 2x
                    oversized = page.evaluate(OVERSIZED)
                    assert oversized == [], f"{kind} at {width} px: {oversized}"
                if result.violations_count:
                    found[(kind, scheme, width)] = result.generate_report()
            page.close()
    assert runs == 32 and not found, "\n".join(f"{k}: {v}" for k, v in found.items())


def test_a_gallery_still_being_made_says_so_plainly_and_passes_axe(building, browser) -> None:
    from axe_playwright_python.sync_playwright import Axe

    axe = Axe()
    photo = next((building / "photos").glob("chelsea-*"))
    for scheme in ("light", "dark"):
        page = browser.new_page(viewport={"width": 1280, "height": 900}, color_scheme=scheme)
        for path in (building / "index.html", photo, building / "classes.html"):
            page.goto(path.as_uri())
            page.wait_for_load_state("load")
            banner = page.locator("p.building[role=status]")
            assert banner.count() == 1 and "still being made" in banner.inner_text()
            assert page.evaluate(BROKEN_IMAGES) == []
            result = axe.run(page)
            assert not result.violations_count, result.generate_report()
        page.goto(photo.as_uri())
        assert "Still being made: the deep dream." in page.locator("p.pending").inner_text()
        page.close()


def test_no_page_scrolls_sideways_at_320_px_and_dark_mode_holds(site, browser, artifacts) -> None:
    for scheme in ("light", "dark"):
        page = browser.new_page(viewport={"width": 320, "height": 700}, color_scheme=scheme)
        for kind, path in _kinds(site).items():
            page.goto(path.as_uri())
            page.wait_for_load_state("load")
            wide = page.evaluate("document.documentElement.scrollWidth")
            assert wide <= 320, f"{kind} ({scheme}) is {wide} px wide at 320"
            if scheme == "dark":
                bg = page.evaluate("getComputedStyle(document.body).backgroundColor")
                assert bg == "rgb(18, 18, 18)"  # prefers-color-scheme: dark
            if kind in ("photo", "about", "album-2"):
                page.screenshot(path=str(artifacts / f"site-{kind}-320-{scheme}.png"))
        page.close()


def test_the_page_is_whole_without_javascript(site, browser) -> None:
    url = next((site / "photos").glob("chelsea-*")).as_uri()
    page, errors = _open(browser, url, 1280, js=False)
    _load_all_images(page)
    assert page.locator(".slider").count() == 0
    assert page.locator(".compare figure img").count() == 2  # before and after, side by side
    assert page.locator(".compare figure").first.is_visible()
    assert page.evaluate("[...document.images].filter(i => !i.naturalWidth).length") == 0
    assert errors == []
    page.close()


def test_the_zoom_is_not_fetched_until_asked_and_reduced_motion_sees_a_still(site, browser):
    html = next((site / "photos").glob("chelsea-*"))
    url, photo_hash = html.as_uri(), html.stem.rsplit("-", 1)[1]
    animation = next(site.glob(f"media/{photo_hash}/zoom-classic-*.webp"))
    for motion in ("no-preference", "reduce"):
        page = browser.new_page(viewport={"width": 1280, "height": 900}, reduced_motion=motion)
        fetched: list[str] = []
        page.on("request", lambda r, seen=fetched: seen.append(r.url))
        page.goto(url)
        img = page.locator("#zoom-classic img")
        img.scroll_into_view_if_needed()
        page.wait_for_function("document.querySelector('#zoom-classic img').naturalWidth > 0")
        page.wait_for_load_state("networkidle")
        assert not [u for u in fetched if u.endswith(animation.name)]  # not even in view
        still = img.evaluate("i => i.currentSrc")
        assert still.endswith(".webp") and not still.endswith(animation.name)
        assert page.locator("#zoom-classic .play-text").is_visible()
        if motion == "no-preference":
            page.locator("#zoom-classic a.zoom-play").click()
            page.wait_for_function("document.querySelector('#zoom-classic img').complete")
            assert img.evaluate("i => i.currentSrc").endswith(animation.name)  # it plays
            assert [u for u in fetched if u.endswith(animation.name)]
            link = page.locator("#zoom-classic a.zoom-play")
            assert link.get_attribute("aria-pressed") == "true"
            link.click()  # and stops: the still again
            assert img.evaluate("i => i.currentSrc") == still
        page.close()
