"""The replay app: real pace, pause and step, process keys disabled, lesson panel, and a snapshot."""

from __future__ import annotations

import time
from typing import Any

import pytest

from mptop.tui.app import MptopApp
from mptop.tui.widgets.lesson import LessonPanel
from mptop.workers.record import read_recording
from mptop.workers.replay_source import ReplaySource
from tests.helpers import until
from tests.ui import samples
from tests.ui.make_recordings import path


def app(autoplay: bool = False) -> MptopApp:
    source = ReplaySource(read_recording(path(2)), autoplay=autoplay)
    return MptopApp(source, clock=samples.utc_clock)


def source(app: MptopApp) -> ReplaySource:
    assert isinstance(app.source, ReplaySource)
    return app.source


async def test_pause_and_step() -> None:
    replay = app(autoplay=False)
    src = source(replay)
    async with replay.run_test(size=(160, 48)) as pilot:
        await until(pilot, lambda: replay.snapshot is not None)
        assert src.position == 0 and src.paused
        assert "REPLAY samples-2 1/8 paused" in replay.summary()
        await pilot.press("full_stop")
        await until(pilot, lambda: src.position == 1)
        await pilot.press("n")
        await until(pilot, lambda: replay.snapshot is src.snapshots[2])
        assert src.position == 2 and src.paused
        for _ in range(10):
            await pilot.press("n")
        await until(pilot, lambda: "8/8 end" in replay.summary())
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


async def test_process_keys_disabled_and_lesson_shown() -> None:
    replay = app()
    async with replay.run_test(size=(160, 48)) as pilot:
        await until(pilot, lambda: replay.snapshot is not None)
        for action in ("add", "terminate", "kill"):
            assert replay.check_action(action, ()) is None  # greyed in the footer
        for action in ("suspend", "pin", "freeze"):
            assert replay.check_action(action, ()) is False  # room for the playback keys
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
