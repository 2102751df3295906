"""What a kind of job is, in one object, and the registry every kind registers into.

A ``JobKind`` holds all that is particular to one kind of work: how a build's settings
become its jobs (planning), how one job renders (its runner), whether it is heavy, how
early it starts, what the site's pages call it while it is being made, where its figures
go on a photo page, how its figures are captioned, and how long it takes. ``plan``, ``run``,
``estimate`` and the site ask the registry; none of them names a kind.

Adding a kind is one module in ``renderer/gallery/kinds/`` that builds a ``JobKind`` and
calls ``KINDS.register``: that package imports each of its modules. A test registers a toy
kind the same way (``tests/test_job_kinds.py``).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator, Mapping, Sequence, Set
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..provenance import Record
from .plan import SCOPES, Job, PhotoSource, Planned, SourcePlanner, Spec, SpecBuilder

if TYPE_CHECKING:
    from ..site.words import Description, Shown
    from .config import GalleryConfig


# A runner renders one job into ``out_dir`` (files, sidecars and manifest.json) and returns
# the records it published: (job, model, out_dir, command).
Runner = Callable[[Job, Any, Path, str], Sequence[Record]]
# The words of one figure from its record (``site.words.Shown``).
Caption = Callable[["Shown"], "Description"]
# The photo page section of a figure, from its details (``Description.details``).
Section = Callable[[Mapping[str, Any]], str]
# A job's work in pixel-steps (``estimate.py``), given the model's smallest input side.
Work = Callable[[Job, int], float]
# After the jobs: a kind's finished jobs made into figures of their own (a clip's segments
# joined into its videos), from (plan, cache, worker context or None for an early publish):
# the job keys it hides, the keys it adds, and each source it could not make, with why.
Combine = Callable[[Any, Any, Any], tuple[list[str], list[str], list[tuple[Path, str]]]]


def no_jobs(source: PhotoSource | None) -> Planned:
    """The source planner of a kind that is off in this build."""
    return Planned()


def no_plan(config: GalleryConfig, model: str, names: Set[str]) -> SourcePlanner:
    """The planning of a kind that plans nothing (its jobs are made by hand)."""
    return no_jobs


def each_photo(verb: str, spec: Spec | None) -> SourcePlanner:
    """One job of ``spec`` per photo, labelled "VERB PHOTO"; none when ``spec`` is None
    (the kind is off in this build)."""
    if spec is None:
        return no_jobs

    def each(photo: PhotoSource | None) -> Planned:
        assert photo is not None
        return Planned([(f"{verb} {photo.name}", spec)])

    return each


def once(planned: Planned) -> SourcePlanner:
    """The planning of a gallery-wide kind: the same jobs, whatever the source."""
    return lambda source: planned


@dataclass(frozen=True)
class JobKind:
    """One kind of job, from planning to its figures' captions."""

    name: str  # the job's kind: part of every job key, so never renamed
    scope: str  # one of SCOPES
    plan: SpecBuilder
    run: Runner
    # Peak memory large enough that at most one runs at a time per machine (or per slot).
    heavy: bool = False
    # The longest kinds start early, lowest rank first (``run.first_look_first``); None:
    # in plan order after them.
    long_rank: int | None = None
    first_look: bool = False  # what a visitor looks at first: one starts before all else
    # What a visitor reads on a page published while it is being made ("the class dreams"),
    # or a function of the job's label that says it.
    pending: str | Callable[[str], str] = ""
    # The record kinds it publishes -> the photo page's list of figures they join
    # (``site.model.PAGE_SECTIONS``), or a function of the figure's details that says which;
    # a record kind not named here goes to "other".
    sections: Mapping[str, str | Section] = field(default_factory=dict)
    # The record kinds that give their photo a page, even without the photo's own record.
    page_kinds: frozenset[str] = frozenset()
    # The record kinds it publishes -> the site's page that lists them all ("layers",
    # "classes"); the kind's jobs are counted there while they are being made.
    pages: Mapping[str, str] = field(default_factory=dict)
    # The record kinds it publishes -> the function that writes their figure's words.
    captions: Mapping[str, Caption] = field(default_factory=dict)
    # Its work for ``--dry-run``'s estimate; None: not estimated. ``work_lines``: lines of
    # its own under the estimate, from its jobs, the seconds per pixel-step and min size.
    work: Work | None = None
    work_lines: Callable[[Sequence[Job], float, int], list[str]] | None = None
    # The payload type of its real jobs (a test's fake kinds carry others), or a function
    # that imports it (a payload defined in a module too heavy to import to plan).
    payload: type | Callable[[], type] | None = None
    # Figures made from its finished jobs after they all ran (``Combine``), and the keys of
    # those figures a plan makes (``gallery prune`` keeps them); None: its jobs are its figures.
    combine: Combine | None = None
    combined_keys: Callable[[Any], Set[str]] | None = None

    def real(self) -> type:
        """The payload type of this kind's real jobs."""
        assert self.payload is not None, self.name
        return self.payload if isinstance(self.payload, type) else self.payload()

    def pending_text(self, label: str) -> str:
        """What a visitor reads while the job ``label`` is being made."""
        return self.pending(label) if callable(self.pending) else self.pending or label

    def __post_init__(self) -> None:
        if not self.name or self.name != self.name.strip():
            raise ValueError(f"a job kind needs a name, got {self.name!r}")
        if self.scope not in SCOPES:
            raise ValueError(f"job kind {self.name}: scope must be one of {SCOPES}")
        if not (callable(self.plan) and callable(self.run)):
            raise ValueError(f"job kind {self.name}: its plan and run must be functions")


