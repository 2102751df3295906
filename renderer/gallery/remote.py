"""A job that travels: packed with the bytes of its inputs, rendered in a worker's own temporary
folder, its files sent back with their sha256 and committed to the cache by the driver alone.

No shared folder is assumed, and a worker never opens a path of the driver's machine: a
packed job names its inputs (``<sha256 prefix>/<file name>``, so outputs keep the photo's
name) and the worker writes them into its temporary folder. The records it makes hold its
own paths and a stand-in command; the driver swaps the driver's back in before it commits,
so a cluster job's files read as a local job's do.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import shutil
import tempfile
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from ..errors import RendererError
from ..imageio import sha256_bytes, sha256_file_cached, write_bytes_atomic
from ..provenance import dumps
from .cache import JobCache
from .plan import Job, PhotoSource
from .run import (
    Outcome,
    Toolkit,
    WorkerContext,
    cache_skip,
    failure,
    render_job,
    rendered_info,
)

# The command a worker writes into its records; the driver puts the real one in its place.
WORKER_COMMAND = "<the driver's command>"
READ_CHUNK = 1 << 20


class VersionMismatchError(RendererError):
    """A worker whose renderer, torch or weights differ from the driver's."""


@dataclass(frozen=True)
class PackedJob:
    """A job as it travels: names and sha256 in place of the driver's paths."""

    job: Job
    files: Mapping[str, str]  # input name -> sha256 of the bytes that travel with the job
    device: str  # as asked: "auto" resolves on the worker
    weights: str | None  # the input name of a --weights file; None: the worker's own
    toolkit: Toolkit
    versions: Mapping[str, str]  # the driver's: a worker with others refuses the job


@dataclass(frozen=True)
class Rendered:
    """What a worker sends back: the outcome, the job folder's files, and its input paths."""

    outcome: Outcome
    files: tuple[tuple[str, str, bytes], ...]  # (path in the job folder, sha256, bytes)
    places: Mapping[str, str]  # the worker's path of each input -> the input's name


# --------------------------------------------------------------------------- versions


def versions(toolkit: Toolkit, models: Iterable[str], with_weights: bool) -> dict[str, str]:
    """The versions that must match between driver and workers: renderer, torch (without
    its build tag: a CUDA worker serves a CPU driver) and, unless the driver ships its
    ``--weights`` file, each model's weights sha256."""
    import torch

    import renderer

    found = {"renderer": renderer.__version__, "torch": torch.__version__.split("+")[0]}
    if with_weights:
        for model in sorted(set(models)):
            try:
                found[f"{model} weights"] = toolkit.weights_sha256(model, None)[:12]
            except RendererError as exc:
                found[f"{model} weights"] = f"unavailable ({exc})"
    return found


def version_difference(driver: Mapping[str, str], worker: Mapping[str, str]) -> str:
    """The first difference as words, or ``""``."""
    for key, value in driver.items():
        if worker.get(key) != value:
            return f"its {key} is {worker.get(key, 'missing')}, the driver's is {value}"
    return ""


_CHECKED: dict[tuple[Any, str, bool], dict[str, str]] = {}


def _check_versions(spec: PackedJob, worker: str) -> None:
    # per toolkit too: in one process (a test run) fake and real toolkits give other hashes
    key = (spec.toolkit.weights_sha256, spec.job.model, spec.weights is None)
    if key not in _CHECKED:
        _CHECKED[key] = versions(spec.toolkit, [spec.job.model], spec.weights is None)
    mine = _CHECKED[key]
    difference = version_difference({k: v for k, v in spec.versions.items() if k in mine}, mine)
    if difference:
        raise VersionMismatchError(f"worker {worker} refused: {difference}")


# --------------------------------------------------------------------------- the driver


