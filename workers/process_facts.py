"""Facts about a process that any source reads the same way: a zombie's exit code, what a closer
look tells (for the detail screen), a process's short name from its command line, and a few names
for a channel's end."""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path

import psutil


def zombie_exitcode(pid: int) -> int | None:
    """The exit code of zombie ``pid`` (``Process.exitcode`` style: -N = killed by signal N), or None.

    Linux keeps a zombie's wait status as the last field of ``/proc/PID/stat``
    (``exit_code``, since Linux 3.5; proc(5)) until its parent reaps it, so the
    exit code shows before the parent's own ``join()``.
    """
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()
        if fields[0] != b"Z":
            return None
        return os.waitstatus_to_exitcode(int(fields[-1]))
    except (OSError, IndexError, ValueError):
        return None


def process_name(name: str, cmdline: list[str]) -> tuple[str, str]:
    """A short name for a process and, where its command line says, its start method.

    A Python process is named by its script or module (``prog.py``,
    ``mypkg.main``), a multiprocessing helper by what it is (``spawn child``,
    ``forkserver``, ``resource_tracker``); anything else keeps psutil's name.
    """
    exe = Path(cmdline[0]).name if cmdline else ""
    if "python" not in exe:
        return name, ""
    args = cmdline[1:]
    if "-c" in args:
        code = " ".join(args[args.index("-c") + 1 :])
        for marker, short, method in (
            ("multiprocessing.spawn", "spawn child", "spawn"),
            ("multiprocessing.forkserver", "forkserver", ""),
            ("multiprocessing.resource_tracker", "resource_tracker", ""),
        ):
            if marker in code:
                return short, method
        return f"{exe} -c", ""
    for i, a in enumerate(args):
        if a == "-m" and i + 1 < len(args):
            return args[i + 1], ""
        if not a.startswith("-"):
            return Path(a).name, ""
    return exe, ""


@dataclass(frozen=True, slots=True)
class CloserLook:
    """What psutil tells of a live process beyond a tick's reading; None where it could not.

    ``create_time`` is ``time.time()`` seconds; ``affinity`` the cores it may run on.
    """

    ppid: int | None = None
    create_time: float | None = None
    cmdline: tuple[str, ...] = ()
    threads: int | None = None
    nice: int | None = None
    affinity: tuple[int, ...] | None = None


def closer_look(ps: psutil.Process | None) -> CloserLook:
    """:class:`CloserLook` of ``ps`` (one ``oneshot``); empty if it is None or gone. Never raises."""
    if ps is None:
        return CloserLook()
    facts: dict[str, object] = {}
    with contextlib.suppress(psutil.Error), ps.oneshot():
        facts["ppid"], facts["create_time"] = ps.ppid(), ps.create_time()
        facts["cmdline"], facts["threads"] = tuple(ps.cmdline()), ps.num_threads()
        facts["nice"] = int(ps.nice())
        facts["affinity"] = tuple(ps.cpu_affinity() or ())
    return CloserLook(**facts)  # type: ignore[arg-type]


def end_names(names: set[str]) -> str:
    """A few process names for a channel's end: ``MainProcess``, ``cons-0,cons-1``, ``4 processes``."""
    if not names:
        return "–"
    if len(names) <= 2:
        return ",".join(sorted(names))
    return f"{len(names)} processes"
