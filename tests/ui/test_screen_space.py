"""The main screen uses its space: panels as tall as their rows need, the event log the rest, nothing
pushed off; PID, PPID and Name stay in place when the table scrolls sideways; Name widens to its names.

Driven by the deterministic samples (tests/ui/samples.py), no process.
"""

from __future__ import annotations

import dataclasses

from textual.widgets import Log

from mptop.tui.app import MptopApp
from mptop.tui.widgets.body import Body, Claim, share_rows
from mptop.tui.widgets.channels_table import ChannelTable
from mptop.tui.widgets.lesson import LessonPanel
from mptop.tui.widgets.summary import process_counts
from mptop.tui.widgets.workers_table import NAME_MIN, WorkerTable, fit_middle, name_width
from mptop.workers.snapshot import WorkerState
from tests.ui import samples

LESSON = "\n\n".join(f"Paragraph {i} of a long lesson, which the panel scrolls." for i in range(40))


def test_rows_go_to_the_least_first_then_to_what_each_needs_and_the_log_takes_the_rest() -> None:
    def claims(workers: int, lesson: int | None = None) -> list[Claim]:
        out = [Claim("workers", workers, 4), Claim("channels", 5, 4), Claim("log", None, 3)]
        return out + ([Claim("lesson", lesson, 4)] if lesson is not None else [])

    # 6 workers at 120x40 (36 rows): the table its 7, the channels their 5, the log the other 24
    assert share_rows(36, claims(7)) == {"workers": 7, "channels": 5, "log": 24}
    # 64 workers: the table as much as leaves the channels theirs and the log its least
    assert share_rows(36, claims(65)) == {"workers": 28, "channels": 5, "log": 3}
    # a long lesson at 80x24 (6 lines, as app.tcss caps it): every panel keeps its least
    assert share_rows(20, claims(8, 6)) == {"workers": 6, "channels": 5, "log": 3, "lesson": 6}
    # too short for every least: the lesson goes first, then the log; never more rows than there are
    assert share_rows(9, claims(8, 6)) == {"workers": 4, "channels": 4, "log": 1, "lesson": 0}
    assert share_rows(0, claims(8, 6)) == dict.fromkeys(("workers", "channels", "log", "lesson"), 0)
    # the channels' flow line (extra) waits until the table has its rows
    flow = [Claim("workers", 30, 4), Claim("channels", 5, 4, extra=1), Claim("log", None, 3)]
    assert share_rows(34, flow) == {"workers": 27, "channels": 4, "log": 3}
    assert share_rows(40, flow) == {"workers": 30, "channels": 5, "log": 5}


def _visible(app: MptopApp, widget_id: str) -> int:
    """Rows of ``#widget_id`` inside the screen (0 if pushed off or squeezed out)."""
    region = app.query_one(f"#{widget_id}").region
    return max(0, min(region.bottom, app.screen.size.height - 1) - region.y)  # above the footer


async def test_the_table_takes_its_rows_and_the_log_the_rest() -> None:
    app = samples.view_only_app()
    async with app.run_test(size=(120, 40)) as pilot:
        samples.feed(app, workers=6)
        await pilot.pause()
        table = app.query_one(WorkerTable)
        assert table.size.height == 1 + 6  # the header and 6 rows, no empty ones
        log = app.query_one(Log)
        assert log.outer_size.height >= 20  # the events get the rest (5 lines before)
        assert _visible(app, "log") == log.outer_size.height

        samples.feed(app, workers=64, ticks=1)  # more rows than fit: the table scrolls
        await pilot.pause()
        assert table.size.height > 20
        channels = app.query_one(ChannelTable)
        assert channels.outer_size.height == 1 + 1 + 2  # border, header, 2 channels: their flow
        assert "Channel" in channels.render().plain.splitlines()[0]  # line gave way to the table
        assert log.outer_size.height == Body.LEAST["log"]
        assert _visible(app, "log") == Body.LEAST["log"]


