"""Planning: the config becomes a list of independent, content-addressed jobs.

A job's key is the sha256 of everything that shapes its pixels: the sha256 of the input
photo's bytes, the canonical JSON of its parameters (the whole recipe, not just a preset's
name, so an edited preset re-renders), the model's name and weights sha256, and
``ALGORITHM_VERSION``. Planning reads photo bytes and hashes them (in chunks, and only
regular files of a bounded size: a FIFO, a device or a sparse giant is skipped by name); it
decodes nothing and builds no network, so a rebuild with nothing changed stays fast.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterable, Mapping, Sequence, Set
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from ..errors import BadInputError
from ..files import DEFAULT_MAX_FILE_MB, MB, hash_photo_file
from ..imageio import is_photo_name
from ..naming import is_mask_sidecar
from ..video.settings import is_video_name

if TYPE_CHECKING:
    from .config import GalleryConfig

# Bump when a change in the pipeline or the job functions changes pixels for equal inputs.
# 3: octaves anchored at the base size, bf16 steps on CPUs with native bf16, tiles by budget.
ALGORITHM_VERSION = 3


@dataclass(frozen=True)
class PhotoSource:
    """A photo file as planning sees it: where it is and the sha256 of its bytes."""

    path: Path
    sha256: str
    size: int = 0  # bytes, when planned; the job reads at most this many

    @property
    def name(self) -> str:
        return self.path.name


@dataclass(frozen=True)
class Problem:
    """An input that cannot become a job at all (e.g. a file that cannot be read)."""

    path: Path
    reason: str


@dataclass(frozen=True)
class Job:
    """One unit of work, rendered into its own folder ``jobs/<key>/``."""

    kind: str
    key: str
    label: str
    model: str
    params: Mapping[str, Any]
    photo: PhotoSource | None = None
    payload: Any = None
    # The key of a job of the same photo whose finished outputs this one may read instead of
    # computing them again (a masked dream, its photo's explanation); never part of the key.
    reuse: str | None = None


@dataclass(frozen=True)
class Plan:
    jobs: tuple[Job, ...]
    photos: tuple[PhotoSource, ...]
    problems: tuple[Problem, ...] = ()
    weights: Mapping[str, str] = field(default_factory=dict)

    @property
    def keys(self) -> set[str]:
        return {job.key for job in self.jobs}


def canonical_json(value: Any) -> str:
    """One spelling per value: sorted keys, no spaces, tuples as lists, paths as text."""
    return json.dumps(
        value,
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=True,
        allow_nan=False,
        default=_encode,
    )


def _encode(value: Any) -> Any:
    if isinstance(value, Path):
        return value.as_posix()
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    if hasattr(value, "item") and callable(value.item):  # numpy / torch scalars
        return value.item()
    if hasattr(value, "__dataclass_fields__"):
        import dataclasses

        return dataclasses.asdict(value)
    raise TypeError(f"cannot hash a parameter of type {type(value).__name__}")


def job_key(
    kind: str,
    params: Mapping[str, Any],
    *,
    model: str,
    weights_sha256: str,
    input_sha256: str | None,
) -> str:
    """The content address of a job (64 hex digits)."""
    document = {
        "algorithm": ALGORITHM_VERSION,
        "kind": kind,
        "input": input_sha256,
        "model": model,
        "weights": weights_sha256,
        "params": json.loads(canonical_json(params)),
    }
    return hashlib.sha256(canonical_json(document).encode("ascii")).hexdigest()


MAX_FILE_HINT = ", see --max-file-mb"


def scan_photos(
    folder: Path, max_bytes: int = DEFAULT_MAX_FILE_MB * MB
) -> tuple[list[PhotoSource], list[Problem]]:
    """Every photo file in ``folder`` and its subfolders (the site's albums; hidden folders
    and links to folders are not entered), hashed; unreadable ones are problems, not
    errors. Corrupt bytes are found later, when a job decodes them."""
    if not folder.exists():
        raise BadInputError(folder, "photos folder not found")
    if not folder.is_dir():
        raise BadInputError(folder, "is not a folder")
    found: list[Path] = []
    for here, dirs, files in os.walk(folder):
        top = Path(here)
        found.extend(
            top / name
            for name in files
            if (is_photo_name(top / name) and not is_mask_sidecar(top / name))
            or is_video_name(name)
        )
        found.extend(top / d for d in dirs if is_photo_name(top / d))  # "x.jpg/", a problem
        dirs[:] = [d for d in dirs if not d.startswith(".") and not is_photo_name(top / d)]
    return hash_photo_files(sorted(found, key=lambda p: p.relative_to(folder).parts), max_bytes)


def hash_photo_files(
    paths: Sequence[Path], max_bytes: int = DEFAULT_MAX_FILE_MB * MB
) -> tuple[list[PhotoSource], list[Problem]]:
    """The sha256 of each file's bytes; files that cannot be read become problems."""
    photos: list[PhotoSource] = []
    problems: list[Problem] = []
    for path in paths:
        try:
            sha256, size = hash_photo_file(path, max_bytes, MAX_FILE_HINT)
        except BadInputError as exc:
            problems.append(Problem(path, exc.reason))
            continue
        photos.append(PhotoSource(path, sha256, size))
    return photos, problems


