"""The app under Textual's Pilot, on real worker processes."""

from __future__ import annotations

import time

import psutil
import pytest
from textual.binding import Binding

from mptop.tui.app import MptopApp
from mptop.tui.palette import key_text
from mptop.tui.screens.confirm import ConfirmScreen
from mptop.tui.screens.detail import DetailScreen
from mptop.tui.screens.help import HelpScreen, help_text
from mptop.tui.widgets.workers_table import WorkerTable
from mptop.workers.spec import DEFAULT_NICE
from tests.conftest import SourceFactory
from tests.helpers import alive, until

pytestmark = pytest.mark.timeout(60)


def table_pids(app: MptopApp) -> list[int]:
    return app.query_one(WorkerTable).order


def cell(app: MptopApp, pid: int, column: str) -> str:
    return app.query_one(WorkerTable).texts(pid)[column].strip()


async def test_add_key_adds_a_row_with_a_new_pid(make_source: SourceFactory) -> None:
    source = make_source(count=1)
    sup = source.supervisor
    app = MptopApp(source)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: len(table_pids(app)) == 1)
        before = set(table_pids(app))
        await pilot.press("a")
        await until(pilot, lambda: len(table_pids(app)) == 2)
        (new,) = set(table_pids(app)) - before
        assert new in sup.alive_pids()
        await until(pilot, lambda: cell(app, new, "state") in ("running", "sleeping"))


async def test_kill_key_shows_exit_code_minus_9(make_source: SourceFactory) -> None:
    source = make_source(count=2)
    sup = source.supervisor
    app = MptopApp(source)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: len(table_pids(app)) == 2)
        await pilot.press("down")
        target = app.selected_pid()
        assert target == table_pids(app)[1]
        await pilot.press("k")
        await until(pilot, lambda: cell(app, target, "exit").startswith("-9"))
        assert cell(app, target, "exit") == "-9 SIGKILL"
        assert cell(app, target, "state") == "exited"
        other = table_pids(app)[0]
        assert other in sup.alive_pids()


async def test_terminate_key_and_click_selection(make_source: SourceFactory) -> None:
    source = make_source(count=2)
    app = MptopApp(source)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: len(table_pids(app)) == 2)
        table = app.query_one(WorkerTable)
        # click the second data row (row 0 is the header)
        await pilot.click(WorkerTable, offset=(3, 2))
        assert table.cursor_row == 1
        target = table_pids(app)[1]
        await pilot.press("t")
        await until(pilot, lambda: cell(app, target, "exit").startswith("-15"))
        assert cell(app, target, "exit") == "-15 SIGTERM"


async def test_quit_key_leaves_no_child(make_source: SourceFactory) -> None:
    source = make_source(count=2)
    sup = source.supervisor
    app = MptopApp(source)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: len(table_pids(app)) == 2)
        pids = table_pids(app)
        assert alive(pids) == pids
        await pilot.press("q")
        await until(pilot, lambda: not app.is_running, timeout=5)
    assert app.return_code == 0
    assert alive(pids) == []
    assert alive(sup.helper_pids[:1]) == []  # the forkserver is gone too


async def test_help_screen_lists_every_key(make_source: SourceFactory) -> None:
    source = make_source(count=1)
    app = MptopApp(source)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        for binding in MptopApp.BINDINGS:
            assert isinstance(binding, Binding)
            for key in binding.key.split(","):
                shown = key_text(key)
                assert f"`{shown}`" in help_text(), shown
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)


async def test_plus_adds_and_d_flips_the_daemon_flag(make_source: SourceFactory) -> None:
    source = make_source(count=1)
    sup = source.supervisor
    app = MptopApp(source)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: len(table_pids(app)) == 1)
        await pilot.press("d")
        await until(pilot, lambda: "new: non-daemon" in app.summary())
        assert sup.daemon_default is False
        await pilot.press("plus")
        await until(pilot, lambda: len(table_pids(app)) == 2)
        new = table_pids(app)[1]
        assert cell(app, new, "daemon") == "no"
        await pilot.press("d")
        await until(pilot, lambda: sup.daemon_default is True)


