"""Runtime errors never quit the app and never hide: each becomes a CommandError, an event or a line.

A fork that fails (EAGAIN, EMFILE: simulated), a process that is gone, a
signal the OS refuses (AccessDenied: simulated), an exception while taking a
snapshot, and a channel the dispatcher has to give up.
"""

from __future__ import annotations

import errno
import multiprocessing.process
import os
import signal
import time
from collections.abc import Callable
from typing import Any

import psutil
import pytest

from mptop.tui.app import MptopApp
from mptop.tui.widgets.body import EventLog
from mptop.workers.commands import Add, CommandError, Signal
from mptop.workers.snapshot import Snapshot
from mptop.workers.spec import Scenario, WorkerSpec
from tests.conftest import SourceFactory
from tests.helpers import wait_for

pytestmark = pytest.mark.timeout(60)


def failing_start(code: int) -> Callable[..., None]:
    def start(self: Any) -> None:
        raise OSError(code, os.strerror(code))

    return start


def collect(source: Any) -> tuple[list[Snapshot], list[str]]:
    """Start ``source`` with a deliver that arms at once; returns the lists it fills."""
    snaps: list[Snapshot] = []
    failures: list[str] = []

    def deliver(snap: Snapshot) -> None:
        snaps.append(snap)
        source.arm()

    source.start(deliver, failures.append)
    return snaps, failures


def events(snaps: list[Snapshot]) -> list[str]:
    return [e.text for s in list(snaps) for e in s.events]


@pytest.mark.parametrize("code", [errno.EAGAIN, errno.EMFILE], ids=["EAGAIN", "EMFILE"])
def test_a_failed_fork_is_a_command_error(
    make_source: SourceFactory, monkeypatch: pytest.MonkeyPatch, code: int
) -> None:
    source = make_source(count=1, workload="sleep")
    collect(source)
    wait_for(lambda: source.supervisor.alive_pids())
    monkeypatch.setattr(multiprocessing.process.BaseProcess, "start", failing_start(code))
    with pytest.raises(CommandError, match=f"cannot start a worker: {os.strerror(code)}"):
        source.send(Add())
    monkeypatch.undo()
    source.send(Add())  # and the run goes on
    assert len(source.supervisor.alive_pids()) == 2


def test_failed_forks_at_launch_are_events_and_the_launch_gives_up(
    make_source: SourceFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = make_source(count=5, workload="sleep")
    monkeypatch.setattr(multiprocessing.process.BaseProcess, "start", failing_start(errno.EAGAIN))
    snaps, _ = collect(source)
    wait_for(lambda: any("gave up starting workers" in t for t in events(snaps)), timeout=10)
    texts = events(snaps)
    assert sum("cannot start a worker: Resource temporarily unavailable" in t for t in texts) == 3
    assert source.supervisor.handles() == []


def test_signals_to_a_pid_not_of_the_run_or_refused(
    make_source: SourceFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = make_source(count=1, workload="sleep")
    collect(source)
    (pid,) = wait_for(lambda: source.supervisor.alive_pids())
    with pytest.raises(CommandError, match=r"^1: no such process$"):
        source.send(Signal(1, signal.SIGKILL))  # init: never ours

    def refuse(self: psutil.Process, sig: int) -> None:
        raise psutil.AccessDenied(self.pid)

    monkeypatch.setattr(psutil.Process, "send_signal", refuse)
    with pytest.raises(CommandError, match=rf"^{pid}: SIGTERM: permission denied$"):
        source.send(Signal(pid, signal.SIGTERM))
    monkeypatch.undo()
    source.send(Signal(pid, signal.SIGKILL))
    with pytest.raises(CommandError, match=rf"^{pid}: has exited \(-9: SIGKILL\)$"):
        source.send(Signal(pid, signal.SIGTERM))


def test_an_exception_while_sampling_is_reported_once_and_sampling_goes_on(
    make_source: SourceFactory,
) -> None:
    source = make_source(count=1, workload="sleep", interval=0.1)
    real = source.sampling.take
    fails = [3]

    def flaky() -> Snapshot:
        if fails[0] > 0:
            fails[0] -= 1
            raise KeyError(4242)
        return real()

    source.sampling.take = flaky
    snaps, failures = collect(source)
    wait_for(lambda: len(snaps) >= 2, timeout=10)
    assert failures == ["taking a snapshot failed: KeyError: 4242"]  # the same line once


def test_the_dispatcher_says_why_it_gives_a_pipe_up(make_source: SourceFactory) -> None:
    scenario = Scenario.simple(
        2, WorkerSpec(workload="sleep", task_seconds=0.01), ipc="pipe", interval=0.2
    )
    source = make_source(scenario=scenario)
    snaps, _ = collect(source)
    wait_for(lambda: len(source.supervisor.alive_pids()) == 2)
    victim = source.supervisor.handle(source.supervisor.alive_pids()[0])
    source.send(Signal(victim.pid, signal.SIGKILL))
    wait_for(lambda: any(f"channel pipe:{victim.name}: " in t for t in events(snaps)), timeout=10)


async def test_in_the_app_a_failed_add_is_a_warning_and_the_app_runs_on(
    make_source: SourceFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = make_source(count=1, workload="sleep")
    app = MptopApp(source)
    async with app.run_test(size=(120, 40)) as pilot:
        deadline = time.monotonic() + 10
        while not source.supervisor.alive_pids():
            assert time.monotonic() < deadline
            await pilot.pause(0.05)
        monkeypatch.setattr(
            multiprocessing.process.BaseProcess, "start", failing_start(errno.EAGAIN)
        )
        await pilot.press("a")
        log = app.query_one(EventLog)
        while not any("cannot start a worker" in line for line in log.events):
            assert time.monotonic() < deadline + 5, log.events
            await pilot.pause(0.05)
        assert app.is_running
