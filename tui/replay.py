"""``mptop --replay run.jsonl``: a recording played back in the view-only app at its real pace.

:class:`ReplayApp` is the view-only :class:`~mptop.tui.app.MptopApp` fed from a
:class:`~mptop.workers.record.Recording`: each snapshot is applied after the
recorded time between it and the previous one (capped at
:data:`MAX_GAP` seconds), so the replay runs as fast as the run did. ``space``
pauses and resumes, ``.`` or ``n`` steps one snapshot (and pauses), ``q``
quits. The keys that act on processes are disabled (greyed in the footer),
and the header says REPLAY with the position.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

from textual.app import App
from textual.binding import Binding, BindingType
from textual.timer import Timer

from mptop.tui.app import MptopApp, local_clock
from mptop.workers.record import Recording

# Longest pause between two replayed snapshots, seconds (a recording with a gap plays on).
MAX_GAP = 10.0


class ReplayApp(MptopApp, inherit_bindings=False):
    """Plays ``recording`` back; ``autoplay=False`` starts paused on the first snapshot (tests)."""

    # The replay keys first, so the footer shows them before the (greyed) process keys.
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("space", "pause", "Pause/Play"),
        Binding("full_stop,n", "step", "Step", key_display="."),
        *App.BINDINGS,
        *(
            b
            for b in MptopApp.BINDINGS
            if not (isinstance(b, Binding) and b.action in ("freeze", "pin", "suspend"))
        ),
    ]

    def __init__(
        self,
        recording: Recording,
        *,
        autoplay: bool = True,
        clock: Callable[[float], str] = local_clock,
    ) -> None:
        title = f"Lesson: {recording.name}" if recording.name else "Lesson"
        super().__init__(
            None,
            interval=recording.interval,
            clock=clock,
            lesson=recording.lesson,
            lesson_title=title,
        )
        self.recording = recording
        self.position = -1  # index of the snapshot on screen
        self.paused = not autoplay
        self._timer: Timer | None = None

    @property
    def frames(self) -> int:
        """Snapshots in the recording."""
        return len(self.recording.snapshots)

    @property
    def at_end(self) -> bool:
        """True once the last snapshot is on screen."""
        return self.position >= self.frames - 1

    def on_mount(self) -> None:
        super().on_mount()
        self.show_next()
        self._schedule()

    def show_next(self) -> bool:
        """Apply the next snapshot; False at the end of the recording."""
        if self.at_end:
            return False
        self.position += 1
        self.apply(self.recording.snapshots[self.position])
        return True

    def _schedule(self) -> None:
        if self._timer is not None:
            self._timer.stop()
            self._timer = None
        if self.paused or self.at_end:
            self._update_summary()
            return
        snaps = self.recording.snapshots
        gap = snaps[self.position + 1].time - snaps[self.position].time
        self._timer = self.set_timer(min(MAX_GAP, max(0.0, gap)), self._tick)

    def _tick(self) -> None:
        self._timer = None
        self.show_next()
        self._schedule()

    def action_pause(self) -> None:
        """Pause or resume the playback."""
        self.paused = not self.paused
        self._schedule()

    def action_step(self) -> None:
        """Show the next snapshot and stay paused there."""
        self.paused = True
        self.show_next()
        self._schedule()

    def summary(self) -> str:
        state = (
            "end" if self.at_end else "paused (space plays, . steps)" if self.paused else "playing"
        )
        name = f" {self.recording.name}" if self.recording.name else ""
        head = f"REPLAY{name} {max(0, self.position) + 1}/{self.frames} {state}"
        return f"{head} │ {super().summary()}"


def run_replay(recording: Recording) -> int:
    """Run the replay app on ``recording`` until ``q``; returns the exit status."""
    app = ReplayApp(recording)
    app.run()
    return app.return_code or 0
