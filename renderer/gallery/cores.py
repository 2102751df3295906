"""How one machine's cores and memory are split: worker processes, torch threads each, and
heavy jobs at once. One pure rule for ``--jobs``, the default, local worker processes and
Dask workers sharing a host.

- Never more compute threads in total than cores: processes x threads <= cores.
- One process per core by default (at most ``MAX_AUTO_PROCESSES``), one thread each: a
  one-thread process runs a MaCo class dream at the network's pace, and a second torch
  thread in the same process bought little (11 class dreams: 932 CPU-s on 2 threads
  against 363 s on one); separate processes also cannot spin-wait on each other's threads
  as two threads of one process do on a busy machine. Two one-thread processes side by side
  cost no more CPU than one alone (measured on the 2-core machine here: Lite0's forward and
  backward of 8 crops 156 ms each against 163-179 ms alone; a 6-class MaCo batch 29 CPU-s
  each against 32 alone), so the cores, not the hardware, bound them; the kernel's page
  faults did add 17% to each (35.5 -> 41.5 CPU-s) before ``heap.heap_only``.
- Cores left over when there are fewer processes (few jobs, little memory, more cores than
  ``MAX_AUTO_PROCESSES``) become threads of the processes.
- Memory bounds the processes (``WORKER_BYTES`` each beyond ``RESERVE_BYTES``) and the
  heavy jobs at once (one per ``HEAVY_JOB_BYTES`` beyond the first): a 4 GB laptop runs its
  explanations and class dreams one at a time.
"""

from __future__ import annotations

from dataclasses import dataclass

GIB = 2**30
MAX_AUTO_PROCESSES = 4
RESERVE_BYTES = GIB  # the main process (it imports torch while planning) and the OS
WORKER_BYTES = GIB  # a worker's peak on a light job: libraries, model, a 512 px dream
HEAVY_JOB_BYTES = 2 * GIB  # an explanation's ~1.7 GB peak, or a MaCo class batch's


@dataclass(frozen=True)
class CoreSplit:
    """``processes`` workers of ``threads`` torch threads each; ``heavy`` heavy jobs may run
    at once; ``note`` says why fewer processes than asked run ("" when as asked)."""

    processes: int
    threads: int
    heavy: int
    note: str = ""

    def __post_init__(self) -> None:
        if self.processes < 1 or self.threads < 1 or not 1 <= self.heavy <= self.processes:
            raise ValueError(f"bad core split {self}")


def split_cores(
    cores: int, memory: int, *, asked: int | None = None, pending: int | None = None
) -> CoreSplit:
    """The split for ``cores`` cores and ``memory`` available bytes; ``asked``: the worker
    processes the user asked for (``--jobs``; None: the default); ``pending``: the jobs
    left to run, when known (no process waits for a job that does not exist)."""
    cores = max(1, cores)
    fit = max(1, (memory - RESERVE_BYTES) // WORKER_BYTES)
    want = min(cores, MAX_AUTO_PROCESSES) if asked is None else max(1, asked)
    processes = min(want, cores, fit)
    note = ""
    if asked is not None and processes < asked:
        why = (
            f"this machine has {cores} cores"
            if processes == cores
            else f"{memory / GIB:.1f} GB of memory is free ({WORKER_BYTES // GIB} GB a worker)"
        )
        note = f"{asked} jobs asked for: running {processes} worker processes, as {why}"
    if pending is not None:
        processes = max(1, min(processes, pending))
    heavy = max(1, min(processes, memory // HEAVY_JOB_BYTES - 1))
    return CoreSplit(processes, max(1, cores // processes), heavy, note)


__all__ = ["CoreSplit", "split_cores"]