async def test_a_long_lesson_pushes_nothing_off_at_200x50_or_80x24() -> None:
    for size in ((200, 50), (80, 24)):
        app = samples.view_only_app(LESSON, "start-methods")
        async with app.run_test(size=size) as pilot:
            samples.feed(app, workers=6)
            await pilot.pause()
            lesson = app.query_one(LessonPanel)
            assert lesson.max_scroll_y > 0  # longer than its rows: it scrolls
            for panel in ("workers", "lesson", "channels", "log"):
                assert _visible(app, panel) >= Body.LEAST[panel], (size, panel)
            assert _visible(app, "channels") == app.query_one("#channels").outer_size.height
            if size == (200, 50):  # room for all: the table shows every row
                assert app.query_one(WorkerTable).size.height == 7


async def test_80x24_keeps_every_process_and_the_events_of_an_attach_sized_run() -> None:
    """mptop attach at 80x24 showed 3 of its 4 rows, and no Events panel."""
    app = samples.view_only_app()
    async with app.run_test(size=(80, 24)) as pilot:
        snap = samples.snapshot(2, 4, 3)
        many = tuple(
            dataclasses.replace(snap.channels[0], name=f"pipe:[{1000 + i}]", kind="Pipe")
            for i in range(12)
        )
        app.apply(dataclasses.replace(snap, channels=many))
        await pilot.pause()
        assert app.query_one(WorkerTable).size.height == 1 + 4  # every process
        assert _visible(app, "log") >= Body.LEAST["log"]
        text = "\n".join(app.query_one(ChannelTable).render().plain.splitlines())
        assert text.splitlines()[-1].startswith("… ")  # the channels that do not fit are counted
        assert "more channels" in text


async def test_sideways_scrolling_keeps_pid_ppid_and_name() -> None:
    app = samples.view_only_app()
    async with app.run_test(size=(80, 24)) as pilot:
        samples.feed(app, workers=20)  # more rows than fit: a vertical scrollbar too
        await pilot.pause()
        table = app.query_one(WorkerTable)
        frozen = table.geometry.frozen
        first = table.render_line(1).text
        assert table.render_line(0).text.endswith("▸")  # more columns to the right
        assert first.split()[:3] == ["4101", "4000", "worker-1"]
        assert "running" in first  # State, the first column that scrolls
        seen_right: set[str] = set()
        for _ in range(len(table.scroll_stops)):
            await pilot.press("right")
            header, row = table.render_line(0).text, table.render_line(1).text
            assert header[:frozen].split() == ["PID▲", "PPID", "Name", "◂"]  # ◂: columns hidden
            assert row[:frozen] == first[:frozen]  # PID, PPID and Name in place
            seen_right.update(header[frozen:].split())
            assert table.column_at(3) == "pid" and table.column_at(frozen - 3) == "name"
        assert round(table.scroll_x) == table.max_scroll_x > 0
        assert table.render_line(0).text.rstrip().endswith("Out B/s")  # the last column whole, not
        # under the scrollbar: nothing more to the right
        assert "State" not in table.render_line(0).text  # scrolled away...
        assert {"Out", "B/s"} <= seen_right  # ...and the last columns came into view
        assert table.column_at(frozen) != "state"
        for _ in range(len(table.scroll_stops)):
            await pilot.press("left")
        assert round(table.scroll_x) == 0 and table.render_line(1).text == first


async def test_name_widens_to_the_names_and_a_long_one_keeps_its_number() -> None:
    names = ("ForkServerPoolWorker-1", "ForkServerPoolWorker-12", "producer_consumer.py")
    snap = samples.snapshot(2, 3, 2)
    snap = dataclasses.replace(
        snap,
        workers=tuple(
            dataclasses.replace(w, name=n) for w, n in zip(snap.workers, names, strict=True)
        ),
    )
    for width, whole in ((200, True), (80, False)):
        app = samples.view_only_app()
        async with app.run_test(size=(width, 24)) as pilot:
            app.apply(snap)
            await pilot.pause()
            table = app.query_one(WorkerTable)
            shown = [table.render_line(1 + i).text for i in range(3)]
            if whole:
                assert table.geometry.widths[2] == len("ForkServerPoolWorker-12")
                for line, name in zip(shown, names, strict=True):
                    assert name in line
            else:  # the frozen columns keep to half the width; the middle of a name gives way
                assert table.geometry.frozen <= width // 2
                assert "ForkSe" in shown[1] and "Worker-12" in shown[1]
                assert shown[0].split()[2] != shown[1].split()[2]  # the two still differ


