"""dreamgallery: DeepDream-style art renderer and gallery generator."""

import signal as _signal
import sys as _sys

__version__ = "0.1.0"


def _quiet_interrupt(kind, value, tb, _previous=_sys.excepthook):
    """Ctrl-C before the command line is even read (while modules load): ``interrupted``,
    not a KeyboardInterrupt traceback. Python then ends by SIGINT (status 130 in a shell),
    after its usual clean-up; a second Ctrl-C must not break that clean-up."""
    if issubclass(kind, KeyboardInterrupt):
        _signal.signal(_signal.SIGINT, _signal.SIG_IGN)
        from .interrupts import say_interrupted

        say_interrupted()
        return
    _previous(kind, value, tb)


_sys.excepthook = _quiet_interrupt
