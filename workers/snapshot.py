"""Frozen records of one tick: what the sampler saw, handed to any front end.

A :class:`Snapshot` is immutable and self-contained, so the sampling thread can
hand it to the UI loop without locks. Units are stated per field: seconds,
bytes, and percent where 100 means one full core (psutil's and htop's
convention for a process; for a core, 100 means that core fully busy).
"""

from __future__ import annotations

import signal
from dataclasses import dataclass, field
from enum import StrEnum

# Exit status of a worker that noticed its parent (mptop or the forkserver) is gone.
EXIT_PARENT_GONE = 70


class WorkerState(StrEnum):
    """Lifecycle state of a worker as shown to the user (words, not colours)."""

    STARTING = "starting"
    RUNNING = "running"
    SLEEPING = "sleeping"
    STOPPED = "stopped"
    ZOMBIE = "zombie"
    EXITED = "exited"


def describe_exitcode(exitcode: int | None) -> str:
    """Say what a ``multiprocessing.Process.exitcode`` means.

    ``None`` -> ``""`` (still running); ``0`` -> ``"done"``; ``1`` ->
    ``"error"`` (an uncaught exception, as multiprocessing's bootstrap reports
    it, or ``sys.exit(1)``); other ``N > 0`` -> ``"sys.exit(N)"``; ``-N`` ->
    the name of signal N, e.g. ``"SIGTERM"`` (multiprocessing reports death by
    signal N as ``-N``, from ``os.waitstatus_to_exitcode``); 70 (mptop's own
    :data:`EXIT_PARENT_GONE`) -> ``"parent gone"``.
    """
    if exitcode is None:
        return ""
    if exitcode == 0:
        return "done"
    if exitcode == 1:
        return "error"
    if exitcode == EXIT_PARENT_GONE:
        return "parent gone"
    if exitcode > 0:
        return f"sys.exit({exitcode})"
    try:
        return signal.Signals(-exitcode).name
    except ValueError:
        return f"signal {-exitcode}"


@dataclass(frozen=True, slots=True)
class CoreSample:
    """One logical CPU core.

    ``percent``: system-wide busy time of this core over the last tick, 0-100
    (psutil ``cpu_percent(percpu=True)``). ``worker_pids``: workers whose last
    run was on this core (psutil ``Process.cpu_num()``), ascending.
    ``run_percent``: the part of ``percent`` this run's processes used,
    ``mptop_percent`` mptop's own (each process's CPU% counted on its last
    core: approximate); the rest, ``others_percent``, other processes'.
    """

    index: int
    percent: float
    worker_pids: tuple[int, ...] = ()
    run_percent: float = 0.0
    mptop_percent: float = 0.0

    @property
    def others_percent(self) -> float:
        """What processes outside this run (and not mptop) used of the core, 0-100."""
        return max(0.0, self.percent - self.run_percent - self.mptop_percent)


@dataclass(frozen=True, slots=True)
class ThreadSample:
    """One thread of a process at one tick (only while threads are shown: key ``H``).

    ``tid`` is the kernel's thread ID (``threading.get_native_id()``; the main
    thread's equals the PID); ``name`` the kernel's name for it
    (``/proc/PID/task/TID/comm``: ``python`` unless the program set one);
    ``cpu_percent`` 100 = one core, None on its first reading; ``core`` the CPU it
    last ran on. From ``/proc/PID/task/TID/stat`` (proc(5)).
    """

    tid: int
    name: str
    state: WorkerState
    cpu_percent: float | None
    core: int | None


@dataclass(frozen=True, slots=True)
class WorkerSample:
    """One worker at one tick.

    ``cpu_percent`` is ``None`` on the worker's first sample (a rate needs two
    readings) and after it exited; 100 means one full core. ``rss`` is bytes or
    ``None`` when unknown. Rates are per second over the last tick; "in" is
    what the worker received, "out" what it sent. ``exitcode`` follows
    ``multiprocessing.Process.exitcode`` (negative = killed by that signal).
    ``start_seconds`` is how long ``Process.start()`` took for it, in seconds;
    ``ready_seconds`` how long until the worker ran its first line (the real
    cost of the start method: spawn's ``start()`` returns before the new
    interpreter has even imported anything), ``None`` until then. ``ppid`` is
    the parent's PID as last seen (mptop, the forkserver, or the program's
    process that started it), ``None`` if never read. ``tasks_done`` counts
    the tasks it answered and ``current_task_seconds`` how long the one in
    flight has run (``None``: idle, or no task loop known; see
    :mod:`mptop.workers.tasks` for how, and its one-tick resolution).
    ``threads``: its threads, while they are shown (key ``H``), else empty.

    A cluster's worker (``mptop dask``) has more: ``host`` it runs on (Dask's
    host address; "" for a process of this machine's run), ``thread_count``
    its OS threads (psutil ``num_threads``), and the worker's own figures:
    ``managed_bytes`` (the size of the data it holds, by Dask's ``sizeof``),
    ``spilled_bytes`` (of that, how much went to disk), and how many of its
    tasks are executing, ready to run, and held in memory. ``restarts``
    counts how often its nanny started it again under the same name, and
    ``replaces`` is the PID of the process this one took over from (the row
    shows the restart, not a new stranger); ``None``: none. Each is ``None``
    (or 0) where the source has no such figure.
    """

    pid: int
    name: str
    daemon: bool
    state: WorkerState
    core: int | None
    cpu_percent: float | None
    rss: int | None
    msgs_in_per_s: float | None
    bytes_in_per_s: float | None
    msgs_out_per_s: float | None
    bytes_out_per_s: float | None
    exitcode: int | None
    workload: str = ""
    pinned: int | None = None
    start_method: str = ""
    start_seconds: float | None = None
    ready_seconds: float | None = None
    ppid: int | None = None
    tasks_done: int | None = None
    current_task_seconds: float | None = None
    threads: tuple[ThreadSample, ...] = ()
    host: str = ""
    thread_count: int | None = None
    managed_bytes: int | None = None
    spilled_bytes: int | None = None
    tasks_executing: int | None = None
    tasks_ready: int | None = None
    tasks_in_memory: int | None = None
    restarts: int = 0
    replaces: int | None = None

    @property
    def alive(self) -> bool:
        """True until the worker has been reaped."""
        return self.state is not WorkerState.EXITED


