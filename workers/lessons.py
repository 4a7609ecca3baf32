"""The bundled lessons' live figures, and the workload functions their scenarios use.

:func:`lesson_figures` turns one :class:`~mptop.workers.snapshot.Snapshot` into
the few lines the lesson panel shows above a lesson's text: the numbers its
claim is about, computed the way the lesson words them, so that the claim can
be checked on the screen (and by ``tests/test_lessons.py``, which asserts
these same figures). Each bundled scenario that needs more than the general
per-group sums has its own function (:data:`FIGURES`, by scenario name);
every lesson gets :func:`competition`'s line when other processes take the
cores, because then the run's figures are what was left, not what the
machine can do.

:func:`uneven_task` is a custom ``module:function`` workload (the ``pool``
scenario's).
"""

from __future__ import annotations

import random
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from mptop.workers.snapshot import (
    ChannelSample,
    Snapshot,
    WorkerSample,
    WorkerState,
    describe_exitcode,
)

# Bounds of one uneven task, seconds.
UNEVEN_MIN = 0.01
UNEVEN_MAX = 0.19
# From this much CPU (percent, 100 = one core, summed over the cores) used by processes
# outside the run and mptop, a lesson's figures say that others take the cores; on a big
# machine, from this share of all its cores (a busy server always has some others).
OTHERS_NOTE = 25.0
OTHERS_NOTE_SHARE = 0.10
# A process at or above this CPU% (100 = one core) counts as busy: it wants a core.
BUSY = 5.0
METHODS = ("fork", "forkserver", "spawn")
MIB = 1 << 20


def uneven_task() -> float:
    """Sleep a random 10-190 ms, like a task whose cost depends on its input; returns the seconds.

    Tasks of unequal length finish out of the order they were handed out,
    which is why ``Pool.imap_unordered`` exists.
    """
    seconds = random.uniform(UNEVEN_MIN, UNEVEN_MAX)
    time.sleep(seconds)
    return seconds


# -- general figures -----------------------------------------------------------------


def group_of(name: str) -> str:
    """``procs-3`` -> ``procs``: the group part of a worker name (mptop names a group's workers
    ``GROUP-1``, ``GROUP-2``, ...)."""
    head, sep, tail = name.rpartition("-")
    return head if sep and tail.isdigit() else name


def groups(workers: Sequence[WorkerSample]) -> dict[str, list[WorkerSample]]:
    """The workers by group, in first-seen order."""
    out: dict[str, list[WorkerSample]] = {}
    for w in workers:
        out.setdefault(group_of(w.name), []).append(w)
    return out


def rate_text(value: float) -> str:
    """A rate or count with a k/M suffix: ``1234.5`` -> ``"1.2k"`` (as the tables write it)."""
    v = abs(value)
    if v < 1000:
        return f"{value:.0f}" if v >= 10 or value == int(value) else f"{value:.1f}"
    if v < 1e6:
        return f"{value / 1e3:.1f}k"
    return f"{value / 1e6:.1f}M"


def _ms(seconds: float) -> str:
    ms = seconds * 1000
    return f"{ms:.1f} ms" if ms < 10 else f"{ms:.0f} ms"


def _exits(ws: Sequence[WorkerSample]) -> str:
    """``"exit -15 (SIGTERM)"`` and a count of each code of the group's exited workers ("" if none)."""
    codes: dict[int | None, int] = {}
    for w in ws:
        if not w.alive:
            codes[w.exitcode] = codes.get(w.exitcode, 0) + 1
    parts = []
    for code, n in codes.items():
        what = "?" if code is None else f"{code} ({describe_exitcode(code)})"
        parts.append(what + (f" ×{n}" if n > 1 else ""))
    return "exit " + ", ".join(parts) if parts else ""


def group_figures(workers: Sequence[WorkerSample]) -> list[str]:
    """One short text per group, in first-seen order.

    E.g. ``"procs: 4/4 alive, CPU 196%, in 12 msg/s, start to first line 2.1 ms"``;
    CPU (100 = one core) and rates (messages/s taken in) are sums over the group's live
    workers (a dash before the first figure), the start time the median from
    ``Process.start()`` to the worker's first line; exited workers add their exit codes.
    """
    out = []
    for name, ws in groups(workers).items():
        live = [w for w in ws if w.alive]
        cpus = [w.cpu_percent for w in live if w.cpu_percent is not None]
        rates = [w.msgs_in_per_s for w in live if w.msgs_in_per_s is not None]
        starts = [w.ready_seconds for w in ws if w.ready_seconds is not None]
        parts = [f"{len(live)}/{len(ws)} alive"]
        parts.append(f"CPU {sum(cpus):.0f}%" if cpus else "CPU –")
        parts.append(f"in {rate_text(sum(rates))} msg/s" if rates else "in – msg/s")
        if starts:
            parts.append(f"start to first line {statistics.median(starts) * 1000:.1f} ms")
        if exits := _exits(ws):
            parts.append(exits)
        out.append(f"{name}: " + ", ".join(parts))
    return out


