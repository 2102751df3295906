"""How a figure was made, as rows of text safe to publish.

A record becomes label/value rows (model, weights, targets, every parameter, seed, inputs,
device, time, versions) with every absolute path of the build machine taken out. What all
the figures of one page share is said once for the page (``shared_rows``); each figure's
panel keeps only what differs, and its command, whole.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from ..dream.recipe import MACO_FIELDS
from .captions import layers_text, percent
from .public import public_path, public_text

if TYPE_CHECKING:
    from .model import Source

Row = tuple[str, str]
# Rows a page states once when every one of its figures has the same value.
SHAREABLE = ("Model", "Weights sha256", "Weights", "Input", "Device", "Made", "Versions")


@dataclass(frozen=True)
class ModelRow:
    name: str
    title: str
    licence: str
    weights_sha256: str
    weights_source: str


def _public_value(value: Any, anchor: Path | None) -> str:
    if isinstance(value, str):
        return public_path(value, anchor) if os.path.isabs(value) else value
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (list, tuple)) and all(isinstance(v, (int, float, str)) for v in value):
        return ", ".join(_public_value(v, anchor) for v in value) or "—"
    if value is None:
        return "none"
    if isinstance(value, (dict, list, tuple)):
        return public_text(json.dumps(value, ensure_ascii=False, sort_keys=True), anchor)
    return str(value)


def provenance_rows(src: Source, anchor: Path | None) -> list[Row]:
    """Label/value rows for a figure's ``<dl>``: model, weights, targets, every parameter."""
    e, extra = src.entry, src.extra
    rows: list[Row] = []
    model = e.get("model") or {}
    if model:
        rows.append(("Model", str(model.get("name", "?"))))
        if model.get("weights_sha256"):
            rows.append(("Weights sha256", str(model["weights_sha256"])))
        if model.get("weights_source"):
            rows.append(("Weights", public_path(str(model["weights_source"]), anchor)))
    layers = layers_text(extra, e.get("params") or {})
    if layers:
        rows.append(("Layer", layers))
    if extra.get("layer") and ("Layer", str(extra["layer"])) not in rows:
        rows.append(("Layer", str(extra["layer"])))
    if "class_index" in extra:
        rows.append(("Class", f"{extra.get('class_name', '?')} ({extra['class_index']})"))
    target = extra.get("target")
    if isinstance(target, Mapping):
        rows.append(
            (
                "Target class",
                f"{target.get('name')} ({target.get('index')}), p = {percent(target.get('prob'))}",
            )
        )
    sanity = extra.get("sanity")
    if isinstance(sanity, Mapping):
        verdict = {True: "passed", False: "FAILED"}.get(sanity.get("passed"), "")
        corr = sanity.get("rank_correlation")
        corr_text = f"rank correlation {float(corr):.2f}" if isinstance(corr, (int, float)) else ""
        rows.append(
            (
                "Sanity check",
                " · ".join(str(x) for x in (sanity.get("check"), corr_text, verdict) if x),
            )
        )
    params = e.get("params") or {}
    unused = MACO_FIELDS if params.get("param") in ("pixel", "fft") else frozenset()
    for key, value in sorted(params.items()):
        if key in unused:
            continue
        row = (str(key), _public_value(value, anchor))
        if not (key in ("layer", "layers") and ("Layer", row[1]) in rows):  # said above
            rows.append(row)
    if e.get("seed") is not None:
        rows.append(("Seed", str(e["seed"])))
    for item in e.get("inputs") or []:
        sha = str(item.get("sha256") or "")
        name = PurePosixPath(str(item.get("path", "")).replace("\\", "/")).name
        rows.append(("Input", f"{name} (sha256 {sha[:12]}…)" if sha else name))
    rows.append(("Device", str(e.get("device", "?"))))
    with contextlib.suppress(TypeError, ValueError):
        rows.append(("Time", f"{float(e.get('wall_time_s') or 0):.1f} s"))
    if e.get("created"):
        rows.append(("Made", str(e["created"])))
    versions = e.get("versions") or {}
    if versions:
        rows.append(("Versions", " · ".join(f"{k} {v}" for k, v in sorted(versions.items()))))
    return rows


def shared_rows(
    panels: Sequence[Sequence[Row]], labels: Sequence[str] | None = SHAREABLE
) -> list[Row]:
    """The rows every one of two or more panels holds with the same value (of ``labels``
    only, unless None)."""
    if len(panels) < 2:
        return []
    first, rest = panels[0], [set(p) for p in panels[1:]]
    return [
        row for row in first if (labels is None or row[0] in labels) and all(row in p for p in rest)
    ]


def model_rows(sources: Iterable[Source], anchor: Path | None) -> list[ModelRow]:
    """One row per model and weights file named in the records, for the About page."""
    from ..models import SPECS

    rows: dict[tuple[str, str], ModelRow] = {}
    for src in sources:
        model = src.entry.get("model") or {}
        if not model.get("name"):
            continue
        name = str(model["name"])
        spec = SPECS.get(name)
        key = (name, str(model.get("weights_sha256", "")))
        rows.setdefault(
            key,
            ModelRow(
                name=name,
                title=spec.title if spec else name,
                licence=spec.licence if spec else "see the model's source",
                weights_sha256=key[1],
                weights_source=public_path(str(model.get("weights_source", "")), anchor),
            ),
        )
    return list(rows.values())
