"""The detail screen: the facts first and the command line last, and what it keeps of a worker
that exits while it is open (psutil then finds nothing)."""

from __future__ import annotations

import dataclasses
import os

from rich.console import Console
from textual.widgets import Static

from mptop.tui.screens.detail import DetailScreen, keep_last_seen, render_detail
from mptop.tui.widgets.workers_table import WorkerTable
from tests.ui import samples

LIVE = samples.snapshot(2, 6, 4).workers[0]


def test_facts_of_a_worker_that_died_are_kept_and_marked() -> None:
    old = samples.detail(LIVE)
    gone = dataclasses.replace(
        samples.detail(LIVE), ppid=None, cmdline=(), affinity=None, threads=None, nice=None
    )
    kept = keep_last_seen(gone, old)
    assert kept.last_seen
    assert (kept.ppid, kept.cmdline, kept.affinity, kept.threads, kept.nice) == (
        old.ppid,
        old.cmdline,
        old.affinity,
        old.threads,
        old.nice,
    )
    # and again at the next tick: the kept facts carry on
    assert keep_last_seen(gone, kept) == kept


def test_a_read_that_raced_with_the_exit_keeps_them_too() -> None:
    """The snapshot still says alive, but psutil already found nothing (CI saw this)."""
    old = samples.detail(LIVE)
    raced = dataclasses.replace(old, ppid=None, cmdline=(), affinity=None, threads=None)
    kept = keep_last_seen(raced, old)
    assert kept.last_seen and kept.ppid == old.ppid and kept.affinity == old.affinity


def test_a_live_read_or_another_pid_is_left_alone() -> None:
    old = samples.detail(LIVE)
    assert keep_last_seen(old, old) is old
    other = samples.detail(samples.snapshot(2, 6, 4).workers[1])
    gone = dataclasses.replace(other, ppid=None)
    assert keep_last_seen(gone, old) is gone
    assert keep_last_seen(gone, None) is gone


async def test_the_facts_come_first_and_the_command_line_last() -> None:
    """A forkserver child's command line holds its parent's whole sys.path: it used to open the
    screen with 6-8 lines before the state, the exit code and the CPU."""
    sys_path = [f"/opt/venv/lib/python3.11/site-packages/pkg{i}" for i in range(12)]
    cmdline = (
        "/usr/bin/python3",
        "-c",
        f"from multiprocessing.forkserver import main; main(8, 9, ['__main__'], "
        f"**{{'sys_path': {sys_path!r}}})",
    )
    live = dataclasses.replace(samples.detail(LIVE), cmdline=cmdline)
    grid = Console(width=100, record=True, file=open(os.devnull, "w"))  # noqa: SIM115
    grid.print(render_detail(LIVE, live, samples.T0, 2, samples.utc_clock))
    labels = [line.split("  ")[0] for line in grid.export_text().splitlines()]
    assert labels[:5] == ["PID", "PPID", "Name", "Workload", "State"]
    assert "Command line" not in labels and not any("sys_path" in line for line in labels)

    app = samples.view_only_app()
    async with app.run_test(size=(100, 40)) as pilot:
        samples.feed(app, workers=6, ticks=2)
        await pilot.pause()
        app.query_one(WorkerTable).select_pid(LIVE.pid)
        await pilot.press("enter")
        await app.workers.wait_for_complete()
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, DetailScreen)
        shown = [s.id for s in screen.query(Static) if s.display and s.id]
        assert shown == ["facts", "stacks", "stdout", "stderr", "cmdline"]  # no traceback: none

        await pilot.press("escape")

        app.query_one(WorkerTable).select_pid(samples.FIRST_PID + 5)  # exited with 1, a traceback
        await pilot.press("enter")
        await app.workers.wait_for_complete()
        await pilot.pause()
        shown = [s.id for s in app.screen.query(Static) if s.display and s.id]
        assert shown[:3] == ["facts", "traceback-title", "traceback"]  # why it exited, first


def test_a_process_gone_before_its_detail_was_first_read_shows_the_table_s_ppid() -> None:
    """No earlier read to keep facts from (the detail opened on an exited row): the PPID is the
    one the table shows, not a dash."""
    gone = dataclasses.replace(samples.detail(LIVE), ppid=None)
    row = dataclasses.replace(LIVE, ppid=4242)
    grid = Console(width=100, record=True, file=open(os.devnull, "w"))  # noqa: SIM115
    grid.print(render_detail(row, gone, samples.T0, 2, samples.utc_clock))
    ppid = [line for line in grid.export_text().splitlines() if line.startswith("PPID")]
    assert [line.split() for line in ppid] == [["PPID", "4242"]]
