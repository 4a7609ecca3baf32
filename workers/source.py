"""The one boundary between mptop's engine and everything that shows it: :class:`Source`.

A front end (the Textual app, headless recording, later a browser or a
metrics exporter) needs exactly this of any kind of run (workers mptop
spawns, a recording played back, later a user's program, an attached tree
or a Dask cluster):

- :meth:`Source.info`: what the header shows (kind, title, facts, lesson);
- :attr:`Source.caps`: which commands it takes, so the keys can follow;
- snapshots, delivered to a callback with one in flight at a time: after
  ``deliver(snapshot)`` the source takes no new one until :meth:`Source.arm`
  (the front end has applied it), and :meth:`Source.poke` asks for the next
  one now rather than at the next tick;
- :meth:`Source.send` for commands (:mod:`mptop.workers.commands`), raising
  :class:`~mptop.workers.commands.CommandError` only;
- :meth:`Source.detail` for one process, as a frozen record, and
  :meth:`Source.output` for the ends of its captured stdout and stderr, and
  :meth:`Source.stacks` for what each of its threads runs now;
- :meth:`Source.close`: bounded, and it says how each process ended.

No psutil object, shared-memory block or thread of the engine crosses it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from mptop.workers.commands import Cap, Command
from mptop.workers.detail import OutputTail, WorkerDetail
from mptop.workers.snapshot import Snapshot, describe_exitcode
from mptop.workers.stacks import StackDump

Deliver = Callable[[Snapshot], None]
"""Called on the source's thread with each new snapshot; must not block."""
Failed = Callable[[str], None]
"""Called on the source's thread with one line when taking a snapshot failed."""


@dataclass(frozen=True, slots=True)
class SourceInfo:
    """What a front end shows about a run, now.

    ``kind`` names the kind of run (``spawn``, ``replay``); ``title`` is one
    line for a window or tab title; ``lead`` holds header facts to show
    first (a replay's position), ``facts`` those to show after the run's
    own figures (the daemon flag and workload of new workers). ``lesson`` is
    the scenario's explanation ("" = none) under ``lesson_title``.
    ``interval`` is the seconds between snapshots now. ``unavailable`` says,
    in a few words, why the commands missing from the caps are not there
    ("a replay starts no process"). ``record`` is the ``scenario`` object of a
    recording's header (see :mod:`mptop.workers.record`). ``ended`` is True
    once the run is over by itself (a program that exited): headless stops
    there, a screen stays until ``q``. ``no_channels`` is what the channels
    panel says while there are none (why, or what would show there).
    ``confirm_signals``: the processes are not mptop's own (an attached tree),
    so a key that signals or suspends one asks for a yes first.
    ``lesson_output``: the lesson is about what the run's program prints (a
    program scenario, ``mptop --scenario pool-order``), so the lesson panel
    shows this many last lines of :meth:`Source.output` of the snapshot's
    first process (the program's root); 0: none.
    ``columns`` names the worker table's set of columns: ``process`` (every
    local run) or ``dask`` (a cluster's workers: host, threads, the worker's
    own memory and task figures, and its transfers with other workers).
    ``channels_note``: how the source's channels are counted, said over them
    (a cluster's: by the process that moved the bytes); "": the panel's own words.
    With ``Cap.LEAVE``, ``q`` asks whether to stop the processes or leave them
    running, unless ``quiet_quit`` (nothing is lost by stopping now: a local
    cluster no other client uses); ``leave_question`` and ``leave_hints`` (the
    ``t`` and ``l`` lines) word that dialog where the program's default words
    do not fit ("" and (): the defaults). ``not_workers``: PIDs of rows that are no
    worker (a cluster's scheduler), left out of ``T`` and ``K`` (terminate/kill all).
    """

    kind: str
    title: str
    interval: float
    lead: tuple[str, ...] = ()
    facts: tuple[str, ...] = ()
    lesson: str = ""
    lesson_title: str = "Lesson"
    unavailable: str = ""
    record: dict[str, Any] | None = None
    ended: bool = False
    no_channels: str = "no channels"
    confirm_signals: bool = False
    lesson_output: int = 0
    columns: str = "process"
    channels_note: str = ""
    quiet_quit: bool = False
    leave_question: str = ""
    leave_hints: tuple[str, ...] = ()
    not_workers: frozenset[int] = frozenset()


