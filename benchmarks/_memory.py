"""Resident memory of this process, as the Linux kernel counts it."""

from pathlib import Path

MB = 2**20


def status(field):
    """A byte count from ``/proc/self/status``: ``"VmRSS"`` (now), ``"VmHWM"`` (peak)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise KeyError(field)


def reset_peak():
    """Make the peak (``VmHWM``) the current resident memory."""
    Path("/proc/self/clear_refs").write_text("5")
