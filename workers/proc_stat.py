"""Linux's ``/proc/PID/stat`` read directly: the per-tick fast path of :class:`ProcessProbe`.

One ``open`` and ``read`` of one file gives everything a tick needs of a
process: state, parent, CPU time, the core it last ran on, its start time
(for the identity check) and its RSS. psutil reads the same file for the
first five and ``/proc/PID/statm`` for RSS, through several layers of
wrappers: 90-120 µs per process here against 20-30 µs for this (bench/scale.py
``tick``). psutil stays the reader everywhere else, and on other platforms.

Field numbers are proc(5)'s, counted from 1; the command (field 2) is in
parentheses and may itself hold spaces or parentheses, so fields are split
after the *last* ``)``.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass

AVAILABLE = sys.platform.startswith("linux")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


@dataclass(frozen=True, slots=True)
class Stat:
    """What one read of ``/proc/PID/stat`` says of a process.

    ``state`` is the one-letter state (field 3: R, S, D, I, T, t, Z, X);
    ``ppid`` field 4; ``cpu_seconds`` user + system time (fields 14 + 15,
    clock ticks / ``SC_CLK_TCK``); ``start_ticks`` the start time after boot in
    clock ticks (field 22), which with the PID names one process; ``rss``
    bytes (field 24, pages * ``SC_PAGE_SIZE``: the counter the second field of
    ``statm`` shows too, ``get_mm_rss`` in the kernel); ``core`` the CPU it
    last ran on (field 39), ``None`` on a kernel too old to say.
    """

    state: str
    ppid: int
    cpu_seconds: float
    start_ticks: int
    rss: int
    core: int | None


def read_stat(pid: int) -> Stat | None:
    """Read and parse ``/proc/PID/stat``; ``None`` if the process is gone or the file unreadable.

    Never raises (a malformed file also gives ``None``, and the caller falls
    back to psutil).
    """
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except OSError:
        return None
    # fields[0] is field 3 (state); field N is fields[N - 3]
    fields = data[data.rfind(b")") + 2 :].split()
    try:
        return Stat(
            state=fields[0].decode("ascii", "replace"),
            ppid=int(fields[1]),
            cpu_seconds=(int(fields[11]) + int(fields[12])) / CLOCK_TICKS,
            start_ticks=int(fields[19]),
            rss=int(fields[21]) * PAGE_SIZE,
            core=int(fields[36]) if len(fields) > 36 else None,
        )
    except (IndexError, ValueError):
        return None
