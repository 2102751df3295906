"""What every command shares: options, one-line errors, batches that survive a bad input,
progress bars on stderr, and the command line that reproduces an output."""

from __future__ import annotations

import logging
import shlex
import sys
import time
import traceback
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click
from click.core import ParameterSource
from tqdm import tqdm

from .errors import RendererError

if TYPE_CHECKING:
    from .models import LoadedModel

T = TypeVar("T")
log = logging.getLogger("renderer")

EXIT_OK, EXIT_USAGE, EXIT_SOME_FAILED = 0, 1, 2


@dataclass
class AppState:
    """Global flags, shared by every command through ``click.Context.obj``."""

    quiet: bool = False
    verbose: int = 0
    debug: bool = False
    failures: list[str] = field(default_factory=list)


def app_state() -> AppState:
    ctx = click.get_current_context(silent=True)
    if ctx is None:
        return AppState()
    return ctx.find_object(AppState) or AppState()


class UserError(click.ClickException):
    """A ``RendererError`` on its way out of the CLI: one line, its own exit code."""

    def __init__(self, message: str, exit_code: int = EXIT_USAGE) -> None:
        super().__init__(message)
        self.exit_code = exit_code

    def show(self, file=None) -> None:
        click.echo(f"error: {self.format_message()}", err=True)


def error_line(exc: Exception, label: str | None = None) -> str:
    """One line for stderr: a ``RendererError`` states its own reason; anything else is
    unexpected, named with the input it happened on."""
    if isinstance(exc, RendererError):
        return f"error: {exc}"
    where = f"{label}: " if label else ""
    return f"error: {where}unexpected {type(exc).__name__}: {exc} (run with --debug for details)"


def configure_logging(state: AppState) -> None:
    level = logging.WARNING
    if state.quiet:
        level = logging.ERROR
    elif state.verbose >= 2 or state.debug:
        level = logging.DEBUG
    elif state.verbose == 1:
        level = logging.INFO
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
    root = logging.getLogger("renderer")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False


def progress(iterable: Iterable[T] | None = None, **kwargs: Any) -> tqdm:
    """A tqdm bar on stderr, silent when stderr is no terminal or with ``--quiet``."""
    state = app_state()
    disable = state.quiet or not sys.stderr.isatty()
    return tqdm(iterable, file=sys.stderr, disable=disable, dynamic_ncols=True, **kwargs)


def run_batch(
    items: Sequence[T],
    work: Callable[[T], None],
    label: Callable[[T], str] = str,
    desc: str = "images",
) -> int:
    """Run ``work`` on each item; a failing item is named on stderr and the rest go on.

    Returns the exit code: 0 when all succeeded, 2 when some failed.
    """
    failed: list[str] = []
    for item in progress(items, desc=desc, unit="img"):
        try:
            work(item)
        except Exception as exc:  # Ctrl-C (not an Exception) stops the whole batch
            if app_state().debug:
                traceback.print_exception(exc)
            click.echo(error_line(exc, label(item)), err=True)
            failed.append(label(item))
    if failed:
        click.echo(f"{len(failed)} of {len(items)} inputs failed: {', '.join(failed)}", err=True)
        return EXIT_SOME_FAILED
    return EXIT_OK


class Stopwatch:
    def __init__(self) -> None:
        self.start = time.perf_counter()

    @property
    def seconds(self) -> float:
        return round(time.perf_counter() - self.start, 3)


def settings_from(cls: type[T], options: dict[str, Any]) -> T:
    """The settings dataclass ``cls`` from the CLI options that name its fields."""
    names = {f.name for f in fields(cls)}  # type: ignore[arg-type]
    return cls(**{k: v for k, v in options.items() if k in names})


def command_line(ctx: click.Context, **overrides: Any) -> str:
    """The ``renderer ...`` command that reproduces this run, with some values replaced
    (e.g. ``photos=[one_photo]`` to reproduce a single output of a batch)."""
    words = ["renderer"]
    chain = []
    c: click.Context | None = ctx
    while c is not None:
        chain.append(c)
        c = c.parent
    levels = chain[:-1] if len(chain) > 1 else chain  # the root is `renderer` itself
    words.extend(level.info_name or "" for level in reversed(levels))
    params = {**ctx.params, **overrides}
    positional: list[str] = []
    for param in ctx.command.params:
        name = param.name or ""
        if name not in params:
            continue
        value = params[name]
        explicit = name in overrides or ctx.get_parameter_source(name) not in (
            ParameterSource.DEFAULT,
            ParameterSource.DEFAULT_MAP,
            None,
        )
        if isinstance(param, click.Argument):
            values = value if isinstance(value, (list, tuple)) else [value]
            positional.extend(str(v) for v in values if v is not None)
            continue
        if not explicit or value is None:
            continue
        flag = max(param.opts, key=len)
        if isinstance(param, click.Option) and param.is_flag:
            if param.secondary_opts and not value:
                words.append(max(param.secondary_opts, key=len))
            elif value:
                words.append(flag)
            continue
        for item in value if isinstance(value, (list, tuple)) else [value]:
            words.extend([flag, str(item)])
    return shlex.join([*words, *positional])


# --------------------------------------------------------------------------- shared options


def stacked(options: Sequence[Callable]) -> Callable[[Callable], Callable]:
    """One decorator applying a table of ``click.option`` decorators, listed in ``--help``
    order."""

    def decorate(func: Callable) -> Callable:
        for option in reversed(options):
            func = option(func)
        return func

    return decorate


# The option makers and open_model import torch-bound modules when first used: the CLI's
# root (help, version, one-line errors) imports this module and must stay light.


def model_options(func: Callable) -> Callable:
    """``--model``, ``--weights`` and ``--device``."""
    from .devices import DEVICE_CHOICES
    from .models import DEFAULT_MODEL

    func = click.option(
        "--device",
        type=click.Choice(DEVICE_CHOICES, case_sensitive=False),
        default="auto",
        show_default=True,
        help="Where to compute: auto picks CUDA, then MPS, then CPU.",
    )(func)
    func = click.option(
        "--weights",
        type=click.Path(dir_okay=False, path_type=Path),
        default=None,
        help="A local state dict to load instead of the cached or embedded weights.",
    )(func)
    func = click.option(
        "--model",
        "-m",
        default=DEFAULT_MODEL,
        show_default=True,
        help="Model name; see `renderer models`.",
    )(func)
    return func


def max_pixels_option(func: Callable) -> Callable:
    from .imageio import DEFAULT_MAX_PIXELS

    return click.option(
        "--max-pixels",
        type=click.IntRange(min=1),
        default=DEFAULT_MAX_PIXELS,
        show_default=True,
        help="Refuse photos with more pixels than this (decompression-bomb guard).",
    )(func)


def max_memory_option(func: Callable) -> Callable:
    return click.option(
        "--max-memory",
        type=click.FloatRange(min=0, min_open=True),
        default=None,
        metavar="GB",
        help="Memory one dream's gradient step may hold; a larger picture is dreamt in "
        "tiles.  [default: a quarter of the free memory, on the CPU at most 2 GB]",
    )(func)


def gigabytes(value: float | None) -> int | None:
    """``--max-memory`` in bytes (None stays None: the engine's default)."""
    return None if value is None else int(value * 2**30)


def open_model(model: str, device: str, weights: Path | None) -> LoadedModel:
    """Resolve the device and load the model once; errors become one-line messages."""
    from .devices import resolve_device
    from .models import load_model

    return load_model(model, resolve_device(device), weights)
