"""``MptopApp``: the screen of any :class:`~mptop.workers.source.Source`.

The app composes the widgets, binds the keys and applies the snapshots the
source delivers; it knows nothing of how they are made. Which keys act comes
from the source's capabilities (:data:`ACTION_CAPS`), and the footer, the
palette and the help follow them.

The event loop never blocks: the source samples on its own thread, and
commands, detail reads and the close run on Textual thread workers. A
snapshot arrives as a ``SnapshotReady`` message; the source sends the next
one only after :meth:`Source.arm`, once it has been applied.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import signal
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import ClassVar

from textual import constants as textual_constants
from textual import on, work
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding, BindingType
from textual.command import Provider
from textual.css.query import NoMatches
from textual.driver import Driver
from textual.drivers.linux_driver import LinuxDriver
from textual.markup import escape
from textual.message import Message
from textual.screen import ModalScreen, Screen
from textual.widgets import Footer, Input

from mptop.tui.driver import QuietLinuxDriver
from mptop.tui.palette import ENTRIES, Greyed, MptopCommands, key_text
from mptop.tui.screens.confirm import ConfirmScreen
from mptop.tui.screens.detail import DetailScreen
from mptop.tui.screens.help import HelpScreen
from mptop.tui.screens.output import OutputScreen
from mptop.tui.screens.pin import PinChoice, PinScreen
from mptop.tui.screens.quit import QuitScreen
from mptop.tui.widgets import cores as cores_mod
from mptop.tui.widgets.body import WIDE_FROM, Body, EventLog
from mptop.tui.widgets.channels_table import ChannelTable
from mptop.tui.widgets.cores import CoresPanel
from mptop.tui.widgets.lesson import LessonPanel
from mptop.tui.widgets.summary import Summary, process_counts
from mptop.tui.widgets.workers_table import COLUMN_SETS, WorkerTable
from mptop.workers import __version__
from mptop.workers.commands import (
    SPEEDS,
    Add,
    Cap,
    Command,
    CommandError,
    Leave,
    Pin,
    Rebuild,
    Restart,
    Retire,
    Seek,
    SetInterval,
    SetSpeed,
    ShowThreads,
    Signal,
    Step,
    ToggleDaemon,
    TogglePause,
    ToggleSuspend,
    Unpin,
)
from mptop.workers.detail import WorkerDetail
from mptop.workers.snapshot import Event, Snapshot, WorkerSample, WorkerState
from mptop.workers.source import Closed, Source, SourceInfo
from mptop.workers.spec import MAX_INTERVAL, MIN_INTERVAL

# After SIGTERM or SIGKILL, how long a key's command waits for the exit before refreshing, seconds.
EXIT_WAIT = 0.3
# Refresh intervals that `-` and `=` step through, seconds.
INTERVALS: tuple[float, ...] = (0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0)
# The capability each action needs. Without it, an action is greyed in the footer and
# marked so in the palette and the help, unless it is in HIDDEN_WITHOUT.
ACTION_CAPS: dict[str, Cap] = {
    "add": Cap.ADD,
    "terminate": Cap.SIGNAL,
    "kill": Cap.SIGNAL,
    "terminate_all": Cap.SIGNAL,
    "kill_all": Cap.SIGNAL,
    "suspend": Cap.SUSPEND,
    "pin": Cap.PIN,
    "toggle_daemon": Cap.DAEMON,
    "rebuild": Cap.REBUILD,
    "slower": Cap.INTERVAL,
    "faster": Cap.INTERVAL,
    "pause": Cap.PAUSE,
    "step": Cap.STEP,
    "step_back": Cap.STEP,
    "jump": Cap.STEP,
    "seek_first": Cap.SEEK,
    "seek_last": Cap.SEEK,
    "replay_slower": Cap.SPEED,
    "replay_faster": Cap.SPEED,
    "output": Cap.OUTPUT,
    "threads": Cap.THREADS,
    "retire": Cap.RETIRE,
    "restart": Cap.RESTART,
}
# Not shown at all without their capability: the playback keys where there is nothing to play
# back, a cluster's retire and restart elsewhere.
HIDDEN_WITHOUT = frozenset(
    {
        "retire",
        "restart",
        "pause",
        "step",
        "step_back",
        "jump",
        "seek_first",
        "seek_last",
        "replay_slower",
        "replay_faster",
    }
)
# These give their key (or their place) away where the source has this capability: a cluster's
# workers are retired (t), not terminated, one by one or all (T), and restarted (r) through
# their nanny, not rebuilt.
GIVE_WAY: dict[str, Cap] = {
    "terminate": Cap.RETIRE,
    "terminate_all": Cap.RETIRE,
    "rebuild": Cap.RESTART,
}
# In a playback, these take the keys the worker table has too (← → Home End), so they are
# priority bindings; shift+← → then scroll the table sideways.
SEEK_KEYS = frozenset({"step", "step_back", "seek_first", "seek_last"})
# Where the playback keys are shown, these make room for them in the footer (80 columns).
MAKE_ROOM_FOR_PLAYBACK = frozenset({"suspend", "pin"})


def local_clock(t: float) -> str:
    """``time.time()`` seconds -> local ``HH:MM:SS``."""
    return time.strftime("%H:%M:%S", time.localtime(t))


class SnapshotReady(Message):
    """Posted from the sampling thread: one new :class:`Snapshot` to apply."""

    def __init__(self, snapshot: Snapshot) -> None:
        super().__init__()
        self.snapshot = snapshot


class MptopApp(App[int]):
    """The mptop screen for any :class:`~mptop.workers.source.Source`.

    On mount it starts the source and applies each snapshot it delivers; on
    quit (``q``, Ctrl+C, SIGTERM, SIGHUP) it closes the source, bounded, and
    exits; :attr:`closed` then says how each process ended. The source is
    made (and prepared) before the app, because multiprocessing's helpers
    must start before Textual replaces ``sys.stderr``. ``clock`` formats
    event times; ``exit_watchdog``: seconds after the close at which the
    process exits even if Textual has not finished restoring the terminal
    (None: never, as in tests).
    """

    CSS_PATH = Path(__file__).with_name("app.tcss")
    # From 230 cells wide (body.WIDE_FROM) the channels and the event log sit side by side.
    # -tight (under 100 columns): the footer drops its "^p palette" hint so "q Quit" fits at 80
    HORIZONTAL_BREAKPOINTS = [(0, "-tight"), (100, "-narrow"), (WIDE_FROM, "-wide")]  # noqa: RUF012 (typed by App)
    VERTICAL_BREAKPOINTS = [(0, "-short"), (36, "-tall")]  # noqa: RUF012
    TITLE = "mptop"
    may_leave: ClassVar[bool] = True
    """Whether the quit dialog offers to leave a program (or cluster) running. ``mptop serve``'s
    app sets it False (:mod:`mptop.tui.served`): a tab ends with nothing left behind."""
    # mptop's commands first in the palette, in the order get_system_commands yields them
    COMMANDS: ClassVar[set[type[Provider] | Callable[[], type[Provider]]]] = {MptopCommands}

    BINDINGS: ClassVar[list[BindingType]] = [
        # The playback keys first, so a replay's footer shows them before the (greyed) process keys.
        Binding("space", "pause", "Pause/Play"),
        Binding("left", "step_back", "Back", key_display="←", priority=True),
        Binding("right", "step", "Step", key_display="→", priority=True),
        Binding("full_stop,n", "step", "Step", key_display=".", show=False),
        Binding("home", "seek_first", "First tick", show=False, priority=True),
        Binding("end", "seek_last", "Last tick", show=False, priority=True),
        Binding("left_square_bracket", "jump(-10)", "10 back", key_display="[", show=False),
        Binding("right_square_bracket", "jump(10)", "10 on", key_display="]", show=False),
        Binding("a,plus", "add", "Add", key_display="a"),
        Binding("t", "terminate", "Term"),
        Binding("t", "retire", "Retire"),
        # not in the footer, as rebuild's r is not (q Quit would be pushed off at 80 columns)
        Binding("r", "restart", "Restart", show=False),
        Binding("k", "kill", "Kill"),
        Binding("s", "suspend", "Suspend"),
        Binding("p", "pin", "Pin"),
        Binding("enter", "detail", "Detail"),
        Binding("o", "output", "Output", show=False),
        Binding("H", "threads", "Threads", show=False),
        Binding("slash", "filter", "Filter", key_display="/"),
        Binding("question_mark,f1", "help", "Help", key_display="?"),
        Binding("q", "quit", "Quit"),
        Binding("L", "lesson", "Lesson"),
        Binding("d", "toggle_daemon", "Daemon", show=False),
        Binding("T", "terminate_all", "Term all", show=False),
        Binding("K", "kill_all", "Kill all", show=False),
        Binding("c", "clear_exited", "Clear exited", show=False),
        Binding("r", "rebuild", "Rebuild channels", show=False),
        Binding("minus", "slower", "Slower", key_display="-", show=False),
        Binding("equals_sign", "faster", "Faster", key_display="=", show=False),
        Binding("minus", "replay_slower", "Slower", key_display="-", show=False),
        Binding("equals_sign", "replay_faster", "Faster", key_display="=", show=False),
        Binding("shift+left", "scroll_columns(-1)", "Scroll left", key_display="⇧←", show=False),
        Binding("shift+right", "scroll_columns(1)", "Scroll right", key_display="⇧→", show=False),
        Binding("space", "freeze", "Freeze", show=False),
        Binding("I", "invert", "Invert sort", show=False),
        Binding("less_than_sign", "sort_step(-1)", "Sort left", key_display="<", show=False),
        Binding("greater_than_sign", "sort_step(1)", "Sort right", key_display=">", show=False),
        Binding("escape", "close_filter", "Close filter", show=False),
        Binding("ctrl+c", "quit_now", "Quit", show=False, priority=True),
    ]

    def __init__(
        self,
        source: Source,
        *,
        clock: Callable[[float], str] = local_clock,
        exit_watchdog: float | None = None,
    ) -> None:
        super().__init__()
        self.source = source
        self.caps = source.caps
        info = source.info()
        self.info: SourceInfo = info
        # the worker table's set of columns (SourceInfo.columns; one mptop does not know: process)
        self.columns = info.columns if info.columns in COLUMN_SETS else "process"
        self.interval = info.interval
        self.speed = 1.0  # a playback's pace, a factor of the recorded one (Cap.SPEED)
        self.snapshot: Snapshot | None = None
        self.frozen = False
        self.clock = clock
        self.closed: Closed | None = None
        self.sampling_failure = ""  # the last sampling failure, until a snapshot arrives again
        self._held: Snapshot | None = None
        self._held_events: list[Event] = []
        self._totals: deque[float] = deque(maxlen=8)
        self._quitting = False
        self.exit_watchdog = exit_watchdog
        self._watchdog: threading.Timer | None = None
        # The scenario's explanation, shown in a panel that L toggles ("" = no panel, no key).
        self.lesson = info.lesson.strip()
        self.lesson_title = info.lesson_title
        self._signals: list[signal.Signals] = []
        self._leave_on_quit = False  # the quit dialog's "leave it running"
        self._pin_reading = False  # p's read of the affinity is under way
        self._playback: deque[Command] = deque()  # playback commands not yet sent, oldest first
        self._playback_lock = threading.Lock()
        self._playback_sending = False

    # -- layout -----------------------------------------------------------------

    def get_driver_class(self) -> type[Driver]:
        """Textual's choice of driver, with :class:`QuietLinuxDriver` in place of ``LinuxDriver``.

        Only Textual's own ``LinuxDriver`` is replaced (it wakes 10 times a
        second to read keys; see :mod:`mptop.tui.driver`); a ``TEXTUAL_DRIVER`` from
        the environment or another platform's driver is kept.
        """
        driver = super().get_driver_class()
        chosen_by_textual = textual_constants.DRIVER is None
        return QuietLinuxDriver if chosen_by_textual and driver is LinuxDriver else driver

    def compose(self) -> ComposeResult:
        yield Summary(id="summary")
        yield CoresPanel(id="cores")
        # the panels in between get the rows they need, the event log the rest (body.py)
        with Body(id="body"):
            yield WorkerTable(columns=self.columns, id="workers")
            if self.lesson:
                yield LessonPanel(
                    self.lesson,
                    title=self.lesson_title,
                    scenario=str((self.info.record or {}).get("name", "")),
                    disabled=self._disabled_keys(),
                    why=self.info.unavailable,
                    id="lesson",
                )
            yield Input(
                placeholder="filter by name, PID or state; Enter keeps it, Esc clears", id="filter"
            )
            yield ChannelTable(id="channels")
            yield EventLog(id="log", max_lines=2000)
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#channels").border_title = "IPC channels"
        self.query_one("#log").border_title = "Events"
        self.query_one(WorkerTable).focus()
        if self.columns != self.info.columns:
            self.log_line(
                f"the source's columns {self.info.columns!r} are unknown: showing process"
            )
        self._update_summary()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGHUP):
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(sig, self._on_signal, sig)
                self._signals.append(sig)
        self.source.start(self._deliver, self._failed)

    def on_unmount(self) -> None:
        with contextlib.suppress(RuntimeError):
            loop = asyncio.get_running_loop()
            for sig in self._signals:
                loop.remove_signal_handler(sig)

    def _on_signal(self, sig: signal.Signals) -> None:
        self.log_line(f"mptop got {sig.name}: quitting")
        self.run_worker(self.action_quit(ask=False), exclusive=True, group="quit")

    # -- snapshots -----------------------------------------------------------------

    def _deliver(self, snapshot: Snapshot) -> None:
        """Runs on the source's thread: hand over, never block."""
        if not self.post_message(SnapshotReady(snapshot)):
            self.source.arm()

    def _failed(self, line: str) -> None:
        """A snapshot could not be taken: say so on screen and in the log (from any thread)."""
        if threading.get_ident() == self._thread_id:
            self._show_failure(line)
            return
        with contextlib.suppress(RuntimeError):  # the app has stopped meanwhile
            self.call_from_thread(self._show_failure, line)

    def _show_failure(self, line: str) -> None:
        self.sampling_failure = line
        self.notify(line, severity="error", timeout=10)
        self.log_line(line)
        self._update_summary()

    def on_snapshot_ready(self, message: SnapshotReady) -> None:
        try:
            if self.frozen:
                self._held = message.snapshot
                self._held_events.extend(message.snapshot.events)
            else:
                with contextlib.suppress(NoMatches):  # one that arrives as the screen goes
                    self.apply(message.snapshot)
        finally:
            self.source.arm()

    def apply(self, snap: Snapshot) -> None:
        """Show ``snap``: each widget redraws only what changed, inside one batch."""
        self.snapshot = snap
        self.sampling_failure = ""
        self._totals.append(snap.total_percent)
        with self.batch_update():
            self._update_summary()
            self.query_one(CoresPanel).update_cores(snap.cores, snap.hosts)
            self.query_one(WorkerTable).update_workers(snap.workers, snap.mptop)
            self.query_one(ChannelTable).update_channels(
                snap.channels, self.info.no_channels, self.info.channels_note, self.info.ended
            )
            if self.lesson:
                self.query_one(LessonPanel).update_figures(self._shown_workers(snap), snap)
                if self.info.lesson_output and snap.workers:
                    self._read_lesson_output(snap.workers[0].pid)
            if snap.events:
                self.query_one(EventLog).add(f"{self.clock(e.time)} {e.text}" for e in snap.events)
        if isinstance(self.screen, DetailScreen):
            sample = self.query_one(WorkerTable).sample(self.screen.pid)
            if sample is None:  # restarted (a cluster's worker): its successor took the row
                sample = next((w for w in snap.workers if w.replaces == self.screen.pid), None)
            if sample is not None:
                self.screen.reload(sample, snap.time)
        elif isinstance(self.screen, OutputScreen):
            self.screen.reload()

    @work(thread=True, exclusive=True, group="lesson-output")
    def _read_lesson_output(self, pid: int) -> None:
        """The program's last ``SourceInfo.lesson_output`` lines for the lesson panel, read off
        the UI loop (``Source.output`` reads a file), once per snapshot."""
        try:
            tails = self.source.output(pid)
        except CommandError:
            return
        lines = tuple(line for tail in tails for line in tail.lines if line.strip())
        with contextlib.suppress(RuntimeError):  # the app has stopped meanwhile
            self.call_from_thread(self._show_lesson_output, lines[-self.info.lesson_output :])

    def _show_lesson_output(self, lines: tuple[str, ...]) -> None:
        with contextlib.suppress(NoMatches):
            self.query_one(LessonPanel).update_program(lines)

    def _shown_workers(self, snap: Snapshot) -> tuple[WorkerSample, ...]:
        """``snap``'s workers less the exited rows ``c`` cleared (the source still reports them)."""
        cleared = self.query_one(WorkerTable).cleared
        return tuple(w for w in snap.workers if w.pid not in cleared)

    def summary(self) -> str:
        """The header line: run, load, settings, and what the numbers mean.

        Ordered by what must stay visible when the line is cut on a narrow
        terminal: a sampling failure and the source's lead (a replay's
        position), the frozen and filter states (they hide what changes),
        then the counts and load, the sort and refresh, the source's facts
        and the explanations last.
        """
        snap = self.snapshot
        table = self.query_one(WorkerTable)
        parts: list[str] = []
        if self.sampling_failure:
            parts.append(f"⚠ {self.sampling_failure}")
        parts += self.info.lead
        if self.frozen:
            parts.append("FROZEN (space)")
        if table.filter_text:
            parts.append(f"filter '{table.filter_text}'")
        method = ""
        if snap is not None:
            shown = self._shown_workers(snap)
            method = snap.start_method + (
                " (parent has threads!)" if snap.start_method == "fork" else ""
            )
            parts += [
                process_counts(shown),
                f"total {snap.total_percent:.0f}% {cores_mod.spark(list(self._totals))}"
                f" of {len(snap.cores)} cores",
            ]
            if snap.load_avg is not None:
                parts.append("load " + " ".join(f"{x:.2f}" for x in snap.load_avg))
        label = table.columns.column(table.sort_key).label
        parts.append(f"sort {label}{'▼' if table.sort_reverse else '▲'}")
        recorded = "recorded " if Cap.SPEED in self.caps else ""
        parts.append(f"{recorded}every {self.interval:g} s")
        if method:
            parts.append(method)
        parts += self.info.facts
        parts += ["CPU% 100 = one core", f"mptop {__version__}"]
        return " │ ".join(parts)

    def _update_summary(self) -> None:
        self.info = self.source.info()  # a command may have changed it (a replay paused)
        with contextlib.suppress(NoMatches):  # a command that ends after the screen has gone
            self.query_one(Summary).show(self.summary())

    def log_line(self, text: str) -> None:
        """Append ``text`` to the event log, stamped with the time now."""
        self.query_one(EventLog).add([f"{self.clock(time.time())} {text}"])

    # -- enabling ------------------------------------------------------------------

    def has(self, action: str) -> bool:
        """Whether the source takes what ``action`` needs (actions that need nothing: True)."""
        cap = ACTION_CAPS.get(action)
        return cap is None or cap in self.caps

    def gives_way(self, action: str) -> bool:
        """Whether ``action`` gives its key to another here (:data:`GIVE_WAY`: a cluster's ``t``
        retires, its ``r`` restarts): then it is hidden, in the footer, the palette and the help."""
        cap = GIVE_WAY.get(action)
        return cap is not None and cap in self.caps

    def _disabled_keys(self) -> frozenset[str]:
        """The keys no action of which the source can do (``k`` in a replay): the lesson leaves
        out their hints. A key another action takes here (``t`` retires a cluster's worker,
        ``-`` paces a replay) is not disabled."""
        off: set[str] = set()
        on: set[str] = set()
        for binding in self.BINDINGS:
            if not isinstance(binding, Binding):
                continue
            keys = {k for k in binding.key.split(",") if k}
            if binding.key_display:
                keys.add(binding.key_display)
            action = binding.action.partition("(")[0]
            (on if self.has(action) and not self.gives_way(action) else off).update(keys)
        return frozenset(off - on)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Which keys act and show: those whose capability the source has.

        Without it, an action is greyed (None) in the footer, or hidden
        (False) for the playback keys and, in a playback, for every key that
        cannot act there (a replay's footer is not crowded by process keys);
        ``space`` freezes the display where it does not pause a playback.
        The seek keys (← → Home End) are the worker table's where there is
        nothing to play back, and the text cursor's while the filter line has
        the focus. An action that gives its key away here (:meth:`gives_way`: a
        cluster's ``t`` retires, ``r`` restarts) is hidden; the cluster's own
        keys are hidden elsewhere (:data:`HIDDEN_WITHOUT`). While a dialog
        (detail, help, confirm, pin) is up, only its own keys act and the
        footer shows only them; Ctrl+C still quits from anywhere.
        """
        if isinstance(self.screen, ModalScreen) and action not in ("quit_now", "command_palette"):
            return False
        if self.gives_way(action):
            return False
        playback = Cap.PAUSE in self.caps
        if action == "freeze":
            return not playback
        if action in MAKE_ROOM_FOR_PLAYBACK and playback:
            return False
        if action in SEEK_KEYS and isinstance(self.focused, Input):
            return False
        if not self.has(action):
            return False if action in HIDDEN_WITHOUT or playback else None
        # no lesson: no L in the footer
        return not (action == "lesson" and not self.lesson)

    def unavailable(self) -> str:
        """Why the keys the source lacks are disabled, for the palette and the help."""
        return f"disabled: {self.info.unavailable or 'not in this kind of run'}"

    def get_system_commands(self, screen: Screen[object]) -> Iterable[SystemCommand]:
        """Every mptop action first, then Textual's own (Ctrl+P; :class:`MptopCommands` keeps the order).

        Each has a title saying what it does and a help line with its keys and
        more; those the run can act on come first, in the footer's order, then
        the ones it cannot (:class:`Greyed`, dimmed, their help saying why, e.g.
        "disabled: a replay starts no process"); keys hidden here (the playback
        keys without a playback, freeze in a replay, the lesson without one) are
        left out, and so are those that give their key away here (:meth:`gives_way`: a cluster's
        terminate and rebuild). Textual's "Quit" is replaced by mptop's, which it called anyway.
        """
        keys: dict[str, list[str]] = {}
        for binding in self.BINDINGS:
            assert isinstance(binding, Binding)
            keys.setdefault(binding.action, []).append(key_text(binding.key))
        enabled: list[SystemCommand] = []
        greyed: list[SystemCommand] = []
        for action, key_list in keys.items():
            name = action.partition("(")[0]
            if action not in ENTRIES:
                continue  # quit_now (Ctrl+C), close_filter (Esc): no command of their own
            if action == "lesson" and not self.lesson:
                continue
            if (name in HIDDEN_WITHOUT and not self.has(name)) or self.gives_way(name):
                continue
            if (name == "freeze" and Cap.PAUSE in self.caps) or (
                name in ("slower", "faster") and Cap.SPEED in self.caps
            ):
                continue  # their keys play back here
            title, does = ENTRIES[action]
            help_text = f"{escape(' '.join(key_list))} · {escape(does)}"
            if self.has(name):

                def run(action: str = action) -> None:
                    self.run_worker(self.run_action(action), group="palette")

                enabled.append(SystemCommand(title, help_text, run))
            else:

                def refuse() -> None:
                    self.notify(self.unavailable(), severity="warning")

                greyed.append(Greyed(title, f"{help_text} ({escape(self.unavailable())})", refuse))
        yield from enabled
        yield from greyed
        for command in super().get_system_commands(screen):
            if command.title != "Quit":
                yield command

    # -- commands --------------------------------------------------------------------

    def selected_pid(self) -> int | None:
        """PID of the selected worker row, or None."""
        return self.query_one(WorkerTable).selected_pid

    def _warn(self, text: str) -> None:
        self.notify(text, severity="warning")
        self.log_line(text)

    def send(self, *commands: Command) -> None:
        """Send ``commands`` to the source, in order, off the loop; a failure is a warning and a log line.

        No failure quits the app: a :class:`CommandError` is shown as it is,
        anything else with its type (and the rest of ``commands`` still go).
        """
        if self._quitting:
            return
        self._send(commands)

    @work(thread=True, group="commands")
    def _send(self, commands: tuple[Command, ...]) -> None:
        self._carry_out(commands)

    def _carry_out(self, commands: tuple[Command, ...]) -> None:
        """On a thread worker: send each of ``commands``, warn of each failure, refresh the header."""
        for command in commands:
            try:
                note = self.source.send(command)
            except CommandError as err:
                self.call_from_thread(self._warn, str(err))
                continue
            except Exception as err:
                what = type(command).__name__
                self.call_from_thread(self._warn, f"{what} failed: {type(err).__name__}: {err}")
                continue
            if note:
                self.call_from_thread(self.log_line, note)
        with contextlib.suppress(RuntimeError):
            self.call_from_thread(self._update_summary)

    def play(self, command: Command) -> None:
        """Send a playback command (pause, step, seek, speed) in the order the keys came.

        ``send`` gives each key a thread of its own, so two quick keys may reach
        the source in either order; for these the order is the result (``End``
        then ``Home`` must end on the first tick), so one thread sends them from
        a queue, oldest first.
        """
        if self._quitting:
            return
        with self._playback_lock:
            self._playback.append(command)
            if self._playback_sending:
                return
            self._playback_sending = True
        self._send_playback()

    @work(thread=True, group="commands")
    def _send_playback(self) -> None:
        while True:
            with self._playback_lock:
                if not self._playback:
                    self._playback_sending = False
                    break
                command = self._playback.popleft()
            self._carry_out((command,))

    def _selected(self) -> WorkerSample | None:
        """The selected worker's latest sample; warns and returns None when nothing is selected."""
        pid = self.selected_pid()
        sample = None if pid is None else self.query_one(WorkerTable).sample(pid)
        if sample is None:
            self.notify("no worker selected", severity="warning")
        return sample

    def action_add(self) -> None:
        """Start one more worker (off the loop: a start may take 100 ms under spawn)."""
        self.send(Add())

    def _send_to(self, w: WorkerSample, what: str, command: Command) -> None:
        """Send ``command`` for ``w``; first ask, where the processes are not mptop's (attach)."""
        if not self.info.confirm_signals:
            self.send(command)
            return

        def answered(yes: bool | None) -> None:
            if yes:
                self.send(command)

        self.push_screen(
            ConfirmScreen(f"{what} {w.name} (PID {w.pid})? mptop did not start it."), answered
        )

    def action_terminate(self) -> None:
        """SIGTERM the selected worker."""
        if (w := self._selected()) is not None:
            self._send_to(w, "Terminate (SIGTERM)", Signal(w.pid, signal.SIGTERM, EXIT_WAIT))

    def action_retire(self) -> None:
        """Retire the selected cluster worker: its data moves to the others first, then it closes
        (``t`` where the source has Cap.RETIRE)."""
        if (w := self._selected()) is not None:
            self.notify(f"retiring {w.name}: its data moves to the other workers first", timeout=3)
            self._send_to(w, "Retire", Retire(w.pid))

    def action_restart(self) -> None:
        """Restart the selected cluster worker through its nanny: a new process, the same name
        and row (``r`` where the source has Cap.RESTART)."""
        if (w := self._selected()) is not None:
            self.notify(f"restarting {w.name} through its nanny", timeout=3)
            self._send_to(w, "Restart", Restart(w.pid))

    def action_kill(self) -> None:
        """SIGKILL the selected worker."""
        if (w := self._selected()) is not None:
            self._send_to(w, "Kill (SIGKILL)", Signal(w.pid, signal.SIGKILL, EXIT_WAIT))

    def action_suspend(self) -> None:
        """SIGSTOP or SIGCONT the selected worker."""
        if (w := self._selected()) is not None:
            verb = "Resume (SIGCONT)" if w.state is WorkerState.STOPPED else "Suspend (SIGSTOP)"
            self._send_to(w, verb, ToggleSuspend(w.pid))

    def action_pin(self) -> None:
        """Choose the cores the selected worker may run on, in a dialog (as htop's ``a``).

        Its affinity now is read off the loop (the source's detail), then the
        dialog opens with it checked; Enter sends ``Pin(pid, cores)``, or
        ``Unpin(pid)`` when every core is checked. Where the processes are not
        mptop's (an attached tree), it asks first, as ``t``, ``k`` and ``s`` do.
        """
        if self._quitting or self._pin_reading:
            return
        if (w := self._selected()) is None:
            return
        if not w.alive:
            self._warn(f"{w.pid}: has exited: it runs on no core")
            return
        self._pin_reading = True
        self._open_pin(w)

    @work(thread=True, group="pin")
    def _open_pin(self, w: WorkerSample) -> None:
        try:
            try:
                affinity = self.source.detail(w.pid).affinity
            except CommandError:
                affinity = None
            if affinity is None and w.pinned is not None:
                affinity = (w.pinned,)
            with contextlib.suppress(RuntimeError):  # the app has stopped meanwhile
                self.call_from_thread(self._show_pin, w, affinity)
        finally:
            self._pin_reading = False

    def _show_pin(self, w: WorkerSample, affinity: tuple[int, ...] | None) -> None:
        if self._quitting or isinstance(self.screen, ModalScreen):
            return  # another dialog came first, or mptop is closing
        snap = self.snapshot
        cores = len(snap.cores) if snap is not None and snap.cores else os.cpu_count() or 1
        core = w.core if w.alive else None

        def chosen(choice: PinChoice | None) -> None:
            if choice is None:
                return
            if choice.every:
                self._send_to(w, "Set the affinity (every core) of", Unpin(w.pid))
            else:
                many = "s" if len(choice.cores) > 1 else ""
                cores_text = f"core{many} {','.join(map(str, choice.cores))}"
                what = f"Set the affinity ({cores_text}) of"
                self._send_to(w, what, Pin(w.pid, choice.cores))

        load = snap.cores if snap is not None else ()
        self.push_screen(PinScreen(w.pid, w.name, cores, affinity, core, load), chosen)

    def action_rebuild(self) -> None:
        """New channels, and new workers on them: the cure for a stalled Queue (takes ~1-2 s)."""
        if not self._quitting:
            self.notify("rebuilding the channels: replacing the workers…")
            self.send(Rebuild())

    def action_toggle_daemon(self) -> None:
        """Flip the daemon flag used for the next workers added."""
        self.send(ToggleDaemon())

    def action_pause(self) -> None:
        """Pause or resume the playback."""
        self.play(TogglePause())

    def action_step(self) -> None:
        """Show the next snapshot and stay paused there (``→``, ``.``, ``n``)."""
        self.play(Step())

    def action_step_back(self) -> None:
        """Show the previous snapshot and stay paused there (``←``)."""
        self.play(Step(-1))

    def action_jump(self, by: int) -> None:
        """Show the snapshot ``by`` ticks on (negative: back), paused (``[`` ``]``: 10 ticks)."""
        self.play(Step(by))

    def action_seek_first(self) -> None:
        """Show the first snapshot and pause there (``Home``)."""
        self.play(Seek(0))

    def action_seek_last(self) -> None:
        """Show the last snapshot and pause there (``End``)."""
        self.play(Seek(-1))

    def _set_speed(self, factor: float) -> None:
        self.speed = factor
        self.play(SetSpeed(factor))
        self._update_summary()

    def action_replay_slower(self) -> None:
        """Play the recording back slower, down to 0.25x its recorded pace (``-``)."""
        self._set_speed(next((x for x in reversed(SPEEDS) if x < self.speed), SPEEDS[0]))

    def action_replay_faster(self) -> None:
        """Play the recording back faster, up to 16x its recorded pace (``=``)."""
        self._set_speed(next((x for x in SPEEDS if x > self.speed), SPEEDS[-1]))

    def action_scroll_columns(self, direction: int) -> None:
        """Scroll the worker table a column sideways (``shift+←`` ``shift+→``; in a replay
        ``←`` ``→`` step through the ticks)."""
        self.query_one(WorkerTable).action_column_step(direction)

    def _confirm_all(self, verb: str, sig: signal.Signals) -> None:
        if self._quitting:
            return
        snap = self.snapshot
        skip = self.info.not_workers  # (a cluster's scheduler: a row, not a worker)
        pids = (
            [w.pid for w in snap.workers if w.alive and w.pid not in skip]
            if snap is not None
            else []
        )
        if not pids:
            self.notify("no live worker", severity="warning")
            return

        def answered(yes: bool | None) -> None:
            if yes:  # the last one waits for its exit, so the exit codes show at once
                self.send(*(Signal(p, sig, EXIT_WAIT if p == pids[-1] else 0) for p in pids))

        self.push_screen(ConfirmScreen(f"{verb} all {len(pids)} live workers?"), answered)

    def action_terminate_all(self) -> None:
        """SIGTERM every live worker, after a yes."""
        self._confirm_all("Terminate (SIGTERM)", signal.SIGTERM)

    def action_kill_all(self) -> None:
        """SIGKILL every live worker, after a yes."""
        self._confirm_all("Kill (SIGKILL)", signal.SIGKILL)

    def action_clear_exited(self) -> None:
        """Remove the rows of exited workers."""
        n = self.query_one(WorkerTable).clear_exited()
        self._update_summary()
        self.notify(f"cleared {n} exited row{'s' if n != 1 else ''}", timeout=2)

    # -- actions: view -------------------------------------------------------------

    def action_detail(self, pid: int | None = None) -> None:
        """Open the detail screen of the selected worker (or of ``pid``)."""
        table = self.query_one(WorkerTable)
        pid = table.selected_pid if pid is None else pid
        sample = None if pid is None else table.sample(pid)
        if sample is None:
            self.notify("no worker selected", severity="warning")
            return
        snap = self.snapshot
        self.push_screen(
            DetailScreen(
                sample,
                self._read_detail,
                now=snap.time if snap else time.time(),
                total_cores=len(snap.cores) if snap else None,
                time_fmt=self.clock,
                stacks=self.source.stacks if Cap.STACKS in self.caps else None,
            )
        )

    def _read_detail(self, pid: int) -> WorkerDetail | None:
        """Runs on a thread: the detail of worker ``pid``, or None if the source has none."""
        try:
            return self.source.detail(pid)
        except CommandError:
            return None

    def action_threads(self) -> None:
        """Show each process's threads as rows under it, or hide them (``H``, as htop's)."""
        table = self.query_one(WorkerTable)
        on = not table.show_threads
        table.set_show_threads(on)
        self.send(ShowThreads(on))
        self.notify("threads shown under each process" if on else "threads hidden", timeout=2)

    def action_output(self) -> None:
        """Show the selected process's captured stdout and stderr, followed live (``o``)."""
        table = self.query_one(WorkerTable)
        pid = table.selected_pid
        sample = None if pid is None else table.sample(pid)
        if sample is None:
            self.notify("no process selected", severity="warning")
            return
        self.push_screen(OutputScreen(sample.pid, sample.name, self.source.output))

    def on_worker_table_activated(self, message: WorkerTable.Activated) -> None:
        self.action_detail(message.pid)

    def action_lesson(self) -> None:
        """Show or hide the scenario's lesson panel."""
        if self.lesson:
            panel = self.query_one(LessonPanel)
            panel.display = not panel.display

    def action_help(self) -> None:
        """Show every key and what the numbers mean."""
        if not isinstance(self.screen, HelpScreen):
            bindings = [b for b in self.BINDINGS if isinstance(b, Binding)]
            # a key another action takes here is not disabled (- and = pace a replay)
            acting = {
                k
                for b in bindings
                if self.has(b.action.partition("(")[0])
                for k in b.key.split(",")
            }
            disabled = tuple(
                b.key_display or b.key.split(",")[0]
                for b in bindings
                if not self.has(action := b.action.partition("(")[0])
                and action not in HIDDEN_WITHOUT
                and not self.gives_way(action)
                and not set(b.key.split(",")) <= acting
            )
            # the rows of keys this run does not show at all (a cluster's retire and restart
            # elsewhere; terminate and rebuild where t and r retire and restart)
            names = {b.action.partition("(")[0] for b in bindings}
            hidden = frozenset(
                a for a in names if (a in HIDDEN_WITHOUT and not self.has(a)) or self.gives_way(a)
            )
            columns = self.query_one(WorkerTable).columns.columns
            self.push_screen(HelpScreen(disabled, self.info.unavailable, columns, hidden))

    def _set_interval(self, seconds: float) -> None:
        seconds = max(MIN_INTERVAL, min(MAX_INTERVAL, seconds))
        self.interval = seconds
        self.send(SetInterval(seconds))
        self._update_summary()

    def action_slower(self) -> None:
        """Refresh less often (up to every 10 s)."""
        self._set_interval(next((i for i in INTERVALS if i > self.interval), INTERVALS[-1]))

    def action_faster(self) -> None:
        """Refresh more often (down to every 0.1 s)."""
        self._set_interval(
            next((i for i in reversed(INTERVALS) if i < self.interval), INTERVALS[0])
        )

    def action_freeze(self) -> None:
        """Freeze or thaw the display; sampling and the processes go on."""
        self.frozen = not self.frozen
        if not self.frozen and self._held is not None:
            held = dataclasses.replace(self._held, events=tuple(self._held_events))
            self._held, self._held_events = None, []
            self.apply(held)
        self._update_summary()

    def action_invert(self) -> None:
        """Invert the sort order."""
        table = self.query_one(WorkerTable)
        table.sort_reverse = not table.sort_reverse
        self._update_summary()

    def action_sort_step(self, step: int) -> None:
        """Sort by the column left (-1) or right (+1) of the current one."""
        table = self.query_one(WorkerTable)
        keys = table.columns.keys
        i = keys.index(table.sort_key)
        table.sort_by(keys[(i + step) % len(keys)])  # CPU%, RSS, rates: biggest first
        self._update_summary()

    def on_click(self) -> None:
        self._update_summary()  # a header click may have changed the sort

    def action_filter(self) -> None:
        """Show the filter line and focus it."""
        box = self.query_one("#filter", Input)
        box.add_class("-shown")
        box.focus()

    @on(Input.Changed, "#filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        self.query_one(WorkerTable).filter_text = event.value
        self._update_summary()

    @on(Input.Submitted, "#filter")
    def _filter_submitted(self, event: Input.Submitted) -> None:
        box = self.query_one("#filter", Input)
        if not box.value:
            box.remove_class("-shown")
        self.query_one(WorkerTable).focus()

    def action_close_filter(self) -> None:
        """Esc: from the lesson or the event log, back to the table (the filter kept);
        otherwise clear the filter and hide its line."""
        table = self.query_one(WorkerTable)
        if (
            self.focused is not None
            and self.focused is not table
            and not isinstance(self.focused, Input)
        ):
            table.focus()
            return
        box = self.query_one("#filter", Input)
        box.value = ""
        box.remove_class("-shown")
        self.query_one(WorkerTable).filter_text = ""
        self.query_one(WorkerTable).focus()
        self._update_summary()

    # -- quitting ------------------------------------------------------------------

    async def action_quit_now(self) -> None:
        """Ctrl+C: quit from any screen, dialogs included (a second Ctrl+C in the quit dialog terminates)."""
        if isinstance(self.screen, QuitScreen):
            self.screen.dismiss("terminate")
            return
        await self.action_quit()

    async def action_quit(self, ask: bool = True) -> None:
        """Close the source (it stops its processes: about 2.5 s at most), then leave.

        Where the processes are not mptop's own (a user's program, Cap.LEAVE)
        and still run, ask first: terminate them, leave them running, or stay.
        """
        if self._quitting:
            return
        info = self.source.info()
        if ask and Cap.LEAVE in self.caps and not info.ended and not info.quiet_quit:
            if not isinstance(self.screen, QuitScreen):
                title = info.lead[0].split(" running")[0] if info.lead else "the program"
                dialog = QuitScreen(
                    title, info.leave_question, info.leave_hints, may_leave=self.may_leave
                )
                self.push_screen(dialog, self._quit_answered)
            return
        self._quitting = True
        if Cap.ADD in self.caps or Cap.SIGNAL in self.caps:
            self.notify("stopping workers…", timeout=3)
        self._close_and_exit()

    def _quit_answered(self, choice: str | None) -> None:
        if choice == "stay" or choice is None:
            return
        self._leave_on_quit = choice == "leave"
        self.run_worker(self.action_quit(ask=False), group="quit")

    @work(thread=True, group="quit")
    def _close_and_exit(self) -> None:
        try:
            if self._leave_on_quit:  # on this thread, so that it comes before the close
                with contextlib.suppress(CommandError):
                    self.source.send(Leave())
            self.closed = self.source.close()
        finally:
            if self.exit_watchdog is not None:
                # If the terminal is gone (SIGHUP, a closed window), Textual's own exit can
                # block for ever on a write; the workers are gone already, so do not wait.
                self._watchdog = threading.Timer(self.exit_watchdog, os._exit, args=(0,))
                self._watchdog.daemon = True
                self._watchdog.start()
            self.call_from_thread(self.exit, 0)

    def cancel_watchdog(self) -> None:
        """Disarm the exit watchdog (call once ``run()`` has returned)."""
        if self._watchdog is not None:
            self._watchdog.cancel()
