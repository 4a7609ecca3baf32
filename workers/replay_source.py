""":class:`ReplaySource`: a recording played back at its real pace, behind the Source boundary."""

from __future__ import annotations

import dataclasses
import threading
import time

from mptop.workers.commands import (
    SPEEDS,
    Cap,
    Command,
    CommandError,
    Seek,
    SetSpeed,
    Step,
    TogglePause,
)
from mptop.workers.detail import OutputTail, WorkerDetail, recorded_detail
from mptop.workers.record import Recording
from mptop.workers.snapshot import Event, Snapshot
from mptop.workers.source import Closed, Deliver, Failed, SourceInfo
from mptop.workers.stacks import StackDump

# Longest pause between two replayed snapshots, seconds (a recording with a gap plays on).
MAX_GAP = 10.0


def clock_text(seconds: float) -> str:
    """Seconds into a recording as ``"7.5 s"``, or ``"2:05"`` from a minute on."""
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes}:{secs:02d}"


def speed_text(factor: float) -> str:
    """``2.0`` -> ``"2x"``, ``0.25`` -> ``"0.25x"``: a playback speed as video players show it."""
    return f"{factor:g}x"


class ReplaySource:
    """Plays ``recording`` back: each snapshot after the recorded time since the previous one.

    The gaps are divided by the speed (:attr:`speed`, 1 = the recorded pace;
    :class:`SetSpeed`, 0.25 to 16) and capped at :data:`MAX_GAP` seconds, so
    the replay runs as fast as the run did, or that many times faster. A
    replayed tick also waits until the screen applied the last one
    (:meth:`arm`), so at 16x a 0.1 s recording plays as fast as the screen
    draws. ``autoplay=False`` starts paused on the first snapshot. Commands:
    pause and play, step by a number of snapshots either way, seek to one,
    set the speed. It starts no process, so it takes no process command.
    """

    caps = frozenset({Cap.PAUSE, Cap.STEP, Cap.SEEK, Cap.SPEED})

    def __init__(self, recording: Recording, *, autoplay: bool = True) -> None:
        self.recording = recording
        self.snapshots = recording.snapshots
        self.position = -1  # index of the snapshot last delivered
        # the last snapshot whose events were delivered: each event is delivered once, however
        # the playback moves (a step over snapshots brings theirs; a step back repeats none)
        self._logged = -1
        self.paused = not autoplay
        self.speed = 1.0
        self._cut_said = recording.cut_off is None  # the event log says it once, at the start
        self._target: int | None = 0  # the next index to deliver, once armed
        self._armed = True
        self._shown_at = 0.0
        self._stop = False
        self._cond = threading.Condition()
        self._deliver: Deliver = lambda snap: None
        self._thread = threading.Thread(target=self._run, name="mptop-replay", daemon=True)

    @property
    def at_end(self) -> bool:
        """True once the last snapshot has been delivered."""
        return self.position >= len(self.snapshots) - 1

    def info(self) -> SourceInfo:
        """Kind ``replay``; the header leads with ``REPLAY name tick 3/8 (2.0 s of 7.0 s) playing``
        and ``speed 2x``: the tick shown, its recorded time since the first one, and the pace.

        Then, for a recording whose last line was cut off, ``last line cut off: 8
        snapshots played``.
        """
        rec = self.recording
        with self._cond:
            shown = max(0, self.position) + 1
            first, last = self.snapshots[0].time, self.snapshots[-1].time
            at = clock_text(self.snapshots[shown - 1].time - first)
            speed = speed_text(self.speed)
            # the keys are in the footer; at 80 columns the speed must still fit
            state = "end" if self.at_end else "paused" if self.paused else "playing"
        name = f" {rec.name}" if rec.name else ""
        n = len(self.snapshots)
        where = f"tick {shown}/{n} ({at} of {clock_text(last - first)})"
        lead = [f"REPLAY{name} {where} {state}", f"speed {speed}"]
        if rec.cut_off is not None:
            lead.append(f"last line cut off: {n} snapshot{'s' if n != 1 else ''} played")
        return SourceInfo(
            kind="replay",
            title=f"mptop replay {rec.source}",
            interval=rec.interval,
            lead=tuple(lead),
            facts=("view only",),
            lesson=rec.lesson,
            lesson_title=f"Lesson: {rec.name}" if rec.name else "Lesson",
            unavailable="a replay starts no process",
            record=rec.header.get("scenario") if isinstance(rec.header, dict) else None,
            no_channels="no channels in this snapshot",
            columns=self._columns(),
        )

    def _columns(self) -> str:
        """The worker table's columns the recorded run had (its header's ``columns``: ``dask``
        for a cluster's), ``process`` for any other or an older recording."""
        header = self.recording.header
        scenario = header.get("scenario") if isinstance(header, dict) else None
        columns = scenario.get("columns") if isinstance(scenario, dict) else None
        return columns if columns in ("process", "dask") else "process"

    def start(self, deliver: Deliver, failed: Failed) -> None:
        """Deliver the first snapshot at once, then play (unless paused)."""
        self._deliver = deliver
        self._thread.start()

    def arm(self) -> None:
        """The last snapshot was applied: the next may come."""
        with self._cond:
            self._armed = True
            self._cond.notify_all()

    def poke(self) -> None:
        """Nothing to do: a recording has no newer snapshot than its next one."""

    def send(self, command: Command) -> str | None:
        """Pause/play, step, seek or set the speed.

        Stepping or seeking pauses; playing on from the end starts over from the
        first snapshot. Raises :class:`CommandError` for a process command, and
        for a speed outside 0.25-16 or not a number.
        """
        with self._cond:
            last = len(self.snapshots) - 1
            match command:
                case TogglePause():
                    self.paused = not self.paused
                    if not self.paused and self.at_end and self._target is None:
                        self._target = 0  # play again, as a video player does
                    self._shown_at = time.monotonic()  # the next gap counts from now
                case Step(by=by):
                    self.paused = True
                    base = self.position if self._target is None else self._target
                    target = max(0, min(last, base + by))
                    self._target = target if target != self.position else None
                case Seek(index=index):
                    self.paused = True
                    target = max(0, min(last, index if index >= 0 else last + 1 + index))
                    self._target = target if target != self.position else None
                case SetSpeed(factor=factor):
                    if not SPEEDS[0] <= factor <= SPEEDS[-1]:  # NaN fails both
                        raise CommandError(
                            None, f"speed {factor!r}: must be {SPEEDS[0]:g} to {SPEEDS[-1]:g}"
                        )
                    self.speed = float(factor)
                case _:
                    raise CommandError(
                        getattr(command, "pid", None),
                        f"{type(command).__name__}: not in a replay (it starts no process)",
                    )
            self._cond.notify_all()
        return None

    def detail(self, pid: int) -> WorkerDetail:
        """What the recording holds of ``pid`` (no process to ask). Raises CommandError if absent."""
        with self._cond:
            at = max(0, self.position)
        for snap in (self.snapshots[at], *reversed(self.snapshots)):
            for w in snap.workers:
                if w.pid == pid:
                    return recorded_detail(pid, w.start_method)
        raise CommandError(pid, "not in the recording")

    def output(self, pid: int) -> tuple[OutputTail, ...]:
        """Always raises CommandError: a recording holds the snapshots, not the output."""
        raise CommandError(pid, "a recording holds the snapshots only, not the output")

    def stacks(self, pid: int) -> StackDump:
        """Always raises CommandError: a recording holds no process to ask."""
        raise CommandError(pid, "a recording holds no process to ask")

    def close(self) -> Closed:
        """Stop the playback thread; a replay has no process to stop."""
        with self._cond:
            self._stop = True
            self._cond.notify_all()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=2.0)
        return Closed()

    def _due(self) -> float | None:
        """Seconds until the next snapshot plays (None: not playing). Call under the lock."""
        if self.paused or self.at_end or self._target is not None:
            return None
        gap = self.snapshots[self.position + 1].time - self.snapshots[self.position].time
        return self._shown_at + min(MAX_GAP, max(0.0, gap) / self.speed) - time.monotonic()

    def _run(self) -> None:
        while True:
            with self._cond:
                while True:
                    if self._stop:
                        return
                    due = self._due()
                    if due is not None and due <= 0:
                        self._target = self.position + 1
                    if self._target is not None and self._armed:
                        break
                    self._cond.wait(None if due is None else max(0.0, due))
                self.position, self._target = self._target, None
                self._armed = False
                self._shown_at = time.monotonic()
                snap = self.snapshots[self.position]
                events: tuple[Event, ...] = ()
                if self.position > self._logged:
                    passed = self.snapshots[self._logged + 1 : self.position + 1]
                    events = tuple(e for s in passed for e in s.events)
                    self._logged = self.position
                if events != snap.events:
                    snap = dataclasses.replace(snap, events=events)
                if not self._cut_said:
                    self._cut_said = True
                    snap = dataclasses.replace(snap, events=(self._cut_event(snap), *snap.events))
            self._deliver(snap)

    def _cut_event(self, snap: Snapshot) -> Event:
        n = len(self.snapshots)
        return Event(
            snap.time,
            f"{self.recording.source}: line {self.recording.cut_off} is cut off (a run stopped in"
            f" the middle of a write): the {n} snapshot{'s' if n != 1 else ''} before it play",
            level="warning",
        )
