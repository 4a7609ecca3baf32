"""SVG snapshots of the main, detail and help screens at 80x24 and 160x48, with 2 and 64 cores.

Fed by small committed recordings (``tests/ui/recordings/*.jsonl``: the
deterministic samples, fixed PIDs, times and loads, read back by the replay's
reader) and a UTC clock, never by live psutil data. Update the baselines after a deliberate change with
``pytest tests/ui/test_snapshots.py --snapshot-update`` and review the SVGs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from textual.pilot import Pilot

from mptop.tui.app import MptopApp
from mptop.tui.widgets.workers_table import WorkerTable
from tests.ui import samples

SIZES = [(80, 24), (160, 48)]
CORES = [2, 64]


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


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("cores", CORES, ids=lambda c: f"{c}cores")
def test_main_screen(snap_compare: Any, size: tuple[int, int], cores: int) -> None:
    assert snap_compare(samples.view_only_app(), terminal_size=size, run_before=prepare(cores))


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("cores", CORES, ids=lambda c: f"{c}cores")
def test_detail_screen(snap_compare: Any, size: tuple[int, int], cores: int) -> None:
    # worker-6 exited with 1 and left a traceback.
    run_before = prepare(cores, ("enter",), select=samples.FIRST_PID + 5)
    assert snap_compare(samples.view_only_app(), terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("cores", CORES, ids=lambda c: f"{c}cores")
def test_help_screen(snap_compare: Any, size: tuple[int, int], cores: int) -> None:
    assert snap_compare(
        samples.view_only_app(), terminal_size=size, run_before=prepare(cores, ("question_mark",))
    )
