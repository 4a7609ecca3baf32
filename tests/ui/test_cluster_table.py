"""A cluster's worker table and keys (``mptop dask``), with a fake source: no Dask, no process.

The ``dask`` column set (Host, Threads, Managed, ...), a restart that keeps its
row (``WorkerSample.replaces``), and ``t`` / ``r`` sending ``Retire`` and
``Restart`` where the source has ``Cap.RETIRE`` / ``Cap.RESTART`` (and
staying out of sight where it has not).
"""

from __future__ import annotations

import dataclasses
import signal
import time

import pytest
from textual.app import App, ComposeResult
from textual.geometry import Region
from textual.widgets import Static
from textual.widgets._footer import FooterKey

from mptop.tui import format as fmt
from mptop.tui.app import EXIT_WAIT, MptopApp
from mptop.tui.screens.help import HelpScreen, help_text
from mptop.tui.widgets.body import EventLog
from mptop.tui.widgets.workers_table import DASK, PROCESS, WorkerTable
from mptop.workers.commands import Cap, Command, CommandError, Restart, Retire, Signal
from mptop.workers.detail import OutputTail, WorkerDetail, recorded_detail
from mptop.workers.snapshot import CoreSample, Snapshot, ThreadSample, WorkerSample, WorkerState
from mptop.workers.source import Closed, Deliver, Failed, SourceInfo
from mptop.workers.stacks import StackDump
from tests.helpers import until
from tests.ui import samples

pytestmark = pytest.mark.timeout(30)


def cluster_worker(pid: int, name: str, **figures: object) -> WorkerSample:
    """A cluster's worker as ``mptop dask`` reports one (figures: any WorkerSample field)."""
    w = WorkerSample(
        pid=pid,
        name=name,
        daemon=False,
        state=WorkerState.SLEEPING,
        core=0,
        cpu_percent=12.5,
        rss=120 << 20,
        msgs_in_per_s=2.0,
        bytes_in_per_s=4096.0,
        msgs_out_per_s=1.0,
        bytes_out_per_s=2048.0,
        exitcode=None,
        ppid=pid - 1,
        host="127.0.0.1",
        thread_count=9,
        managed_bytes=3 << 20,
        spilled_bytes=0,
        tasks_executing=2,
        tasks_ready=5,
        tasks_in_memory=17,
    )
    return dataclasses.replace(w, **figures)  # type: ignore[arg-type]


def snapshot(*workers: WorkerSample) -> Snapshot:
    return Snapshot(time.time(), 1.0, "dask", (CoreSample(0, 40.0),), workers, ())


class ClusterSource:
    """A fake cluster: two workers, every command recorded; ``fail`` makes commands fail."""

    def __init__(self) -> None:
        self.caps = frozenset({Cap.SIGNAL, Cap.RETIRE, Cap.RESTART, Cap.ADD})
        self.sent: list[Command] = []
        self.fail = ""
        self.workers: tuple[WorkerSample, ...] = (
            cluster_worker(101, "worker-0"),
            cluster_worker(201, "worker-1"),
        )

    def info(self) -> SourceInfo:
        return SourceInfo(kind="dask", title="fake cluster", interval=1.0, columns="dask")

    def start(self, deliver: Deliver, failed: Failed) -> None:
        deliver(snapshot(*self.workers))

    def arm(self) -> None:
        pass

    def poke(self) -> None:
        pass

    def send(self, command: Command) -> str | None:
        if self.fail:
            raise CommandError(getattr(command, "pid", None), self.fail)
        self.sent.append(command)
        return None

    def detail(self, pid: int) -> WorkerDetail:
        return recorded_detail(pid)

    def stacks(self, pid: int) -> StackDump:
        raise CommandError(pid, "a fake has no stacks")

    def output(self, pid: int) -> tuple[OutputTail, ...]:
        raise CommandError(pid, "a fake has no output")

    def close(self) -> Closed:
        return Closed()


class TableApp(App[None]):
    """Only a worker table of the ``dask`` set."""

    def compose(self) -> ComposeResult:
        yield WorkerTable(columns="dask")


