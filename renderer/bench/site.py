"""Site bench: a gallery of thousands of photos in albums, from site-only fake job outputs
(no model runs), built at 500, 1000 and 2000 photos; the no-change rebuild; peak memory;
the largest index and photo page; and, where npm's Lighthouse can run, its four scores.

``fake_render_dir`` is also what the tests use for albums and paging.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import zlib
from collections.abc import Mapping
from pathlib import Path

import numpy as np
from PIL import Image

from ..imageio import save_image_atomic, sha256_file
from ..naming import photo_key
from ..provenance import InputFile, ModelInfo, Record, publish

MODEL = ModelInfo("efficientnet_lite0", "9" * 64, "/root/.cache/efficientnet_lite0.pth")
VERSIONS = {"renderer": "0.1.0", "torch": "2.14.1"}
SIZES = (500, 1000, 2000)
NOCHANGE_TARGET_S = 5.0
INDEX_TARGET_BYTES = 100_000
LIGHTHOUSE = "lighthouse@12.2.3"
LIGHTHOUSE_TARGET = 95


def _picture(n: int, size: tuple[int, int], dream: bool) -> Image.Image:
    """A smooth, distinct picture per photo (so every file has its own hash)."""
    w, h = size
    rng = np.random.default_rng(n)
    yy, xx = np.mgrid[0:h, 0:w] / max(w, h)
    a, b, c, p, q = rng.uniform(2, 9, 5)
    arr = np.stack([np.sin(a * xx + p), np.cos(b * yy + q), np.sin(c * (xx + yy))], axis=-1)
    if dream:
        arr = np.sin(3 * arr + 1.5)
    return Image.fromarray(((arr + 1) * 127.5).astype(np.uint8))


def fake_render_dir(
    root: Path,
    layout: Mapping[str, int],
    *,
    skipped: Mapping[str, int] | None = None,
    size: tuple[int, int] = (160, 120),
) -> tuple[Path, Path]:
    """``root/render`` with a photo and one dream record for ``layout[folder]`` photos in
    each folder ("" is the photos folder itself, "a/b" an album in an album), and
    ``skipped[folder]`` unreadable files. Returns (render dir, photos folder)."""
    photos, render = root / "photos", root / "render"
    render.mkdir(parents=True, exist_ok=True)
    records: list[Record] = []
    for folder, count in layout.items():
        for i in range(count):
            n = zlib.crc32(f"{folder}/{i}".encode())  # the same photo whatever else is there
            where = photos / folder if folder else photos
            where.mkdir(parents=True, exist_ok=True)
            path = where / f"photo {i:04d}.png"
            _picture(n, size, False).save(path)
            sha = sha256_file(path)
            key = photo_key(path.name, sha)
            source = (InputFile(str(path), sha),)
            save_image_atomic(_picture(n, size, False), render / key / "photo.png")
            save_image_atomic(_picture(n, size, True), render / key / "dream-classic.png")
            preds = [{"index": 1, "name": "goldfish", "prob": 0.5}]
            common = {"model": MODEL, "inputs": source, "versions": VERSIONS, "device": "cpu"}
            records.append(
                Record(
                    kind="photo",
                    output=f"{key}/photo.png",
                    command=f"renderer dream '{path}'",
                    extra={
                        "name": path.name,
                        "width": size[0],
                        "height": size[1],
                        "predictions": preds,
                    },
                    **common,
                )
            )
            records.append(
                Record(
                    kind="dream",
                    output=f"{key}/dream-classic.png",
                    command=f"renderer dream '{path}' --preset classic",
                    params={"preset": "classic", "layers": ["blocks.4"], "octaves": 4},
                    seed=0,
                    extra={
                        "preset": "classic",
                        "layers": ["blocks.4"],
                        "predictions": preds,
                        "caption": "Layer blocks.4 · 4 octaves",
                    },
                    **common,
                )
            )
    for folder, count in (skipped or {}).items():
        for i in range(count):
            where = photos / folder if folder else photos
            where.mkdir(parents=True, exist_ok=True)
            bad = where / f"broken {i}.jpg"
            bad.write_bytes(b"\xff\xd8 not a jpeg")
            records.append(
                Record(
                    kind="skipped",
                    output=None,
                    command=f"renderer dream '{bad}'",
                    inputs=(InputFile(str(bad), ""),),
                    extra={"name": bad.name, "reason": f"{bad}: corrupt image"},
                    versions={},
                )
            )
    publish(render, records)
    return render, photos


def _layout(n: int) -> dict[str, int]:
    """``n`` photos: a fifth loose, the rest in ten albums, two of them nested."""
    loose = n // 5
    rest = n - loose
    names = [f"album {i:02d}" for i in range(8)] + ["album 00/inner", "album 01/inner"]
    layout = {"": loose}
    for i, name in enumerate(names):
        layout[name] = rest // len(names) + (1 if i < rest % len(names) else 0)
    return layout


def _timed_site_build(render: Path, photos: Path, site: Path) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of ``renderer site build`` in a fresh process."""
    script = (
        "import resource, sys, time; from pathlib import Path;"
        "from renderer.site.builder import SiteOptions, build_site;"
        "t = time.perf_counter();"
        "build_site(Path(sys.argv[1]), Path(sys.argv[3]), SiteOptions(photos=Path(sys.argv[2])));"
        "print(time.perf_counter() - t, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)"
    )
    out = subprocess.run(
        [sys.executable, "-c", script, str(render), str(photos), str(site)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    return round(float(out[0]), 2), round(int(out[1]) / 1024, 1)


def _largest(site: Path, pattern: str) -> int:
    return max((p.stat().st_size for p in site.glob(pattern)), default=0)


def lighthouse(site: Path, pages: dict[str, str], out: Path) -> dict[str, object]:
    """Lighthouse's four scores for each page, served by ``renderer site serve``; {} when
    npm's lighthouse is not installed (``LIGHTHOUSE_DIR``, see the README)."""
    import threading

    from ..site.serve import make_server

    folder = Path(os.environ.get("LIGHTHOUSE_DIR", ".lighthouse"))
    binary = folder / "node_modules" / ".bin" / "lighthouse"
    chromium = Path("/usr/bin/chromium")
    if not binary.exists() or not chromium.exists():
        return {"lighthouse": f"not run: npm install --prefix {folder} {LIGHTHOUSE}"}
    server = make_server(site, 0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    scores: dict[str, object] = {}
    try:
        for name, path in pages.items():
            report = out / f"lighthouse-{name}.json"
            subprocess.run(
                [
                    str(binary),
                    f"http://127.0.0.1:{port}/{path}",
                    "--quiet",
                    "--output=json",
                    f"--output-path={report}",
                    "--chrome-flags=--headless=new --no-sandbox --disable-gpu",
                    "--only-categories=performance,accessibility,best-practices,seo",
                ],
                check=False,
                env={**os.environ, "CHROME_PATH": str(chromium)},
                capture_output=True,
                timeout=300,
            )
            if not report.is_file():
                scores[f"lighthouse {name}"] = "failed"
                continue
            cats = json.loads(report.read_text(encoding="utf-8"))["categories"]
            for key, cat in cats.items():
                scores[f"lighthouse {name} {key}"] = round(100 * (cat["score"] or 0))
    finally:
        server.shutdown()
        server.server_close()
    return scores


def run(out: Path) -> dict[str, object]:
    """Build sites of 500, 1000 and 2000 photos; rebuild the largest unchanged."""
    work = Path(out) / "site-bench"
    shutil.rmtree(work, ignore_errors=True)
    results: dict[str, object] = {}
    times = {}
    for n in SIZES:
        clock = time.perf_counter()
        render, photos = fake_render_dir(work / str(n), _layout(n))
        results[f"fake outputs {n} photos (s)"] = round(time.perf_counter() - clock, 1)
        seconds, peak = _timed_site_build(render, photos, work / str(n) / "site")
        times[n] = seconds
        results[f"build {n} photos (s)"] = seconds
        results[f"peak memory {n} photos (MB)"] = peak
    big = SIZES[-1]
    site = work / str(big) / "site"
    again, peak = _timed_site_build(work / str(big) / "render", work / str(big) / "photos", site)
    results[f"no-change rebuild {big} photos (s)"] = again
    results["no-change rebuild target (s)"] = NOCHANGE_TARGET_S
    results["linear: 2000/500 time ratio (4 is linear)"] = round(times[big] / times[SIZES[0]], 2)
    index = max(
        (p.stat().st_size for p in [site / "index.html", *site.glob("page-*.html")]), default=0
    )
    albums = _largest(site, "albums/**/*.html")
    results["largest index page (bytes)"] = max(index, albums)
    results["largest index page target (bytes)"] = INDEX_TARGET_BYTES
    results["largest photo page (bytes)"] = _largest(site, "photos/*.html")
    results["pages"] = len(list(site.rglob("*.html")))
    photo = next(site.glob("photos/*.html")).relative_to(site).as_posix()
    results.update(lighthouse(site, {"index": "index.html", "photo": photo}, Path(out)))
    return results