async def test_s_suspends_and_resumes(make_source: SourceFactory) -> None:
    source = make_source(count=1)
    app = MptopApp(source)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: len(table_pids(app)) == 1)
        pid = table_pids(app)[0]
        await pilot.press("s")
        await until(pilot, lambda: cell(app, pid, "state") == "stopped")
        await pilot.press("s")
        await until(pilot, lambda: cell(app, pid, "state") in ("running", "sleeping"))


@pytest.mark.parametrize(("key", "code"), [("T", "-15"), ("K", "-9")])
async def test_all_keys_ask_then_hit_every_worker(
    make_source: SourceFactory, key: str, code: str
) -> None:
    source = make_source(count=2)
    sup = source.supervisor
    app = MptopApp(source)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: len(table_pids(app)) == 2)
        pids = table_pids(app)
        await pilot.press(key)
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("n")
        assert not isinstance(app.screen, ConfirmScreen)
        assert sorted(sup.alive_pids()) == sorted(pids)
        await pilot.press(key, "y")
        for pid in pids:
            await until(pilot, lambda pid=pid: cell(app, pid, "exit").startswith(code))
        assert sup.alive_pids() == []


async def test_enter_shows_the_detail_of_a_live_worker(make_source: SourceFactory) -> None:
    source = make_source(count=1)
    sup = source.supervisor
    app = MptopApp(source)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: len(table_pids(app)) == 1)
        pid = table_pids(app)[0]
        await pilot.press("enter")
        screen = app.screen
        assert isinstance(screen, DetailScreen)
        await until(pilot, lambda: screen.detail is not None and screen.detail.stdout_tail != "")
        assert screen.detail is not None
        assert screen.detail.ppid is not None
        assert screen.detail.affinity
        assert screen.detail.nice == max(psutil.Process().nice(), DEFAULT_NICE)
        assert f"pid {pid}" in screen.detail.stdout_tail
        ppid, cmdline = screen.detail.ppid, screen.detail.cmdline
        sup.kill(pid)  # it dies while its detail is open: what psutil read while it ran stays
        # the detail (read on its own) may learn of the death a tick before the row's exit code
        await until(
            pilot,
            lambda: (
                screen.detail is not None
                and screen.detail.last_seen
                and screen.sample.exitcode is not None
            ),
        )
        assert screen.sample.exitcode == -9
        assert (screen.detail.ppid, screen.detail.cmdline) == (ppid, cmdline)
        assert screen.detail.affinity
        await pilot.press("escape")


async def test_ctrl_c_quits_and_leaves_no_child(make_source: SourceFactory) -> None:
    source = make_source(count=1)
    app = MptopApp(source)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: len(table_pids(app)) == 1)
        pids = table_pids(app)
        await pilot.press("ctrl+c")
        await until(pilot, lambda: not app.is_running, timeout=5)
    assert alive(pids) == []


