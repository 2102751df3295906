"""Forward hooks that always come off again, and a forward pass cut after the last layer needed."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence

import torch
from torch import nn


class _StopForward(Exception):
    """Raised inside a hook once every wanted activation is captured."""


@contextlib.contextmanager
def capture(
    net: nn.Module, names: Sequence[str], *, stop_when_done: bool = False
) -> Iterator[dict[str, torch.Tensor]]:
    """Record the outputs of the named submodules during forward passes inside the block.

    With ``stop_when_done`` the forward pass ends as soon as all of them are captured; call
    the network through :func:`run_until` then. The hooks are removed whatever happens.
    """
    modules = dict(net.named_modules())
    wanted = list(dict.fromkeys(names))
    missing = [n for n in wanted if n not in modules]
    if missing:
        raise KeyError(f"no submodule named {missing[0]!r}")
    store: dict[str, torch.Tensor] = {}

    def make_hook(name: str):
        def hook(_module: nn.Module, _inputs: object, output: torch.Tensor) -> None:
            store[name] = output
            if stop_when_done and len(store) == len(wanted):
                raise _StopForward

        return hook

    handles = [modules[n].register_forward_hook(make_hook(n)) for n in wanted]
    try:
        yield store
    finally:
        for handle in handles:
            handle.remove()


def run_until(net: nn.Module, x: torch.Tensor, names: Sequence[str]) -> dict[str, torch.Tensor]:
    """Run ``net`` on ``x`` only as far as the deepest of ``names``; return their outputs."""
    with capture(net, names, stop_when_done=True) as store:
        with contextlib.suppress(_StopForward):
            net(x)
        return dict(store)
