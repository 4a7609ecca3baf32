"""What a front end may ask of a source: capabilities, commands as data, and the one error type.

A command is a small frozen dataclass, so a key, the command palette, a
browser session or a test all send the same thing, and it could cross a
socket unchanged. Each command needs one :class:`Cap`; a source lists the
capabilities it has (:attr:`~mptop.workers.source.Source.caps`), and the
front end shows only the keys whose capability is there.
"""

from __future__ import annotations

import signal
from dataclasses import dataclass
from enum import StrEnum


class Cap(StrEnum):
    """One kind of command a source accepts."""

    ADD = "add"  # start one more process
    SIGNAL = "signal"  # SIGTERM / SIGKILL a process
    SUSPEND = "suspend"  # SIGSTOP / SIGCONT a process
    PIN = "pin"  # set a process's CPU affinity
    DAEMON = "daemon"  # the daemon flag of processes added next
    REBUILD = "rebuild"  # new channels and fresh processes on them
    INTERVAL = "interval"  # change the sampling interval
    PAUSE = "pause"  # pause or resume a playback
    STEP = "step"  # show the next snapshot of a playback
    SEEK = "seek"  # jump to a snapshot of a playback
    SPEED = "speed"  # change the pace of a playback
    LEAVE = "leave"  # leave the processes running when mptop quits
    OUTPUT = "output"  # read the processes' captured stdout and stderr
    STACKS = "stacks"  # read what each thread of a process runs now
    THREADS = "threads"  # sample each process's threads
    RETIRE = "retire"  # retire a cluster's worker gracefully (its data moves first)
    RESTART = "restart"  # restart a cluster's worker through its nanny


@dataclass(frozen=True, slots=True)
class Add:
    """Start one more worker like the first group's (daemon flag: the source's current one)."""


@dataclass(frozen=True, slots=True)
class Signal:
    """Send ``sig`` to process ``pid`` of the run, after an identity check.

    SIGTERM is what ``Process.terminate()`` sends, SIGKILL ``Process.kill()``.
    ``wait`` is how long, in seconds, the source waits for the process to
    exit before it answers (so the exit code shows at once); 0: not at all.
    """

    pid: int
    sig: signal.Signals
    wait: float = 0.3


@dataclass(frozen=True, slots=True)
class ToggleSuspend:
    """SIGSTOP process ``pid`` if it runs, SIGCONT it if it is suspended."""

    pid: int


@dataclass(frozen=True, slots=True)
class Pin:
    """Set the CPU affinity of process ``pid`` to ``cores``; ``None``: the one core it runs on now."""

    pid: int
    cores: tuple[int, ...] | None = None


@dataclass(frozen=True, slots=True)
class Unpin:
    """Let process ``pid`` run on every core again."""

    pid: int


@dataclass(frozen=True, slots=True)
class Retire:
    """Retire the cluster worker that is process ``pid``: the scheduler moves the data it holds to
    other workers first, then closes it (and its nanny), and no one starts it again."""

    pid: int


@dataclass(frozen=True, slots=True)
class Restart:
    """Restart the cluster worker that is process ``pid`` through its nanny: a new process, the same
    name (its data is lost and recomputed where needed)."""

    pid: int


@dataclass(frozen=True, slots=True)
class ToggleDaemon:
    """Flip the ``Process.daemon`` flag of the workers added from now on."""


@dataclass(frozen=True, slots=True)
class Rebuild:
    """Replace every channel, and every live worker by a fresh one on the new channels."""


@dataclass(frozen=True, slots=True)
class SetInterval:
    """Sample every ``seconds`` seconds (0.1 to 10)."""

    seconds: float


@dataclass(frozen=True, slots=True)
class ShowThreads:
    """Sample every thread of every process from now on (``on``), or stop (the cost: ~20 µs each)."""

    on: bool


@dataclass(frozen=True, slots=True)
class TogglePause:
    """Pause a playback, or play it on."""


@dataclass(frozen=True, slots=True)
class Step:
    """Show the snapshot ``by`` ticks on from the one shown (negative: back) and stay paused there.

    The step stops at the first and the last snapshot.
    """

    by: int = 1


@dataclass(frozen=True, slots=True)
class Seek:
    """Show snapshot number ``index`` (0-based; negative counts from the end) and pause there."""

    index: int


# The playback speeds `-` and `=` step through, as factors of the recorded pace; the first and
# last bound what SetSpeed takes.
SPEEDS: tuple[float, ...] = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0)


@dataclass(frozen=True, slots=True)
class SetSpeed:
    """Play a playback at ``factor`` times its recorded pace (0.25 to 16, :data:`SPEEDS`; 2 = twice
    as fast)."""

    factor: float


@dataclass(frozen=True, slots=True)
class Leave:
    """At :meth:`~mptop.workers.source.Source.close`, leave the processes running (a user's program)."""


Command = (
    Add
    | Signal
    | ToggleSuspend
    | Pin
    | Unpin
    | ToggleDaemon
    | Rebuild
    | SetInterval
    | ShowThreads
    | TogglePause
    | Step
    | Seek
    | SetSpeed
    | Leave
    | Retire
    | Restart
)

NEEDS: dict[type, Cap] = {
    Add: Cap.ADD,
    Signal: Cap.SIGNAL,
    ToggleSuspend: Cap.SUSPEND,
    Pin: Cap.PIN,
    Unpin: Cap.PIN,
    ToggleDaemon: Cap.DAEMON,
    Rebuild: Cap.REBUILD,
    SetInterval: Cap.INTERVAL,
    TogglePause: Cap.PAUSE,
    Step: Cap.STEP,
    Seek: Cap.SEEK,
    SetSpeed: Cap.SPEED,
    Leave: Cap.LEAVE,
    Retire: Cap.RETIRE,
    Restart: Cap.RESTART,
}
"""The capability each command needs."""


class CommandError(Exception):
    """A command that failed: ``pid`` is the process it was for (``None``: the run), ``reason`` why.

    ``str()`` is one line: ``"4242: no such process"``, or the reason alone.
    Raised for a process that is gone or not of this run, a signal or
    affinity the OS refused (AccessDenied, EPERM), a fork that failed (EAGAIN,
    EMFILE, ENOMEM), a core that does not exist, or a command the source
    does not take.
    """

    def __init__(self, pid: int | None, reason: str) -> None:
        self.pid = pid
        self.reason = reason
        super().__init__(f"{pid}: {reason}" if pid is not None else reason)

    def __reduce__(self) -> tuple[object, ...]:
        return (type(self), (self.pid, self.reason))


def needs(command: Command) -> Cap:
    """The capability ``command`` needs."""
    return NEEDS[type(command)]
