"""Site bench: a gallery of thousands of photos in albums, from site-only fake job outputs
(no model runs), built at 500, 1000 and 2000 photos; the no-change rebuild; peak memory;
the largest index and photo page; and, where npm's Lighthouse can run, its four scores.

``fake_render_dir`` is also what the tests use for albums and paging.
"""

from __future__ import annotations

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