# Characters of a fate's error line shown (a long exception message is cut there).
ERROR_CHARS = 120


@dataclass(frozen=True, slots=True)
class Fate:
    """How one process of the run ended: its exit code (``None``: unknown, or still running when
    mptop left; ``ended`` tells which). ``error`` is the last line of its uncaught exception's
    traceback (``TypeError: unsupported operand ...``) where the source knows it (mptop's own
    workers: ``child.py`` writes it), else ``""``."""

    pid: int
    name: str
    daemon: bool
    exitcode: int | None
    ended: bool = False
    error: str = ""

    def describe(self) -> str:
        """``"-15 (SIGTERM)"``, ``"0 (done)"``, ``"1 (error: TypeError: ...)"``, ``"exited, code
        not known"`` (``ended``: it is gone, and only its parent, not mptop, learned how), or
        ``"still running?"``."""
        if self.exitcode is None:
            return "exited, code not known (not mptop's child)" if self.ended else "still running?"
        meaning = describe_exitcode(self.exitcode)
        if self.error:
            error = self.error
            if len(error) > ERROR_CHARS:
                error = error[: ERROR_CHARS - 3] + "..."
            meaning = f"{meaning}: {error}"
        return f"{self.exitcode} ({meaning})"


@dataclass(frozen=True, slots=True)
class Closed:
    """What :meth:`Source.close` leaves: every process's fate, in start order, and the last snapshot.

    ``last`` is taken after the processes were stopped (their exit codes and
    exit events), or ``None`` if the source has nothing new to say (a replay).
    ``status`` is the exit status of the program a source ran (``mptop run``:
    mptop exits with it), ``None`` where there is none; ``notes`` are lines
    to print once the screen is gone (where the program's output went).
    """

    fates: tuple[Fate, ...] = ()
    last: Snapshot | None = None
    status: int | None = None
    notes: tuple[str, ...] = ()


class Source(Protocol):
    """Any kind of run, as a front end sees it (see the module's docstring).

    Threads: :meth:`info`, :meth:`arm` and :meth:`poke` never block and may
    be called from a UI loop; :meth:`start` returns at once; :meth:`send`,
    :meth:`detail` and :meth:`close` may block (a process start, a file
    read, a shutdown of about 2.5 s) and must be called off it.
    """

    caps: frozenset[Cap]

    def info(self) -> SourceInfo:
        """The header's facts now."""
        ...

    def start(self, deliver: Deliver, failed: Failed) -> None:
        """Begin: start the processes (if any) and deliver the first snapshot as soon as there is one.

        ``failed`` gets one line per failed sampling (the source keeps going).
        Call once.
        """
        ...

    def arm(self) -> None:
        """The last snapshot has been applied: the next one may come."""
        ...

    def poke(self) -> None:
        """Take the next snapshot as soon as the last one has been applied, not at the next tick."""
        ...

    def send(self, command: Command) -> str | None:
        """Carry ``command`` out; returns a line for the log, or None.

        Raises :class:`~mptop.workers.commands.CommandError` (with the PID and
        the reason) if it failed or the source lacks its capability.
        """
        ...

    def detail(self, pid: int) -> WorkerDetail:
        """Everything known about process ``pid``. Raises ``CommandError`` if it is not of this run."""
        ...

    def output(self, pid: int) -> tuple[OutputTail, ...]:
        """The ends of the captured output files of process ``pid`` (stdout, stderr; or one file
        for a whole program). Raises ``CommandError`` if the source has none (no Cap.OUTPUT) or
        ``pid`` is not of this run. May block (file reads)."""
        ...

    def stacks(self, pid: int) -> StackDump:
        """Each thread's Python stack in process ``pid`` now (:mod:`mptop.workers.stacks`).

        Blocks up to about 2 s. Raises ``CommandError`` with the reason when the
        process cannot be asked (no Cap.STACKS, exited, suspended, no probe)."""
        ...

    def close(self) -> Closed:
        """Stop every process and thread of the source (bounded; idempotent) and say how each ended."""
        ...
