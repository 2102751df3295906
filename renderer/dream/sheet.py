"""A contact sheet of a render directory's dreams: class dreams, layer dreams from shallow
to deep, photo dreams next to their photos; each tile captioned."""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from ..imageio import save_image_atomic
from ..provenance import read_manifest

BACKGROUND = (20, 20, 22)
INK = (225, 225, 225)


def _tile(path: Path, size: int, caption: str, font) -> Image.Image:
    picture = Image.open(path).convert("RGB")
    picture.thumbnail((size, size), Image.Resampling.LANCZOS)
    tile = Image.new("RGB", (size, size + 18), BACKGROUND)
    tile.paste(picture, ((size - picture.width) // 2, (size - picture.height) // 2))
    ImageDraw.Draw(tile).text((3, size + 3), caption[:40], fill=INK, font=font)
    return tile


def contact_sheet(render_dir: Path, output: Path, tile: int = 160, columns: int = 6) -> Path:
    """Rows of class dreams, layer dreams (by depth) and photo/dream pairs."""
    render_dir = Path(render_dir)
    entries = read_manifest(render_dir)
    font = ImageFont.load_default()
    rows: list[list[tuple[str, str]]] = []

    classes = sorted(
        (e for e in entries if e["kind"] == "class-dream"), key=lambda e: e["extra"]["class_index"]
    )
    items = [
        (e["output"], f"{e['extra']['class_index']} {e['extra']['class_name']}") for e in classes
    ]
    layers = sorted(
        (e for e in entries if e["kind"] == "layer-dream"), key=lambda e: e["extra"]["depth"]
    )
    layer_items = [(e["output"], " + ".join(e["extra"]["layers"])) for e in layers]
    order = {"subtle": 0, "classic": 1, "intense": 2}
    photo_rows = []
    for photo in sorted((e for e in entries if e["kind"] == "photo"), key=lambda e: e["output"]):
        sha = photo["inputs"][0]["sha256"]
        dreams = [e for e in entries if e["kind"] == "dream" and e["inputs"][0]["sha256"] == sha]
        if not dreams:
            continue
        row = [(photo["output"], photo["extra"]["name"])]
        for e in sorted(dreams, key=lambda e: (order.get(e["extra"]["preset"], 9), e["output"])):
            row.append((e["output"], f"{e['extra']['preset']}: {' + '.join(e['extra']['layers'])}"))
        photo_rows.append(row[:columns])
    for group in (items, layer_items):
        rows += [group[i : i + columns] for i in range(0, len(group), columns)]
    rows += photo_rows
    height = tile + 18
    sheet = Image.new("RGB", (columns * tile, max(1, len(rows)) * height), BACKGROUND)
    for r, row in enumerate(rows):
        for c, (path, caption) in enumerate(row):
            sheet.paste(_tile(render_dir / path, tile, caption, font), (c * tile, r * height))
    save_image_atomic(sheet, output)
    return Path(output)
