"""The replay app: real pace, pause, step and seek by tick, speed, a cut-off recording, process
keys hidden, lesson panel, the palette, and a snapshot."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import Input

from mptop.tui.app import MptopApp
from mptop.tui.palette import ENTRIES
from mptop.tui.screens.help import HelpScreen
from mptop.tui.widgets.body import EventLog
from mptop.tui.widgets.lesson import LessonPanel
from mptop.tui.widgets.workers_table import WorkerTable
from mptop.workers.record import RecordingError, read_recording
from mptop.workers.replay_source import ReplaySource
from mptop.workers.snapshot import Snapshot
from tests.helpers import until
from tests.ui import samples
from tests.ui.make_recordings import path


def app(autoplay: bool = False) -> MptopApp:
    source = ReplaySource(read_recording(path(2)), autoplay=autoplay)
    return MptopApp(source, clock=samples.utc_clock)


def shows(app: MptopApp, snap: Snapshot) -> bool:
    """The app shows ``snap`` (the replay delivers it with only the events not yet delivered)."""
    return app.snapshot is not None and app.snapshot.time == snap.time


def source(app: MptopApp) -> ReplaySource:
    assert isinstance(app.source, ReplaySource)
    return app.source


async def test_pause_and_step() -> None:
    replay = app(autoplay=False)
    src = source(replay)
    async with replay.run_test(size=(160, 48)) as pilot:
        await until(pilot, lambda: replay.snapshot is not None)
        assert src.position == 0 and src.paused
        assert "REPLAY samples-2 tick 1/8 (0.0 s of 7.0 s) paused" in replay.summary()
        await pilot.press("full_stop")
        await until(pilot, lambda: src.position == 1)
        await pilot.press("n")
        await until(pilot, lambda: shows(replay, src.snapshots[2]))
        assert src.position == 2 and src.paused
        for _ in range(10):
            await pilot.press("n")
        await until(pilot, lambda: "tick 8/8 (7.0 s of 7.0 s) end" in replay.summary())
        assert src.at_end


async def test_plays_at_recorded_pace() -> None:
    # The samples are 1 s apart: after ~1.3 s of play, the second snapshot shows, not the third.
    replay = app(autoplay=True)
    src = source(replay)
    async with replay.run_test(size=(160, 48)) as pilot:
        await pilot.pause(1.3)
        assert src.position == 1
        await pilot.press("space")  # pause
        await until(pilot, lambda: src.paused)
        await pilot.pause(1.2)
        assert src.position == 1


async def test_process_keys_hidden_and_lesson_shown() -> None:
    replay = app()
    async with replay.run_test(size=(160, 48)) as pilot:
        await until(pilot, lambda: replay.snapshot is not None)
        for action in ("add", "terminate", "kill", "suspend", "pin", "freeze", "slower", "rebuild"):
            assert replay.check_action(action, ()) is False  # not in a replay's footer at all
        shown = {b.binding.action for b in replay.active_bindings.values() if b.binding.show}
        assert {"pause", "step_back", "step", "quit"} <= shown
        assert not shown & {"add", "terminate", "kill", "suspend", "pin"}
        await pilot.press("question_mark")
        help_screen = replay.screen
        assert isinstance(help_screen, HelpScreen)
        assert {"a", "t", "k", "p"} <= set(help_screen.disabled_keys)
        assert not {"-", "=", "space"} & set(help_screen.disabled_keys)  # they play back here
        await pilot.press("escape")
        workers_before = replay.snapshot
        await pilot.press("k", "t", "a")
        assert replay.snapshot is workers_before
        panel = replay.query_one(LessonPanel)
        assert panel.display and "A short lesson" in panel.lesson
        await pilot.press("L")
        assert not panel.display


@pytest.mark.parametrize("size", [(80, 24), (160, 48)], ids=lambda s: f"{s[0]}x{s[1]}")
def test_replay_screen(snap_compare: Any, size: tuple[int, int]) -> None:
    async def run_before(pilot: Any) -> None:
        await until(pilot, lambda: pilot.app.snapshot is not None)
        await pilot.press("n", "n", "n")
        await until(pilot, lambda: pilot.app.source.position == 3)
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()

    assert snap_compare(app(), terminal_size=size, run_before=run_before)


async def test_detail_in_a_replay_shows_what_the_recording_holds() -> None:

    from rich.console import Console
    from textual.widgets import Static

    from mptop.tui.screens.detail import DetailScreen

    replay = app()
    async with replay.run_test(size=(160, 48)) as pilot:
        await until(pilot, lambda: replay.snapshot is not None)
        await pilot.press("enter")
        screen = replay.screen
        assert isinstance(screen, DetailScreen)
        deadline = time.monotonic() + 5
        while screen.detail is None and time.monotonic() < deadline:
            await pilot.pause(0.02)
        assert screen.detail is not None and screen.detail.recorded
        console = Console(width=120, record=True)
        console.print(screen.query_one("#facts", Static).content)
        facts = console.export_text()
        sample = screen.sample
        assert str(sample.pid) in facts and sample.state.value in facts
        assert "CPU%" in facts and "no longer a worker" not in facts
        assert "not in the recording" in str(screen.query_one("#stdout", Static).content)


async def test_seek_by_tick_with_arrows_home_and_end() -> None:
    # In a replay ← → Home End move through the ticks (not the table); shift+→ scrolls the table.
    replay = app()
    src = source(replay)
    async with replay.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: replay.snapshot is not None)
        await pilot.press("right", "right")
        await until(pilot, lambda: shows(replay, src.snapshots[2]))
        assert "tick 3/8 (2.0 s of 7.0 s) paused" in replay.summary()
        await pilot.press("left")
        await until(pilot, lambda: shows(replay, src.snapshots[1]))
        await pilot.press("end")
        await until(pilot, lambda: shows(replay, src.snapshots[-1]))
        assert "tick 8/8 (7.0 s of 7.0 s) end" in replay.summary()
        await pilot.press("right")  # no further than the last
        await pilot.press("home")
        await until(pilot, lambda: shows(replay, src.snapshots[0]))
        await pilot.press("right_square_bracket")  # ten on: the last of 8
        await until(pilot, lambda: shows(replay, src.snapshots[-1]))
        await pilot.press("left", "left_square_bracket")  # 7th, then ten back: the first
        await until(pilot, lambda: shows(replay, src.snapshots[0]))
        await pilot.press("left")  # nor before the first
        await pilot.app.workers.wait_for_complete()
        assert src.position == 0 and "tick 1/8" in replay.summary()
        # quick keys act in the order they came (one thread sends the playback commands)
        await pilot.press("end", "home", "end", "home", "right", "end", "left")
        await pilot.app.workers.wait_for_complete()
        await until(pilot, lambda: shows(replay, src.snapshots[-2]))
        await pilot.press("home")
        await until(pilot, lambda: shows(replay, src.snapshots[0]))
        table = replay.query_one(WorkerTable)
        assert table.max_scroll_x > 0 and round(table.scroll_x) == 0
        await pilot.press("shift+right")
        assert round(table.scroll_x) > 0 and src.position == 0
        # while the filter line has the focus, ← → are its text cursor's
        await pilot.press("slash", "p", "r", "left", "left")
        box = replay.query_one("#filter", Input)
        assert box.has_focus and box.cursor_position == 0
        await pilot.app.workers.wait_for_complete()
        assert src.position == 0


async def test_minus_and_equals_change_the_pace() -> None:
    # The samples are 1 s apart: at 16x the 7 gaps take about 0.44 s; at 0.5x one gap takes 2 s.
    replay = app()
    src = source(replay)
    async with replay.run_test(size=(160, 48)) as pilot:
        await until(pilot, lambda: replay.snapshot is not None)
        assert "speed 1x" in replay.summary() and "recorded every 1 s" in replay.summary()
        await pilot.press(*["equals_sign"] * 5)  # 2, 4, 8, 16, and no further
        await until(pilot, lambda: src.speed == 16 and "speed 16x" in replay.summary())
        started = time.monotonic()
        await pilot.press("space")
        await until(pilot, lambda: src.at_end)
        took = time.monotonic() - started
        assert 7 / 16 * 0.8 < took < 3.5, took  # 7 s at the recorded pace
        await pilot.press(*["minus"] * 5)  # 8, 4, 2, 1, 0.5
        await until(pilot, lambda: src.speed == 0.5 and "speed 0.5x" in replay.summary())
        await pilot.press("home", "space")
        await until(pilot, lambda: not src.paused and src.position == 0)
        await pilot.pause(1.3)
        assert src.position == 0  # at 1x it would be on the second tick by now
        await pilot.press(*["minus"] * 3)
        await until(pilot, lambda: "speed 0.25x" in replay.summary())


async def test_a_recording_cut_off_mid_line_plays_what_came_before(tmp_path: Path) -> None:
    cut = tmp_path / "cut.jsonl"
    data = path(2).read_bytes()
    cut.write_bytes(data[: len(data) - 40])  # a run killed in the middle of its last write
    with pytest.raises(RecordingError, match="truncated: the last line is cut off"):
        read_recording(cut)  # the strict default: headless's own tests check every line whole
    rec = read_recording(cut, partial=True)  # as mptop replay reads
    assert len(rec.snapshots) == 7 and rec.cut_off == 9  # the header, 7 snapshots, the cut line
    assert rec.snapshots == read_recording(path(2)).snapshots[:7]
    replay = MptopApp(ReplaySource(rec, autoplay=False), clock=samples.utc_clock)
    async with replay.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: replay.snapshot is not None)
        assert "tick 1/7" in replay.summary()
        assert "last line cut off: 7 snapshots played" in replay.summary()
        log = "\n".join(replay.query_one(EventLog).events)
        assert f"{cut}: line 9 is cut off" in log and "the 7 snapshots before it play" in log
        await pilot.press("end", "home")  # said once, not again at the first tick
        await until(pilot, lambda: shows(replay, rec.snapshots[0]))
        log = "\n".join(replay.query_one(EventLog).events)
        assert log.count("is cut off") == 1
    # a cut line with no whole snapshot before it is still refused
    only_header = tmp_path / "header.jsonl"
    only_header.write_bytes(data[: data.index(b"\n") + 30])
    with pytest.raises(RecordingError, match="truncated"):
        read_recording(only_header, partial=True)


async def test_palette_lists_mptop_first_with_descriptions() -> None:
    from textual.command import Command, CommandList, CommandPalette

    replay = app()
    async with replay.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: replay.snapshot is not None)
        await pilot.press("ctrl+p")
        await until(pilot, lambda: isinstance(replay.screen, CommandPalette))
        listing = replay.screen.query_one(CommandList)
        expected = [c.title for c in replay.get_system_commands(replay.screen_stack[0])]
        await until(pilot, lambda: listing.option_count == len(expected))  # added in batches
        options = [listing.get_option_at_index(i) for i in range(listing.option_count)]
        hits = [o.hit for o in options if isinstance(o, Command)]
        titles = [str(h.text) for h in hits]
        assert titles == expected  # in the order mptop yields them, not sorted by title
        assert titles[:4] == [
            "Pause or play the replay",
            "Step one tick back",
            "Step one tick forward",
            "Go to the first tick",
        ]
        assert titles.index("Kill the selected worker (SIGKILL)") < titles.index("Theme")
        assert "Quit" not in titles and "Quit mptop" in titles
        helps = {str(h.text): str(h.help) for h in hits}
        assert helps["Step one tick back"].startswith("← · ")
        assert helps["Play faster"].startswith("= · ")
        assert "disabled: a replay starts no process" in helps["Kill the selected worker (SIGKILL)"]
        # mptop's that act, then mptop's greyed ones, then Textual's own
        ours = {title for title, _ in ENTRIES.values()}
        acting = [i for i, t in enumerate(titles) if t in ours and "disabled" not in helps[t]]
        greyed = [i for i, t in enumerate(titles) if t in ours and "disabled" in helps[t]]
        textual = [i for i, t in enumerate(titles) if t not in ours]
        assert acting and greyed and textual
        assert max(acting) < min(greyed) and max(greyed) < min(textual)
        # a query ranks by Textual's fuzzy match; the chosen command acts
        await pilot.press(*"last", "space", *"tick")

        def first_hit() -> str:
            option = listing.get_option_at_index(0) if listing.option_count else None
            return str(option.hit.text) if isinstance(option, Command) else ""

        await until(pilot, lambda: first_hit() == "Go to the last tick")
        await pilot.press("enter")
        await until(pilot, lambda: source(replay).position == 7)


def test_each_recorded_event_is_delivered_once_however_the_playback_moves() -> None:
    # a trial found an event skipped by a step over its snapshot, and the first ones listed
    # twice after Home: the log says each once, when the playback first reaches or passes it
    import dataclasses
    import queue

    from mptop.workers.commands import Seek, Step
    from mptop.workers.snapshot import Event

    rec = read_recording(path(2))
    snaps = tuple(
        dataclasses.replace(s, events=(Event(s.time, f"event of tick {i}"),))
        for i, s in enumerate(rec.snapshots)
    )
    replay = ReplaySource(dataclasses.replace(rec, snapshots=snaps), autoplay=False)
    got: queue.Queue[tuple[str, ...]] = queue.Queue()
    replay.start(lambda snap: got.put(tuple(e.text for e in snap.events)), lambda line: None)

    def next_events() -> tuple[str, ...]:
        events = got.get(timeout=5)
        replay.arm()
        return events

    try:
        assert next_events() == ("event of tick 0",)
        replay.send(Seek(-1))  # End: every event stepped over comes with the last snapshot
        assert next_events() == tuple(f"event of tick {i}" for i in range(1, len(snaps)))
        replay.send(Seek(0))  # Home, then forward again: nothing twice
        assert next_events() == ()
        replay.send(Step(3))
        assert next_events() == ()
    finally:
        replay.close()
