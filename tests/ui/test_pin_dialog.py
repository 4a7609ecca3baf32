"""``p``: the affinity dialog picks a set of cores, as htop's ``a`` does; on a real worker, and
asked first where the processes are not mptop's."""

from __future__ import annotations

import psutil
import pytest
from textual.widgets import SelectionList, Static

from mptop.tui.app import MptopApp
from mptop.tui.screens.confirm import ConfirmScreen
from mptop.tui.screens.pin import EMPTY, PinScreen
from mptop.tui.widgets.body import EventLog
from mptop.tui.widgets.workers_table import WorkerTable
from mptop.workers.commands import Cap, Command, Pin, Unpin
from mptop.workers.source import SourceInfo
from tests.conftest import SourceFactory
from tests.helpers import until
from tests.ui import samples

pytestmark = pytest.mark.timeout(30)


def dialog(app: MptopApp) -> PinScreen:
    assert isinstance(app.screen, PinScreen)
    return app.screen


def checked(app: MptopApp) -> list[int]:
    return sorted(dialog(app).query_one(SelectionList).selected)


async def test_p_picks_cores_on_a_spawned_worker(make_source: SourceFactory) -> None:
    cores = psutil.cpu_count() or 1
    if cores < 2:
        pytest.skip("needs 2 cores to pick a set")
    source = make_source(count=1, workload="sleep")
    app = MptopApp(source)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: len(app.query_one(WorkerTable).order) == 1)
        pid = app.query_one(WorkerTable).order[0]
        ps = psutil.Process(pid)
        everything = ps.cpu_affinity()
        assert everything == list(range(cores))
        await pilot.press("p")
        await until(pilot, lambda: isinstance(app.screen, PinScreen))
        assert checked(app) == everything  # its affinity now
        labels = [str(o.prompt) for o in dialog(app).query_one(SelectionList).options]
        assert len(labels) == cores and sum("runs here now" in t for t in labels) <= 1
        assert all("% busy" in t for t in labels)  # each core's load, to pick an idle one
        # nothing checked: Enter refuses, says why, and the dialog stays
        await pilot.press("n", "enter")
        assert isinstance(app.screen, PinScreen)
        assert str(dialog(app).query_one("#problem", Static).content) == EMPTY
        # a core of the user's choice (not only the one it runs on, as p used to pin)
        await pilot.press("home", "down", "space")
        assert checked(app) == [1]
        await pilot.press("enter")
        await until(pilot, lambda: not isinstance(app.screen, PinScreen))
        await until(pilot, lambda: ps.cpu_affinity() == [1])
        table = app.query_one(WorkerTable)
        await until(pilot, lambda: table.texts(pid)["core"].strip() == "1*")
        # a set of two: the next p opens with cpu1 checked; check cpu0 too
        await pilot.press("p")
        await until(pilot, lambda: isinstance(app.screen, PinScreen))
        assert checked(app) == [1]
        await pilot.press("home", "space", "enter")
        await until(pilot, lambda: ps.cpu_affinity() == ([0, 1] if cores > 2 else everything))
        # the next p opens with that set; c: only the core it runs on; Enter pins it there
        await pilot.press("p")
        await until(pilot, lambda: isinstance(app.screen, PinScreen))
        assert checked(app) == [0, 1]
        await pilot.press("c", "enter")
        await until(pilot, lambda: len(ps.cpu_affinity()) == 1)
        core = ps.cpu_affinity()[0]
        await until(
            pilot, lambda: app.query_one(WorkerTable).texts(pid)["core"].strip() == f"{core}*"
        )
        # Esc leaves it as it is
        await pilot.press("p")
        await until(pilot, lambda: isinstance(app.screen, PinScreen))
        assert checked(app) == [core]
        await pilot.press("a", "escape")
        await until(pilot, lambda: not isinstance(app.screen, PinScreen))
        await app.workers.wait_for_complete()
        assert ps.cpu_affinity() == [core]
        # every core checked: unpinned
        await pilot.press("p")
        await until(pilot, lambda: isinstance(app.screen, PinScreen))
        await pilot.press("a", "enter")
        await until(pilot, lambda: ps.cpu_affinity() == everything)
        await until(pilot, lambda: not app.query_one(WorkerTable).texts(pid)["core"].endswith("*"))


class ForeignSource(samples.SampleSource):
    """The deterministic samples as processes mptop did not start (an attached tree's rule), with
    ``Cap.PIN``; the commands it gets are kept, not carried out."""

    caps = frozenset({Cap.PIN})

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[Command] = []

    def info(self) -> SourceInfo:
        return SourceInfo(kind="attach", title="foreign", interval=1.0, confirm_signals=True)

    def send(self, command: Command) -> str | None:
        self.sent.append(command)
        return None


async def test_p_asks_first_where_mptop_did_not_start_the_process() -> None:
    source = ForeignSource()
    app = MptopApp(source, clock=samples.utc_clock)
    async with app.run_test(size=(120, 40)) as pilot:
        samples.feed(app)
        await pilot.pause()
        pid = app.query_one(WorkerTable).order[0]
        await pilot.press("p")
        await until(pilot, lambda: isinstance(app.screen, PinScreen))
        await pilot.press("n", "home", "space", "enter")  # core 0 only
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        question = app.screen
        assert isinstance(question, ConfirmScreen)
        assert (
            "Set the affinity (core 0) of" in question.question
            and "did not start" in question.question
        )
        await pilot.press("n")
        await app.workers.wait_for_complete()
        assert source.sent == []
        await pilot.press("p")
        await until(pilot, lambda: isinstance(app.screen, PinScreen))
        await pilot.press("a", "enter", "y")  # every core: unpin
        await until(pilot, lambda: source.sent == [Unpin(pid)])
        await pilot.press("p")
        await until(pilot, lambda: isinstance(app.screen, PinScreen))
        await pilot.press("n", "home", "space", "enter", "y")
        await until(pilot, lambda: source.sent[-1:] == [Pin(pid, (0,))])
        # an exited process has no core to run on: no dialog, a warning
        table = app.query_one(WorkerTable)
        gone = next(p for p in table.order if (w := table.sample(p)) is not None and not w.alive)
        table.select_pid(gone)
        await pilot.press("p")
        await app.workers.wait_for_complete()
        assert not isinstance(app.screen, PinScreen)
        assert any(f"{gone}: has exited" in line for line in app.query_one(EventLog).events)