def header(table: WorkerTable) -> str:
    return "".join(seg.text for seg in table.render_line(0))


def log_text(app: MptopApp) -> str:
    return "\n".join(app.query_one(EventLog).events)


# -- the table -------------------------------------------------------------------------------


async def test_the_dask_set_shows_host_and_the_workers_own_figures() -> None:
    app = TableApp()
    async with app.run_test(size=(200, 10)) as pilot:
        table = app.query_one(WorkerTable)
        assert table.columns is DASK
        table.update_workers([cluster_worker(10, "worker-0"), cluster_worker(20, "worker-1")])
        await pilot.pause()
        line = header(table)
        assert "Host" in line and "Managed" in line and "Held" in line
        assert "Daemon" not in line and "Method" not in line
        texts = table.texts(10)
        assert texts["host"] == "127.0.0.1" and texts["threads"] == "9"
        assert texts["managed"] == "3.0M" and texts["spilled"] == "0B"
        assert (texts["executing"], texts["ready"], texts["held"]) == ("2", "5", "17")
        assert texts["exit"] == ""  # never restarted
        bare = dataclasses.replace(
            cluster_worker(30, "worker-2"), host="", thread_count=None, managed_bytes=None
        )
        table.update_workers([bare])
        assert table.texts(30)["host"] == table.texts(30)["threads"] == fmt.DASH
        assert table.texts(30)["managed"] == fmt.DASH


async def test_a_restarted_worker_takes_its_rows_place_and_the_cursor() -> None:
    app = TableApp()
    async with app.run_test(size=(200, 10)) as pilot:
        table = app.query_one(WorkerTable)
        table.update_workers([cluster_worker(10, "worker-0"), cluster_worker(20, "worker-1")])
        await pilot.pause()
        assert table.select_pid(10)
        # its nanny started it again: a new PID under the same name
        table.update_workers(
            [
                cluster_worker(11, "worker-0", replaces=10, restarts=1),
                cluster_worker(20, "worker-1"),
            ]
        )
        await pilot.pause()
        assert table.order == [11, 20]  # one row for worker-0, not two
        assert table.selected_pid == 11
        assert table.sample(10) is None
        assert table.texts(11)["exit"] == "↻1"
        # the next snapshots still say whom it replaced: nothing more changes
        table.update_workers([cluster_worker(11, "worker-0", replaces=10, restarts=1)])
        assert table.order == [11, 20] and table.selected_pid == 11
        # an exited worker shows no ↻, a restarted worker elsewhere keeps the cursor where it is
        table.update_workers([cluster_worker(21, "worker-1", replaces=20, restarts=2)])
        assert table.order == [11, 21] and table.selected_pid == 11
        assert table.texts(21)["exit"] == "↻2"
        gone = cluster_worker(21, "worker-1", restarts=2, state=WorkerState.EXITED)
        table.update_workers([gone])
        assert table.texts(21)["exit"] == ""


async def test_one_pid_then_its_successor_one_row_cursor_and_exit_mark() -> None:
    # the case the brief names: pid 10, then pid 11 with replaces=10 and restarts=1
    app = TableApp()
    async with app.run_test(size=(200, 10)) as pilot:
        table = app.query_one(WorkerTable)
        table.update_workers([cluster_worker(10, "worker-0")])
        await pilot.pause()
        assert table.selected_pid == 10
        table.update_workers([cluster_worker(11, "worker-0", replaces=10, restarts=1)])
        await pilot.pause()
        assert table.order == [11]
        assert table.selected_pid == 11
        assert table.texts(11)["exit"] == "↻1"
        assert "↻1" in "".join(seg.text for seg in table.render_line(1))


