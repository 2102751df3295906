"""What a figure says: its title, alt text and caption, written from its manifest record.

Pure functions of one record: no files, no HTML. ``describe`` hands each record to the
caption function of the job kind that publishes it (``JobKind.captions``); the photo's own
record and a kind nobody registered are captioned here.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

from ..gallery.kinds import KINDS
from .words import Description, Shown, layers_text, percent, without_title

if TYPE_CHECKING:
    from .types import Source

__all__ = ["Description", "describe", "layers_text", "page_description", "percent"]


def shown_of(src: Source, name: str) -> Shown:
    """What a caption reads of one record of the photo ``name``."""
    record = src.record
    return Shown(src.kind, name, src.extra, record.params, record.output or "", bool(src.sha256))


def photo_caption(shown: Shown) -> Description:
    """The photo itself: its name, its size and what the network sees in it."""
    extra, name = shown.extra, shown.name
    w, h = extra.get("width"), extra.get("height")
    size = f"{w} × {h} px" if w and h else ""
    caption = " · ".join(x for x in (f"{name}", size, shown.top) if x)
    return Description("original", "", "Original", f"The original photo {name}", caption)


def unknown_caption(shown: Shown) -> Description:
    """A record of a kind no job kind captions: named after its kind."""
    title = shown.kind.replace("-", " ").capitalize()
    caption = shown.text("caption", title)
    return Description(f"{shown.kind}-{shown.stem}", "", title, f"{title} of {shown.name}", caption)


def describe(src: Source, name: str) -> Description:
    """Title, alt text and caption of the figure for one record of the photo ``name``."""
    shown = shown_of(src, name)
    caption = photo_caption if src.kind == "photo" else KINDS.caption(src.kind) or unknown_caption
    words = caption(shown)
    return dataclasses.replace(words, caption=without_title(words.caption, words.title))


def page_description(name: str, predictions: list[dict[str, Any]], dreams: int) -> str:
    """The meta description of a photo page: what it is, what the network sees in it."""
    sees = ""
    if predictions:
        top = predictions[0]
        sees = f" The network sees {top.get('name', '?')} ({percent(top.get('prob'))})."
    many = f"{dreams} DeepDream{'s' if dreams != 1 else ''}"
    return f"{name}: {many} of this photograph by an image classifier.{sees}"
