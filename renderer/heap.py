"""glibc's heap settings for long torch loops: keep freed memory for the next step.

By default glibc hands the top of its heap back to the OS once more than about twice the
largest recently freed block lies free there, and serves large blocks by ``mmap`` (returned
at once on free). A dream step frees its network activations (about 100 MB for 8 crops)
and allocates them again a moment later, so every step faulted its pages back in: a
1024 px MaCo class dream on one thread spent 5.1 of its 42 CPU seconds in the kernel with
2.2 million page faults; with these settings 0.8 s and 0.23 million. Dask's nanny makes
it worse (``MALLOC_TRIM_THRESHOLD_=65536`` pins the mmap threshold at 128 KB).

The memory stays with the process until ``release_memory`` (``gallery.run``) trims it
between jobs, so a worker's resident size is its largest job's peak, as before.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
M_MMAP_MAX = -4
DEFAULT_MMAP_MAX = 65536  # glibc's
MMAP_THRESHOLD = 32 * 2**20  # glibc's largest on 64-bit: bigger blocks are still mmapped
TRIM_THRESHOLD = 256 * 2**20


def keep_freed_memory() -> bool:
    """Raise glibc's trim and mmap thresholds for this process; False where there is no
    glibc (macOS, Windows, musl), which changes nothing."""
    with contextlib.suppress(OSError, AttributeError):
        import ctypes

        libc = ctypes.CDLL("libc.so.6")
        return bool(
            libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)
            and libc.mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD)
        )
    return False


def _mmap_max(count: int) -> bool:
    with contextlib.suppress(OSError, AttributeError):
        import ctypes

        return bool(ctypes.CDLL("libc.so.6").mallopt(M_MMAP_MAX, count))
    return False


@contextlib.contextmanager
def heap_only() -> Iterator[None]:
    """No ``mmap`` for large blocks inside the block: a batch of MaCo dreams allocates
    tensors larger than glibc's largest mmap threshold (6 classes at 1024 px: 75 MB), and
    each was mapped, faulted in and unmapped every step. A 6-class batch (8 + 6 steps, one
    thread): 8.7 of 36.9 CPU-s in the kernel with 4.1 million page faults; inside this,
    1.4 of 30.0 and 0.5 million, for a peak resident size of 2.5 GB instead of 1.9 (freed
    blocks stay in the heap until ``release_memory`` trims it between jobs)."""
    changed = _mmap_max(0)
    try:
        yield
    finally:
        if changed:
            _mmap_max(DEFAULT_MMAP_MAX)
