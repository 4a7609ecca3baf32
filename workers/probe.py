"""Reading processes: psutil over a set of processes -> state, CPU%, core and RSS; per-core load.

:class:`ProcessProbe` knows nothing of how the processes were started, so any
source can use it: the spawned run for its workers, and a source that did
not start the processes it shows.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass

import psutil

from mptop.workers import proc_stat
from mptop.workers.snapshot import CoreSample, ThreadSample, WorkerSample, WorkerState

# The shortest window a CPU% is measured over, seconds: /proc/stat ticks every
# 10 ms, so a shorter window is mostly noise. A reading taken sooner (a poke after
# a key) carries the last core loads and CPU% over; each process keeps its own
# window, so a new one gets its first figure this long after it was first read.
MIN_CPU_WINDOW = 0.25
# A process's parent is read again this often, seconds: it changes only when the parent dies
# (the child is reparented), and psutil's ppid() checks the PID for reuse at each call (it
# reads the process's create time again: a third of a tick's cost at 64 workers).
PPID_EVERY = 2.0
# From this CPU% (in its last window) a sleeping process's threads are looked at: a busy
# thread under a waiting main thread makes the process read running.
BUSY_PERCENT = 5.0
# How many times :func:`thread_state` reads the threads of a process that used at least
# RESCAN_PERCENT before it says none runs (one read of them all is not atomic: see there);
# a less busy one, caught with every thread waiting, most likely is waiting: one read.
THREAD_SCANS = 2
RESCAN_PERCENT = 50.0

_STATES = {
    psutil.STATUS_RUNNING: WorkerState.RUNNING,
    psutil.STATUS_SLEEPING: WorkerState.SLEEPING,
    psutil.STATUS_DISK_SLEEP: WorkerState.SLEEPING,
    psutil.STATUS_IDLE: WorkerState.SLEEPING,
    psutil.STATUS_STOPPED: WorkerState.STOPPED,
    psutil.STATUS_TRACING_STOP: WorkerState.STOPPED,
    psutil.STATUS_ZOMBIE: WorkerState.ZOMBIE,
    psutil.STATUS_DEAD: WorkerState.ZOMBIE,
}


@dataclass(frozen=True, slots=True)
class ProcessReading:
    """One process at one moment: ``cpu_percent`` 100 = one core (None until a window has passed),
    ``core`` the logical CPU it last ran on, ``rss`` bytes, ``ppid`` its parent's PID (field 4 of
    ``/proc/PID/stat``); all None for a process gone mid-read (``state`` is then ZOMBIE)."""

    state: WorkerState
    core: int | None = None
    cpu_percent: float | None = None
    rss: int | None = None
    ppid: int | None = None


GONE = ProcessReading(WorkerState.ZOMBIE)
# A thread's state letter in /proc/PID/task/TID/stat (proc(5)).
_THREAD_STATES = {
    b"R": WorkerState.RUNNING,
    b"S": WorkerState.SLEEPING,
    b"D": WorkerState.SLEEPING,
    b"I": WorkerState.SLEEPING,
    b"T": WorkerState.STOPPED,
    b"t": WorkerState.STOPPED,
    b"Z": WorkerState.ZOMBIE,
    b"X": WorkerState.ZOMBIE,
}
_CLOCK_TICKS = proc_stat.CLOCK_TICKS
# A process's state letter in /proc/PID/stat, as psutil maps it (W waking, K wakekill, P
# parked and any other letter read as running).
_STAT_STATES = {k.decode(): v for k, v in _THREAD_STATES.items()}


class ProcessProbe:
    """Reads processes and cores; keeps each process's CPU window between calls.

    CPU% = delta(user + system CPU seconds) / delta(wall seconds) * 100, the
    formula of psutil's ``Process.cpu_percent`` (100 = one full core; a
    process with N busy threads can show up to N * 100), over a window of at
    least :data:`MIN_CPU_WINDOW` seconds per process. Core load is psutil's
    ``cpu_percent(percpu=True)`` (0-100 per core, system-wide). Not
    thread-safe: use it from one thread (psutil keeps its per-core baseline
    per thread, too).
    """

    def __init__(self) -> None:
        self._cpu_base: dict[int, tuple[float, float]] = {}
        self._cpu_pct: dict[int, float] = {}
        self._cores: list[float] = []
        self._cores_at: float | None = None
        self._thread_base: dict[tuple[int, int], tuple[float, float]] = {}
        self._ppid: dict[int, tuple[int, float]] = {}  # PID -> (PPID, when read)
        self._start_ticks: dict[int, int] = {}  # PID -> its start time, clock ticks after boot
        self._thread_names: dict[tuple[int, int], tuple[str, float]] = {}
        self._tids: dict[int, set[int]] = {}  # PID -> its TIDs at the last threads() call
        self._own_reading: ProcessReading | None = None
        try:
            self._own: psutil.Process | None = psutil.Process()  # mptop itself
        except psutil.Error:
            self._own = None
        self._thread_pct: dict[tuple[int, int], float] = {}

    def read(self, ps: psutil.Process, now: float) -> ProcessReading:
        """Read ``ps`` (20-30 µs here on Linux, 0.1 ms through psutil); ``now`` is
        ``time.monotonic()``. Never raises for a process that vanished: it reads as :data:`GONE`.

        On Linux one read of ``/proc/PID/stat`` (:mod:`~mptop.workers.proc_stat`) gives it
        all, checked against the process's start time, so a reused PID reads as gone;
        elsewhere, or if that file cannot be parsed, psutil's ``oneshot``.
        """
        pid = ps.pid
        if proc_stat.AVAILABLE and (fast := self._fast(ps, now)) is not None:
            return fast
        try:
            with ps.oneshot():
                state = _STATES.get(ps.status(), WorkerState.RUNNING)
                times = ps.cpu_times()
                core = ps.cpu_num()
                rss = ps.memory_info().rss
                ppid = self._ppid.get(pid)
                if ppid is None or now - ppid[1] >= PPID_EVERY:
                    ppid = self._ppid[pid] = (ps.ppid(), now)
        except psutil.Error:
            return GONE
        return self._reading(pid, now, state, times.user + times.system, core, rss, ppid[0])

    def _fast(self, ps: psutil.Process, now: float) -> ProcessReading | None:
        """:meth:`read` from ``/proc/PID/stat`` alone; ``None``: the file could not be parsed.

        The process's start time (field 22) is kept from its first read, which psutil
        checks is still the process ``ps`` names (``is_running`` compares its create
        time); a later read with another start time is a reused PID, and reads as gone.
        """
        pid = ps.pid
        stat = proc_stat.read_stat(pid)
        if stat is None:
            return GONE if not os.path.exists(f"/proc/{pid}") else None
        known = self._start_ticks.get(pid)
        if known is None:
            if not ps.is_running():
                return GONE
            known = self._start_ticks[pid] = stat.start_ticks
        if stat.start_ticks != known:
            return GONE
        state = _STAT_STATES.get(stat.state, WorkerState.RUNNING)
        return self._reading(pid, now, state, stat.cpu_seconds, stat.core, stat.rss, stat.ppid)

    def _reading(
        self,
        pid: int,
        now: float,
        state: WorkerState,
        used: float,
        core: int | None,
        rss: int,
        ppid: int,
    ) -> ProcessReading:
        """The CPU% window and the thread look of :meth:`read`, from what was read."""
        base = self._cpu_base.get(pid)
        if base is None:
            self._cpu_base[pid] = (now, used)
        elif now - base[0] >= MIN_CPU_WINDOW:
            self._cpu_base[pid] = (now, used)
            self._cpu_pct[pid] = max(0.0, (used - base[1]) / (now - base[0]) * 100.0)
        cpu = self._cpu_pct.get(pid)
        # /proc/PID/stat says the main thread's state: a busy process whose main thread
        # waits would read "sleeping" (looked at only where it used CPU in the window just
        # measured, so that its first reading with a figure says so too)
        if state is WorkerState.SLEEPING and cpu is not None and cpu >= BUSY_PERCENT:
            state = thread_state(pid, state, THREAD_SCANS if cpu >= RESCAN_PERCENT else 1)
        return ProcessReading(state, core, cpu, rss, ppid)

    def threads(self, pid: int, now: float) -> tuple[ThreadSample, ...]:
        """Every thread of ``pid`` (TID ascending): state, CPU% and core from
        ``/proc/PID/task/TID/stat`` (fields 3, 14+15 in clock ticks, 39), name from ``comm``.

        CPU% per thread as per process (delta CPU seconds / delta wall seconds * 100) over
        at least :data:`MIN_CPU_WINDOW`; names are read again every :data:`PPID_EVERY`
        seconds. About 60 µs per thread here (bench/tick_cost.py). () if ``pid`` is gone.
        """
        try:
            tids = sorted(int(t) for t in os.listdir(f"/proc/{pid}/task"))
        except (OSError, ValueError):
            return ()
        out = []
        for tid in tids:
            base_path = f"/proc/{pid}/task/{tid}/"
            key = (pid, tid)
            try:
                with open(base_path + "stat", "rb") as f:
                    stat = f.read()
                named = self._thread_names.get(key)
                if named is None or now - named[1] >= PPID_EVERY:  # (names rarely change)
                    with open(base_path + "comm", "rb") as f:
                        named = (f.read().decode("utf-8", "replace").strip(), now)
                    self._thread_names[key] = named
            except OSError:
                continue  # it ended meanwhile
            name = named[0]
            fields = stat[stat.rfind(b")") + 2 :].split()
            # fields[0] is field 3 (state); field N is fields[N - 3]
            state = _THREAD_STATES.get(fields[0][:1], WorkerState.SLEEPING)
            used = (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS
            core = int(fields[36]) if len(fields) > 36 else None
            prev = self._thread_base.get(key)
            if prev is None:
                self._thread_base[key] = (now, used)
            elif now - prev[0] >= MIN_CPU_WINDOW:
                self._thread_base[key] = (now, used)
                self._thread_pct[key] = max(0.0, (used - prev[1]) / (now - prev[0]) * 100.0)
            out.append(ThreadSample(tid, name, state, self._thread_pct.get(key), core))
        ended = self._tids.get(pid, set()).difference(tids)
        self._tids[pid] = set(tids)
        for tid in ended:  # threads that ended: their windows and names go
            self._drop_thread((pid, tid))
        return tuple(out)

    def own_sample(self) -> WorkerSample | None:
        """mptop's own process as :meth:`cores` last read it (None before that, or if unreadable):
        shown as a row of its own, never signalled."""
        r, ps = self._own_reading, self._own
        if r is None or ps is None or r is GONE:
            return None
        return WorkerSample(
            pid=ps.pid,
            name="mptop (this)",
            daemon=False,
            state=r.state,
            core=r.core,
            cpu_percent=r.cpu_percent,
            rss=r.rss,
            msgs_in_per_s=None,
            bytes_in_per_s=None,
            msgs_out_per_s=None,
            bytes_out_per_s=None,
            exitcode=None,
            ppid=r.ppid,
        )

    def forget(self, pid: int) -> None:
        """Drop what is kept of ``pid`` (it has exited; its PID may come back as another process)."""
        self._cpu_base.pop(pid, None)
        self._cpu_pct.pop(pid, None)
        self._ppid.pop(pid, None)
        self._start_ticks.pop(pid, None)
        for tid in self._tids.pop(pid, ()):
            self._drop_thread((pid, tid))

    def _drop_thread(self, key: tuple[int, int]) -> None:
        self._thread_base.pop(key, None)
        self._thread_pct.pop(key, None)
        self._thread_names.pop(key, None)

    def core_loads(self, now: float) -> list[float]:
        """Each core's busy percent (0-100) since the last full reading, at most every MIN_CPU_WINDOW s."""
        if self._cores_at is None or now - self._cores_at >= MIN_CPU_WINDOW:
            self._cores_at = now
            self._cores = psutil.cpu_percent(percpu=True)
        return self._cores

    def cores(
        self, loads: list[float], workers: Iterable[WorkerSample], now: float
    ) -> tuple[CoreSample, ...]:
        """Core samples from ``loads``: on each, the live processes that last ran there (PIDs
        ascending), their share of its load, and mptop's own.

        A process's CPU% over its last window is counted on the core it last ran on
        (``cpu_num``), so the shares are approximate for a process that moved; each is
        capped at what is left of the core's load. What remains is other processes'.
        """
        on_core: dict[int, list[int]] = {}
        run: dict[int, float] = {}
        for w in workers:
            if w.alive and w.core is not None:
                on_core.setdefault(w.core, []).append(w.pid)
                run[w.core] = run.get(w.core, 0.0) + (w.cpu_percent or 0.0)
        own = self.read(self._own, now) if self._own is not None else GONE
        self._own_reading = own
        out = []
        for i, pct in enumerate(loads):
            mine = min(pct, run.get(i, 0.0))
            me = min(pct - mine, own.cpu_percent or 0.0) if own.core == i else 0.0
            out.append(CoreSample(i, pct, tuple(sorted(on_core.get(i, ()))), mine, me))
        return tuple(out)


def thread_state(pid: int, main: WorkerState, scans: int = 1) -> WorkerState:
    """RUNNING if any thread of ``pid`` runs, else ``main`` (its main thread's state).

    ``/proc/PID/stat`` gives the state of the main thread only, so a process whose
    main thread waits while its other threads compute would read "sleeping" at
    300% CPU. Each ``/proc/PID/task/TID/stat`` has the thread's own (proc(5):
    the field after the command in parentheses). About 10 µs per thread here.

    The threads are read one after another, not at one instant, so a GIL handover
    between two reads can show every thread waiting (1 reading in about 3000 of
    a 4-thread process here): the threads are read up to ``scans`` times before
    the main thread's state is believed.
    """
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return main
    for _ in range(scans):
        for tid in tids:
            try:
                with open(f"/proc/{pid}/task/{tid}/stat", "rb") as f:
                    stat = f.read(512)
            except OSError:
                continue
            if stat[stat.rfind(b")") + 2 : stat.rfind(b")") + 3] == b"R":
                return WorkerState.RUNNING
    return main


def load_avg() -> tuple[float, float, float] | None:
    """The 1, 5 and 15 minute load average, where the platform has one."""
    try:
        return os.getloadavg()
    except (AttributeError, OSError):
        return None
