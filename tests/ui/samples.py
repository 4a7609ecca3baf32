"""Deterministic snapshots for UI tests: fixed PIDs, times and loads, no psutil, no clock.

``snapshot(cores=2, workers=6, tick=0)`` builds one tick; successive ticks
differ in load so that sparklines have a history. ``detail(sample)`` is a
fixed :class:`WorkerDetail` for the detail screen. :class:`SampleSource` is
the view-only source the UI tests drive the app with (they feed it with
``app.apply``). Run this module to see the view-only app fed with these
samples: ``python -m tests.ui.samples 64``.
"""

from __future__ import annotations

import sys
import time

from mptop.tui.app import MptopApp
from mptop.workers.commands import Cap, Command, CommandError, SetInterval
from mptop.workers.detail import ChannelCounts, OutputTail, WorkerDetail
from mptop.workers.snapshot import (
    ChannelSample,
    CoreSample,
    Event,
    Snapshot,
    WorkerSample,
    WorkerState,
)
from mptop.workers.source import Closed, Deliver, Failed, SourceInfo
from mptop.workers.stacks import StackDump

# 2024-01-02 03:04:05 UTC, the time of tick 0.
T0 = 1704164645.0
FIRST_PID = 4101


def utc_clock(t: float) -> str:
    """``HH:MM:SS`` in UTC: the same on every machine."""
    return time.strftime("%H:%M:%S", time.gmtime(t))


def core_load(i: int, tick: int) -> float:
    """A fixed, varied load for core ``i`` at ``tick``, 0-100."""
    return float((i * 37 + tick * 23 + (i * tick) % 11 * 7) % 101)


_EXITED = {3: -9, 4: -15, 5: 1}


def worker(k: int, cores: int, tick: int) -> WorkerSample:
    """Worker number ``k`` (0-based): running, sleeping, stopped or exited by its number."""
    pid = FIRST_PID + k
    exitcode = _EXITED.get(k) if k < 6 else None
    if exitcode is not None:
        return WorkerSample(
            pid=pid,
            name=f"worker-{k + 1}",
            daemon=k % 2 == 0,
            state=WorkerState.EXITED,
            core=None,
            cpu_percent=None,
            rss=None,
            msgs_in_per_s=None,
            bytes_in_per_s=None,
            msgs_out_per_s=None,
            bytes_out_per_s=None,
            exitcode=exitcode,
            workload="cpu",
            start_method="forkserver",
            ppid=4000,
        )
    state = (
        WorkerState.STOPPED if k == 2 else WorkerState.SLEEPING if k == 1 else WorkerState.RUNNING
    )
    cpu = 0.0 if state is not WorkerState.RUNNING else float((k * 29 + tick * 7) % 100) + 0.5
    return WorkerSample(
        pid=pid,
        name=f"worker-{k + 1}",
        daemon=k % 2 == 0,
        state=state,
        core=(k * 3) % cores,
        cpu_percent=None if tick == 0 else cpu,
        rss=15_000_000 + k * 123_456,
        msgs_in_per_s=None if tick == 0 else float(k % 4 * 10),
        bytes_in_per_s=None if tick == 0 else float(k % 4 * 600),
        msgs_out_per_s=None if tick == 0 else float(k % 4 * 10),
        bytes_out_per_s=None if tick == 0 else float(k % 4 * 400),
        exitcode=None,
        workload="cpu",
        start_method="forkserver",
        ppid=4000,
    )


def snapshot(cores: int = 2, workers: int = 6, tick: int = 0) -> Snapshot:
    """Tick ``tick`` of a run with ``cores`` cores and ``workers`` workers (see :func:`worker`)."""
    ws = tuple(worker(k, cores, tick) for k in range(workers))
    on_core: dict[int, list[int]] = {}
    for w in ws:
        if w.alive and w.core is not None:
            on_core.setdefault(w.core, []).append(w.pid)
    run_on: dict[int, float] = {}  # the run's share of each core: its workers' CPU% there
    for w in ws:
        if w.core is not None and w.cpu_percent:
            run_on[w.core] = run_on.get(w.core, 0.0) + w.cpu_percent
    cs = tuple(
        CoreSample(
            i,
            core_load(i, tick),
            tuple(on_core.get(i, ())),
            run_percent=min(core_load(i, tick), run_on.get(i, 0.0)),
        )
        for i in range(cores)
    )
    sent = 100 + tick * 40
    channels = (
        ChannelSample(
            "tasks",
            "Queue",
            "mptop",
            "workers",
            sent,
            sent * 60,
            sent - 6,
            (sent - 6) * 60,
            40.0,
            2400.0,
        ),
        ChannelSample(
            "results",
            "Queue",
            "workers",
            "mptop",
            sent - 8,
            (sent - 8) * 40,
            sent - 8,
            (sent - 8) * 40,
            40.0,
            1600.0,
        ),
    )
    events: tuple[Event, ...] = ()
    if tick == 0:
        events = (
            *tuple(
                Event(
                    T0 - 5 + k * 0.1, f"started {FIRST_PID + k} (daemon, forkserver)", FIRST_PID + k
                )
                for k in range(min(workers, 3))
            ),
            Event(T0 - 1, f"sent SIGKILL to {FIRST_PID + 3}", FIRST_PID + 3),
            Event(T0 - 0.5, f"{FIRST_PID + 3} exited with -9 (SIGKILL)", FIRST_PID + 3, "warning"),
        )
    return Snapshot(
        time=T0 + tick,
        interval=0.0 if tick == 0 else 1.0,
        start_method="forkserver",
        cores=cs,
        workers=ws,
        channels=channels,
        events=events,
        load_avg=(1.5, 0.75, 0.25),
    )


