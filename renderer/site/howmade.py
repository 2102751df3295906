"""How a figure was made, as rows of text safe to publish.

A record becomes label/value rows (model, weights, targets, every parameter, seed, inputs,
device, time, versions) with every absolute path of the build machine taken out. What all
the figures of one page share is said once for the page (``shared_rows``); each figure's
panel keeps only what differs, and its command, whole.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path, PurePosixPath
from typing import Any

from ..dream.recipe import MACO_FIELDS
from ..provenance import Record
from .captions import layers_text, percent
from .public import public_path, public_text
from .types import SHAREABLE, ModelRow, Row, Source, shared_rows

__all__ = ["SHAREABLE", "ModelRow", "Row", "model_rows", "provenance_rows", "shared_rows"]


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
    record = src.record
    rows = _model(record, anchor)
    rows += _subject(record, rows)
    rows += _params(record, rows, anchor)
    rows += _making(record)
    return rows


def _model(record: Record, anchor: Path | None) -> list[Row]:
    model = record.model
    if model is None:
        return []
    rows = [("Model", model.name or "?")]
    if model.weights_sha256:
        rows.append(("Weights sha256", model.weights_sha256))
    if model.weights_source:
        rows.append(("Weights", public_path(model.weights_source, anchor)))
    return rows


def _subject(record: Record, above: list[Row]) -> list[Row]:
    """What the figure looks at: its layers, its class, its target and sanity check."""
    extra, rows = record.extra, []
    layers = layers_text(extra, record.params)
    if layers:
        rows.append(("Layer", layers))
    if extra.get("layer") and ("Layer", str(extra["layer"])) not in above + rows:
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
    return rows


def _params(record: Record, above: list[Row], anchor: Path | None) -> list[Row]:
    """Every parameter but those its parametrization leaves unused, and a layer said above."""
    params, rows = record.params, []
    unused = MACO_FIELDS if params.get("param") in ("pixel", "fft") else frozenset()
    for key, value in sorted(params.items()):
        if key in unused:
            continue
        row = (str(key), _public_value(value, anchor))
        if not (key in ("layer", "layers") and ("Layer", row[1]) in above):  # said above
            rows.append(row)
    if record.seed is not None:
        rows.append(("Seed", str(record.seed)))
    return rows


def _making(record: Record) -> list[Row]:
    """Its inputs, device, time, when and with which versions."""
    rows = []
    for item in record.inputs:
        name = PurePosixPath(item.path.replace("\\", "/")).name
        rows.append(("Input", f"{name} (sha256 {item.sha256[:12]}…)" if item.sha256 else name))
    rows.append(("Device", str(record.device)))
    if record.seconds is not None:
        rows.append(("Time", f"{record.seconds:.1f} s"))
    if record.created:
        rows.append(("Made", str(record.created)))
    if record.versions:
        versions = sorted(record.versions.items())
        rows.append(("Versions", " · ".join(f"{k} {v}" for k, v in versions)))
    return rows


def model_rows(sources: Iterable[Source], anchor: Path | None) -> list[ModelRow]:
    """One row per model and weights file named in the records, for the About page."""
    from ..models import SPECS

    rows: dict[tuple[str, str], ModelRow] = {}
    for src in sources:
        model = src.record.model
        if model is None or not model.name:
            continue
        spec = SPECS.get(model.name)
        key = (model.name, model.weights_sha256)
        rows.setdefault(
            key,
            ModelRow(
                name=model.name,
                title=spec.title if spec else model.name,
                licence=spec.licence if spec else "see the model's source",
                weights_sha256=key[1],
                weights_source=public_path(model.weights_source, anchor),
            ),
        )
    return list(rows.values())
