"""The parts every caption is made of: what a caption is written from (``Shown``), what it
gives back (``Description``), and the small formatters they share.

Pure and import-light: the job kinds (``renderer.gallery.kinds``) write their captions with
these, and ``captions.describe`` hands each record to its kind's caption function.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any


@dataclass(frozen=True)
class Description:
    """The words of one figure, and the id and media folder it asks for."""

    id: str
    group: str
    title: str
    alt: str
    caption: str
    details: dict[str, Any] = field(default_factory=dict)
    legend: dict[str, Any] | None = None


@dataclass(frozen=True)
class Shown:
    """One manifest record as a caption sees it, for the photo (or clip) called ``name``."""

    kind: str
    name: str
    extra: Mapping[str, Any]
    params: Mapping[str, Any]
    output: str  # the output's path in the render folder ("" when none)
    of_photo: bool  # made from a photo or clip (a layer dream of noise is not)

    @property
    def stem(self) -> str:
        return PurePosixPath(self.output).stem

    @property
    def layers(self) -> str:
        return layers_text(self.extra, self.params)

    @property
    def top(self) -> str:
        """What the network sees in the photo, from the record's predictions ("" if none)."""
        preds = list(self.extra.get("predictions") or [])
        if not preds:
            return ""
        return f"the network sees {preds[0]['name']} ({percent(preds[0].get('prob'))})"

    def text(self, key: str, default: str = "") -> str:
        """``extra[key]`` as text, ``default`` when missing or empty."""
        return str(self.extra.get(key) or default)


def percent(prob: Any) -> str:
    try:
        p = float(prob)
    except (TypeError, ValueError):
        return "?"
    return f"{p:.0%}" if p >= 0.1 else f"{p:.1%}"


def layers_text(extra: Mapping[str, Any], params: Mapping[str, Any]) -> str:
    layers = extra.get("layers") or params.get("layers") or params.get("layer") or []
    if isinstance(layers, str):
        layers = [layers]
    return ", ".join(str(x) for x in layers)


def without_title(caption: str, title: str) -> str:
    """ "classic · blocks.4 · 3 octaves" under the title "Classic" -> "blocks.4 · 3 octaves"."""
    prefix = f"{title} · ".casefold()
    return caption[len(prefix) :] if caption.casefold().startswith(prefix) else caption


def legend_of(extra: Mapping[str, Any]) -> dict[str, Any] | None:
    """A figure's legend (a colour bar and its labels), when its record has one."""
    return dict(extra["legend"]) if isinstance(extra.get("legend"), Mapping) else None
