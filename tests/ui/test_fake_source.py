"""A fake Source of a few dozen lines drives the whole app: the app needs nothing but the Source API.

Add, kill, a failing command and a sampling error, through keys, with no
process behind any of it.
"""

from __future__ import annotations

import signal
import threading
import time

import pytest

from mptop.tui.app import MptopApp
from mptop.tui.widgets.body import EventLog
from mptop.tui.widgets.workers_table import WorkerTable
from mptop.workers.commands import Add, Cap, Command, CommandError, Signal
from mptop.workers.detail import OutputTail, WorkerDetail, recorded_detail
from mptop.workers.snapshot import CoreSample, Snapshot, WorkerSample, WorkerState
from mptop.workers.source import Closed, Deliver, Failed, Fate, SourceInfo
from mptop.workers.stacks import StackDump
from tests.helpers import until

pytestmark = pytest.mark.timeout(30)


class FakeSource:
    """Fake workers in a dict; one snapshot per change, one in flight at a time."""

    caps = frozenset({Cap.ADD, Cap.SIGNAL})

    def __init__(self, confirm_signals: bool = False) -> None:
        self.confirm_signals = confirm_signals
        self.exitcodes: dict[int, int | None] = {1001: None}
        self.lock = threading.Lock()
        self.armed, self.pending = True, False
        self.deliver: Deliver = lambda s: None
        self.failed: Failed = lambda line: None

    def info(self) -> SourceInfo:
        return SourceInfo(
            kind="fake",
            title="fake",
            interval=1.0,
            facts=("fake run",),
            confirm_signals=self.confirm_signals,
        )

    def snapshot(self) -> Snapshot:
        workers = tuple(
            WorkerSample(
                pid,
                f"fake-{pid}",
                True,
                WorkerState.RUNNING if code is None else WorkerState.EXITED,
                0,
                None,
                None,
                None,
                None,
                None,
                None,
                code,
            )
            for pid, code in sorted(self.exitcodes.items())
        )
        return Snapshot(time.time(), 1.0, "fake", (CoreSample(0, 50.0),), workers, ())

    def start(self, deliver: Deliver, failed: Failed) -> None:
        self.deliver, self.failed = deliver, failed
        self.poke()

    def arm(self) -> None:
        with self.lock:
            self.armed, pending = True, self.pending
        if pending:
            self.poke()

    def poke(self) -> None:
        with self.lock:
            ready, self.armed, self.pending = self.armed, False, not self.armed
        if ready:
            self.deliver(self.snapshot())

    def send(self, command: Command) -> str | None:
        if isinstance(command, Add):
            self.exitcodes[max(self.exitcodes) + 1] = None
        elif isinstance(command, Signal) and self.exitcodes.get(command.pid, 0) is None:
            self.exitcodes[command.pid] = -command.sig
        else:
            raise CommandError(getattr(command, "pid", None), "no such process")
        self.poke()
        return None

    def detail(self, pid: int) -> WorkerDetail:
        return recorded_detail(pid)

    def stacks(self, pid: int) -> StackDump:
        raise CommandError(pid, "a fake has no stacks")

    def output(self, pid: int) -> tuple[OutputTail, ...]:
        raise CommandError(pid, "a fake has no output")

    def close(self) -> Closed:
        return Closed(tuple(Fate(p, f"fake-{p}", True, c) for p, c in self.exitcodes.items()))


def log_text(app: MptopApp) -> str:
    return "\n".join(app.query_one(EventLog).events)


async def test_a_fake_source_drives_the_app() -> None:
    source = FakeSource()
    app = MptopApp(source)
    async with app.run_test(size=(120, 40)) as pilot:
        table = app.query_one(WorkerTable)
        await until(pilot, lambda: table.order == [1001])
        assert "fake run" in app.summary()
        await pilot.press("a")
        await until(pilot, lambda: table.order == [1001, 1002])
        await pilot.press("down", "k")
        await until(pilot, lambda: table.texts(1002)["exit"].strip() == "-9 SIGKILL")
        await pilot.press("k")  # a failing command: the worker has exited
        await until(pilot, lambda: "1002: no such process" in log_text(app))
        assert app.is_running
        assert app.check_action("suspend", ()) is None  # greyed: no SUSPEND capability
        failing = threading.Thread(
            target=source.failed, args=("taking a snapshot failed: OSError: boom",)
        )
        failing.start()  # from the source's thread, as a real source does
        await until(pilot, lambda: "⚠ taking a snapshot failed" in app.summary())
        assert "taking a snapshot failed: OSError: boom" in log_text(app)
        source.poke()  # the next snapshot clears the mark
        await until(pilot, lambda: "⚠" not in app.summary())
        await pilot.press("q")
        await until(pilot, lambda: not app.is_running)
    assert app.closed is not None
    assert [(f.pid, f.exitcode) for f in app.closed.fates] == [
        (1001, None),
        (1002, -signal.SIGKILL),
    ]


async def test_where_the_processes_are_not_mptops_a_signal_asks_first() -> None:
    from mptop.tui.screens.confirm import ConfirmScreen

    source = FakeSource(confirm_signals=True)  # as an attached tree's source says
    app = MptopApp(source)
    async with app.run_test(size=(120, 40)) as pilot:
        table = app.query_one(WorkerTable)
        await until(pilot, lambda: table.order == [1001])
        await pilot.press("k")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("n")  # no: nothing is sent
        await pilot.pause()
        assert not isinstance(app.screen, ConfirmScreen) and source.exitcodes[1001] is None
        await pilot.press("k", "y")
        await until(pilot, lambda: table.texts(1001)["exit"].strip() == "-9 SIGKILL")
