"""Provenance: a JSON sidecar per output and a ``manifest.json`` per output directory.

One ``Record`` describes one output file: what went in (paths and sha256), the model and
its weights' sha256, every parameter and the seed, the device, library versions, the wall
time and the exact ``renderer ...`` command that reproduces it. Later kinds of output add
their own facts under ``extra``; the rest of the format is shared by every command.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import json
import os
import platform
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from . import __version__
from .imageio import write_text_atomic

MANIFEST_NAME = "manifest.json"
MANIFEST_FORMAT = "dreamgallery-manifest"
MANIFEST_VERSION = 1


@cache
def library_versions() -> dict[str, str]:
    """Versions of the libraries whose behaviour shapes the pixels."""
    from importlib.metadata import version

    import torch
    import torchvision

    return {
        "renderer": __version__,
        "torch": torch.__version__,  # with its build tag (+cu130, +cpu)
        "torchvision": torchvision.__version__,
        "kornia": version("kornia"),  # importing kornia only for this took 0.8 s
        "python": platform.python_version(),
    }


@dataclass(frozen=True)
class InputFile:
    path: str
    sha256: str

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> InputFile:
        """One input as a manifest names it; a missing field reads as ""."""
        return cls(str(data.get("path") or ""), str(data.get("sha256") or ""))


@dataclass(frozen=True)
class ModelInfo:
    name: str
    weights_sha256: str
    weights_source: str = ""

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ModelInfo:
        """The model as a manifest names it; a missing field reads as ""."""
        return cls(*(str(data.get(k) or "") for k in ("name", "weights_sha256", "weights_source")))


@dataclass(frozen=True)
class Record:
    """What one output file is and how to make it again."""

    kind: str
    output: str | None
    command: str
    model: ModelInfo | None = None
    inputs: tuple[InputFile, ...] = ()
    params: Mapping[str, Any] = field(default_factory=dict)
    seed: int | None = None
    device: str = "cpu"
    wall_time_s: float = 0.0
    extra: Mapping[str, Any] = field(default_factory=dict)
    versions: Mapping[str, str] = field(default_factory=library_versions)
    created: str = field(
        default_factory=lambda: _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    )

    def to_dict(self) -> dict[str, Any]:
        return _jsonable(dataclasses.asdict(self))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Record:
        """A record as a manifest or sidecar holds it, by any version: unknown keys are
        left out, and a missing one reads as unknown (no device "?", no time stamp, no
        versions): it is never filled in with this machine's."""
        values = {k: v for k, v in data.items() if k in _RECORD_FIELDS}
        model = values.get("model")
        values["model"] = (
            ModelInfo.from_dict(model) if isinstance(model, Mapping) and model else None
        )
        inputs = values.get("inputs") or ()
        values["inputs"] = tuple(InputFile.from_dict(i) for i in inputs if isinstance(i, Mapping))
        for name in ("params", "extra", "versions"):
            value = values.get(name)
            values[name] = dict(value) if isinstance(value, Mapping) else {}
        values["kind"] = str(values.get("kind") or "")
        values["command"] = str(values.get("command") or "")
        values.setdefault("output", None)
        values.setdefault("device", "?")
        values.setdefault("created", "")
        return cls(**values)

    @property
    def photo(self) -> InputFile | None:
        """The input it was made from first (its photo), if any."""
        return self.inputs[0] if self.inputs else None

    @property
    def seconds(self) -> float | None:
        """Its wall time in seconds, None when the manifest holds no number."""
        try:
            return float(self.wall_time_s or 0)
        except (TypeError, ValueError):
            return None


_RECORD_FIELDS = frozenset(f.name for f in dataclasses.fields(Record))


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "item") and callable(value.item):  # numpy / torch scalars
        return value.item()
    return value


def dumps(data: Any) -> str:
    return json.dumps(_jsonable(data), indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def sidecar_path(output: str | os.PathLike[str]) -> Path:
    """``dream.png`` -> ``dream.json``."""
    return Path(output).with_suffix(".json")


def write_sidecar(out_dir: str | os.PathLike[str], record: Record) -> Path:
    if record.output is None:
        raise ValueError("a sidecar needs a record with an output file")
    path = Path(out_dir) / sidecar_path(record.output)
    write_text_atomic(path, dumps(record.to_dict()))
    return path


def read_manifest(out_dir: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """The manifest's entries, or none when there is no manifest yet."""
    path = Path(out_dir) / MANIFEST_NAME
    if not path.exists():
        return []
    data = json.loads(path.read_text(encoding="utf-8"))
    if data.get("format") != MANIFEST_FORMAT:
        raise ValueError(f"{path} is not a dreamgallery manifest")
    return list(data.get("entries", []))


def _entry_key(entry: Mapping[str, Any]) -> str:
    return entry.get("output") or f"{entry.get('kind')}:{entry.get('inputs')}"


def update_manifest(out_dir: str | os.PathLike[str], records: Iterable[Record]) -> Path:
    """Add records to the directory's manifest, replacing older entries for the same output."""
    out = Path(out_dir)
    entries = {_entry_key(e): e for e in read_manifest(out)}
    for record in records:
        entry = record.to_dict()
        entries[_entry_key(entry)] = entry
    document = {
        "format": MANIFEST_FORMAT,
        "version": MANIFEST_VERSION,
        "entries": sorted(entries.values(), key=_entry_key),
    }
    path = out / MANIFEST_NAME
    write_text_atomic(path, dumps(document))
    return path


def publish(out_dir: str | os.PathLike[str], records: Iterable[Record]) -> None:
    """Write a sidecar for each record with an output file, then update the manifest."""
    records = list(records)
    for record in records:
        if record.output is not None:
            write_sidecar(out_dir, record)
    update_manifest(out_dir, records)
