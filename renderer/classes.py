"""ImageNet-1k class names: index <-> name, forgiving about spaces, underscores and case."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from importlib import resources

from .errors import RendererError, UnknownNameError


@dataclass(frozen=True)
class ImageNetClass:
    index: int
    name: str


@cache
def class_names() -> tuple[str, ...]:
    """The 1000 ImageNet class names in index order: torchvision's list, shipped as a data
    file so that looking a class up imports no torch (a no-change rebuild stays fast)."""
    text = resources.files("renderer").joinpath("data/imagenet_classes.txt").read_text("utf-8")
    return tuple(text.splitlines())


def _normalize(text: str) -> str:
    return re.sub(r"[\s_\-]+", " ", text.strip().lower())


@cache
def _by_name() -> dict[str, tuple[int, ...]]:
    table: dict[str, list[int]] = {}
    for index, name in enumerate(class_names()):
        table.setdefault(_normalize(name), []).append(index)
    return {k: tuple(v) for k, v in table.items()}


def resolve_class(spec: str | int) -> ImageNetClass:
    """``207``, ``"golden retriever"`` and ``"golden_retriever"`` all give class 207."""
    names = class_names()
    text = str(spec).strip()
    if re.fullmatch(r"[+-]?\d+", text):
        index = int(text)
        if not 0 <= index < len(names):
            raise RendererError(f"class index {index} is out of range 0..{len(names) - 1}")
        return ImageNetClass(index, names[index])
    hits = _by_name().get(_normalize(text))
    if not hits:
        raise UnknownNameError("class", text, names)
    exact = [i for i in hits if names[i] == text]
    if len(hits) > 1 and len(exact) == 1:
        hits = tuple(exact)
    if len(hits) > 1:
        options = ", ".join(f"{i} ({names[i]})" for i in hits)
        raise RendererError(f"class name {text!r} is ambiguous; use an index: {options}")
    return ImageNetClass(hits[0], names[hits[0]])