@dataclass(frozen=True, slots=True)
class Competition:
    """Who used the cores over the last tick, in percent where 100 = one core (summed over cores).

    ``total`` is every core's busy percent summed (psutil's system-wide
    ``cpu_percent(percpu=True)``), ``run`` the run's live processes' CPU%,
    ``mptop`` mptop's own; ``others`` = total - run - mptop (at least 0):
    processes outside the run. Summed over all cores rather than read per
    core (:attr:`CoreSample.others_percent`), because a process's CPU% is
    counted on the one core it last ran on, and busy processes move.
    The windows differ a little (a core's and a process's last readings), so
    a few percent either way is noise.
    """

    cores: int
    total: float
    run: float
    mptop: float

    @property
    def capacity(self) -> float:
        """What the cores can give: 100 per core."""
        return 100.0 * self.cores

    @property
    def others(self) -> float:
        """CPU% of the processes outside the run and mptop (100 = one core)."""
        return max(0.0, min(self.total, self.capacity) - self.run - self.mptop)

    @property
    def left(self) -> float:
        """What the cores could give the run: capacity less others' and mptop's CPU%."""
        return max(0.0, self.capacity - self.others - self.mptop)

    def line(self) -> str:
        """``""`` while others use less than :data:`OTHERS_NOTE` (or :data:`OTHERS_NOTE_SHARE` of
        the capacity, if more), else one line saying so."""
        if not self.cores or self.others < max(OTHERS_NOTE, OTHERS_NOTE_SHARE * self.capacity):
            return ""
        return (
            f"⚠ others use {self.others:.0f}% of {self.capacity:.0f}% ({self.cores} cores): "
            "this run has what they left"
        )


def competition(snap: Snapshot, workers: Sequence[WorkerSample] | None = None) -> Competition:
    """Who used ``snap``'s cores: the run's ``workers`` (default all of ``snap``'s), mptop, others."""
    ws = snap.workers if workers is None else workers
    run = sum(w.cpu_percent or 0.0 for w in ws if w.alive)
    mine = (snap.mptop.cpu_percent or 0.0) if snap.mptop is not None else 0.0
    total = sum(c.percent for c in snap.cores)
    return Competition(len(snap.cores), total, run, mine)


# -- each lesson's figures ---------------------------------------------------------------


def _cpu(ws: Sequence[WorkerSample]) -> float:
    return sum(w.cpu_percent or 0.0 for w in ws if w.alive)


def _measured(ws: Sequence[WorkerSample]) -> bool:
    return any(w.alive and w.cpu_percent is not None for w in ws)


def gil_figures(snap: Snapshot, workers: Sequence[WorkerSample]) -> list[str]:
    """processes-vs-threads: the 4-thread process against the 4 processes, in shares of the cores.

    ``threads: 1 PID, 4 threads, 41% │ procs: 4 PIDs, 158% (40% each)``, then what that
    shows: the kernel shares the cores among the threads ready to run, and the GIL lets
    one thread of a process run Python at a time, so the threads process gets about one
    process's share (of what others and mptop left, :attr:`Competition.left`) for its 4
    threads, the 4 processes a share each; a suspended process is not busy. When the
    threads process is the only busy one, it has the cores to itself and still reads
    about 100%. Each line fits 80 columns.
    """
    by = groups(workers)
    threads = [w for w in by.get("threads", []) if w.alive]
    procs = [w for w in by.get("procs", []) if w.alive]
    if not _measured(threads) or not _measured(procs):
        return group_figures(workers)
    n_threads = 4  # the scenario's threads:4 (its main thread and 3 more)
    workload = threads[0].workload
    if workload.startswith("threads:") and workload[8:].isdigit():
        n_threads = int(workload[8:])
    t_cpu, p_cpu = _cpu(threads), _cpu(procs)
    busy_procs = [
        w for w in procs if (w.cpu_percent or 0.0) >= BUSY and w.state is not WorkerState.STOPPED
    ]
    stopped = sum(1 for w in procs if w.state is WorkerState.STOPPED)
    pids = "PID" if len(threads) == 1 else "PIDs"
    first = f"threads: {len(threads)} {pids}, {n_threads} threads, {t_cpu:.0f}% │ "
    first += f"procs: {len(procs)} PIDs, {p_cpu:.0f}%"
    if stopped:
        first += f", {stopped} suspended"
    else:
        first += f" ({p_cpu / max(1, len(procs)):.0f}% each)"
    comp = competition(snap, workers)
    if not busy_procs:
        point = (
            f"only the threads process is busy: {comp.left:.0f}% is free for it, it uses "
            f"{t_cpu:.0f}% (GIL)"
        )
    else:
        busy = 1 + len(busy_procs)
        share = max(1.0, comp.left / busy)
        p_busy = sum(w.cpu_percent or 0.0 for w in busy_procs)
        point = (
            f"{busy} busy share {comp.left:.0f}%, {share:.0f}% each: {n_threads} threads got "
            f"{t_cpu / share:.1f} shares (GIL), {len(busy_procs)} procs {p_busy / share:.1f}"
        )
    return [first, point]