def swap(value: Any, table: Mapping[str, str]) -> Any:
    """``value`` with every string found in ``table`` replaced (in mappings and lists too)."""
    if isinstance(value, str):
        return table.get(value, value)
    if isinstance(value, Mapping):
        return {k: swap(v, table) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(swap(v, table) for v in value)
    return value


def read_input(path: Path) -> bytes:
    """An input's bytes: a regular file, read in chunks."""
    if not path.is_file():
        raise OSError(f"{path} is not a regular file")
    parts = []
    with open(path, "rb") as handle:
        while block := handle.read(READ_CHUNK):
            parts.append(block)
    return b"".join(parts)


class Packer:
    """Packs the jobs of one build for its workers."""

    def __init__(self, ctx: WorkerContext, device: str, models: Iterable[str]) -> None:
        self.ctx = ctx
        self.device = device
        self.models = sorted(set(models))
        self.weights = Path(ctx.weights) if ctx.weights else None
        self.versions = versions(ctx.toolkit, self.models, self.weights is None)

    def pack(self, job: Job) -> tuple[PackedJob, dict[str, Path]]:
        """The packed job and, for each input it names, the driver's file."""
        files: dict[str, Path] = {}
        hashes: dict[str, str] = {}

        def name(path: str | Path, sha256: str | None = None) -> str:
            source = Path(path)
            digest = sha256 or sha256_file_cached(source)
            key = f"{digest[:16]}/{source.name}"
            files[key], hashes[key] = source, digest
            return key

        photo = job.photo
        moved = job
        if photo is not None:
            moved = dataclasses.replace(
                job, photo=PhotoSource(Path(name(photo.path, photo.sha256)), photo.sha256)
            )
        moved = self.ctx.toolkit.relocate(moved, name)
        table = {str(path): key for key, path in files.items()}
        moved = dataclasses.replace(moved, params=swap(dict(moved.params), table))
        weights = name(self.weights) if self.weights is not None else None
        spec = PackedJob(moved, hashes, self.device, weights, self.ctx.toolkit, self.versions)
        return spec, files


def commit(
    cache: JobCache, job: Job, result: Rendered, places: Mapping[str, str], command: str
) -> Outcome:
    """Check a worker's files and commit them as ``job``'s folder, atomically, with the
    driver's paths and command in its records; a failure is cached as a local one is."""
    table = {where: places[name] for where, name in result.places.items() if name in places}
    table[WORKER_COMMAND] = command
    done = result.outcome
    if done.status != "rendered":
        reason = done.reason
        for where, here in table.items():
            reason = reason.replace(where, here)
        outcome = Outcome.of(
            job,
            "failed",
            seconds=done.seconds,
            reason=reason,
            bad_input=done.bad_input,
            worker=done.worker,
        )
        if outcome.bad_input:
            with contextlib.suppress(OSError):
                cache_skip(cache, job, reason, command)
        return outcome

    def work(folder: Path) -> dict[str, Any]:
        for relative, sha256, data in result.files:
            if sha256_bytes(data) != sha256:
                raise ValueError(f"{relative} arrived damaged (its sha256 differs)")
            if relative.endswith(".json"):
                data = _restore(data, table)
            target = folder / _safe_relative(relative)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        return rendered_info(job, done.seconds)

    try:
        cache.render(job.key, work)
    except (OSError, ValueError) as exc:
        reason = f"{job.label}: the files from worker {done.worker} did not check out ({exc})"
        return Outcome.of(job, "failed", seconds=done.seconds, reason=reason, worker=done.worker)
    return Outcome.of(job, "rendered", seconds=done.seconds, worker=done.worker)


def _restore(data: bytes, table: Mapping[str, str]) -> bytes:
    """A record file with the driver's paths and command; other JSON as it came."""
    try:
        document = json.loads(data)
    except ValueError:
        return data
    restored = swap(document, table)
    return data if restored == document else dumps(restored).encode("utf-8")


def _safe_relative(name: str) -> PurePosixPath:
    """A relative path inside a folder: no root, no ``..``."""
    path = PurePosixPath(name)
    if path.is_absolute() or not path.parts or ".." in path.parts:
        raise ValueError(f"{name!r} is not a path inside a job folder")
    return path


# --------------------------------------------------------------------------- the worker


def render_packed(spec: PackedJob, data: Mapping[str, bytes], scratch: str, worker: str) -> Any:
    """On a worker: write the inputs into a temporary folder of ``scratch``, render the job
    there, and return its files (``Rendered``). The folder is removed afterwards."""
    _check_versions(spec, worker)
    root = Path(scratch)
    folder = Path(tempfile.mkdtemp(prefix="dreamgallery-", dir=root))
    start = time.perf_counter()
    places: dict[str, str] = {}
    job = spec.job
    try:
        for name, sha256 in spec.files.items():
            blob = data[name]
            if sha256_bytes(blob) != sha256:
                raise RendererError(f"its input {PurePosixPath(name).name} arrived damaged")
            # A --weights file goes where every job finds it: its model loads once.
            base = root / "dreamgallery-weights" if name == spec.weights else folder / "in"
            target = base / _safe_relative(name)
            if not target.is_file():
                write_bytes_atomic(target, blob)
            places[name] = str(target)
        job = _unpack(spec, places)
        ctx = WorkerContext(
            render_dir=folder,
            device=spec.toolkit.device(spec.device),
            weights=places[spec.weights] if spec.weights else None,
            toolkit=spec.toolkit,
            command=WORKER_COMMAND,
        )
        out = folder / "out"
        out.mkdir()
        seconds = render_job(job, ctx, out)
        files = tuple(_collect(out))
        outcome = Outcome.of(spec.job, "rendered", seconds=seconds, worker=worker)
    except Exception as exc:
        outcome = failure(job, exc, round(time.perf_counter() - start, 3))
        outcome, files = dataclasses.replace(outcome, worker=worker), ()
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return Rendered(outcome, files, _inverse(places))


def _unpack(spec: PackedJob, places: Mapping[str, str]) -> Job:
    """The packed job with the worker's paths in place of its input names."""
    job = spec.job
    if job.photo is not None:
        where = places[str(job.photo.path)]
        job = dataclasses.replace(job, photo=PhotoSource(Path(where), job.photo.sha256))
    job = spec.toolkit.relocate(job, places.__getitem__)
    return dataclasses.replace(job, params=swap(dict(job.params), places))


def _inverse(places: Mapping[str, str]) -> dict[str, str]:
    return {where: name for name, where in places.items()}


def _collect(folder: Path) -> Iterable[tuple[str, str, bytes]]:
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            blob = read_input(path)
            yield path.relative_to(folder).as_posix(), sha256_bytes(blob), blob


__all__ = ["PackedJob", "Packer", "Rendered", "commit", "render_packed", "versions"]
