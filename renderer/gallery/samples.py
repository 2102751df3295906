"""The sample gallery's photos, from scikit-image's bundled data (no download).

Files are written once and then left alone: rewriting equal pixels would still be a new
file to the cache's eyes if an encoder changed, and skipping the write keeps a no-change
rebuild from importing scikit-image at all.
"""

from __future__ import annotations

from pathlib import Path

from ..imageio import save_image_atomic

# (file name, skimage.data function): the cat, the coffee, the astronaut, the rocket,
# and the Hubble deep field (dreams love its dark, busy sky).
SAMPLES = (
    ("chelsea.jpg", "chelsea"),
    ("coffee.jpg", "coffee"),
    ("astronaut.jpg", "astronaut"),
    ("rocket.jpg", "rocket"),
    ("hubble-deep-field.jpg", "hubble_deep_field"),
)

# The sample gallery shows one zoom animation unless gallery.toml lists its own.
SAMPLE_ZOOMS = ("chelsea.jpg",)


def write_sample_photos(folder: str | Path, names: tuple[str, ...] | None = None) -> list[Path]:
    """Write the sample photos (all, or those named) into ``folder``; returns their paths."""
    target = Path(folder)
    chosen = [s for s in SAMPLES if names is None or s[0] in names or s[1] in names]
    paths = []
    for file_name, function in chosen:
        path = target / file_name
        if not path.is_file():
            from PIL import Image
            from skimage import data

            save_image_atomic(Image.fromarray(getattr(data, function)()), path, quality=92)
        paths.append(path)
    return paths
