"""SVG snapshots of the main, detail and help screens at 80x24, 120x40 and 200x50, with 2 and 64 cores.

Fed by small committed recordings (``tests/ui/recordings/*.jsonl``: the
deterministic samples, fixed PIDs, times and loads, read back by the replay's
reader) and a UTC clock, never by live psutil data. Also: a long lesson at the
smallest and the largest size (nothing pushed off), and the table scrolled
sideways at 80x24 (PID, PPID and Name stay). Update the baselines after a
deliberate change with ``pytest tests/ui/test_snapshots.py --snapshot-update``
and review the SVGs (``python -m tests.ui.snapshot_text`` prints their text).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from textual.pilot import Pilot

from mptop.tui.app import MptopApp
from mptop.tui.widgets.workers_table import WorkerTable
from tests.ui import samples

SIZES = [(80, 24), (120, 40), (200, 50)]
CORES = [2, 64]
# A lesson as long as the longest bundled ones (start-methods: a table of three methods), fixed
# here so that a change to a bundled lesson's words does not change these snapshots.
LESSON = """
Three groups run the same worker, each started another way. The panel's first line gives
each method's median time from Process.start() to the worker's first line.

fork        copies the parent process as it is (copy-on-write): the fastest, a few ms.
            It copies the state of every lock that the parent's other threads held too:
            with a threaded parent a child can deadlock.
forkserver  asks a server process, started once, to fork a copy of itself; the child
            then imports the parent's __main__ module again, as spawn does.
spawn       starts a fresh interpreter, which imports the __main__ module and all the
            worker needs, then unpickles its arguments: the slowest.

That re-import is why a script that starts processes puts its work under
if __name__ == "__main__": without it, every forkserver or spawn child would run the
whole script again.

Try:
  Enter on a worker: its start method, PPID and command line.
  k on a worker: it exits with -9, and the Events say so.
"""


def prepare(
    cores: int, press: tuple[str, ...] = (), select: int | None = None
) -> Callable[[Pilot[Any]], Any]:
    async def run_before(pilot: Pilot[Any]) -> None:
        app = pilot.app
        assert isinstance(app, MptopApp)
        samples.feed_recording(app, cores)
        await pilot.pause()
        if select is not None:
            assert app.query_one(WorkerTable).select_pid(select)
        if press:
            await pilot.press(*press)
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()

    return run_before


def size_id(size: tuple[int, int]) -> str:
    return f"{size[0]}x{size[1]}"


@pytest.mark.parametrize("size", SIZES, ids=size_id)
@pytest.mark.parametrize("cores", CORES, ids=lambda c: f"{c}cores")
def test_main_screen(snap_compare: Any, size: tuple[int, int], cores: int) -> None:
    assert snap_compare(samples.view_only_app(), terminal_size=size, run_before=prepare(cores))


@pytest.mark.parametrize("size", SIZES, ids=size_id)
@pytest.mark.parametrize("cores", CORES, ids=lambda c: f"{c}cores")
def test_detail_screen(snap_compare: Any, size: tuple[int, int], cores: int) -> None:
    # worker-6 exited with 1 and left a traceback.
    run_before = prepare(cores, ("enter",), select=samples.FIRST_PID + 5)
    assert snap_compare(samples.view_only_app(), terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES, ids=size_id)
def test_help_screen(snap_compare: Any, size: tuple[int, int]) -> None:
    assert snap_compare(
        samples.view_only_app(), terminal_size=size, run_before=prepare(2, ("question_mark",))
    )


@pytest.mark.parametrize("size", [SIZES[0], SIZES[-1]], ids=size_id)
def test_lesson_screen(snap_compare: Any, size: tuple[int, int]) -> None:
    app = samples.view_only_app(LESSON, "start-methods")
    assert snap_compare(app, terminal_size=size, run_before=prepare(2))


def test_scrolled_sideways(snap_compare: Any) -> None:
    # three columns to the right: State, Exit and CPU% gone, PID, PPID and Name in place
    run_before = prepare(2, ("right", "right", "right"))
    assert snap_compare(samples.view_only_app(), terminal_size=(80, 24), run_before=run_before)