async def test_a_restart_drops_the_old_processs_thread_rows() -> None:
    app = TableApp()
    async with app.run_test(size=(200, 12)) as pilot:
        table = app.query_one(WorkerTable)
        table.set_show_threads(True)
        thread = ThreadSample(13, "Dask-Worker", WorkerState.RUNNING, 50.0, 0)
        table.update_workers([cluster_worker(10, "worker-0", threads=(thread,))])
        await pilot.pause()
        assert table.order == [10, -13]
        table.action_cursor(1)  # on the thread's row: its process is selected
        assert table.selected_pid == 10
        table.update_workers([cluster_worker(11, "worker-0", replaces=10, restarts=1)])
        await pilot.pause()
        assert table.order == [11] and table.selected_pid == 11
        assert table.thread_keys(10) == []


async def test_use_columns_switches_the_set_and_drops_a_sort_key_it_lacks() -> None:
    app = TableApp()
    async with app.run_test(size=(200, 10)) as pilot:
        table = app.query_one(WorkerTable)
        table.update_workers([cluster_worker(10, "worker-0"), cluster_worker(20, "worker-1")])
        await pilot.pause()
        table.sort_by("managed")
        assert table.sort_key == "managed" and table.sort_reverse  # a measure: biggest first
        table.use_columns("process")
        await pilot.pause()
        assert table.columns is PROCESS
        assert (table.sort_key, table.sort_reverse) == ("pid", False)
        assert "Daemon" in header(table) and "Host" not in header(table)
        assert set(table.texts(10)) == set(PROCESS.keys)
        assert table.geometry.total == PROCESS.default_geometry.total
        table.sort_by("cpu")
        table.use_columns("dask")  # CPU% is in both: the sort stays
        assert (table.sort_key, table.sort_reverse) == ("cpu", True)
        assert table.texts(10)["host"] == "127.0.0.1"
        with pytest.raises(ValueError, match="no column set"):
            table.use_columns("gpu")


# -- the app ---------------------------------------------------------------------------------


async def test_t_retires_r_restarts_and_k_still_kills_in_a_cluster() -> None:
    source = ClusterSource()
    app = MptopApp(source)
    async with app.run_test(size=(120, 40)) as pilot:
        table = app.query_one(WorkerTable)
        await until(pilot, lambda: table.order == [101, 201])
        assert table.columns is DASK  # SourceInfo.columns
        assert "Host" in header(table) and "Managed" in header(table)
        await pilot.press("down", "t")
        await until(pilot, lambda: source.sent == [Retire(201)])
        await pilot.press("up", "r")
        await until(pilot, lambda: source.sent[-1:] == [Restart(101)])
        await pilot.press("k")
        await until(pilot, lambda: source.sent[-1:] == [Signal(101, signal.SIGKILL, EXIT_WAIT)])
        assert source.sent == [Retire(201), Restart(101), Signal(101, signal.SIGKILL, EXIT_WAIT)]
        # a failure is shown and logged; the app goes on
        source.fail = "the scheduler does not answer"
        await pilot.press("t")
        await until(pilot, lambda: "101: the scheduler does not answer" in log_text(app))
        assert app.is_running
        # t and r act here; terminate, terminate-all and rebuild are out of sight
        assert app.check_action("retire", ()) is True
        assert app.check_action("restart", ()) is True
        for action in ("terminate", "terminate_all", "rebuild"):
            assert app.check_action(action, ()) is False, action
        titles = {c.title for c in app.get_system_commands(app.screen)}
        assert {"Retire the selected worker", "Restart the selected worker"} <= titles
        assert "Terminate the selected worker (SIGTERM)" not in titles
        assert "Rebuild the channels" not in titles
        assert "Kill the selected worker (SIGKILL)" in titles


