"""One exception type per kind of user mistake; the CLI turns each into a one-line message."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class RendererError(Exception):
    """Base class for errors the user can fix; shown as one line, without a traceback."""

    exit_code = 1


class BadInputError(RendererError):
    """An input file that cannot be used; the rest of the batch goes on."""

    exit_code = 2

    def __init__(self, path: object, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = str(path)
        self.reason = reason


class UnknownNameError(RendererError):
    """A layer, class, model or preset name that does not exist."""

    def __init__(self, kind: str, name: str, choices: Iterable[str]) -> None:
        close = suggest(name, choices)
        hint = f"; closest: {', '.join(close)}" if close else ""
        super().__init__(f"unknown {kind} {name!r}{hint}")
        self.suggestions = close


class ModelUnavailableError(RendererError):
    """Model weights that cannot be found or do not fit the architecture."""


class RecipeError(RendererError, ValueError):
    """A parameter out of its valid range, caught when a recipe or config is built."""


class DeviceError(RendererError):
    """A device that was asked for but is not available."""


def suggest(name: str, choices: Iterable[str], n: int = 3) -> list[str]:
    """The ``n`` choices closest to ``name``, best first."""
    options = list(choices)
    lowered = {c.lower(): c for c in options}
    hits = difflib.get_close_matches(name.lower(), list(lowered), n=n, cutoff=0.0)
    return [lowered[h] for h in hits]
