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

# The sample gallery's zoom animations unless gallery.toml lists its own (config.zooms).
SAMPLE_ZOOMS = ("chelsea.jpg",)
# Its masked dreams (config.mask_list) and its layer atlas (config.atlases), unless
# gallery.toml names its own: the cat dreamt around what Grad-CAM sees, and on it.
SAMPLE_MASKS = ("chelsea.jpg:background", "chelsea.jpg:subject")
SAMPLE_ATLAS = ("chelsea.jpg",)


def write_sample_photos(folder: str | Path) -> list[Path]:
    """Write the sample photos into ``folder`` (those not there yet); returns their paths."""
    target = Path(folder)
    paths = []
    for file_name, function in SAMPLES:
        path = target / file_name
        if not path.is_file():
            from PIL import Image
            from skimage import data

            save_image_atomic(Image.fromarray(getattr(data, function)()), path, quality=92)
        paths.append(path)
    return paths