def test_the_name_column_rule() -> None:
    assert name_width(8, 80) == NAME_MIN  # never narrower than 18
    assert name_width(30, 300) == 30  # everything fits: the whole name
    assert name_width(60, 120) == 120 // 2 - 18  # PID, PPID and gaps: 18 cells
    assert fit_middle("ForkServerPoolWorker-12", 18) == "ForkServ…Worker-12"
    assert fit_middle("worker-1", 10) == "worker-1  "


def test_the_header_counts_each_state_as_it_is() -> None:
    workers = samples.snapshot(2, 6, 2).workers  # running, sleeping, stopped, 3 exited
    assert process_counts(workers) == "6 processes: 1 running, 1 sleeping, 1 stopped, 3 exited"
    zombie = dataclasses.replace(workers[0], state=WorkerState.ZOMBIE)
    assert process_counts((zombie, zombie)) == "2 processes: 2 zombies"
    assert process_counts(workers[:1]) == "1 process: 1 running"
    assert process_counts(()) == "no processes"


async def test_a_filter_that_leaves_no_row_says_so_in_a_row_of_its_own() -> None:
    app = samples.view_only_app()
    async with app.run_test(size=(80, 24)) as pilot:
        samples.feed(app, workers=20)
        await pilot.press("slash", "z", "z")
        await pilot.pause()
        table = app.query_one(WorkerTable)
        assert table.size.height == 2  # the header and the note, not a header alone
        assert "contains 'zz' (Esc clears)" in table.render_line(1).text
        assert _visible(app, "filter") == 1


async def test_from_230_columns_the_channels_and_the_log_sit_side_by_side() -> None:
    app = samples.view_only_app()
    async with app.run_test(size=(240, 40)) as pilot:
        samples.feed(app, workers=6)
        await pilot.pause()
        channels, log = app.query_one("#channels").region, app.query_one("#log").region
        assert (channels.y, channels.x, log.x) == (log.y, 0, 120)
        assert channels.height == log.height == _visible(app, "log") > 20  # the rest, both


async def test_at_80_columns_the_channels_keep_their_totals_and_drop_the_history() -> None:
    for width, history in ((80, False), (160, True)):
        app = samples.view_only_app()
        async with app.run_test(size=(width, 30)) as pilot:
            samples.feed(app, workers=6)
            await pilot.pause()
            channels = app.query_one(ChannelTable)
            header, tasks = channels.render().plain.splitlines()[1:3]
            assert header.split()[-2:] == ["Sent", "Delivered"]
            assert len(header.rstrip()) <= channels.size.width  # nothing cut at the right
            assert ("history" in header) is history
            sent, delivered = (int(x) for x in tasks.split()[-2:])
            backlog, lost = (int(x) for x in tasks.split()[-4:-2])
            assert sent == delivered + backlog + lost  # read off the screen


async def test_a_long_event_wraps_under_its_time_and_again_after_a_resize() -> None:
    """An event longer than the log is as wide is wrapped, not cut (its end is often the fact:
    an exception's name, an issue number), each further line under the text past its time;
    a wider terminal wraps the same events again into fewer lines."""
    from mptop.tui.widgets.body import EventLog

    event = (
        "12:00:00 Pool worker 4242 killed in a task: its result never comes, and a map() "
        "waiting for it never returns (CPython gh-66587); the executor's pending futures fail "
        "with BrokenProcessPool"
    )
    app = samples.view_only_app()
    async with app.run_test(size=(80, 24)) as pilot:
        samples.feed(app, workers=2)
        log = app.query_one(EventLog)
        log.add([event])
        await pilot.pause()
        width = log.scrollable_content_region.width
        lines = [str(line) for line in log.lines]
        mine = lines[lines.index(next(line for line in lines if line.startswith("12:00:00"))) :]
        assert len(mine) >= 3 and all(len(line) <= width for line in mine), (width, mine)
        assert all(line.startswith(" " * 9) and line[9] != " " for line in mine[1:]), mine
        assert " ".join(line.strip() for line in mine) == event
        assert log.events[-1] == event
        await pilot.resize_terminal(200, 24)
        await pilot.pause()
        wide = [str(line) for line in log.lines]
        assert len(wide) < len(lines) and event in wide, wide