@dataclass(frozen=True, slots=True)
class ChannelSample:
    """One IPC channel (a Queue or a Pipe) at one tick.

    Counts are totals since the channel was built; ``sent`` (counted by the
    putters) and ``received`` (counted by the takers) are messages, the
    ``*_bytes`` fields pickled payload bytes. Rates are per second over the
    last tick, measured on the taking side; ``history`` holds the last ticks'
    messages/s, oldest first.

    Lost messages, through workers that died: ``lost_taken`` were taken and
    never answered; ``lost_unsent`` were counted as sent by a dead worker and
    never arrived (or, on a dead worker's Pipe, never taken). Then
    ``backlog`` = sent - received - lost_unsent (what waits in the channel,
    without ``Queue.qsize()``, which macOS lacks), ``delivered`` = received -
    lost_taken, and sent = delivered + backlog + lost always.
    ``stalled``: backlog above 0, live consumers, and nothing taken for
    several ticks. ``generation`` counts rebuilds (1 = the original channels).
    ``counted``: False for a channel found but not counted (an attached tree's
    pipe or socket, from ``/proc/PID/fd``): its counts stay 0 and its rates None.
    """

    name: str
    kind: str
    producer: str
    consumer: str
    sent: int
    sent_bytes: int
    received: int
    received_bytes: int
    msgs_per_s: float | None
    bytes_per_s: float | None
    lost_taken: int = 0
    lost_unsent: int = 0
    stalled: bool = False
    history: tuple[float, ...] = ()
    generation: int = 1
    counted: bool = True

    @property
    def backlog(self) -> int:
        """Messages put and still waiting in the channel."""
        return self.sent - self.received - self.lost_unsent

    @property
    def lost(self) -> int:
        """Messages lost through workers that died."""
        return self.lost_taken + self.lost_unsent

    @property
    def delivered(self) -> int:
        """Messages taken by a consumer that handled them (or still may)."""
        return self.received - self.lost_taken


@dataclass(frozen=True, slots=True)
class Event:
    """One lifecycle fact for the log: ``time`` is ``time.time()`` seconds."""

    time: float
    text: str
    pid: int | None = None
    level: str = "info"


@dataclass(frozen=True, slots=True)
class HostSample:
    """Another host's part of a cluster run (``mptop dask``), whose cores mptop cannot read.

    ``host`` is its address as Dask names it; ``workers`` how many of the run's
    live workers run there; ``cpu_percent`` their summed CPU (100 = one core)
    and ``rss`` their summed resident memory in bytes, both from the workers'
    own system monitors (Dask's ``SystemMonitor``, psutil inside each worker),
    ``None`` where none reported yet.
    """

    host: str
    workers: int
    cpu_percent: float | None
    rss: int | None


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Everything one tick saw.

    ``time`` is ``time.time()``; ``interval`` is the seconds since the previous
    snapshot (0 for the first). ``events`` holds only the events new since the
    previous snapshot. ``load_avg`` is the 1, 5 and 15 minute load average where
    the platform has one. ``mptop`` is mptop's own process (its CPU%, core, RSS), apart
    from ``workers``: shown, never signalled. ``hosts``: a cluster run's other hosts,
    grouped (their cores are not this machine's ``cores``).
    """

    time: float
    interval: float
    start_method: str
    cores: tuple[CoreSample, ...]
    workers: tuple[WorkerSample, ...]
    channels: tuple[ChannelSample, ...]
    events: tuple[Event, ...] = ()
    load_avg: tuple[float, float, float] | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)
    mptop: WorkerSample | None = None
    hosts: tuple[HostSample, ...] = ()

    @property
    def total_percent(self) -> float:
        """Mean load over all cores, 0-100."""
        if not self.cores:
            return 0.0
        return sum(c.percent for c in self.cores) / len(self.cores)
