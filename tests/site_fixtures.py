"""A realistic render directory for site tests, without running any model.

It follows the render-directory contract exactly: real photos from scikit-image, fake
"dreams" made by simple image transforms, fake heatmaps with colorbar legends, layer and
class dreams, LIME and robustness panels, octave frames, a zoom (an animated WebP) and one
skipped photo. Two photos carry hostile names, and the recorded commands carry absolute
paths of the machine, as real ones do, so tests can check that neither leaks into the pages.
"""

from __future__ import annotations

import shlex
from pathlib import Path

import numpy as np
from PIL import Image, ImageEnhance, ImageFilter, ImageOps

from renderer.imageio import save_animation_atomic, save_image_atomic, sha256_file
from renderer.naming import photo_key, slug
from renderer.provenance import InputFile, ModelInfo, Record, publish

HOSTILE_SCRIPT = "<script>alert(1)</script>.jpg"
HOSTILE_QUOTES = '"quotes" & unicode ✓ .png'
MODEL = ModelInfo("efficientnet_lite0", "9" * 64, "/root/.cache/efficientnet_lite0.pth")
VERSIONS = {"renderer": "0.1.0", "torch": "2.14.1", "torchvision": "0.29.1", "kornia": "0.9.0"}
CREATED = "2026-11-26T06:40:00+00:00"

# (file name on disk, name the artist gave it, skimage sample, top-5 predictions)
PHOTOS = (
    (
        "chelsea.jpg",
        "chelsea.jpg",
        "chelsea",
        [
            (281, "tabby", 0.52),
            (282, "tiger cat", 0.21),
            (285, "Egyptian cat", 0.14),
            (287, "lynx", 0.03),
            (283, "Persian cat", 0.01),
        ],
    ),
    (
        "coffee.jpg",
        "coffee.jpg",
        "coffee",
        [
            (967, "espresso", 0.71),
            (968, "cup", 0.12),
            (504, "coffee mug", 0.08),
            (925, "consomme", 0.02),
            (809, "soup bowl", 0.01),
        ],
    ),
    (
        "astronaut.jpg",
        "astronaut.jpg",
        "astronaut",
        [
            (834, "suit", 0.33),
            (869, "trench coat", 0.12),
            (457, "bow tie", 0.09),
            (906, "Windsor tie", 0.07),
            (617, "lab coat", 0.05),
        ],
    ),
    (
        "hostile-script.jpg",
        HOSTILE_SCRIPT,
        "rocket",
        [
            (812, "space shuttle", 0.61),
            (744, "projectile", 0.19),
            (657, "missile", 0.11),
            (403, "aircraft carrier", 0.01),
            (908, "wing", 0.01),
        ],
    ),
    (
        "hostile-quotes.png",
        HOSTILE_QUOTES,
        "immunohistochemistry",
        [
            (937, "broccoli", 0.18),
            (945, "bell pepper", 0.09),
            (947, "mushroom", 0.06),
            (992, "agaric", 0.05),
            (109, "brain coral", 0.04),
        ],
    ),
)
VIRIDIS = np.array(
    [[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]], dtype=np.float64
)


def _preds(items) -> list[dict]:
    return [{"index": i, "name": n, "prob": p} for i, n, p in items]


def viridis(values: np.ndarray) -> np.ndarray:
    """Values in [0, 1] -> RGB uint8 with a five-stop viridis approximation."""
    x = np.clip(values, 0, 1) * (len(VIRIDIS) - 1)
    lo = np.floor(x).astype(int).clip(0, len(VIRIDIS) - 2)
    t = (x - lo)[..., None]
    return (VIRIDIS[lo] * (1 - t) + VIRIDIS[lo + 1] * t).round().astype(np.uint8)


def _blob(w: int, h: int, cx: float, cy: float, s: float) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w]
    return np.exp(-(((xx / w - cx) ** 2) + ((yy / h - cy) ** 2)) / (2 * s * s))


def _overlay(img: Image.Image, heat: np.ndarray, alpha: float) -> Image.Image:
    base = np.asarray(img, dtype=np.float64)
    colored = viridis(heat).astype(np.float64)
    return Image.fromarray((base * (1 - alpha) + colored * alpha).round().astype(np.uint8))


