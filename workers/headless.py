"""Any source plus a recording sink, without a UI (``mptop ... --headless``).

The run: the CLI opens the output first (so a bad path fails before any
process starts) and builds the source; :func:`run_headless` writes each
snapshot the source delivers, until ``duration`` has passed or ``stop`` is
set (the CLI sets it on Ctrl+C, SIGTERM and SIGHUP), then closes the source
(bounded) and writes the last snapshot it leaves, which holds the exit codes
and exit events. Every line or CSV tick is written and flushed whole, so the
file is valid at any moment.
"""

from __future__ import annotations

import queue
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mptop.workers.record import SnapshotWriter, header_record, open_writer
from mptop.workers.snapshot import Snapshot
from mptop.workers.source import Closed, Source

# How often the loop looks at the stop flag while it waits for a snapshot, seconds.
POLL_SECONDS = 0.1


@dataclass(frozen=True, slots=True)
class HeadlessResult:
    """What a headless run did: snapshots written, seconds it ran, whether it was stopped early,
    the file, how each process ended, and the sampling failures reported (one line each)."""

    snapshots: int
    seconds: float
    interrupted: bool
    path: Path
    closed: Closed
    failures: tuple[str, ...] = ()


def open_output(path: Path, record: dict[str, Any]) -> SnapshotWriter:
    """Create the recording file (JSONL with its header, or CSV), before any process starts.

    ``record`` describes the run (the header's ``scenario`` object, as
    :func:`~mptop.workers.record.scenario_record` makes it). Raises
    ``ValueError`` (bad suffix) or ``OSError`` (cannot create).
    """
    return open_writer(path, header_record(record, time.time()))


def run_headless(
    source: Source,
    writer: SnapshotWriter,
    duration: float | None,
    stop: threading.Event | None = None,
) -> HeadlessResult:
    """Record ``source`` for ``duration`` seconds (``None``: until ``stop``) into ``writer``.

    Takes one snapshot per tick of the source's interval, the first at once:
    ``floor(duration / interval) + 1`` of them; at ``duration`` seconds it closes
    the source and writes the last snapshot :meth:`Source.close` leaves. A sampling failure is written to stderr as one line. Always
    closes the source and ``writer``, also when interrupted or on an error.
    """
    stop = stop or threading.Event()
    inbox: queue.SimpleQueue[Snapshot] = queue.SimpleQueue()
    failures: list[str] = []

    def failed(line: str) -> None:
        failures.append(line)
        print(f"mptop: {line}", file=sys.stderr)

    interval = source.info().interval
    want = None if duration is None else int(duration / interval + 1e-9) + 1
    written = 0
    t0 = time.monotonic()
    end = None if duration is None else t0 + duration
    # the last tick is due at t0 + (want - 1) * interval <= end; a late one still counts,
    # up to half a tick after the end
    late = None if end is None else end + interval / 2
    closed = Closed()
    try:
        source.start(inbox.put, failed)
        while not stop.is_set() and (want is None or written < want):
            wait = POLL_SECONDS if late is None else min(POLL_SECONDS, late - time.monotonic())
            if wait <= 0:
                break
            try:
                snap = inbox.get(timeout=wait)
            except queue.Empty:
                continue
            writer.write(snap)
            written += 1
            if source.info().ended:  # a program that exited: the run is over
                break
            source.arm()
        else:
            if end is not None:  # the run lasts its duration, not only its whole ticks
                stop.wait(max(0.0, end - time.monotonic()))
    finally:
        try:
            closed = source.close()
            if closed.last is not None:
                writer.write(closed.last)
                written += 1
        finally:
            writer.close()
    return HeadlessResult(
        written, time.monotonic() - t0, stop.is_set(), writer.path, closed, tuple(failures)
    )
