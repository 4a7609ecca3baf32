"""The lesson panel: text reflowed, figures fixed at its top, the text scrolls, hints for keys the
run cannot act on left out; the header never scrolled away."""

from __future__ import annotations

import tomllib
from importlib import resources

from textual.events import MouseScrollDown
from textual.geometry import Region

from mptop.tui.app import MptopApp
from mptop.tui.widgets.lesson import LessonPanel, reflow
from mptop.tui.widgets.summary import Summary
from mptop.tui.widgets.workers_table import WorkerTable
from mptop.workers.commands import Cap
from tests.ui import samples


def scenario_lesson(name: str) -> str:
    text = resources.files("mptop.workers.scenarios").joinpath(f"{name}.toml").read_text()
    lesson: str = tomllib.loads(text)["lesson"]
    return lesson


def visible_rows(panel: LessonPanel) -> list[str]:
    """The lesson text's lines now inside the panel's viewport (the part not scrolled away)."""
    body = panel.query_one("#lesson-text")
    width = body.content_region.width
    strips = body.render_lines(Region(0, 0, width, body.virtual_size.height))
    top = round(panel.scroll_y)
    return [s.text for s in strips[top : top + panel.scrollable_content_region.height]]


def test_reflow_joins_plain_paragraphs_keeps_tables_and_one_line_per_hint() -> None:
    lesson = scenario_lesson("start-methods")
    out = reflow(lesson).split("\n\n")
    assert len(out) == len(lesson.strip().split("\n\n"))
    first, table = out[:2]
    assert "\n" not in first and all("\n" not in p for p in out[2:])  # the terminal wraps them
    assert table == lesson.strip().split("\n\n")[1]  # the aligned list of methods, as written
    assert table.splitlines()[1].startswith("            It copies the state of every lock")
    hints = reflow(scenario_lesson("terminate-danger")).split("\n\n")[2].split("\n")
    assert hints[0] == "Try:" and len(hints) == 3  # each hint whole on one line, indented
    assert hints[1].startswith("  t on a worker: ") and hints[1].endswith("a adds one)")


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
        assert panel.figures_text().startswith("now: worker: ")
        now = panel.query_one("#lesson-now")
        assert now.region.y == panel.region.y + 1  # under the border, above the text
        table = app.query_one(WorkerTable)
        assert table.region.height >= 4  # its header and three rows at least


async def test_the_lesson_panel_scrolls_and_its_figures_stay() -> None:
    # terminate-danger's instructions were cut at 80x24 (4 lines shown, no way to scroll)
    app = samples.view_only_app(lesson=scenario_lesson("terminate-danger"), lesson_title="t-d")
    async with app.run_test(size=(80, 24)) as pilot:
        samples.feed(app)
        await pilot.pause()
        panel = app.query_one(LessonPanel)
        now = panel.query_one("#lesson-now")
        fixed = now.region
        assert panel.max_scroll_y > 0, "the text does not fit at 80x24: it must scroll"
        assert "Tab then ↑↓ scroll, Esc back" in str(panel.border_title)
        assert not any("Try:" in row for row in visible_rows(panel))
        await pilot.press("tab")  # from the worker table to the lesson
        assert app.focused is panel
        await pilot.press("down")
        await pilot.pause()
        assert panel.scroll_y == 1 and now.region == fixed  # the text moved, the figures did not
        for _ in range(20):
            if any("Try:" in row for row in visible_rows(panel)):
                break
            await pilot.press("pagedown")
            await pilot.pause()
        assert any("Try:" in row for row in visible_rows(panel)), visible_rows(panel)
        assert now.region == fixed and panel.figures_text().startswith("now: ")
        await pilot.press("home", "escape")  # back to the top, and Esc back to the table
        await pilot.pause()
        assert panel.scroll_y == 0 and isinstance(app.focused, WorkerTable)
        # the mouse wheel scrolls it without the focus
        x, y = panel.region.x + 2, panel.region.bottom - 1
        panel.post_message(MouseScrollDown(panel, x, y, 0, 0, 0, False, False, False))
        await pilot.pause()
        assert panel.scroll_y > 0 and now.region == fixed
        # Esc from the lesson keeps a filter typed before (only from the table does it clear it)
        await pilot.press("slash", "w", "o", "r", "enter", "tab", "escape")
        await pilot.pause()
        assert isinstance(app.focused, WorkerTable)
        assert app.query_one(WorkerTable).filter_text == "wor"


async def test_hints_for_keys_the_run_cannot_act_on_are_left_out() -> None:
    # the sample source is view-only: a, t, k, s, r do nothing there (a replay is the same)
    app = samples.view_only_app(lesson=scenario_lesson("pool"), lesson_title="pool")
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        assert not app.has("kill") and not app.has("add")
        panel = app.query_one(LessonPanel)
        assert "k on a worker" not in panel.lesson and "a: add a worker" not in panel.lesson
        assert "Try: (k, a left out: " in panel.lesson, panel.lesson
        assert "ONE shared task Queue" in panel.lesson  # the explanation itself stays whole


async def test_a_live_run_keeps_every_hint() -> None:
    class Live(samples.SampleSource):
        caps = frozenset(Cap)  # every capability: a live run

    lesson = scenario_lesson("terminate-danger")
    app = MptopApp(Live(lesson, "t-d"), clock=samples.utc_clock)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        panel = app.query_one(LessonPanel)
        assert "  t on a worker: terminate it" in panel.lesson
        assert "  r: rebuild the channels" in panel.lesson and "left out" not in panel.lesson


async def test_lesson_figures_leave_out_rows_cleared_with_c() -> None:
    app = samples.view_only_app(lesson="A short lesson.")
    async with app.run_test(size=(120, 40)) as pilot:
        samples.feed(app)  # six workers, three of them exited
        await pilot.pause()
        panel = app.query_one(LessonPanel)
        assert "3/6 alive" in panel.figures_text()
        await pilot.press("c")
        samples.feed(app, ticks=9)  # the sampler still reports the cleared ones
        await pilot.pause()
        assert "3/3 alive" in panel.figures_text()