async def test_a_clusters_sort_keys_and_help_follow_its_columns() -> None:
    app = MptopApp(ClusterSource())
    async with app.run_test(size=(120, 40)) as pilot:
        table = app.query_one(WorkerTable)
        await until(pilot, lambda: table.order == [101, 201])
        await pilot.press("greater_than_sign", "greater_than_sign", "greater_than_sign")
        assert table.sort_key == "host" and "sort Host▲" in app.summary()
        await pilot.press("less_than_sign", "less_than_sign", "less_than_sign", "less_than_sign")
        assert table.sort_key == "out_bytes"  # round to the last column of the dask set
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        text = help_text(
            app.screen.disabled_keys, app.screen.why, app.screen.columns, app.screen.hidden
        )
        assert "- **Host**: the worker's host address" in text
        assert "- **Managed**: data the worker holds, by Dask's sizeof." in text
        assert "- **Daemon**" not in text
        assert "| `t` | retire the selected worker" in text
        assert "| `r` | restart the selected worker" in text
        assert "terminate the selected worker" not in text and "rebuild the channels" not in text
        assert "| `T` |" not in text and "| `k` | kill the selected worker" in text
        assert app.screen.query_one("#help", Static)


async def test_the_clusters_footer_fits_80_columns() -> None:
    app = MptopApp(ClusterSource())
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: app.query_one(WorkerTable).order == [101, 201])

        def footer() -> dict[str, Region]:
            return {k.description: k.region for k in app.screen.query(FooterKey)}

        await until(pilot, lambda: "Quit" in footer())
        keys = footer()
        assert "Retire" in keys and "Term" not in keys
        assert "Restart" not in keys  # r is in the help and the palette, as rebuild's r is
        assert keys["Quit"].right <= 80


async def test_without_a_cluster_retire_and_restart_are_out_of_sight() -> None:
    app = samples.view_only_app()  # neither RETIRE nor RESTART: footer, palette, help as ever
    async with app.run_test(size=(120, 40)) as pilot:
        samples.feed(app)
        await pilot.pause()
        assert app.query_one(WorkerTable).columns is PROCESS
        assert app.check_action("retire", ()) is False
        assert app.check_action("restart", ()) is False
        titles = {c.title for c in app.get_system_commands(app.screen)}
        assert "Retire the selected worker" not in titles
        assert "Restart the selected worker" not in titles
        assert "Terminate the selected worker (SIGTERM)" in titles  # greyed, as before
        assert "t" in app._disabled_keys() and "r" in app._disabled_keys()
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        assert app.screen.hidden >= {"retire", "restart"}
        assert app.screen.columns == PROCESS.columns


async def test_a_spawned_runs_t_and_r_are_not_disabled_by_the_cluster_keys() -> None:
    # the lesson's hints for t and r stay where terminate and rebuild act
    class Local(ClusterSource):
        def __init__(self) -> None:
            super().__init__()
            self.caps = frozenset({Cap.SIGNAL, Cap.REBUILD, Cap.ADD})

        def info(self) -> SourceInfo:
            return SourceInfo(kind="fake", title="fake", interval=1.0)

    app = MptopApp(Local())
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        assert app.query_one(WorkerTable).columns is PROCESS
        disabled = app._disabled_keys()
        assert "t" not in disabled and "r" not in disabled and "T" not in disabled
        assert app.check_action("terminate", ()) is True
        assert app.check_action("retire", ()) is False


async def test_kill_all_leaves_the_scheduler_row_out() -> None:
    """K on a cluster: the scheduler has a row but is no worker (SourceInfo.not_workers), so
    the question counts the workers only and only they are signalled (it said "all 3" with
    2 workers, and the scheduler's refusal followed)."""
    from mptop.tui.screens.confirm import ConfirmScreen

    class WithScheduler(ClusterSource):
        def __init__(self) -> None:
            super().__init__()
            self.workers = (*self.workers, cluster_worker(9, "scheduler"))

        def info(self) -> SourceInfo:
            return dataclasses.replace(super().info(), not_workers=frozenset({9}))

    source = WithScheduler()
    app = MptopApp(source)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: app.query_one(WorkerTable).order == [9, 101, 201])
        await pilot.press("K")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        assert isinstance(app.screen, ConfirmScreen)
        assert app.screen.question == "Kill (SIGKILL) all 2 live workers?"
        await pilot.press("y")
        await until(pilot, lambda: len(source.sent) == 2)
        assert {c.pid for c in source.sent if isinstance(c, Signal)} == {101, 201}
