"""What ``/proc`` tells of processes mptop did not start: the pipes and sockets they hold, their parents.

Linux only (elsewhere every reading is empty). Each open file descriptor is a
link in ``/proc/PID/fd``; a pipe reads ``pipe:[INODE]``, a socket
``socket:[INODE]``, and the inode is the same in every process that holds
the object, so two processes holding one inode share that pipe or socket. A
pipe's end is in ``/proc/PID/fdinfo/FD``: ``flags:`` (octal) with
``O_WRONLY`` for the write end, ``O_RDONLY`` for the read end. A socket has
no end: both sides read and write.

Unix socketpairs (a duplex ``multiprocessing.Pipe``) have two inodes, one
per end; which two belong together only the kernel's socket diagnostics
(``ss -x``, netlink ``sock_diag``) tell, so :class:`FdScanner` does not pair
them: each socket inode held by two or more processes is its own channel,
and a socketpair whose two ends sit in two different processes (one each)
shows as no channel at all.

Cost: a rescan is one ``listdir`` and one ``readlink`` per descriptor, plus
one small ``fdinfo`` read per new pipe end; :class:`FdScanner` rescans a
process only when its descriptor count changed (``stat`` of ``/proc/PID/fd``
gives the count on Linux 6.2 and later) or :data:`RESCAN` seconds passed.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

# The longest a process's descriptors go unread, seconds.
RESCAN = 2.0

READ = "r"
WRITE = "w"
BOTH = "rw"


@dataclass(frozen=True, slots=True)
class End:
    """One process's hold on a pipe or socket: ``kind`` ``pipe`` or ``socket``, ``mode`` r, w or rw."""

    kind: str
    inode: int
    mode: str


def _mode(pid: int, fd: str) -> str:
    """The access mode of pipe descriptor ``fd`` of ``pid`` from its fdinfo ``flags:`` line."""
    try:
        with open(f"/proc/{pid}/fdinfo/{fd}", "rb") as f:
            for line in f:
                if line.startswith(b"flags:"):
                    acc = int(line.split()[1], 8) & os.O_ACCMODE
                    return {os.O_RDONLY: READ, os.O_WRONLY: WRITE}.get(acc, BOTH)
    except (OSError, ValueError, IndexError):
        pass
    return BOTH


def read_ends(pid: int, known: dict[tuple[str, int], str] | None = None) -> dict[str, End]:
    """fd -> :class:`End` for every pipe and socket ``pid`` holds now.

    ``known`` maps ``(fd, inode)`` to a pipe end's mode already read, so an
    unchanged descriptor costs no fdinfo read. Raises ``OSError``
    (``PermissionError``: another user's process; ``FileNotFoundError``: it
    has exited).
    """
    known = known or {}
    out: dict[str, End] = {}
    base = f"/proc/{pid}/fd/"
    for fd in os.listdir(base):
        try:
            link = os.readlink(base + fd)
        except OSError:  # closed since the listdir
            continue
        kind, _, rest = link.partition(":[")
        if kind not in ("pipe", "socket") or not rest.endswith("]"):
            continue
        try:
            inode = int(rest[:-1])
        except ValueError:
            continue
        if kind == "socket":
            out[fd] = End(kind, inode, BOTH)
        else:
            mode = known.get((fd, inode)) or _mode(pid, fd)
            out[fd] = End(kind, inode, mode)
    return out


def fd_count(pid: int) -> int | None:
    """How many descriptors ``pid`` has open (``stat`` of ``/proc/PID/fd``), None where the
    kernel does not say (before Linux 6.2 the size reads 0) or the process is gone."""
    try:
        n = os.stat(f"/proc/{pid}/fd").st_size
    except OSError:
        return None
    return n or None


@dataclass(eq=False)
class _Held:
    ends: dict[str, End]
    at: float
    count: int | None


class FdScanner:
    """Keeps the pipe and socket ends of a set of processes, rescanning each only when needed.

    Not thread-safe: use it from one thread (the sampling thread).
    """

    def __init__(self, rescan: float = RESCAN) -> None:
        self.rescan = rescan
        self._held: dict[int, _Held] = {}
        self.denied: set[int] = set()
        self.rescans = 0

    def ends(self, pid: int, now: float) -> dict[str, End]:
        """The ends ``pid`` holds (rescanned if its fd count changed or :attr:`rescan` s passed).

        A process whose descriptors cannot be read (another user's) holds none
        and is added to :attr:`denied`.
        """
        held = self._held.get(pid)
        count = fd_count(pid)
        if (
            held is not None
            and now - held.at < self.rescan
            and (count is None or count == held.count)
        ):
            return held.ends
        known = {(fd, e.inode): e.mode for fd, e in held.ends.items()} if held else {}
        try:
            ends = read_ends(pid, known)
        except PermissionError:
            self.denied.add(pid)
            ends = {}
        except OSError:
            ends = {}
        self.rescans += 1
        self._held[pid] = _Held(ends, now, count)
        return ends

    def forget(self, pid: int) -> None:
        """Drop what is kept of ``pid`` (it has exited)."""
        self._held.pop(pid, None)


HAS_CHILDREN = os.path.exists(f"/proc/{os.getpid()}/task/{os.getpid()}/children")
"""Whether the kernel lists each thread's children (``CONFIG_PROC_CHILDREN``, Linux 3.5+)."""


def children(pid: int) -> set[int]:
    """The children of ``pid`` (those of each of its threads: ``/proc/PID/task/TID/children``).

    Costs one small read per thread, whatever runs on the system; empty for a
    process that is gone. Needs :data:`HAS_CHILDREN` (else see :func:`parents`).
    """
    out: set[int] = set()
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return out
    for tid in tasks:
        try:
            with open(f"/proc/{pid}/task/{tid}/children", "rb") as f:
                out.update(int(c) for c in f.read().split())
        except (OSError, ValueError):
            continue
    return out


def parents() -> dict[int, int]:
    """PID -> PPID of every process on the system (field 4 of each ``/proc/PID/stat``)."""
    out: dict[int, int] = {}
    try:
        names = os.listdir("/proc")
    except OSError:
        return out
    for name in names:
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                data = f.read()
            out[int(name)] = int(data.rsplit(b")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
    return out


def descendants(roots: set[int], ppids: dict[int, int]) -> set[int]:
    """Every PID below one of ``roots`` in ``ppids`` (the roots not included)."""
    children: dict[int, list[int]] = {}
    for pid, ppid in ppids.items():
        children.setdefault(ppid, []).append(pid)
    out: set[int] = set()
    todo = list(roots)
    while todo:
        for child in children.get(todo.pop(), ()):
            if child not in out and child not in roots:
                out.add(child)
                todo.append(child)
    return out


__all__ = [
    "HAS_CHILDREN",
    "RESCAN",
    "End",
    "FdScanner",
    "children",
    "descendants",
    "fd_count",
    "parents",
    "read_ends",
]