def _dream(img: Image.Image, strength: int) -> Image.Image:
    """A stand-in for a dream: oversaturated, sharpened, with a colour shift."""
    out = ImageEnhance.Color(img).enhance(2.2 + strength)
    out = out.filter(ImageFilter.UnsharpMask(radius=3, percent=250, threshold=1))
    r, g, b = out.split()
    out = Image.merge("RGB", (b, r, g)) if strength % 2 else Image.merge("RGB", (g, b, r))
    return Image.blend(img, out, 0.55)


def _noise_dream(seed: int, size: int = 256) -> Image.Image:
    rng = np.random.default_rng(seed)
    field = rng.random((size // 16, size // 16, 3))
    small = Image.fromarray((field * 255).astype(np.uint8)).resize((size, size), Image.BICUBIC)
    return ImageOps.autocontrast(small.filter(ImageFilter.EDGE_ENHANCE_MORE))


def _cmd(*words: object) -> str:
    return shlex.join(["renderer", *(str(w) for w in words)])


def make_render_dir(root: Path, *, explain_photos: int = 2) -> Path:
    """Write ``root/render`` (outputs, sidecars, manifest.json) and return it."""
    from skimage import data

    photos_dir = root / "photos"
    render = root / "render"
    photos_dir.mkdir(parents=True, exist_ok=True)
    render.mkdir(parents=True, exist_ok=True)
    records: list[Record] = []

    def record(kind, output, command, extra, inputs=(), params=None, seed=None, wall=1.5):
        records.append(
            Record(
                kind=kind,
                output=output,
                command=command,
                model=MODEL,
                inputs=inputs,
                params=params or {},
                seed=seed,
                device="cpu",
                wall_time_s=wall,
                extra=extra,
                versions=VERSIONS,
                created=CREATED,
            )
        )

    for n, (disk, name, sample, preds) in enumerate(PHOTOS):
        arr = getattr(data, sample)()
        if arr.ndim == 2:
            arr = np.stack([arr] * 3, axis=-1)
        img = Image.fromarray(arr[..., :3]).convert("RGB")
        img.thumbnail((360, 360), Image.LANCZOS)
        disk_path = photos_dir / disk
        img.save(disk_path)
        sha = sha256_file(disk_path)
        key = photo_key(name, sha)
        source = InputFile(str(photos_dir / disk), sha)
        save_image_atomic(img, render / key / "photo.png")
        record(
            "photo",
            f"{key}/photo.png",
            _cmd("dream", photos_dir / name, "--out", render),
            {"name": name, "width": img.width, "height": img.height, "predictions": _preds(preds)},
            (source,),
            {"size": max(img.size)},
        )
        for s, (preset, layer) in enumerate((("classic", "blocks.5"), ("deep", "blocks.6"))):
            if n >= 3 and preset == "deep":
                continue
            out = f"{key}/dream-{preset}.png"
            save_image_atomic(_dream(img, s), render / out)
            frames = []
            if n == 0 and preset == "classic":
                for octave in range(4):
                    frame = f"{key}/frames/dream-{preset}-octave-{octave}.png"
                    small = img.resize((img.width // (4 - octave), img.height // (4 - octave)))
                    save_image_atomic(_dream(small, octave), render / frame)
                    frames.append(frame)
            dream_preds = _preds(
                [
                    (i, nm, round(p * (0.5 + 0.2 * s), 4))
                    for i, nm, p in [
                        (327, "starfish", 0.6),
                        (112, "conch", 0.2),
                        (973, "coral reef", 0.1),
                        (107, "jellyfish", 0.05),
                        (109, "brain coral", 0.02),
                    ]
                ]
            )
            record(
                "dream",
                out,
                _cmd("dream", photos_dir / name, "--out", render, "--preset", preset),
                {
                    "preset": preset,
                    "layers": [layer],
                    "objective_start": 12.5,
                    "objective_end": 96.25,
                    "predictions": dream_preds,
                    "frames": frames,
                    "caption": f"Layer {layer} · 4 octaves · blur · lr 0.04",
                },
                (source,),
                {
                    "preset": preset,
                    "layers": [layer],
                    "octaves": 4,
                    "octave_scale": 1.4,
                    "steps": 10,
                    "lr": 0.04,
                    "blur_sigma": 0.9,
                    "jitter": 32,
                },
                seed=7,
            )
        if n == 0:
            _zoom(render, key, img, source, photos_dir / name, record)
        if n < explain_photos:
            _explain(render, key, img, source, photos_dir / name, preds, record)
    _layer_dreams(render, records, photos_dir, record)
    for seed, (index, cname, prob) in enumerate(
        ((1, "goldfish", 0.97), (207, "golden retriever", 0.91), (963, "pizza", 0.88))
    ):
        out = f"class-dreams/class-{index}-{slug(cname)}.png"
        save_image_atomic(_noise_dream(100 + seed), render / out)
        record(
            "class-dream",
            out,
            _cmd("dream", "--class", index, "--out", render),
            {
                "class_index": index,
                "class_name": cname,
                "prob": prob,
                "predictions": _preds([(index, cname, prob)]),
                "caption": f"{cname} · class {index} · 5 octaves",
            },
            (),
            {"class": index, "octaves": 5, "steps": 20, "lr": 0.02},
            seed=seed,
        )
    broken = photos_dir / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    record(
        "skipped",
        None,
        _cmd("dream", broken, "--out", render),
        {"name": "broken.jpg", "reason": f"{broken}: corrupt image (truncated data)"},
        (InputFile(str(broken), ""),),
    )
    publish(render, records)
    return render


ZOOM_FRAMES, ZOOM_FPS = 6, 12


def _zoom(render, key, img, source, photo_path, record) -> None:
    """A small stand-in zoom: the dream, cropped 1.1x further into its centre each frame."""
    small = _dream(img, 0)
    small.thumbnail((160, 160), Image.LANCZOS)
    w, h = small.size
    frames = []
    for i in range(ZOOM_FRAMES):
        f = 1.1**i
        box = (w / 2 - w / (2 * f), h / 2 - h / (2 * f), w / 2 + w / (2 * f), h / 2 + h / (2 * f))
        frames.append(small.resize((w, h), Image.BICUBIC, box=box))
    out = f"{key}/zoom-classic.webp"
    save_animation_atomic(frames, render / out, round(1000 / ZOOM_FPS), quality=80)
    record(
        "zoom",
        out,
        _cmd("zoom", photo_path, "--out", render, "--frames", ZOOM_FRAMES),
        {
            "preset": "classic",
            "layers": ["blocks.4"],
            "width": w,
            "height": h,
            "frame_count": ZOOM_FRAMES,
            "duration_ms": round(1000 / ZOOM_FPS),
            "loop": 0,
            "caption": "classic · zoom ×1.1 a frame · 6 frames at 12 fps · blocks.4 · lr 0.025",
        },
        (source,),
        {"layers": ["blocks.4"], "octaves": 4, "frames": ZOOM_FRAMES, "zoom": 1.1, "fps": ZOOM_FPS},
        seed=7,
    )


def _explain(render, key, img, source, photo_path, preds, record) -> None:
    w, h = img.size
    heat = _blob(w, h, 0.45, 0.4, 0.18)
    legend = f"{key}/legend-viridis.png"
    bar = viridis(np.tile(np.linspace(0, 1, 256), (12, 1)))
    save_image_atomic(Image.fromarray(bar), render / legend)
    target = {"index": preds[0][0], "name": preds[0][1], "prob": preds[0][2]}
    curve = [round(float(np.exp(-i / 5)), 4) for i in range(21)]
    rising = [round(1 - float(np.exp(-i / 4)), 4) for i in range(21)]
    faith = {
        "deletion_auc": 0.21,
        "insertion_auc": 0.64,
        "deletion_curve": curve,
        "insertion_curve": rising,
    }
    methods = (
        "gradcam",
        "gradcam++",
        "guided-backprop",
        "guided-gradcam",
        "lime-top10",
        "lime-segments",
        "lime-top5",
        "lime-top15",
    )
    for method in methods:
        out = f"{key}/explain-{method}.png"
        extra = {"method": method, "layer": "bn2", "target": target, "caption": None}
        if method.startswith("lime"):
            picture = (
                img.filter(ImageFilter.FIND_EDGES)
                if method == "lime-segments"
                else (Image.fromarray((np.asarray(img) * (heat[..., None] > 0.4)).astype(np.uint8)))
            )
            extra["lime"] = {
                "r2": 0.47,
                "intercept": 0.1,
                "segments": 61,
                "samples": 1000,
                "top5_stability": 0.87,
            }
            if method == "lime-top5":
                extra["faithfulness"] = faith
        else:
            picture = _overlay(img, heat, 0.5)
            if method == "guided-backprop":
                picture = ImageOps.autocontrast(img.filter(ImageFilter.CONTOUR))
            extra["legend"] = {
                "colormap": "viridis",
                "min": 0.0,
                "max": 1.0,
                "alpha": 0.5,
                "normalization": "min-max per image",
                "image": legend,
            }
            if method == "gradcam":
                extra["faithfulness"] = faith
        del extra["caption"]
        save_image_atomic(picture, render / out)
        record(
            "explain",
            out,
            _cmd("explain", photo_path, "--out", render, "--method", method),
            extra,
            (source,),
            {"method": method, "layer": "bn2", "samples": 1000},
            seed=0,
        )
    for kind, level in (("noise", 0.1), ("noise", 0.3), ("brightness", 0.5), ("contrast", 0.4)):
        out = f"{key}/explain-robustness-{kind}-{level}.png"
        if kind == "noise":
            rng = np.random.default_rng(0)
            arr = np.asarray(img) / 255 + rng.normal(0, level, (h, w, 3))
            picture = Image.fromarray((np.clip(arr, 0, 1) * 255).astype(np.uint8))
        elif kind == "brightness":
            picture = ImageEnhance.Brightness(img).enhance(level)
        else:
            picture = ImageEnhance.Contrast(img).enhance(level)
        save_image_atomic(_overlay(picture, heat, 0.4), render / out)
        top = {"index": preds[1][0], "name": preds[1][1], "prob": 0.33}
        record(
            "explain",
            out,
            _cmd("explain", photo_path, "--out", render, "--robustness", kind),
            {
                "method": f"robustness-{kind}-{level}",
                "layer": "bn2",
                "target": target,
                "robustness": {"kind": kind, "level": level, "top": top, "original": target},
            },
            (source,),
            {"kind": kind, "level": level},
            seed=0,
        )


def _layer_dreams(render, records, photos_dir, record) -> None:
    """Four layers on the cat, written deep-first so the site must sort by depth."""
    photo = next(r for r in records if r.kind == "photo")
    img = Image.open(render / photo.output).convert("RGB")
    for depth, layer in reversed(list(enumerate(("blocks.2", "blocks.3", "blocks.4", "blocks.6")))):
        out = f"layer-dreams/chelsea-{slug(layer)}.png"
        picture = _dream(img.filter(ImageFilter.GaussianBlur(3 - min(depth, 3))), depth)
        save_image_atomic(picture, render / out)
        record(
            "layer-dream",
            out,
            _cmd("dream", photos_dir / "chelsea.jpg", "--layer", layer, "--out", render),
            {
                "layers": [layer],
                "objective_start": 1.0,
                "objective_end": 9.0,
                "depth": depth,
                "caption": f"Layer {layer} · 4 octaves · blur · lr 0.04",
                "predictions": _preds([(327, "starfish", 0.3)]),
            },
            photo.inputs,
            {"layers": [layer], "octaves": 4, "lr": 0.04},
            seed=1,
        )
    for depth, layer in ((1, "blocks.3"), (5, "blocks.6")):
        out = f"layer-dreams/noise-{slug(layer)}.png"
        save_image_atomic(_noise_dream(depth), render / out)
        record(
            "layer-dream",
            out,
            _cmd("dream", "--from-noise", "--layer", layer),
            {
                "layers": [layer],
                "depth": depth,
                "caption": f"Layer {layer} · 6 octaves · no blur · lr 0.01",
            },
            (),
            {"layers": [layer], "octaves": 6, "lr": 0.01},
            seed=2,
        )
