"""Photos of every kind become 8-bit RGB; bad files give one clear reason each."""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from icc_profiles import DISPLAY_P3, rgb_profile
from PIL import Image, ImageCms

from renderer.errors import BadInputError
from renderer.imageio import (
    NEUTRAL_BACKGROUND,
    atomic_path,
    decode_photo,
    fit_long_side,
    load_photo,
    pil_to_tensor,
    save_image_atomic,
    tensor_to_pil,
)


def _encode(img: Image.Image, fmt: str, **kw) -> bytes:
    buffer = io.BytesIO()
    img.save(buffer, format=fmt, **kw)
    return buffer.getvalue()


@pytest.fixture
def gradient() -> Image.Image:
    """A 40x30 picture whose red grows to the right and blue grows downwards."""
    x = np.linspace(0, 255, 40, dtype=np.float64)[None, :].repeat(30, 0)
    y = np.linspace(0, 255, 30, dtype=np.float64)[:, None].repeat(40, 1)
    rgb = np.stack([x, np.full_like(x, 60), y], axis=-1).round().astype(np.uint8)
    return Image.fromarray(rgb, "RGB")


def test_rgba_is_composited_on_neutral_grey() -> None:
    rgba = np.zeros((4, 4, 4), np.uint8)
    rgba[..., 0] = 255  # red, fully transparent on the left half
    rgba[:, 2:, 3] = 255
    img = decode_photo(_encode(Image.fromarray(rgba, "RGBA"), "PNG"))
    arr = np.asarray(img)
    assert img.mode == "RGB"
    assert tuple(arr[0, 0]) == NEUTRAL_BACKGROUND
    assert tuple(arr[0, 3]) == (255, 0, 0)


def test_sixteen_bit_grayscale_is_rescaled_not_clipped() -> None:
    arr16 = np.array([[0, 65535], [32896, 257]], dtype=np.uint16)
    img = decode_photo(_encode(Image.fromarray(arr16), "PNG"))
    assert np.asarray(img)[..., 0].tolist() == [[0, 255], [128, 1]]


def test_cmyk_palette_and_grayscale_become_rgb(gradient: Image.Image) -> None:
    for variant, fmt in (
        (gradient.convert("CMYK"), "JPEG"),
        (gradient.convert("P"), "PNG"),
        (gradient.convert("L"), "PNG"),
        (gradient, "WEBP"),
        (gradient, "TIFF"),
        (gradient, "BMP"),
    ):
        img = decode_photo(_encode(variant, fmt))
        assert img.mode == "RGB" and img.size == (40, 30)
    # Channels keep their meaning: red grows to the right (no BGR swap).
    arr = np.asarray(decode_photo(_encode(gradient, "PNG"))).astype(int)
    assert arr[15, 39, 0] > arr[15, 0, 0] + 200
    assert arr[29, 20, 2] > arr[0, 20, 2] + 200


def test_display_p3_photo_is_converted_to_srgb() -> None:
    """A phone photo tagged Display P3: its pixels must come out as the same colours in sRGB,
    worked out here by hand (P3 gamma -> XYZ -> sRGB's D50 matrix -> sRGB curve)."""
    p3 = np.array([[[200, 60, 60], [40, 180, 90], [128, 128, 128], [10, 20, 230]]], np.uint8)
    got = np.asarray(decode_photo(_encode(Image.fromarray(p3), "PNG", icc_profile=rgb_profile())))
    xyz = (p3 / 255.0) ** 2.2 @ np.array(DISPLAY_P3)
    srgb_d50 = np.array(  # the columns of sRGB's RGB -> XYZ matrix, adapted to D50
        [
            [0.4360747, 0.2225045, 0.0139322],
            [0.3850649, 0.7168786, 0.0971045],
            [0.1430804, 0.0606169, 0.7141733],
        ]
    )
    linear = np.clip(xyz @ np.linalg.inv(srgb_d50), 0, 1)
    encoded = np.where(linear <= 0.0031308, 12.92 * linear, 1.055 * linear ** (1 / 2.4) - 0.055)
    assert np.abs(got.astype(int) - np.round(encoded * 255)).max() <= 1
    assert got[0, 0, 0] > 210 and got[0, 0, 1] < 45  # P3's red is redder than sRGB's


def test_srgb_tagged_and_broken_profiles_leave_pixels_alone(gradient: Image.Image) -> None:
    plain = np.asarray(decode_photo(_encode(gradient, "PNG")))
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    for profile in (srgb, b"not an ICC profile at all"):
        tagged = decode_photo(_encode(gradient, "PNG", icc_profile=profile))
        assert np.array_equal(np.asarray(tagged), plain)