def feed(app: MptopApp, cores: int = 2, workers: int = 6, ticks: int = 8) -> Snapshot:
    """Apply ``ticks`` successive snapshots to ``app``; returns the last one."""
    snap = snapshot(cores, workers, 0)
    for tick in range(ticks):
        snap = snapshot(cores, workers, tick)
        app.apply(snap)
    return snap


def feed_recording(app: MptopApp, cores: int) -> Snapshot:
    """Apply every snapshot of the committed recording for ``cores`` cores; returns the last.

    The recordings (``tests/ui/recordings/*.jsonl``, made by ``python -m
    tests.ui.make_recordings``) are read back with the replay's own reader.
    """
    from mptop.workers.record import read_recording
    from tests.ui.make_recordings import path

    rec = read_recording(path(cores))
    for snap in rec.snapshots:
        app.apply(snap)
    return rec.snapshots[-1]


def detail(sample: WorkerSample) -> WorkerDetail:
    """A fixed detail for ``sample``'s worker (a traceback for the one that exited with 1)."""
    failed = sample.exitcode == 1
    return WorkerDetail(
        pid=sample.pid,
        ppid=4100,
        cmdline=(
            "/usr/bin/python3",
            "-c",
            "from multiprocessing.forkserver import main; main(...)",
        ),
        start_method="forkserver",
        create_time=T0 - 65,
        affinity=(0, 1),
        threads=2,
        nice=19,
        mptop_nice=0,
        channels=(
            ChannelCounts("tasks", "Queue", 0, 0, 331, 19_860),
            ChannelCounts("results", "Queue", 330, 13_200, 0, 0),
        ),
        stdout_tail=f"{sample.name} pid {sample.pid} daemon=True start method forkserver",
        stderr_tail="",
        traceback=(
            "Traceback (most recent call last):\n"
            '  File "workers/workloads.py", line 60, in consume_tasks\n'
            "ZeroDivisionError: division by zero"
            if failed
            else ""
        ),
    )


class SampleSource:
    """A view-only source: it delivers nothing by itself (tests feed the app with ``apply``).

    Its only command is the interval (the header shows it); ``detail(pid)`` is
    the fixed :func:`detail` of worker ``pid - FIRST_PID`` of the samples, and
    ``output(pid)`` says that :attr:`output_lines` (which a test may extend) are
    its stdout.
    """

    caps = frozenset({Cap.INTERVAL, Cap.OUTPUT})

    def __init__(self, lesson: str = "", lesson_title: str = "Lesson") -> None:
        self.lesson = lesson
        self.lesson_title = lesson_title
        self.interval = 1.0
        self.started = False
        self.output_lines = [f"line {i}" for i in range(1, 601)]

    def info(self) -> SourceInfo:
        return SourceInfo(
            kind="samples",
            title="mptop samples",
            interval=self.interval,
            facts=("view only",),
            lesson=self.lesson,
            lesson_title=self.lesson_title,
            unavailable="view only: deterministic samples, no process",
        )

    def start(self, deliver: Deliver, failed: Failed) -> None:
        self.started = True

    def arm(self) -> None:
        pass

    def poke(self) -> None:
        pass

    def send(self, command: Command) -> str | None:
        if isinstance(command, SetInterval):
            self.interval = command.seconds
            return None
        raise CommandError(getattr(command, "pid", None), "view only")

    def detail(self, pid: int) -> WorkerDetail:
        k = pid - FIRST_PID
        if not 0 <= k < 1024:
            raise CommandError(pid, "not a sample")
        return detail(worker(k, 2, 0))

    def stacks(self, pid: int) -> StackDump:
        raise CommandError(pid, "samples have no process to ask")

    def output(self, pid: int) -> tuple[OutputTail, ...]:
        lines = tuple(self.output_lines[-500:])
        size = sum(len(line) + 1 for line in self.output_lines)
        return (OutputTail(f"stdout of worker-{pid - FIRST_PID + 1}", "/tmp/out", lines, size),)

    def close(self) -> Closed:
        return Closed()


def view_only_app(lesson: str = "", lesson_title: str = "Lesson") -> MptopApp:
    """A view-only app on a :class:`SampleSource`, with a UTC clock."""
    return MptopApp(SampleSource(lesson, lesson_title), clock=utc_clock)


def _demo(cores: int, workers: int) -> None:
    app = view_only_app()
    ticks = iter(range(1, 1 << 30))

    def start() -> None:
        app.apply(snapshot(cores, workers, 0))
        app.set_interval(1, lambda: app.apply(snapshot(cores, workers, next(ticks))))

    app.call_later(start)
    app.run()


if __name__ == "__main__":
    _demo(
        int(sys.argv[1]) if len(sys.argv) > 1 else 2, int(sys.argv[2]) if len(sys.argv) > 2 else 6
    )
