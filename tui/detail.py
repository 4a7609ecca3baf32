"""What the detail screen shows about one worker, and how it is read (off the UI loop).

:func:`read_detail` does psutil calls and file reads, so it must run on a
thread, never on the event loop. A view-only app (no supervisor) gets its
details from any ``Callable[[int], WorkerDetail | None]``, such as the
deterministic samples of the tests.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path

import psutil

from mptop.workers.snapshot import WorkerSample
from mptop.workers.supervisor import NoSuchWorker, Supervisor

# How much of the end of a worker's stdout/stderr to show: bytes read, lines kept.
TAIL_BYTES = 8192
TAIL_LINES = 12


@dataclass(frozen=True, slots=True)
class ChannelCounts:
    """One channel as one worker used it: messages and pickled bytes, totals since start."""

    name: str
    kind: str
    sent: int
    sent_bytes: int
    received: int
    received_bytes: int


@dataclass(frozen=True, slots=True)
class WorkerDetail:
    """Everything the detail screen shows about one worker.

    ``create_time`` is ``time.time()`` seconds (None if unknown); ``affinity``
    the cores it may run on (None if unknown); ``nice`` its nice value (0
    normal to 19 lowest priority; None if unknown), ``mptop_nice`` mptop's own;
    ``rss`` bytes; the tails are
    the last lines of its stdout/stderr files; ``traceback`` is the text of an
    uncaught exception, or "".
    """

    sample: WorkerSample
    ppid: int | None
    cmdline: tuple[str, ...]
    start_method: str
    create_time: float | None
    affinity: tuple[int, ...] | None
    threads: int | None
    channels: tuple[ChannelCounts, ...]
    stdout_tail: str
    stderr_tail: str
    traceback: str
    recorded: bool = False  # True: only what a recording holds (no psutil, no log files)
    nice: int | None = None
    mptop_nice: int | None = None  # mptop's own nice value when the detail was read
    last_seen: bool = False  # True: PPID to nice are as read while the worker ran (it has exited)


def detail_from_sample(sample: WorkerSample) -> WorkerDetail:
    """What a recording (replay) or any snapshot alone tells about a worker.

    The sample's own fields (PID, name, daemon flag, start method, state,
    exit code, CPU%, core, RSS, rates) are all there; what only the live
    process or its log files could say (PPID, command line, affinity,
    threads, output) is unknown and shown as such.
    """
    return WorkerDetail(
        sample=sample,
        ppid=None,
        cmdline=(),
        start_method=sample.start_method or "",
        create_time=None,
        affinity=None,
        threads=None,
        channels=(),
        stdout_tail="",
        stderr_tail="",
        traceback="",
        recorded=True,
    )


def keep_last_seen(new: WorkerDetail, old: WorkerDetail | None) -> WorkerDetail:
    """``new``, with the facts only a live process has taken from ``old`` once the worker exited.

    psutil cannot read a process that is gone, so the detail of a worker that
    exited while it was open would lose its PPID, command line, affinity,
    threads and nice value; when ``new`` has no PPID they are kept from
    ``old`` (the same PID's last detail) and marked :attr:`WorkerDetail.last_seen`.
    """
    # (not only once the sample says "exited": a worker that dies during the read is
    # still alive in the snapshot the read was for, and psutil already finds nothing)
    if old is None or old.sample.pid != new.sample.pid or new.ppid is not None or old.ppid is None:
        return new
    return dataclasses.replace(
        new,
        ppid=old.ppid,
        cmdline=new.cmdline or old.cmdline,
        create_time=old.create_time if new.create_time is None else new.create_time,
        affinity=old.affinity,
        threads=old.threads,
        nice=old.nice,
        last_seen=True,
    )


def tail(path: Path, lines: int = TAIL_LINES, max_bytes: int = TAIL_BYTES) -> str:
    """The last ``lines`` lines of ``path`` (reading at most ``max_bytes``); "" if unreadable."""
    try:
        with path.open("rb") as f:
            f.seek(0, 2)
            size = f.tell()
            f.seek(max(0, size - max_bytes))
            data = f.read()
    except OSError:
        return ""
    text = data.decode("utf-8", errors="replace")
    return "\n".join(text.splitlines()[-lines:])


def read_detail(supervisor: Supervisor, sample: WorkerSample) -> WorkerDetail:
    """Read the detail of ``sample``'s worker: psutil, its counters, its log files.

    Blocks (psutil and file reads, about 1 ms): call it on a thread. Raises
    :class:`NoSuchWorker` if the PID is not a worker of this run.
    """
    h = supervisor.handle(sample.pid)
    ppid: int | None = None
    cmdline: tuple[str, ...] = ()
    # mptop's clock when it started the worker, not psutil's create_time(): that one is
    # derived from boot time in clock ticks and can read a second off the Events' times
    create: float | None = h.started
    affinity: tuple[int, ...] | None = None
    threads: int | None = None
    nice: int | None = None
    if h.alive and h.ps is not None:
        with contextlib.suppress(psutil.Error), h.ps.oneshot():
            ppid = h.ps.ppid()
            nice = int(h.ps.nice())
            cmdline = tuple(h.ps.cmdline())
            threads = h.ps.num_threads()
            with contextlib.suppress(AttributeError, psutil.Error):
                affinity = tuple(h.ps.cpu_affinity() or ())
    channels = tuple(
        ChannelCounts(channel.info.name, channel.info.kind, *block.read())
        for channel, block in h.blocks
    )
    out, err, tb = h.log_paths
    return WorkerDetail(
        sample=sample,
        ppid=ppid,
        cmdline=cmdline,
        start_method=h.start_method or supervisor.start_method,
        create_time=create,
        affinity=affinity,
        threads=threads,
        nice=nice,
        mptop_nice=os.nice(0),
        channels=channels,
        stdout_tail=tail(out) if out.name else "",
        stderr_tail=tail(err) if err.name else "",
        traceback=tail(tb, lines=200, max_bytes=65536) if tb.name else "",
    )


__all__ = [
    "ChannelCounts",
    "NoSuchWorker",
    "WorkerDetail",
    "detail_from_sample",
    "keep_last_seen",
    "read_detail",
    "tail",
]
