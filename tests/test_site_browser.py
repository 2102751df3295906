"""The site in a real browser: Debian's headless Chromium, driven by Playwright, from file://."""

from __future__ import annotations

from pathlib import Path

import pytest
from site_fixtures import make_render_dir

from renderer.site.builder import build_site

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
    root = tmp_path_factory.mktemp("browser")
    build_site(make_render_dir(root), root / "site", title="dreamgallery")
    return root / "site"


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
    assert src1 == first.get_attribute("data-lightbox")
    page.wait_for_function("document.querySelector('.lb img').naturalWidth > 0")
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


def test_phone_width_dark_mode_and_no_horizontal_scroll(site, browser, artifacts) -> None:
    for rel, name in (("index.html", "index"), (None, "photo")):
        url = (site / rel).as_uri() if rel else next((site / "photos").glob("chelsea-*")).as_uri()
        page, errors = _open(browser, url, 390, 844, scheme="dark")
        _load_all_images(page)
        assert errors == []
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        bg = page.evaluate("getComputedStyle(document.body).backgroundColor")
        assert bg == "rgb(18, 18, 18)"  # prefers-color-scheme: dark
        page.screenshot(path=str(artifacts / f"site-{name}-390.png"), full_page=True)
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


def test_the_zoom_plays_unless_motion_is_reduced(site, browser) -> None:
    url = next((site / "photos").glob("chelsea-*")).as_uri()
    shown = {}
    for motion in ("no-preference", "reduce"):
        page = browser.new_page(viewport={"width": 1280, "height": 900}, reduced_motion=motion)
        page.goto(url)
        img = page.locator("#zoom-classic img")
        img.scroll_into_view_if_needed()
        page.wait_for_function("document.querySelector('#zoom-classic img').naturalWidth > 0")
        shown[motion] = img.evaluate("i => i.currentSrc")
        assert page.locator("#zoom-classic .still-note").is_visible() == (motion == "reduce")
        page.close()
    animation = next(
        p for p in site.glob("media/chelsea-*/zoom-classic-*.webp") if p.stem.count("-") == 2
    )
    assert shown["no-preference"].endswith(f"/{animation.name}")  # it plays
    assert shown["reduce"].endswith("-160.webp")  # the still poster, its first frame
