"""Any source plus a recording sink, without a UI (``mptop ... --headless``).

The run: the CLI opens the output first (so a bad path fails before any
process starts) and builds the source; :func:`run_headless` writes each
snapshot the source delivers, until ``duration`` has passed, ``stop`` is set
(the CLI sets it on Ctrl+C, SIGTERM and SIGHUP), the run is over by itself (a
program that exited, an attached tree that ended) or every worker has exited
(nothing more can happen: headless adds none), then closes the source
(bounded) and writes the last snapshot it leaves, which holds the exit codes
and exit events. Every line or CSV tick is written and flushed whole, so the
file is valid at any moment.

Then it says how it went: :func:`summary` gives the lines for stderr (how each
worker ended, the snapshots written and where) and :func:`exit_status` the
status, one of :data:`EXIT_OK`, :data:`EXIT_ERROR` and :data:`EXIT_ALL_FAILED`
for a spawned or attached run; a program's own status for ``mptop run``.
"""

from __future__ import annotations

import queue
import signal
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from mptop.workers.record import SnapshotWriter, header_record, open_writer
from mptop.workers.snapshot import Snapshot
from mptop.workers.source import Closed, Fate, Source

# How often the loop looks at the stop flag while it waits for a snapshot, seconds.
POLL_SECONDS = 0.1

# Exit statuses of a headless run (mptop run: the program's own, see exit_status).
EXIT_OK = 0
"""Recorded; at least one worker did not fail (stopped by mptop at the end, or by Ctrl+C, counts
as not failed)."""
EXIT_ERROR = 1
"""mptop saw an error: a snapshot could not be taken, a worker could not be started, the file
could not be written, or the run could not be prepared. The recording may have gaps."""
EXIT_ALL_FAILED = 3
"""Every worker failed: each ended by itself with a non-zero exit code (an uncaught exception
is 1, ``sys.exit(N)`` N) or was killed by a signal mptop did not send, before the run's end."""
# (2 is bad input, before anything starts: see mptop.tui.cli.)

# The exit codes mptop's own shutdown gives a worker still running at the end (the worker
# finishing when asked is 0): -SIGTERM, -SIGKILL.
STOP_CODES = (-signal.SIGTERM, -signal.SIGKILL)
# Workers listed by name in the summary; the rest are counted by how they ended.
SUMMARY_SHOWN = 12


