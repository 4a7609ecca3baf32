"""The output view (``o``): the tail of a process's output, following new lines unless scrolled up."""

from __future__ import annotations

import pytest
from textual.widgets import Log, Static

from mptop.tui.app import MptopApp
from mptop.tui.screens.output import OutputScreen
from mptop.workers.commands import CommandError
from mptop.workers.record import read_recording
from mptop.workers.replay_source import ReplaySource
from tests.helpers import until
from tests.ui import samples
from tests.ui.make_recordings import path

pytestmark = pytest.mark.timeout(60)


async def test_o_shows_the_last_lines_and_follows_new_ones() -> None:
    app = samples.view_only_app()
    source = app.source
    assert isinstance(source, samples.SampleSource)
    async with app.run_test(size=(100, 30)) as pilot:
        samples.feed(app, workers=4, ticks=1)
        await pilot.pause()
        await pilot.press("o")
        screen = app.screen
        assert isinstance(screen, OutputScreen)
        await until(pilot, lambda: bool(screen.query(Log)) and screen.query_one(Log).lines)
        log = screen.query_one(Log)
        assert log.lines[0] == "line 101" and log.lines[-1] == "line 600"  # the last 500
        heading = str(screen.query_one("#heading-0", Static).render())
        assert "stdout of worker-" in heading and "/tmp/out" in heading
        assert log.is_vertical_scroll_end  # opens at the end, like tail

        source.output_lines.append("line 601")
        samples.feed(app, workers=4, ticks=1)  # each snapshot re-reads it
        await until(pilot, lambda: log.lines[-1] == "line 601")
        await pilot.pause()
        assert log.is_vertical_scroll_end  # followed

        log.scroll_home(animate=False, immediate=True)
        source.output_lines.append("line 602")
        samples.feed(app, workers=4, ticks=1)
        await until(pilot, lambda: log.lines[-1] == "line 602")
        await pilot.pause()
        assert log.scroll_y == 0  # scrolled up: it stays there

        await pilot.press("escape")
        assert not isinstance(app.screen, OutputScreen)


async def test_a_replay_has_no_output_and_says_why() -> None:
    app = MptopApp(ReplaySource(read_recording(path(2))))
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        assert app.check_action("output", ()) is False  # hidden in a replay: no Cap.OUTPUT
    with pytest.raises(CommandError, match="snapshots only, not the output"):
        app.source.output(1)
