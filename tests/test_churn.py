"""Churn: 30 s of random adds, SIGTERMs, SIGKILLs, suspends, resumes and pins, about 20 a
second, under the real UI with traffic flowing, on the queue and the pipe topologies.

The UI must keep ticking and raise nothing; no zombie may stay; every channel's counts must
stay consistent (never a negative backlog or loss, never a count going back) and, once the
traffic stops, drain to a backlog of 0 (a Queue whose lock died with a killed holder stays
stalled: its backlog is what is stuck in it); mptop's open fds and RSS must come back to
within 10% of where they were; quit must leave no process. MPTOP_CHURN_SECONDS changes the
30 s (a longer run is bench/soak.py's job).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import time

import psutil
import pytest

from mptop.tui.app import MptopApp
from mptop.workers.commands import (
    Add,
    Command,
    CommandError,
    Pin,
    Signal,
    ToggleSuspend,
    Unpin,
)
from mptop.workers.snapshot import Snapshot
from mptop.workers.spawn_source import SpawnSource
from mptop.workers.spec import Scenario, WorkerSpec
from tests.helpers import alive, until

SECONDS = float(os.environ.get("MPTOP_CHURN_SECONDS", "30"))
ACTIONS_PER_SECOND = 20
WORKERS = 4  # at the start and at the end; between 1 and MOST during the churn
MOST = 10

pytestmark = pytest.mark.timeout(SECONDS * 2 + 90)


def fds() -> tuple[int, int]:
    """This process's open fds: ``(others, heap)``, where ``heap`` are multiprocessing's
    shared-memory arenas (``/dev/shm/pym-*``, two fds each: the file and mmap's own copy).

    The arenas hold every RawValue and RawArray (a worker's counters and start flag); the
    heap makes and drops them as blocks come and go, doubling their size, so their number
    moves by a few either way under churn and stays logarithmic in what is alive."""
    others = heap = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith("/dev/shm/pym-"):
            heap += 1
        else:
            others += 1
    return others, heap


def rss() -> int:
    return int(psutil.Process().memory_info().rss)


class Checker:
    """Follows every snapshot the UI applies: the gaps between them and each channel's counts."""

    def __init__(self) -> None:
        self.last_time: float | None = None
        self._seen_at = 0.0
        self.longest_gap = 0.0
        self.ticks = 0
        self.counts: dict[tuple[str, int], tuple[int, int]] = {}
        self.problems: list[str] = []

    def see(self, snap: Snapshot | None) -> None:
        if snap is None or snap.time == self.last_time:
            return
        now = time.monotonic()
        if self.last_time is not None:
            self.longest_gap = max(self.longest_gap, now - self._seen_at)
        self._seen_at = now
        self.last_time = snap.time
        self.ticks += 1
        for c in snap.channels:
            if c.backlog < 0 or c.lost < 0 or c.delivered < 0 or c.received > c.sent:
                self.problems.append(f"tick {self.ticks}: {c}")
            if c.sent != c.delivered + c.backlog + c.lost:
                self.problems.append(f"tick {self.ticks}: not conserved: {c}")
            key = (c.name, c.generation)
            before = self.counts.get(key)
            if before is not None and (c.sent < before[0] or c.received < before[1]):
                self.problems.append(f"tick {self.ticks}: {c.name} went back from {before}: {c}")
            self.counts[key] = (c.sent, c.received)


def received(snap: Snapshot | None) -> int:
    return sum(c.received for c in snap.channels) if snap is not None else 0


def zombies() -> list[int]:
    return [p.pid for p in psutil.Process().children() if p.status() == psutil.STATUS_ZOMBIE]


async def act(source: SpawnSource, rng: random.Random, cores: int) -> None:
    """One random action on a random live worker (or an add), off the UI's loop."""
    sup = source.supervisor
    live = sup.alive_pids()
    kinds = ["terminate", "kill", "suspend", "resume", "pin", "unpin"] if live else []
    if len(live) < MOST:
        kinds += ["add"] * 3  # adds keep up with the 2 kinds of exits
    kind = rng.choice(kinds)
    pid = rng.choice(live) if live else 0
    command: Command
    if kind == "add":
        command = Add()
    elif kind == "terminate":
        command = Signal(pid, signal.SIGTERM, wait=0)
    elif kind == "kill":
        command = Signal(pid, signal.SIGKILL, wait=0)
    elif kind in ("suspend", "resume"):
        suspended = sup.handle(pid).suspended
        if suspended == (kind == "resume"):
            command = ToggleSuspend(pid)
        else:
            return
    elif kind == "pin":
        command = Pin(pid, (rng.randrange(cores),))
    else:
        command = Unpin(pid)
    with contextlib.suppress(CommandError):  # it exited meanwhile: expected under churn
        await asyncio.to_thread(source.send, command)


async def settle(source: SpawnSource, pilot: object) -> None:
    """Resume every suspended worker and come back to WORKERS live ones."""
    sup = source.supervisor
    for h in sup.handles():
        if h.alive and h.suspended:
            with contextlib.suppress(CommandError):
                await asyncio.to_thread(source.send, ToggleSuspend(h.pid))
    while len(sup.alive_pids()) < WORKERS:
        await asyncio.to_thread(source.send, Add())
    for pid in sup.alive_pids()[WORKERS:]:
        with contextlib.suppress(CommandError):
            await asyncio.to_thread(source.send, Signal(pid, signal.SIGKILL))


@pytest.mark.parametrize("ipc", ["queue", "pipe"])
async def test_churn_keeps_the_ui_ticking_and_nothing_grows(ipc: str) -> None:
    rng = random.Random(f"churn-{ipc}")
    scenario = Scenario.simple(
        WORKERS, WorkerSpec(workload="sleep", task_seconds=0.005), interval=0.25, ipc=ipc
    )
    source = SpawnSource(scenario)
    started: set[int] = set()
    check = Checker()
    cores = psutil.cpu_count() or 1
    try:
        app = MptopApp(source)
        async with app.run_test(size=(120, 40)) as pilot:
            sup = source.supervisor
            await until(pilot, lambda: len(sup.alive_pids()) == WORKERS, timeout=20)
            await until(pilot, lambda: received(app.snapshot) > 100)
            # one of each action first, then back to WORKERS: what runs once (lazy imports,
            # the first rows of new workers, the shared heap's first arenas) is not growth
            for _ in range(20):
                await act(source, rng, cores)
                await pilot.pause(0.05)
            await settle(source, pilot)
            await pilot.pause(1.0)
            (fds0, heap0), rss0 = fds(), rss()
            t0 = time.monotonic()
            actions = 0
            while (now := time.monotonic()) < t0 + SECONDS:
                await act(source, rng, cores)
                actions += 1
                started.update(h.pid for h in sup.handles())
                check.see(app.snapshot)
                await pilot.pause(max(0.0, t0 + actions / ACTIONS_PER_SECOND - now))
            await settle(source, pilot)
            started.update(h.pid for h in sup.handles())
            # the traffic stops; what is in the channels drains (or is stuck in a stalled one)
            source.dispatcher.sending = False

            def drained() -> bool:
                snap = app.snapshot
                check.see(snap)
                return snap is not None and all(c.backlog == 0 or c.stalled for c in snap.channels)

            await until(pilot, drained, timeout=20)
            await until(pilot, lambda: not zombies(), timeout=5)
            # the last exits' Pipes and sentinels close as the dispatcher and the sampler see them
            tolerance = max(2, fds0 * 0.1)
            with contextlib.suppress(AssertionError):
                await until(pilot, lambda: abs(fds()[0] - fds0) <= tolerance, timeout=5)
            (fds1, heap1), rss1 = fds(), rss()
            snap = app.snapshot
            assert snap is not None
            print(
                f"{ipc}: {actions} actions in {SECONDS:.0f} s, {len(started)} workers, "
                f"{check.ticks} ticks, longest gap {check.longest_gap:.2f} s; "
                f"fds {fds0} -> {fds1} and heap {heap0} -> {heap1}, RSS {rss0 / 2**20:.1f} -> {rss1 / 2**20:.1f} MiB; "
                f"channels {[(c.name, c.sent, c.backlog, c.lost) for c in snap.channels][:8]}"
            )
            assert actions >= SECONDS * ACTIONS_PER_SECOND * 0.5  # the churn really ran
            assert len(started) > WORKERS * 5
            assert check.ticks >= SECONDS / scenario.interval * 0.5, check.ticks
            assert check.longest_gap < 3.0  # the UI kept ticking
            assert not check.problems, check.problems[:5]
            for c in snap.channels:
                assert c.backlog == 0 or c.stalled, c
            assert abs(fds1 - fds0) <= tolerance, (fds0, fds1)
            assert heap1 <= 12, heap1
            assert rss1 <= rss0 * 1.1, (rss0, rss1)
            await pilot.press("q")
            await until(pilot, lambda: not app.is_running, timeout=10)
    finally:
        source.close()
    assert alive(started) == []
    assert not zombies()