def _tasks_per_s(ws: Sequence[WorkerSample]) -> float:
    return sum(w.msgs_in_per_s or 0.0 for w in ws if w.alive)


def _message_bytes(channels: Sequence[ChannelSample]) -> str:
    """The mean message size over ``channels`` since they were made, e.g. ``"58 B"`` (bytes)."""
    n = sum(c.received for c in channels)
    size = sum(c.received_bytes for c in channels)
    return f"{size / n:.0f} B" if n else "–"


def pipe_queue_figures(snap: Snapshot, workers: Sequence[WorkerSample]) -> list[str]:
    """pipes-vs-queues: the topology this run has, tasks/s, the mean message size, who waits.

    Tasks/s is the sum of the workers' messages/s taken in (each takes one task
    per message on either topology); the message size (bytes, both ways, since
    the channels were made) shows that both ways move the same work. A
    suspended worker on a Pipe keeps the requests already in its Pipe (no one
    else can read them); on a Queue it holds only the task it took.
    """
    live = [w for w in workers if w.alive]
    pipes = [c for c in snap.channels if c.kind == "Pipe"]
    queues = [c for c in snap.channels if c.kind != "Pipe"]
    if pipes:
        shape = f"{len(pipes)} Pipes, mptop ⇄ 1 worker each"
        sizes = _message_bytes(pipes)
    elif queues:
        shape = f"1 tasks Queue → {len(live)} workers → 1 results Queue"
        sizes = _message_bytes(queues)
    else:
        return group_figures(workers)
    lines = [f"{shape} │ {rate_text(_tasks_per_s(live))} tasks/s │ {sizes}/message"]
    stopped = [w for w in live if w.state is WorkerState.STOPPED]
    if stopped:
        names = ", ".join(w.name for w in stopped)
        if pipes:
            waiting = sum(c.backlog for c in pipes if c.consumer in {w.name for w in stopped})
            lines.append(
                f"{names} suspended: {waiting} messages wait in its Pipe, which no other worker "
                "can read"
            )
        else:
            lines.append(
                f"{names} suspended: it holds the one task it took; the "
                f"{len(live) - len(stopped)} others take every task from the shared Queue"
            )
    return lines


def start_figures(snap: Snapshot, workers: Sequence[WorkerSample]) -> list[str]:
    """start-methods: per method, the median time from ``Process.start()`` to the worker's first
    line (ms, and as a multiple of fork's), then the median RSS its live workers have.

    E.g. ``start to first line: fork 4.9 ms │ forkserver 77 ms (16 times fork's, written
    with a multiplication sign) │ spawn 124 ms (25 times)`` and ``RSS: fork 37.7M │
    forkserver 19.0M │ spawn 20.7M``: a fork child maps all of its parent's memory (shared
    until either writes), a forkserver or spawn child only what it imported itself.
    """
    by_method: dict[str, list[float]] = {}
    rss: dict[str, list[int]] = {}
    for w in workers:
        if w.ready_seconds is not None and w.start_method:
            by_method.setdefault(w.start_method, []).append(w.ready_seconds)
        if w.alive and w.rss and w.start_method:
            rss.setdefault(w.start_method, []).append(w.rss)
    if not by_method:
        return group_figures(workers)
    med = {m: statistics.median(v) for m, v in by_method.items()}
    fork = med.get("fork")
    parts = []
    for m in METHODS:
        if m in med:
            text = f"{m} {_ms(med[m])}"
            if fork and m != "fork":
                text += f" ({med[m] / fork:.0f}×)"
            parts.append(text)
    lines = ["start to first line: " + " │ ".join(parts)]
    if rss:
        sizes = [f"{m} {statistics.median(rss[m]) / MIB:.1f}M" for m in METHODS if m in rss]
        lines.append("RSS: " + " │ ".join(sizes))
    return lines


