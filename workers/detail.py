"""The detail of one process: frozen records that cross the Source boundary.

The figures that change every tick (state, CPU%, core, RSS, rates) are in
the snapshot's :class:`~mptop.workers.snapshot.WorkerSample`; a
:class:`WorkerDetail` holds what only a closer look at the process tells.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ChannelCounts:
    """One channel as one process used it: messages and pickled bytes, totals since start."""

    name: str
    kind: str
    sent: int
    sent_bytes: int
    received: int
    received_bytes: int


@dataclass(frozen=True, slots=True)
class WorkerDetail:
    """Everything the detail screen shows about process ``pid`` beyond its sample.

    ``create_time`` is ``time.time()`` seconds (None if unknown); ``affinity``
    the cores it may run on (None if unknown); ``nice`` its nice value (0
    normal to 19 lowest priority; None if unknown), ``mptop_nice`` mptop's own;
    the tails are the last lines of its stdout/stderr; ``traceback`` is the
    text of an uncaught exception, "" if it raised none, ``None`` if the source
    cannot know (a user's program: its tracebacks are in its output). ``recorded``: only what a recording
    holds (no process to ask, no output files). ``last_seen``: PPID to nice are
    as read while the process ran (it has exited since).
    """

    pid: int
    ppid: int | None
    cmdline: tuple[str, ...]
    start_method: str
    create_time: float | None
    affinity: tuple[int, ...] | None
    threads: int | None
    channels: tuple[ChannelCounts, ...]
    stdout_tail: str
    stderr_tail: str
    traceback: str | None
    recorded: bool = False
    nice: int | None = None
    mptop_nice: int | None = None
    last_seen: bool = False


def recorded_detail(pid: int, start_method: str = "") -> WorkerDetail:
    """What a recording alone tells about process ``pid`` (its sample has the rest).

    What only the live process or its output files could say (PPID, command
    line, affinity, threads, output) is unknown and shown as such.
    """
    return WorkerDetail(
        pid=pid,
        ppid=None,
        cmdline=(),
        start_method=start_method,
        create_time=None,
        affinity=None,
        threads=None,
        channels=(),
        stdout_tail="",
        stderr_tail="",
        traceback="",
        recorded=True,
    )


@dataclass(frozen=True, slots=True)
class OutputTail:
    """The end of one captured output file, for the output view (``Source.output``).

    ``what`` says whose output it is (``"stdout of worker-3"``), ``path`` where
    the whole file is, ``lines`` its last lines (at most ``OUTPUT_LINES``,
    from the last ``TAIL_BYTES`` bytes of :mod:`mptop.workers.output`), ``size`` its length in bytes.
    """

    what: str
    path: str
    lines: tuple[str, ...]
    size: int = 0