@dataclass(frozen=True, slots=True)
class HeadlessResult:
    """What a headless run did.

    ``snapshots`` written, ``seconds`` it ran (monotonic clock), whether it was
    ``interrupted`` (``stop`` set: Ctrl+C, SIGTERM, SIGHUP), the file asked for
    (``path``) and every file written (``files``: a CSV recording writes one
    per table), how each process ended (``closed``), the sampling failures
    reported (``failures``, one line each) and every error mptop saw
    (``errors``: those failures, a worker that could not be started, a write
    that failed). ``exited_early`` holds the PIDs seen exited before mptop
    began to stop the run (so their exit code is their own, not mptop's
    shutdown's); ``all_exited`` says the run ended early because every worker
    had exited.
    """

    snapshots: int
    seconds: float
    interrupted: bool
    path: Path
    closed: Closed
    failures: tuple[str, ...] = ()
    errors: tuple[str, ...] = ()
    exited_early: frozenset[int] = frozenset()
    all_exited: bool = False
    files: tuple[Path, ...] = field(default=())

    def failed(self, fate: Fate) -> bool:
        """Whether ``fate``'s worker failed: a non-zero exit code of its own, i.e. one it got
        before mptop stopped the run, or one mptop's shutdown does not give (1, ``sys.exit(3)``,
        SIGSEGV: not SIGTERM or SIGKILL)."""
        code = fate.exitcode
        if code is None or code == 0:
            return False
        return fate.pid in self.exited_early or code not in STOP_CODES

    @property
    def all_failed(self) -> bool:
        """At least one worker, and every one of them :meth:`failed`."""
        fates = self.closed.fates
        return bool(fates) and all(self.failed(f) for f in fates)


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
    ``floor(duration / interval) + 1`` of them; at ``duration`` seconds (or
    once every worker has exited, or the source's run is over) it closes the
    source and writes the last snapshot :meth:`Source.close` leaves. A
    sampling failure and a write that failed are written to stderr as one
    line each and kept in :attr:`HeadlessResult.errors`; a failed write ends
    the recording. Always closes the source and ``writer``, also when
    interrupted or on an error.
    """
    stop = stop or threading.Event()
    inbox: queue.SimpleQueue[Snapshot] = queue.SimpleQueue()
    failures: list[str] = []
    errors: list[str] = []
    written = 0
    broken = False  # a write failed: the file ends there

    def failed(line: str) -> None:
        failures.append(line)
        errors.append(line)
        print(f"mptop: {line}", file=sys.stderr)

    def write(snap: Snapshot) -> bool:
        nonlocal written, broken
        if broken:
            return False
        try:
            writer.write(snap)
        except OSError as err:  # a full disk, a file system gone read-only
            broken = True
            line = f"cannot write {writer.path}: {err.strerror or err}"
            errors.append(line)
            print(f"mptop: {line}", file=sys.stderr)
            return False
        written += 1
        for event in snap.events:
            if event.level == "error":  # a worker mptop could not start
                errors.append(event.text)
        return True

    interval = source.info().interval
    want = None if duration is None else int(duration / interval + 1e-9) + 1
    t0 = time.monotonic()
    end = None if duration is None else t0 + duration
    # the last tick is due at t0 + (want - 1) * interval <= end; a late one still counts,
    # up to half a tick after the end
    late = None if end is None else end + interval / 2
    closed = Closed()
    exited: frozenset[int] = frozenset()
    all_exited = False
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
            exited = frozenset(w.pid for w in snap.workers if not w.alive)
            if not write(snap):
                break
            if source.info().ended:  # a program that exited: the run is over
                break
            if snap.workers and len(exited) == len(snap.workers):
                all_exited = True  # headless adds no worker: nothing more can happen
                break
            source.arm()
        else:
            if end is not None:  # the run lasts its duration, not only its whole ticks
                stop.wait(max(0.0, end - time.monotonic()))
    finally:
        try:
            closed = source.close()
            if closed.last is not None:
                write(closed.last)
        finally:
            writer.close()
    return HeadlessResult(
        written,
        time.monotonic() - t0,
        stop.is_set(),
        writer.path,
        closed,
        tuple(failures),
        tuple(errors),
        exited,
        all_exited,
        tuple(writer.files),
    )


def program_status(status: int) -> int:
    """A shell's exit status for a program's ``Popen.returncode``: the same (0-255), or 128 + N
    where it died of signal N (``returncode`` -N), as a shell reports it."""
    return 128 - status if status < 0 else status & 0xFF


def exit_status(result: HeadlessResult) -> int:
    """mptop's exit status after a headless run.

    A program run (``mptop run``: ``closed.status`` is set): the program's own
    status (:func:`program_status`), or :data:`EXIT_ERROR` where that is 0 but
    mptop saw an error. Any other run: :data:`EXIT_ERROR` if mptop saw an
    error, else :data:`EXIT_ALL_FAILED` if every worker failed, else
    :data:`EXIT_OK`.
    """
    if result.closed.status is not None:
        status = program_status(result.closed.status)
        return EXIT_ERROR if status == 0 and result.errors else status
    if result.errors:
        return EXIT_ERROR
    if result.all_failed:
        return EXIT_ALL_FAILED
    return EXIT_OK


def _how(result: HeadlessResult, fate: Fate) -> str:
    """How one worker ended, in words: ``exit code 1 (error: TypeError: ...)``, with who ended it."""
    if fate.exitcode is None:
        return fate.describe()
    text = f"exit code {fate.describe()}"
    if result.failed(fate):
        return text
    if fate.pid not in result.exited_early:  # still running when mptop stopped the run
        return f"{text}, " + (
            "finished when mptop ended the run"
            if fate.exitcode == 0
            else "stopped by mptop at the end"
        )
    return text


def summary(result: HeadlessResult, how: str = "done") -> list[str]:
    """The lines a headless run ends with on stderr, each starting ``mptop:`` or two spaces.

    ``how`` is how it stopped (``done``, ``stopped by SIGINT``). Says the
    snapshots written, the seconds and the files; how each worker ended
    (``worker-1 (PID 123): exit code 1 (error: TypeError: ...)``: the failed
    ones first, at most :data:`SUMMARY_SHOWN` by name, the rest counted);
    the source's notes; and, when it is not 0, what the exit status means.
    """
    files = ", ".join(str(p) for p in result.files) or str(result.path)
    lines = [
        f"mptop: {how}: {result.snapshots} snapshots in {result.seconds:.1f} s written to {files}"
    ]
    if result.all_exited:
        lines.append("mptop: every worker had exited, so the recording ended early")
    fates = result.closed.fates
    if fates:
        failed = [f for f in fates if result.failed(f)]
        shown = (failed + [f for f in fates if not result.failed(f)])[:SUMMARY_SHOWN]
        word = "process(es)" if result.closed.status is not None else "worker(s)"
        lines.append(
            f"mptop: {len(fates)} {word}, {len(failed)} failed; how each ended:"
            if failed
            else f"mptop: {len(fates)} {word}; how each ended:"
        )
        for f in shown:
            daemon = ", daemon" if f.daemon else ""
            lines.append(f"  {f.name} (PID {f.pid}{daemon}): {_how(result, f)}")
        rest = [f for f in fates if f not in shown]
        if rest:
            tally = Counter(
                ("failed: " if result.failed(f) else "") + replace(f, error="").describe()
                for f in rest
            )
            counts = ", ".join(f"{n} {what}" for what, n in sorted(tally.items()))
            lines.append(f"  ... and {len(rest)} more: {counts}")
    lines += result.closed.notes
    status = exit_status(result)
    if result.closed.status is not None:
        if status == EXIT_ERROR and result.errors:
            lines.append(
                f"mptop: exit status {EXIT_ERROR}: the program exited 0, but mptop saw "
                f"{len(result.errors)} error(s) (above)"
            )
        elif status:
            lines.append(f"mptop: exit status {status}: the program's own")
    elif status == EXIT_ERROR:
        lines.append(
            f"mptop: exit status {EXIT_ERROR}: mptop saw {len(result.errors)} error(s); "
            f"the first: {result.errors[0]}"
        )
    elif status == EXIT_ALL_FAILED:
        lines.append(
            f"mptop: exit status {EXIT_ALL_FAILED}: every worker failed "
            f"({len(fates)} of {len(fates)})"
        )
    return lines
