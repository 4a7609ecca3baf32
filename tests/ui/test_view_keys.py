"""Every view key and the mouse, on a view-only app fed with deterministic snapshots (no processes)."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import AsyncIterator

import pytest
from textual.pilot import Pilot
from textual.widgets import Input

from mptop.tui.app import MptopApp, SnapshotReady
from mptop.tui.palette import Greyed
from mptop.tui.screens.detail import DetailScreen
from mptop.tui.screens.help import HelpScreen
from mptop.tui.widgets.cores import CoresPanel, max_rows_for, plan
from mptop.tui.widgets.workers_table import COLUMN_KEYS, COLUMN_STARTS, WorkerTable
from mptop.workers.snapshot import Snapshot, WorkerState
from tests.helpers import until
from tests.ui import samples

pytestmark = pytest.mark.timeout(30)
SIZE = (120, 40)
PIDS = [samples.FIRST_PID + k for k in range(6)]


@contextlib.asynccontextmanager
async def fed_app() -> AsyncIterator[tuple[MptopApp, Pilot[int]]]:
    """A view-only app at :data:`SIZE`, fed eight ticks of the deterministic samples."""
    app = samples.view_only_app()
    async with app.run_test(size=SIZE) as pilot:
        samples.feed(app)
        await pilot.pause()
        yield app, pilot


def table(app: MptopApp) -> WorkerTable:
    return app.query_one(WorkerTable)


async def test_sort_keys_and_invert() -> None:
    async with fed_app() as (app, pilot):
        assert table(app).order == PIDS
        await pilot.press("I")
        assert table(app).order == PIDS[::-1]
        await pilot.press("I", "greater_than_sign")
        assert table(app).sort_key == COLUMN_KEYS[1]
        await pilot.press("less_than_sign", "less_than_sign")
        assert table(app).sort_key == COLUMN_KEYS[-1]
        assert "sort Out B/s" in app.summary()


async def test_greater_than_reaches_cpu_busiest_first_and_exited_rows_stay_last() -> None:
    async with fed_app() as (app, pilot):
        t = table(app)
        await pilot.press(*["greater_than_sign"] * COLUMN_KEYS.index("cpu"))
        assert t.sort_key == "cpu" and t.sort_reverse  # like htop: the busiest on top
        for invert in (False, True):
            if invert:
                await pilot.press("I")
                assert not t.sort_reverse
            samples_ = [t.sample(p) for p in t.order]
            has_cpu = [w is not None and w.cpu_percent is not None for w in samples_]
            assert has_cpu == sorted(has_cpu, reverse=True)  # rows without CPU% last, both ways
            cpus = [w.cpu_percent for w in samples_ if w is not None and w.cpu_percent is not None]
            assert cpus == sorted(cpus, reverse=t.sort_reverse)


async def test_the_selected_row_is_one_bar_of_the_cursor_colour() -> None:
    async with fed_app() as (app, pilot):
        t = table(app)
        await pilot.press("down")  # a running worker, whose cells have colours of their own
        cursor = t.get_component_rich_style("worker-table--cursor")
        selected = list(t.render_line(1 + t.cursor_row))
        assert {seg.style.bgcolor for seg in selected if seg.style} == {cursor.bgcolor}
        other = list(t.render_line(1 + t.cursor_row + 1))
        assert cursor.bgcolor not in {seg.style.bgcolor for seg in other if seg.style}


async def test_header_click_sorts_and_second_click_inverts() -> None:
    async with fed_app() as (app, pilot):
        t = table(app)
        x = COLUMN_STARTS[COLUMN_KEYS.index("cpu")] + 3  # inside the CPU% header
        await pilot.click(WorkerTable, offset=(x, 0))
        assert t.sort_key == "cpu"
        running = [w for w in (t.sample(p) for p in t.order) if w and w.cpu_percent]
        cpus = [w.cpu_percent for w in running]
        assert cpus == sorted(cpus, reverse=True)  # type: ignore[type-var]  # busiest first, as htop
        await pilot.click(WorkerTable, offset=(x, 0))
        assert not t.sort_reverse
        running = [w for w in (t.sample(p) for p in t.order) if w and w.cpu_percent]
        cpus = [w.cpu_percent for w in running]
        assert cpus == sorted(cpus)  # type: ignore[type-var]
        assert t.column_at(1) == "pid"


async def test_click_selects_and_selection_follows_the_pid() -> None:
    app = samples.view_only_app()
    async with app.run_test(size=SIZE) as pilot:
        samples.feed(app, workers=12, ticks=1)
        await pilot.pause()
        await pilot.click(WorkerTable, offset=(3, 3))  # third row
        t = table(app)
        target = t.order[2]
        assert t.selected_pid == target
        t.sort_by("cpu")
        t.sort_reverse = True
        for tick in range(2, 6):  # CPU order changes every tick
            app.apply(samples.snapshot(2, 12, tick))
            await pilot.pause()
            assert t.selected_pid == target
            assert t.order[t.cursor_row] == target
        await pilot.press("down")
        assert t.selected_pid == t.order[t.cursor_row] != target


async def test_only_changed_rows_are_redrawn() -> None:
    app = samples.view_only_app()
    async with app.run_test(size=SIZE) as pilot:
        snap = samples.feed(app, ticks=2)
        await pilot.pause()
        t = table(app)
        before = {pid: t._strips[pid][1] for pid in PIDS}
        w0 = snap.workers[0]
        changed = dataclasses.replace(w0, cpu_percent=(w0.cpu_percent or 0) + 11)
        app.apply(dataclasses.replace(snap, workers=(changed, *snap.workers[1:])))
        await pilot.pause()
        after = {pid: t._strips[pid][1] for pid in PIDS}
        assert after[w0.pid] is not before[w0.pid]
        assert all(after[p] is before[p] for p in PIDS[1:])


async def test_filter_by_name_pid_and_state() -> None:
    async with fed_app() as (app, pilot):
        await pilot.press("slash")
        box = app.query_one("#filter", Input)
        assert box.has_focus
        await pilot.press(*"exited")
        assert table(app).order == PIDS[3:]
        await pilot.press("enter")
        assert table(app).has_focus
        assert table(app).order == PIDS[3:]
        assert "filter 'exited'" in app.summary()
        await pilot.press("slash")
        box.value = str(PIDS[1])
        await pilot.pause()
        assert table(app).order == [PIDS[1]]
        box.value = "WORKER-3"
        await pilot.pause()
        assert table(app).order == [PIDS[2]]
        box.value = "nobody"
        await pilot.pause()
        assert table(app).order == []
        line = table(app).render_line(1).text
        assert "no worker's PID, name or state contains 'nobody' (Esc clears)" in line
        await pilot.press("escape")
        assert table(app).order == PIDS
        assert not box.has_class("-shown")


async def test_exited_rows_stay_until_c() -> None:
    async with fed_app() as (app, pilot):
        t = table(app)
        assert t.texts(PIDS[3])["exit"] == "-9 SIGKILL"
        assert t.texts(PIDS[3])["state"] == "exited"
        assert "1 running, 1 sleeping, 1 stopped, 3 exited │" in app.summary()
        await pilot.press("c")
        assert t.order == PIDS[:3]
        assert "1 running, 1 sleeping, 1 stopped │" in app.summary()  # the rows left
        app.apply(samples.snapshot(2, 6, 9))  # the sampler still reports them
        await pilot.pause()
        assert t.order == PIDS[:3]
        assert "1 running, 1 sleeping, 1 stopped │" in app.summary()


async def test_space_freezes_and_catches_up() -> None:
    app = samples.view_only_app()
    async with app.run_test(size=SIZE) as pilot:
        samples.feed(app, ticks=1)
        await pilot.pause()
        await pilot.press("space")
        assert app.frozen and "FROZEN" in app.summary()
        app.post_message(_ready(samples.snapshot(2, 6, 5)))
        await pilot.pause()
        assert app.snapshot is not None and app.snapshot.time == samples.T0
        await pilot.press("space")
        assert not app.frozen
        assert app.snapshot is not None and app.snapshot.time == samples.T0 + 5


def _ready(snap: Snapshot) -> SnapshotReady:
    return SnapshotReady(snap)


async def test_minus_and_equals_change_the_interval_within_limits() -> None:
    app = samples.view_only_app()
    async with app.run_test(size=SIZE) as pilot:
        assert app.interval == 1.0
        await pilot.press("minus")
        assert app.interval == 2.0
        await pilot.press(*["minus"] * 5)
        assert app.interval == 10.0
        await pilot.press(*["equals_sign"] * 9)
        assert app.interval == 0.1
        assert "every 0.1 s" in app.summary()


async def test_enter_and_double_click_open_the_detail() -> None:
    async with fed_app() as (app, pilot):
        table(app).select_pid(PIDS[5])
        await pilot.press("enter")
        screen = app.screen
        assert isinstance(screen, DetailScreen)
        await until(pilot, lambda: screen.detail is not None)
        assert screen.detail is not None
        assert "ZeroDivisionError" in (screen.detail.traceback or "")
        await pilot.press("escape")
        assert not isinstance(app.screen, DetailScreen)
        await pilot.click(WorkerTable, offset=(3, 1), times=2)
        assert isinstance(app.screen, DetailScreen)
        assert app.screen.pid == PIDS[0]
        await pilot.press("q")  # closes the detail, does not quit
        assert app.is_running and not isinstance(app.screen, DetailScreen)


async def test_help_keys() -> None:
    app = samples.view_only_app()
    async with app.run_test(size=SIZE) as pilot:
        for key, close in (("question_mark", "escape"), ("f1", "f1"), ("question_mark", "q")):
            await pilot.press(key)
            assert isinstance(app.screen, HelpScreen)
            await pilot.press(close)
            assert not isinstance(app.screen, HelpScreen)


async def test_process_keys_are_disabled_without_a_supervisor() -> None:
    async with fed_app() as (app, pilot):
        for action in ("add", "terminate", "kill", "suspend", "pin", "terminate_all"):
            assert app.check_action(action, ()) is None
        await pilot.press("a", "plus", "t", "k", "s", "p", "d", "T", "K")
        assert app.screen is app.screen_stack[0]  # no confirm screen
        assert table(app).order == PIDS
        commands = {c.title: c for c in app.get_system_commands(app.screen)}
        kill_all = commands["Kill every live worker (SIGKILL)"]
        assert isinstance(kill_all, Greyed) and kill_all.help.startswith("K · asks first (disabled")
        assert not isinstance(commands["Freeze or thaw the display"], Greyed)
        assert "Step one tick back" not in commands  # nothing to play back: no playback keys


async def test_a_dialog_takes_the_keys_and_ctrl_c_still_quits() -> None:
    # while the detail screen is up, the main screen's keys neither act nor show
    async with fed_app() as (app, pilot):
        assert app.check_action("freeze", ()) is True
        await pilot.press("enter")
        assert isinstance(app.screen, DetailScreen)
        for action in ("freeze", "filter", "detail", "kill", "quit"):
            assert app.check_action(action, ()) is False, action
        await pilot.press("space", "slash")
        assert isinstance(app.screen, DetailScreen)  # no filter box, no freeze behind it
        assert "FROZEN" not in app.summary()
        await pilot.press("ctrl+c")
        await until(pilot, lambda: not app.is_running)
    assert app.return_code == 0


@pytest.mark.parametrize("key", ["q", "ctrl+c"])
async def test_quit_keys_view_only(key: str) -> None:
    app = samples.view_only_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press(key)
        await until(pilot, lambda: not app.is_running)
    assert app.return_code == 0


@pytest.mark.parametrize("size", [(80, 24), (160, 48)])
@pytest.mark.parametrize("cores", [1, 2, 8, 64, 256])
async def test_cores_panel_never_pushes_the_table_off(size: tuple[int, int], cores: int) -> None:
    app = samples.view_only_app()
    async with app.run_test(size=size) as pilot:
        samples.feed(app, cores=cores, workers=20, ticks=3)
        await pilot.pause()
        panel = app.query_one(CoresPanel)
        assert panel.size.height <= max_rows_for(size[1])
        assert table(app).size.height >= 4
        p = panel.layout_plan
        assert p.cols * p.rows >= cores
        if cores <= 2:
            assert p.mode == "wide"


async def test_resize_redraws() -> None:
    app = samples.view_only_app()
    async with app.run_test(size=(160, 48)) as pilot:
        samples.feed(app, cores=64, workers=20)
        await pilot.pause()
        wide = app.query_one(CoresPanel).layout_plan
        await pilot.resize_terminal(80, 24)
        await pilot.pause()
        small = app.query_one(CoresPanel).layout_plan
        assert (wide.mode, small.mode) == ("medium", "micro")
        assert table(app).size.height >= 4


def test_plan_layouts() -> None:
    assert plan(1, 78, 6).mode == "wide"
    assert plan(2, 78, 6) == plan(2, 78, 6)
    assert plan(64, 158, 16).mode == "medium"
    assert plan(256, 78, 6).mode == "micro"
    assert plan(256, 78, 6).rows <= 6


def test_states_are_words() -> None:
    snap = samples.snapshot(2, 6, 1)
    assert {w.state for w in snap.workers} >= {WorkerState.RUNNING, WorkerState.STOPPED}


async def test_left_and_right_scroll_by_whole_columns() -> None:
    app = samples.view_only_app()
    async with app.run_test(size=(80, 24)) as pilot:
        samples.feed(app)
        await pilot.pause()
        t = table(app)
        assert t.max_scroll_x > 0  # the table is wider than 80 columns
        stops = [b for b in t.scroll_stops if b > 0]  # a column right after the frozen Name
        await pilot.press("right")
        assert round(t.scroll_x) == stops[0]
        await pilot.press("right", "right")
        assert round(t.scroll_x) == stops[2]
        for _ in range(len(COLUMN_STARTS)):
            await pilot.press("right")
        assert round(t.scroll_x) == t.max_scroll_x  # the last columns in view, no further
        await pilot.press("left")
        assert round(t.scroll_x) < t.max_scroll_x
        for _ in range(len(COLUMN_STARTS)):
            await pilot.press("left")
        assert round(t.scroll_x) == 0


def test_every_key_has_a_palette_entry() -> None:
    # a binding added without its title and description would be missing from Ctrl+P silently
    from textual.binding import Binding

    from mptop.tui.palette import ENTRIES

    actions = {b.action for b in MptopApp.BINDINGS if isinstance(b, Binding)}
    assert actions - set(ENTRIES) == {"quit_now", "close_filter"}  # Ctrl+C and Esc: no command
    assert set(ENTRIES) <= actions
