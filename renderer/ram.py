"""The machine's available RAM: what the dreams' memory budget and the gallery's heavy
jobs are sized by (no torch needed to read it)."""

from __future__ import annotations

import os

FALLBACK = 8 * 2**30


def available_ram() -> int:
    """Available bytes: Linux's ``MemAvailable``; elsewhere the free pages, else 8 GiB."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return FALLBACK


def reset_peak_rss() -> bool:
    """Start this process's peak resident size (``VmHWM``) afresh (Linux): a worker runs
    one job at a time, so the peak after a job is that job's. False where unsupported."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as f:
            f.write("5")
        return True
    except OSError:
        return False


def peak_rss() -> int | None:
    """This process's peak resident bytes since the last ``reset_peak_rss`` (Linux)."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return None
