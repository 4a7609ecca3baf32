"""Soak: hours of churn, headless, and whether mptop's memory or open fds keep growing.

A real :class:`SpawnSource` (the queue topology, traffic flowing, ``sleep``
workers with 5 ms tasks, a tick every 0.5 s) runs with nothing drawn; every
snapshot is taken and armed as the headless sink does. ACTIONS random actions
a second (add, SIGTERM, SIGKILL, suspend, resume, pin, unpin) keep between 2
and 12 workers alive. Every SAMPLE seconds the churn pauses, comes back to 4
live workers, none suspended, and this process's RSS and open fd count are
written down. The figures: growth from the end of the warm-up (the
first WARMUP seconds: the heap, caches and the last-100 exited rows fill up)
to the end: the highest of the last 5 readings against the highest of the
first 5 after the warm-up (the baseline).

    python -m bench.soak [MINUTES] [--actions N]     # default 30 minutes, 10 actions/s

``python -m bench`` runs it for 2 minutes (``--rows``); the 30-minute curve is
in docs/PERFORMANCE.md. More cores change nothing here but the tick's pace.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import signal
import time

import psutil

from bench.table import ROWS_FLAG, Row, emit, render
from mptop.workers.commands import Add, Command, CommandError, Pin, Signal, ToggleSuspend, Unpin
from mptop.workers.snapshot import Snapshot
from mptop.workers.spawn_source import SpawnSource
from mptop.workers.spec import Scenario, WorkerSpec

MAX_GROWTH = 5.0  # percent after warm-up (issue "Scale and endurance")
WINDOW = 5  # readings compared at each end
FEWEST, MOST = 2, 12


def fd_count() -> int:
    """Open fds of this process (``/proc/self/fd``)."""
    return len(os.listdir("/proc/self/fd"))


def action(source: SpawnSource, rng: random.Random, cores: int) -> Command | None:
    """One random command on a random live worker, or an add; None for nothing to do."""
    sup = source.supervisor
    live = sup.alive_pids()
    kinds = []
    if len(live) > FEWEST:
        kinds += ["terminate", "kill"]
    if live:
        kinds += ["suspend", "resume", "pin", "unpin"]
    if len(live) < MOST:
        kinds += ["add"] * 2
    kind = rng.choice(kinds)
    pid = rng.choice(live) if live else 0
    if kind == "add":
        return Add()
    if kind in ("terminate", "kill"):
        return Signal(pid, signal.SIGTERM if kind == "terminate" else signal.SIGKILL, wait=0)
    if kind in ("suspend", "resume"):
        try:
            suspended = sup.handle(pid).suspended
        except LookupError:
            return None
        return ToggleSuspend(pid) if suspended == (kind == "resume") else None
    if kind == "pin":
        return Pin(pid, (rng.randrange(cores),))
    return Unpin(pid)


def settle(source: SpawnSource, workers: int) -> None:
    """Resume every suspended worker and come back to ``workers`` live ones, so that readings
    taken at different times compare (each live worker holds a few fds: its sentinel and its
    channels' ends); then wait (at most 3 s) until the fd count holds still."""
    sup = source.supervisor
    for h in sup.handles():
        if h.alive and h.suspended:
            with contextlib.suppress(CommandError):
                source.send(ToggleSuspend(h.pid))
    while len(sup.alive_pids()) < workers:
        source.send(Add())
    for pid in sup.alive_pids()[workers:]:
        with contextlib.suppress(CommandError):
            source.send(Signal(pid, signal.SIGKILL, wait=1.0))
    deadline = time.monotonic() + 3
    last = -1
    while (now := fd_count()) != last and time.monotonic() < deadline:
        last = now
        time.sleep(0.3)


def soak(seconds: float, actions: float, sample: float, warmup: float) -> list[Row]:
    """Run the churn for ``seconds``; print the curve; return the growth rows."""
    scenario = Scenario.simple(
        4, WorkerSpec(workload="sleep", task_seconds=0.005), interval=0.5, ipc="queue"
    )
    source = SpawnSource(scenario)
    me = psutil.Process()
    rng = random.Random("soak")
    cores = psutil.cpu_count() or 1
    ticks = 0
    started = 0
    curve: list[tuple[float, float, int, int]] = []  # (seconds, RSS MiB, fds, workers ever)

    def deliver(_snap: Snapshot) -> None:
        nonlocal ticks
        ticks += 1
        source.arm()

    def failed(text: str) -> None:
        print(f"sampling failed: {text}")

    t0 = time.monotonic()
    next_sample = t0
    done = 0
    try:
        source.start(deliver, failed)
        while (now := time.monotonic()) < t0 + seconds:
            if now >= next_sample:
                settle(source, 4)
                workers = len(source.supervisor.handles()) + len(source.supervisor.forgotten)
                point = (now - t0, me.memory_info().rss / 2**20, fd_count(), workers)
                curve.append(point)
                print(
                    f"{point[0]:7.0f} s  RSS {point[1]:6.1f} MiB  fds {point[2]:4d}  "
                    f"workers so far {point[3]:6d}  ticks {ticks}",
                    flush=True,
                )
                next_sample += sample
            command = action(source, rng, cores)
            if command is not None:
                with contextlib.suppress(CommandError):
                    source.send(command)
                started += isinstance(command, Add)
            done += 1
            time.sleep(max(0.0, t0 + done / actions - time.monotonic()))
    finally:
        source.close()
    after = [p for p in curve if p[0] >= warmup]
    if len(after) < 2:
        raise SystemExit(f"bench.soak: run longer than the {warmup:.0f} s warm-up")
    # the highest reading of the last WINDOW against the highest of the first WINDOW after
    # the warm-up: the fd count moves by 2 either way as the shared-memory heap makes and
    # drops an arena (a file and mmap's copy of its fd), so single readings do not compare
    window = max(1, min(WINDOW, len(after) // 2))
    first = (max(p[1] for p in after[:window]), max(p[2] for p in after[:window]))
    last = (max(p[1] for p in after[-window:]), max(p[2] for p in after[-window:]))
    print(f"{done} actions, {started} adds, {ticks} ticks in {seconds:.0f} s")
    note = f"{seconds / 60:.0f} min of churn at {actions:g} actions/s; baseline: after warm-up"
    return [
        Row(
            "soak: mptop's RSS at the end",
            last[0],
            "MiB",
            first[0],
            max_ratio=1 + MAX_GROWTH / 100,
            note=note,
        ),
        Row(
            "soak: mptop's open fds at the end",
            float(last[1]),
            "fds",
            float(first[1]),
            max_ratio=1 + MAX_GROWTH / 100,
            note=note,
        ),
        Row("soak: ticks per second", ticks / seconds, "/s", None, min_value=1.0, note=note),
    ]


def main() -> None:
    """Parse the command line and run (see the module's text)."""
    p = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__.split("\n")[0])
    p.add_argument("minutes", nargs="?", type=float, default=30.0)
    p.add_argument("--actions", type=float, default=10.0, help="random actions a second")
    p.add_argument(
        "--sample", type=float, help="seconds between readings (default: 1/30 of the run)"
    )
    p.add_argument(ROWS_FLAG, action="store_true", help="print the rows as JSON at the end")
    args = p.parse_args()
    seconds = args.minutes * 60
    sample = args.sample or max(5.0, seconds / 30)
    rows = soak(seconds, args.actions, sample, warmup=min(300.0, seconds / 4))
    print(render(rows))
    if args.rows:
        emit(rows)


if __name__ == "__main__":
    main()
