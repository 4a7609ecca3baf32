"""The lesson panel on the main screen: text reflowed, figures first, the header never scrolled away."""

from __future__ import annotations

import tomllib
from importlib import resources

from mptop.tui.widgets.lesson import LessonPanel, reflow
from mptop.tui.widgets.summary import Summary
from mptop.tui.widgets.workers_table import WorkerTable
from tests.ui import samples


def scenario_lesson(name: str) -> str:
    text = resources.files("mptop.workers.scenarios").joinpath(f"{name}.toml").read_text()
    lesson: str = tomllib.loads(text)["lesson"]
    return lesson


def test_reflow_joins_plain_paragraphs_and_keeps_tables() -> None:
    lesson = scenario_lesson("start-methods")
    out = reflow(lesson).split("\n\n")
    assert len(out) == len(lesson.strip().split("\n\n"))
    first, table, last = out
    assert "\n" not in first and "\n" not in last  # the terminal wraps them at its width
    assert last.startswith("The figures on the panel's first line (now:) show")
    assert table == lesson.strip().split("\n\n")[1]  # the aligned list of methods, as written
    assert table.splitlines()[1].startswith("            state of every lock")


async def test_header_stays_at_80x24_with_the_lesson_and_figures_come_first() -> None:
    app = samples.view_only_app(lesson=scenario_lesson("pool"), lesson_title="pool")
    async with app.run_test(size=(80, 24)) as pilot:
        samples.feed(app)
        await pilot.pause()
        summary = app.query_one(Summary)
        assert summary.region.y == 0 and summary.region.height == 1
        assert app.screen.scroll_offset.y == 0
        assert not app.screen.allow_vertical_scroll  # nothing scrolls the header away
        panel = app.query_one(LessonPanel)
        assert str(panel.render()).startswith("now: worker: ")
        table = app.query_one(WorkerTable)
        assert table.region.height >= 4  # its header and three rows at least


async def test_lesson_figures_leave_out_rows_cleared_with_c() -> None:
    app = samples.view_only_app(lesson="A short lesson.")
    async with app.run_test(size=(120, 40)) as pilot:
        samples.feed(app)  # six workers, three of them exited
        await pilot.pause()
        panel = app.query_one(LessonPanel)
        assert "3/6 alive" in str(panel.render())
        await pilot.press("c")
        samples.feed(app, ticks=9)  # the sampler still reports the cleared ones
        await pilot.pause()
        assert "3/3 alive" in str(panel.render())