@pytest.mark.timeout(150)
async def test_stalled_queue_ui_stays_responsive_r_rebuilds_q_is_quick() -> None:
    """Kill workers mid-transfer (1 MiB tasks) until the tasks Queue is stuck: the UI answers
    keys, marks the channel STALLED, `r` brings the traffic back, and quit takes under 3 s."""
    from mptop.tui.screens.help import HelpScreen as Help
    from mptop.workers.spawn_source import SpawnSource
    from mptop.workers.spec import Scenario, WorkerSpec

    scenario = Scenario.simple(
        2, WorkerSpec(workload="sleep", task_seconds=0.001), message_size=1 << 20, interval=0.2
    )
    source = SpawnSource(scenario)
    sup = source.supervisor
    app = MptopApp(source)
    started: list[int] = []
    try:
        async with app.run_test(size=(160, 48)) as pilot:

            def tasks() -> object:
                snap = app.snapshot
                return None if snap is None else next(c for c in snap.channels if c.name == "tasks")

            await until(pilot, lambda: len(sup.alive_pids()) == 2)
            started += sup.alive_pids()
            deadline = time.monotonic() + 120  # each kill stalls the Queue with some chance
            while not getattr(tasks(), "stalled", False):
                assert time.monotonic() < deadline, "no stall after killing workers for 120 s"
                app.query_one(WorkerTable).select_pid(sup.alive_pids()[0])
                await pilot.press("k")
                try:
                    await until(pilot, lambda: getattr(tasks(), "stalled", False), timeout=1.5)
                except AssertionError:
                    await pilot.press("a")  # the lock was free: a fresh consumer, try again
                    await until(pilot, lambda: len(sup.alive_pids()) >= 2)
                started += sup.alive_pids()
            # stalled: keys are still answered at once
            t0 = time.monotonic()
            await pilot.press("question_mark")
            assert isinstance(app.screen, Help) and time.monotonic() - t0 < 1.0
            await pilot.press("escape")
            await pilot.press("r")
            await until(pilot, lambda: getattr(tasks(), "generation", 1) == 2, timeout=10)
            await until(pilot, lambda: (getattr(tasks(), "msgs_per_s", 0) or 0) > 0, timeout=10)
            started += sup.alive_pids()
            t0 = time.monotonic()
            await pilot.press("q")
            await until(pilot, lambda: not app.is_running, timeout=5)
            assert time.monotonic() - t0 < 3.0
        assert alive(started) == []
    finally:
        source.close()


async def test_h_shows_each_workers_threads_as_rows_matching_proc(
    make_source: SourceFactory,
) -> None:
    import os

    source = make_source(count=1, workload="threads:3")
    app = MptopApp(source)
    async with app.run_test(size=(140, 40)) as pilot:
        table = app.query_one(WorkerTable)
        await until(pilot, lambda: len(table_pids(app)) == 1)
        (pid,) = table_pids(app)
        assert table.thread_keys(pid) == []
        await pilot.press("H")

        def rows_match_proc() -> bool:
            tids = sorted(int(t) for t in os.listdir(f"/proc/{pid}/task"))
            # 3 busy threads, the parent guard and the main thread
            return len(tids) >= 5 and [-k for k in table.thread_keys(pid)] == tids

        await until(pilot, rows_match_proc, timeout=15)
        keys = table.thread_keys(pid)
        assert table_pids(app)[: 1 + len(keys)] == [pid, *keys]  # right under their process
        assert table.texts(keys[0])["pid"].strip() == f"└{pid}"  # the main thread: TID = PID
        await until(pilot, lambda: any(table.texts(k)["state"].strip() == "running" for k in keys))
        table.select_pid(keys[1])
        assert app.selected_pid() == pid  # a thread's row acts on its process
        await pilot.press("H")
        await until(pilot, lambda: table_pids(app) == [pid])


async def test_mptop_itself_is_a_dimmed_last_row_no_key_acts_on(
    make_source: SourceFactory,
) -> None:
    import os

    source = make_source(count=1, workload="sleep")
    app = MptopApp(source)
    async with app.run_test(size=(140, 30)) as pilot:
        table = app.query_one(WorkerTable)
        await until(pilot, lambda: len(table_pids(app)) == 1)
        await until(pilot, lambda: app.snapshot is not None and app.snapshot.mptop is not None)
        assert os.getpid() not in table_pids(app)  # not a worker: in no sort, never selected
        line = "".join(seg.text for seg in table.render_line(2))  # header, the worker, mptop
        assert f"{os.getpid()}" in line and "mptop (this)" in line
        await pilot.press("end")
        assert app.selected_pid() == table_pids(app)[0]  # End stops at the last worker