def stall_figures(snap: Snapshot, workers: Sequence[WorkerSample]) -> list[str]:
    """terminate-danger: the task Queue's state (moving, or STALLED: backlog, live consumers and
    nothing taken for several ticks), backlog, workers alive, how many were terminated, lost."""
    tasks = next((c for c in snap.channels if c.name == "tasks"), None)
    if tasks is None:
        return group_figures(workers)
    live = [w for w in workers if w.alive]
    terminated = sum(1 for w in workers if not w.alive and w.exitcode == -15)
    state = "STALLED" if tasks.stalled else f"moving {rate_text(tasks.msgs_per_s or 0.0)} msg/s"
    parts = [
        f"tasks Queue {state}",
        f"backlog {tasks.backlog}",
        f"alive {len(live)}",
        f"terminated {terminated}",
        f"lost {tasks.lost}",
    ]
    if tasks.generation > 1:
        parts.append(f"rebuilt {tasks.generation - 1}×")
    return [" │ ".join(parts)]


def shared_queue_figures(snap: Snapshot, workers: Sequence[WorkerSample]) -> list[str]:
    """pool: each worker's share of the tasks answered so far (one shared task Queue: whoever is
    free takes the next), tasks/s in all, and the tasks lost with workers that died:
    ``answered: pool-1 24% pool-2 26% ... │ 38 tasks/s │ lost 0``."""
    done = {w.name: w.tasks_done or 0 for w in workers}
    total = sum(done.values())
    if not total:
        return group_figures(workers)
    shares = " ".join(f"{name} {n / total:.0%}" for name, n in done.items())
    tasks = next((c for c in snap.channels if c.name == "tasks"), None)
    parts = [
        f"answered: {shares}",
        f"{rate_text(_tasks_per_s(workers))} tasks/s",
    ]
    if tasks is not None:
        parts.append(f"lost {tasks.lost}")
    return [" │ ".join(parts)]


def daemon_figures(snap: Snapshot, workers: Sequence[WorkerSample]) -> list[str]:
    """daemons: each group with its daemon flag, alive count and, once they ended, exit codes."""
    parts = []
    for name, ws in groups(workers).items():
        flags = {w.daemon for w in ws}
        flag = f"daemon={flags.pop()}" if len(flags) == 1 else "mixed daemon flags"
        text = f"{name} ({flag}): {sum(1 for w in ws if w.alive)}/{len(ws)} alive"
        if exits := _exits(ws):
            text += f", {exits}"
        parts.append(text)
    return [" │ ".join(parts)]


Figures = Callable[[Snapshot, Sequence[WorkerSample]], list[str]]
# The bundled scenarios whose claim needs figures of its own, by scenario name.
FIGURES: dict[str, Figures] = {
    "processes-vs-threads": gil_figures,
    "pipes-vs-queues": pipe_queue_figures,
    "start-methods": start_figures,
    "terminate-danger": stall_figures,
    "pool": shared_queue_figures,
    "daemons": daemon_figures,
}


def lesson_figures(
    name: str, snap: Snapshot, workers: Sequence[WorkerSample] | None = None
) -> list[str]:
    """The lesson panel's live lines for scenario ``name`` at ``snap``.

    ``workers`` are the ones shown (default: all of ``snap``'s; the app
    leaves out rows cleared with ``c``). The scenario's own figures
    (:data:`FIGURES`), or :func:`group_figures` for any other, then
    :meth:`Competition.line` when other processes take the cores (while a worker of the run
    has a CPU figure: the run's last snapshot, after its workers are gone, has none).
    """
    ws = snap.workers if workers is None else tuple(workers)
    figures = FIGURES.get(name)
    lines = figures(snap, ws) if figures is not None else group_figures(ws)
    # (once no worker of the run has a CPU figure, what the cores did cannot be told apart)
    if _measured(ws) and (note := competition(snap, ws).line()):
        lines.append(note)
    return lines
