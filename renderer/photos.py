"""A photo prepared for work: read once, at its working size, with a stable output key.

Dream and explanation jobs both publish the working copy as ``<key>/photo.png`` (no EXIF,
no GPS) with a ``photo`` record holding the model's top-5 for it, so the site never needs
the artist's original file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from .classify import classify_whole_picture
from .errors import BadInputError
from .imageio import (
    DEFAULT_MAX_FILE_MB,
    DEFAULT_MAX_PIXELS,
    MB,
    load_photo,
    save_image_atomic,
)
from .models import LoadedModel
from .naming import photo_key
from .provenance import InputFile, Record
from .sizes import working_size


@dataclass(frozen=True)
class WorkingPhoto:
    path: Path
    sha256: str
    key: str
    image: Image.Image

    @property
    def input(self) -> InputFile:
        return InputFile(str(self.path), self.sha256)


def prepare_photo(
    path: str | Path,
    size: int | str | None,
    min_size: int = 32,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    max_bytes: int = DEFAULT_MAX_FILE_MB * MB,
) -> WorkingPhoto:
    """Read and scale a photo to its working size (``sizes.working_size``: never enlarged,
    a panorama at its short side's scale); too small for the model is a ``BadInputError``."""
    path = Path(path)
    img, digest = load_photo(path, max_pixels, max_bytes)
    if size is not None:
        fitted = working_size(img.width, img.height, size, min_size)
        if fitted != img.size:
            img = img.resize(fitted, Image.Resampling.LANCZOS, reducing_gap=3.0)
    if min(img.size) < min_size:
        raise BadInputError(
            path, f"too small ({img.width}x{img.height}); the model needs at least {min_size} px"
        )
    return WorkingPhoto(path, digest, photo_key(path.name, digest), img)


def publish_photo(
    out_dir: str | Path, photo: WorkingPhoto, model: LoadedModel, command: str
) -> Record:
    """Write ``<key>/photo.png`` and return its record, with the model's top-5 for it."""
    output = f"{photo.key}/photo.png"
    save_image_atomic(photo.image, Path(out_dir) / output)
    predictions = classify_whole_picture(model, photo.image, top=5)
    return model.record(
        "photo",
        output,
        command,
        inputs=(photo.input,),
        params={"size": max(photo.image.size)},
        extra={
            "name": photo.path.name,
            "width": photo.image.width,
            "height": photo.image.height,
            "predictions": [p.to_dict() for p in predictions],
        },
    )