class Registry:
    """The job kinds, in the order they are planned (and registered). The built-in kinds
    (the modules of ``package``) are imported the first time the registry is used, so
    whoever asks it (an estimate, a caption) finds them, whatever it imported before."""

    def __init__(self, package: str = "") -> None:
        self._kinds: dict[str, JobKind] = {}
        self._package = package

    def _load(self) -> None:
        if self._package:
            package, self._package = self._package, ""  # once: its modules register here
            importlib.import_module(package)

    def register(self, kind: JobKind) -> JobKind:
        self._load()  # the built-in kinds first, in their order
        if kind.name in self._kinds:
            raise ValueError(f"job kind {kind.name!r} is registered already")
        self._kinds[kind.name] = kind
        return kind

    def unregister(self, name: str) -> None:
        del self._kinds[name]

    def __iter__(self) -> Iterator[JobKind]:
        self._load()
        return iter(tuple(self._kinds.values()))

    def __contains__(self, name: object) -> bool:
        self._load()
        return name in self._kinds

    def __getitem__(self, name: str) -> JobKind:
        self._load()
        return self._kinds[name]

    def get(self, name: str) -> JobKind | None:
        self._load()
        return self._kinds.get(name)

    def caption(self, record_kind: str) -> Caption | None:
        """The caption function of a record kind, from the kind that publishes it."""
        for kind in self:
            if record_kind in kind.captions:
                return kind.captions[record_kind]
        return None

    def section(self, record_kind: str, details: Mapping[str, Any]) -> str:
        """The photo page section of a figure of ``record_kind`` ("other" if no kind says)."""
        for kind in self:
            found = kind.sections.get(record_kind)
            if found is not None:
                return found(details) if callable(found) else found
        return "other"

    def page_kinds(self) -> frozenset[str]:
        return frozenset(rk for kind in self for rk in kind.page_kinds)

    def pages(self) -> dict[str, str]:
        """Record kind -> the site page that lists all its figures, over every kind."""
        return {rk: page for kind in self for rk, page in kind.pages.items()}

    def page_of_job(self, name: str) -> str:
        """The site page a job of kind ``name`` makes figures for ("" when none)."""
        kind = self.get(name)
        return next(iter(kind.pages.values()), "") if kind else ""


KINDS = Registry(f"{__package__}.kinds")


# What a kind's module needs, from one place (``Planned`` and the planner types live in
# ``plan``, which reads kinds without importing this module).
__all__ = [
    "KINDS",
    "Caption",
    "Combine",
    "JobKind",
    "Planned",
    "Registry",
    "Runner",
    "Section",
    "SourcePlanner",
    "SpecBuilder",
    "Work",
    "each_photo",
    "no_jobs",
    "no_plan",
    "once",
]