def test_iphone_heic_and_avif_are_read_with_their_colour_profile(
    tmp_path: Path, gradient: Image.Image
) -> None:
    pytest.importorskip("pillow_heif")
    p3 = rgb_profile()
    reference = np.asarray(decode_photo(_encode(gradient, "PNG", icc_profile=p3)), dtype=float)
    assert not np.array_equal(reference, np.asarray(gradient))  # the profile mattered
    for suffix, fmt in ((".heic", "HEIF"), (".avif", "AVIF")):
        from renderer.imageio import _open_heif, is_photo_name

        _open_heif()
        path = tmp_path / f"IMG_0001{suffix.upper()}"
        gradient.save(path, format=fmt, quality=95, icc_profile=p3)
        picture, digest = load_photo(path)
        assert is_photo_name(path) and len(digest) == 64
        assert picture.mode == "RGB" and picture.size == gradient.size
        assert np.abs(np.asarray(picture, dtype=float) - reference).mean() < 4, suffix


def test_exif_orientation_is_applied(gradient: Image.Image) -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    img = decode_photo(_encode(gradient, "JPEG", exif=exif, quality=95))
    assert img.size == (30, 40)


def test_animated_gif_gives_first_frame(gradient: Image.Image) -> None:
    red = Image.new("RGB", (40, 30), (255, 0, 0))
    data = _encode(red, "GIF", save_all=True, append_images=[gradient])
    arr = np.asarray(decode_photo(data))
    assert arr[..., 0].min() > 240 and arr[..., 2].max() < 20


def test_mislabelled_file_is_read_by_content(tmp_path: Path, gradient: Image.Image) -> None:
    path = tmp_path / "really-a-jpeg.png"
    path.write_bytes(_encode(gradient, "JPEG"))
    img, digest = load_photo(path)
    assert img.size == (40, 30) and len(digest) == 64


def _bad_files(tmp_path: Path, gradient: Image.Image) -> dict[str, tuple[Path, str]]:
    good = _encode(gradient.resize((400, 300)), "JPEG", quality=90)
    cases = {
        "empty": ("empty.jpg", b"", "empty file"),
        "text": ("notes.jpg", b"this is a text file, not a photo\n", "not an image"),
        "truncated": ("cut.jpg", good[: len(good) // 2], "truncated"),
        "corrupt": ("noise.png", b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 3, "not an image"),
    }
    files = {}
    for kind, (name, data, reason) in cases.items():
        (tmp_path / name).write_bytes(data)
        files[kind] = (tmp_path / name, reason)
    (tmp_path / "folder.jpg").mkdir()
    files["directory"] = (tmp_path / "folder.jpg", "is a directory")
    os.symlink(tmp_path / "gone.jpg", tmp_path / "dangling.jpg")
    files["broken symlink"] = (tmp_path / "dangling.jpg", "broken symbolic link")
    files["missing"] = (tmp_path / "nope.jpg", "no such file")
    return files


def test_each_bad_file_has_its_own_reason(tmp_path: Path, gradient: Image.Image) -> None:
    for kind, (path, reason) in _bad_files(tmp_path, gradient).items():
        with pytest.raises(BadInputError) as info:
            load_photo(path)
        assert reason in str(info.value), kind
        assert str(path) in str(info.value)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_unreadable_file(tmp_path: Path, gradient: Image.Image) -> None:
    path = tmp_path / "locked.jpg"
    path.write_bytes(_encode(gradient, "JPEG"))
    path.chmod(0)
    with pytest.raises(BadInputError, match="permission denied"):
        load_photo(path)


def test_pixel_limit_refuses_before_decoding(tmp_path: Path) -> None:
    path = tmp_path / "big.png"
    Image.new("L", (3000, 2000)).save(path)
    with pytest.raises(BadInputError, match=r"too large \(3000x2000"):
        load_photo(path, max_pixels=5_000_000)
    assert load_photo(path, max_pixels=6_000_000)[0].size == (3000, 2000)


def test_fit_long_side_never_enlarges(gradient: Image.Image) -> None:
    assert fit_long_side(gradient, 20).size == (20, 15)
    assert fit_long_side(gradient, 400).size == (40, 30)


def test_tensor_round_trip_is_exact(gradient: Image.Image) -> None:
    back = tensor_to_pil(pil_to_tensor(gradient))
    assert np.array_equal(np.asarray(back), np.asarray(gradient))
    with pytest.raises(ValueError, match="NaN"):
        tensor_to_pil(torch.full((1, 3, 2, 2), float("nan")))


def test_saved_images_carry_no_exif(tmp_path: Path, gradient: Image.Image) -> None:
    exif = Image.Exif()
    exif[0x8825] = {1: "N", 2: (1.0, 2.0, 3.0)}  # GPS
    exif[0x010F] = "SecretCam"
    photo = Image.open(io.BytesIO(_encode(gradient, "JPEG", exif=exif)))
    assert photo.getexif()
    for suffix in (".png", ".jpg", ".webp"):
        out = save_image_atomic(photo, tmp_path / f"published{suffix}")
        assert not Image.open(out).getexif(), suffix
        assert b"SecretCam" not in out.read_bytes()


def test_atomic_write_leaves_nothing_on_failure(tmp_path: Path) -> None:
    target = tmp_path / "out.png"
    target.write_bytes(b"previous")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_bytes(b"half")
        raise RuntimeError("crash mid-write")
    assert target.read_bytes() == b"previous"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.png"]
