"""Ctrl-C: the first one stops a command, always, within seconds; later ones wait for it.

Why a Ctrl-C could be lost: Python raises ``KeyboardInterrupt`` wherever the main thread
happens to be. When that is inside a C extension's import (numpy's ``multiarray`` while
torch initializes, for one), the extension's init turns the exception into an
``ImportError``, and torch, for which numpy is optional, swallows it. The command then went
on, deaf to later Ctrl-Cs (the first one had set SIGINT to "ignore" for the cleanup), or
failed later with numpy's "cannot load module more than once per process".

So, in order:

- In the ``renderer`` process, before its command runs (``install``), a Ctrl-C ends the
  process at once: nothing has been written yet.
- While a command runs (``first_ctrl_c_stops``), the first Ctrl-C raises
  ``KeyboardInterrupt``, so the command ends its workers and removes its staging folders;
  later ones are ignored, so they cannot break that cleanup. Inside an import, where the
  exception could be swallowed, it ends the process at once instead: every file the
  program writes is written atomically, and the next run clears what was in flight.
- In the ``renderer`` process, a watchdog ends the process (and its worker processes) if it
  is still alive ``WATCHDOG_S`` after the first Ctrl-C, whatever swallowed it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from types import FrameType

EXIT_INTERRUPTED = 130
WATCHDOG_S = 3.0
_IMPORT_FILES = frozenset(
    {"<frozen importlib._bootstrap>", "<frozen importlib._bootstrap_external>"}
)


class _State:
    own_process = False  # the `renderer` program itself, not a test's CliRunner
    said = False  # "interrupted" has been printed
    watchdog: threading.Timer | None = None


def say_interrupted() -> None:
    """Print ``interrupted`` on stderr, once per process."""
    if not _State.said:
        _State.said = True
        with contextlib.suppress(Exception):
            sys.stderr.write("interrupted\n")
            sys.stderr.flush()


def end_children(grace: float = 1.0) -> None:
    """Terminate this process's worker processes, and kill those still alive after
    ``grace`` seconds."""
    mp = sys.modules.get("multiprocessing")
    if mp is None:
        return
    with contextlib.suppress(Exception):
        children = mp.active_children()
        for child in children:
            child.terminate()
        for child in children:
            child.join(grace / max(1, len(children)))
        for child in children:
            if child.is_alive():
                child.kill()


def stop_now() -> None:
    """End the process at once, as an interrupted command: ``interrupted``, status 130."""
    say_interrupted()
    end_children()
    with contextlib.suppress(Exception):
        sys.stdout.flush()
    os._exit(EXIT_INTERRUPTED)


def _inside_import(frame: FrameType | None) -> bool:
    while frame is not None:
        if frame.f_code.co_filename in _IMPORT_FILES:
            return True
        frame = frame.f_back
    return False


def _start_watchdog() -> None:
    if _State.own_process and _State.watchdog is None:
        _State.watchdog = threading.Timer(WATCHDOG_S, stop_now)
        _State.watchdog.daemon = True
        _State.watchdog.start()


def _at_once(signum: int, frame: FrameType | None) -> None:
    stop_now()


def _first_ctrl_c(signum: int, frame: FrameType | None) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _start_watchdog()
    if _State.own_process and _inside_import(frame):
        stop_now()
    raise KeyboardInterrupt


def install() -> None:
    """The ``renderer`` program's first step: until its command runs, Ctrl-C ends it at
    once. A SIGINT ignored by whoever started us (``nohup``, ``cmd &``) stays ignored."""
    _State.own_process = True
    if signal.getsignal(signal.SIGINT) is not signal.SIG_IGN:
        signal.signal(signal.SIGINT, _at_once)


@contextlib.contextmanager
def handled(signum: int, handler: Callable[[int, FrameType | None], None]) -> Iterator[None]:
    """``handler`` for ``signum`` inside the block (in the main thread; elsewhere nothing
    changes); the handler before it comes back unless ``handler`` replaced itself (a first
    Ctrl-C leaves later ones ignored while the command cleans up and exits)."""
    try:
        previous = signal.signal(signum, handler)
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        if signal.getsignal(signum) is handler:
            signal.signal(signum, previous)


@contextlib.contextmanager
def first_ctrl_c_stops() -> Iterator[None]:
    """While a command runs: the first Ctrl-C raises ``KeyboardInterrupt`` (see the module's
    docstring). A Ctrl-C ignored by whoever started us stays ignored."""
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:  # as `nohup` or `cmd &` ask
        yield
        return
    with handled(signal.SIGINT, _first_ctrl_c):
        yield