# Where a kind's jobs come from: one set per video clip, per photo, or once per gallery;
# planned in this order.
SCOPES = ("clip", "photo", "gallery")


@dataclass(frozen=True)
class Spec:
    """What a kind of job needs: the object handed to its runner and its key parameters."""

    payload: Any
    params: Mapping[str, Any]
    reuses: str = ""  # a kind of job of the same photo whose outputs this one may read


@dataclass(frozen=True)
class Planned:
    """A kind's jobs for one source (a photo, a clip, or the gallery): (label, spec) pairs,
    and the inputs that could not become jobs (a clip that cannot be read). ``last`` jobs
    follow every kind's ``jobs`` of the source: the plan's order is the manifest's, and so
    the order of figures within a page's section (a masked dream follows the explanation
    whose map it was grown through)."""

    jobs: Sequence[tuple[str, Spec]] = ()
    problems: Sequence[Problem] = ()
    last: Sequence[tuple[str, Spec]] = ()


# (config, model, the names of every photo and clip found) -> the kind's jobs of one source
# (None for a gallery kind). Called once per build, so what every photo shares (a recipe, a
# picture's sha256) is worked out once; a setting naming an unknown photo raises here.
SourcePlanner = Callable[["PhotoSource | None"], Planned]
SpecBuilder = Callable[["GalleryConfig", str, Set[str]], SourcePlanner]


class Kind(Protocol):
    """What planning reads of a job kind (``jobkind.JobKind``)."""

    @property
    def name(self) -> str: ...
    @property
    def scope(self) -> str: ...  # one of SCOPES
    @property
    def plan(self) -> SpecBuilder: ...


def plan_jobs(
    config: GalleryConfig,
    photos: Sequence[PhotoSource],
    kinds: Iterable[Kind],
    weights: Mapping[str, str],
    problems: Sequence[Problem] = (),
) -> Plan:
    """Expand the config into jobs, each with its content-addressed key: every kind's jobs
    of each clip, then of each photo, then the gallery's own (layer and class dreams).
    A setting that names a photo not found raises before any job is made."""
    model = config.model
    names = {p.name for p in photos} | {p.path.name for p in problems}
    planned_kinds = [(kind, kind.plan(config, model, names)) for kind in kinds]
    planners = {
        scope: [(kind.name, each) for kind, each in planned_kinds if kind.scope == scope]
        for scope in SCOPES
    }
    problems = list(problems)
    clips = [p for p in photos if is_video_name(p.name)]
    photos = [p for p in photos if not is_video_name(p.name)]
    jobs: list[Job] = []
    sources: list[tuple[str, PhotoSource | None]] = [
        *(("clip", clip) for clip in clips),
        *(("photo", photo) for photo in photos),
        ("gallery", None),
    ]
    for scope, source in sources:
        found: list[tuple[str, str, Spec]] = []
        last: list[tuple[str, str, Spec]] = []
        for kind, each in planners[scope]:
            planned = each(source)
            problems.extend(planned.problems)
            found.extend((kind, label, spec) for label, spec in planned.jobs)
            last.extend((kind, label, spec) for label, spec in planned.last)
        jobs.extend(_source_jobs(found + last, source, model, weights[model]))
    seen: set[str] = set()
    unique = [j for j in jobs if not (j.key in seen or seen.add(j.key))]
    return Plan(tuple(unique), tuple(photos) + tuple(clips), tuple(problems), dict(weights))


def _source_jobs(
    found: Sequence[tuple[str, str, Spec]], photo: PhotoSource | None, model: str, wsha: str
) -> list[Job]:
    """The jobs of one source, keyed; a spec that ``reuses`` a kind gets the key of that
    kind's (first) job of the same source."""
    keyed = []
    for kind, label, spec in found:
        # The file name is part of the key: outputs are named after it (``photo_key``).
        params = {**spec.params, "photo_name": photo.name} if photo else spec.params
        key = job_key(
            kind,
            params,
            model=model,
            weights_sha256=wsha,
            input_sha256=photo.sha256 if photo else None,
        )
        keyed.append((kind, key, label, params, spec))
    made: dict[str, str] = {}
    for kind, key, *_ in keyed:
        made.setdefault(kind, key)
    return [
        Job(kind, key, label, model, params, photo, spec.payload, made.get(spec.reuses))
        for kind, key, label, params, spec in keyed
    ]
