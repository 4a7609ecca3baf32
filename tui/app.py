"""``MptopApp``: composes the widgets, binds the keys, runs the sampling loop.

The event loop never blocks: psutil reads happen on the sampling thread,
process starts, signals and detail reads on Textual thread workers, and
mptop's own queue traffic on the dispatcher thread. A snapshot arrives as a
``SnapshotReady`` message; the next one is armed only after it has been applied.

Without a supervisor the app is view-only: it shows whatever
:class:`Snapshot` it is given through :meth:`MptopApp.apply` (tests, a
replay), and the keys that act on processes are disabled.
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
from textual.containers import Horizontal
from textual.driver import Driver
from textual.drivers.linux_driver import LinuxDriver
from textual.message import Message
from textual.screen import ModalScreen, Screen
from textual.widgets import Footer, Input, Log

from mptop.tui.detail import WorkerDetail, detail_from_sample, read_detail
from mptop.tui.driver import QuietLinuxDriver
from mptop.tui.screens.confirm import ConfirmScreen
from mptop.tui.screens.detail import DetailScreen
from mptop.tui.screens.help import HelpScreen
from mptop.tui.widgets import cores as cores_mod
from mptop.tui.widgets.channels_table import ChannelTable
from mptop.tui.widgets.cores import CoresPanel
from mptop.tui.widgets.lesson import LessonPanel
from mptop.tui.widgets.summary import Summary
from mptop.tui.widgets.workers_table import COLUMN_KEYS, COLUMNS, WorkerTable
from mptop.workers import __version__
from mptop.workers.dispatcher import Dispatcher
from mptop.workers.sampler import MIN_CPU_WINDOW, Sampler, SamplingThread
from mptop.workers.snapshot import Event, Snapshot, WorkerSample
from mptop.workers.spec import MAX_INTERVAL, MIN_INTERVAL
from mptop.workers.supervisor import NoSuchWorker, Supervisor

# After SIGTERM or SIGKILL, how long a key's command waits for the exit before refreshing, seconds.
EXIT_WAIT = 0.3
# Refresh intervals that `-` and `=` step through, seconds.
INTERVALS: tuple[float, ...] = (0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0)
# Actions that act on processes: disabled (greyed in the footer) without a supervisor.
PROCESS_ACTIONS = frozenset(
    {
        "add",
        "terminate",
        "kill",
        "suspend",
        "pin",
        "toggle_daemon",
        "terminate_all",
        "kill_all",
        "rebuild",
    }
)
VIEW_ONLY = "disabled: view only, no supervisor"


def local_clock(t: float) -> str:
    """``time.time()`` seconds -> local ``HH:MM:SS``."""
    return time.strftime("%H:%M:%S", time.localtime(t))


# After `a`, when to sample again so the new worker's first CPU% shows without waiting
# for the next tick: just over the sampler's shortest CPU window.
FIRST_CPU_SECONDS = MIN_CPU_WINDOW + 0.05


class SnapshotReady(Message):
    """Posted from the sampling thread: one new :class:`Snapshot` to apply."""

    def __init__(self, snapshot: Snapshot) -> None:
        super().__init__()
        self.snapshot = snapshot


class MptopApp(App[int]):
    """The mptop screen, for one :class:`~mptop.workers.supervisor.Supervisor` or view-only.

    With a supervisor, the app starts its workers, the dispatcher and the
    sampling thread on mount, and shuts all of them down on quit (``q``,
    Ctrl+C, SIGTERM, SIGHUP). ``supervisor.prepare()`` is called here, in
    ``__init__``, because multiprocessing's helpers must start before Textual
    replaces ``sys.stderr``.

    With ``supervisor=None`` nothing is started: feed it with :meth:`apply`;
    ``detail_source`` (PID sample -> detail, may block: it runs on a thread)
    backs the detail screen, and ``clock`` formats event times.
    """

    CSS_PATH = Path(__file__).with_name("app.tcss")
    # From 230 cells wide the channels (about 115 wide) and the event log sit side by side.
    # -tight (under 100 columns): the footer drops its "^p palette" hint so "q Quit" fits at 80
    HORIZONTAL_BREAKPOINTS = [(0, "-tight"), (100, "-narrow"), (230, "-wide")]  # noqa: RUF012 (typed by App)
    VERTICAL_BREAKPOINTS = [(0, "-short"), (36, "-tall")]  # noqa: RUF012
    TITLE = "mptop"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("a,plus", "add", "Add", key_display="a"),
        Binding("t", "terminate", "Term"),
        Binding("k", "kill", "Kill"),
        Binding("s", "suspend", "Suspend"),
        Binding("p", "pin", "Pin"),
        Binding("enter", "detail", "Detail"),
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
        Binding("space", "freeze", "Freeze", show=False),
        Binding("I", "invert", "Invert sort", show=False),
        Binding("less_than_sign", "sort_step(-1)", "Sort left", key_display="<", show=False),
        Binding("greater_than_sign", "sort_step(1)", "Sort right", key_display=">", show=False),
        Binding("escape", "close_filter", "Close filter", show=False),
        Binding("ctrl+c", "quit_now", "Quit", show=False, priority=True),
    ]

    def __init__(
        self,
        supervisor: Supervisor | None = None,
        *,
        start_workers: bool = True,
        interval: float | None = None,
        detail_source: Callable[[WorkerSample], WorkerDetail | None] | None = None,
        clock: Callable[[float], str] = local_clock,
        exit_watchdog: float | None = None,
        lesson: str = "",
        lesson_title: str = "Lesson",
    ) -> None:
        super().__init__()
        self.supervisor = supervisor
        self.sampling: SamplingThread | None = None
        self.dispatcher: Dispatcher | None = None
        if supervisor is not None:
            supervisor.prepare()
            scenario = supervisor.scenario
            self.dispatcher = Dispatcher(
                supervisor, scenario.worker.task_seconds, scenario.message_size, scenario.rate
            )
            self.sampler = Sampler(supervisor, self.dispatcher.delivered)
            self.interval = supervisor.scenario.interval if interval is None else interval
            self.sampling = SamplingThread(self.sampler, self.interval, self._deliver)
        else:
            self.interval = 1.0 if interval is None else interval
        self.snapshot: Snapshot | None = None
        self.frozen = False
        self.clock = clock
        self._detail_source = detail_source
        self._held: Snapshot | None = None
        self._held_events: list[Event] = []
        self._totals: deque[float] = deque(maxlen=8)
        self._start_workers = start_workers
        self._quitting = False
        # Seconds after the workers are stopped at which the process exits even if
        # Textual has not finished restoring the terminal; None (tests) = never.
        self.exit_watchdog = exit_watchdog
        self._watchdog: threading.Timer | None = None
        # The scenario's explanation, shown in a panel that L toggles ("" = no panel, no key).
        self.lesson = lesson.strip()
        self.lesson_title = lesson_title

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
        yield WorkerTable(id="workers")
        if self.lesson:
            yield LessonPanel(self.lesson, title=self.lesson_title, id="lesson")
        yield Input(
            placeholder="filter by name, PID or state; Enter keeps it, Esc clears", id="filter"
        )
        with Horizontal(id="bottom"):
            yield ChannelTable(id="channels")
            yield Log(id="log", max_lines=2000)
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#channels").border_title = "IPC channels"
        self.query_one("#log").border_title = "Events"
        self.query_one(WorkerTable).focus()
        self._update_summary()
        if self.supervisor is None:
            return
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGHUP):
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(sig, self._on_signal, sig)
        assert self.sampling is not None and self.dispatcher is not None
        self.sampling.start()
        self.dispatcher.start()
        if self._start_workers:
            self._start_all()

    def _on_signal(self, sig: signal.Signals) -> None:
        self.log_line(f"mptop got {sig.name}: quitting")
        self.run_worker(self.action_quit(), exclusive=True, group="quit")

    @work(thread=True, group="commands")
    def _start_all(self) -> None:
        assert self.supervisor is not None
        try:
            self.supervisor.start()
        except RuntimeError:
            return  # quit came first
        self._poke()

    def _poke(self) -> None:
        if self.sampling is not None:
            self.sampling.poke()

    # -- snapshots -----------------------------------------------------------------

    def _deliver(self, snapshot: Snapshot) -> None:
        """Runs on the sampling thread: hand over, never block."""
        if not self.post_message(SnapshotReady(snapshot)) and self.sampling is not None:
            self.sampling.arm()

    def on_snapshot_ready(self, message: SnapshotReady) -> None:
        try:
            if self.frozen:
                self._held = message.snapshot
                self._held_events.extend(message.snapshot.events)
            else:
                self.apply(message.snapshot)
        finally:
            if self.sampling is not None:
                self.sampling.arm()

    def apply(self, snap: Snapshot) -> None:
        """Show ``snap``: each widget redraws only what changed, inside one batch."""
        self.snapshot = snap
        self._totals.append(snap.total_percent)
        with self.batch_update():
            self._update_summary()
            self.query_one(CoresPanel).update_cores(snap.cores)
            self.query_one(WorkerTable).update_workers(snap.workers)
            self.query_one(ChannelTable).update_channels(snap.channels)
            if self.lesson:
                self.query_one(LessonPanel).update_figures(self._shown_workers(snap))
            if snap.events:
                self.query_one(Log).write_lines(
                    (f"{self.clock(e.time)} {e.text}" for e in snap.events), scroll_end=True
                )
        if isinstance(self.screen, DetailScreen):
            sample = self.query_one(WorkerTable).sample(self.screen.pid)
            if sample is not None:
                self.screen.reload(sample, snap.time)

    def _shown_workers(self, snap: Snapshot) -> tuple[WorkerSample, ...]:
        """``snap``'s workers less the exited rows ``c`` cleared (the sampler still reports them)."""
        cleared = self.query_one(WorkerTable).cleared
        return tuple(w for w in snap.workers if w.pid not in cleared)

    def summary(self) -> str:
        """The header line: run, load, settings, and what the numbers mean.

        Ordered by what must stay visible when the line is cut on a narrow
        terminal: the frozen and filter states first (they hide what changes),
        then the counts and load, the sort and refresh, and the explanations last.
        """
        snap = self.snapshot
        table = self.query_one(WorkerTable)
        parts: list[str] = []
        if self.frozen:
            parts.append("FROZEN (space)")
        if table.filter_text:
            parts.append(f"filter '{table.filter_text}'")
        method = ""
        if snap is not None:
            shown = self._shown_workers(snap)
            alive = sum(1 for w in shown if w.alive)
            method = snap.start_method + (
                " (parent has threads!)" if snap.start_method == "fork" else ""
            )
            parts += [
                f"{alive}/{len(shown)} alive",
                f"total {snap.total_percent:.0f}% {cores_mod.spark(list(self._totals))}"
                f" of {len(snap.cores)} cores",
            ]
            if snap.load_avg is not None:
                parts.append("load " + " ".join(f"{x:.2f}" for x in snap.load_avg))
        label = COLUMNS[COLUMN_KEYS.index(table.sort_key)].label
        parts.append(f"sort {label}{'▼' if table.sort_reverse else '▲'}")
        parts.append(f"every {self.interval:g} s")
        if method:
            parts.append(method)
        sup = self.supervisor
        if sup is not None:
            daemon = "daemon" if sup.daemon_default else "non-daemon"
            parts.append(f"new: {daemon} {sup.scenario.worker.workload}")
        else:
            parts.append("view only")
        parts += ["CPU% 100 = one core", f"mptop {__version__}"]
        return " │ ".join(parts)

    def _update_summary(self) -> None:
        self.query_one(Summary).show(self.summary())

    def log_line(self, text: str) -> None:
        """Append ``text`` to the event log, stamped with the time now."""
        self.query_one(Log).write_line(f"{self.clock(time.time())} {text}")

    # -- enabling ------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Which keys act and show: process actions are greyed without a supervisor.

        While a dialog (detail, help, confirm) is up, only its own keys act and
        the footer shows only them; Ctrl+C still quits from anywhere.
        """
        if isinstance(self.screen, ModalScreen) and action not in ("quit_now", "command_palette"):
            return False
        if action in PROCESS_ACTIONS and self.supervisor is None:
            return None
        # no lesson: no L in the footer
        return not (action == "lesson" and not self.lesson)

    def get_system_commands(self, screen: Screen[object]) -> Iterable[SystemCommand]:
        """Every mptop action, by name, for the command palette (Ctrl+P)."""
        yield from super().get_system_commands(screen)
        for binding in self.BINDINGS:
            assert isinstance(binding, Binding)
            if binding.action in ("quit", "quit_now", "close_filter"):
                continue
            if binding.action == "lesson" and not self.lesson:
                continue
            name = binding.action.partition("(")[0]
            keys = binding.key_display or binding.key
            help_text = f"key: {keys}"
            enabled = not (name in PROCESS_ACTIONS and self.supervisor is None)
            if not enabled:
                help_text += f" ({VIEW_ONLY})"

            def run(action: str = binding.action, enabled: bool = enabled) -> None:
                if enabled:
                    self.run_worker(self.run_action(action), group="palette")
                else:
                    self.notify(VIEW_ONLY, severity="warning")

            yield SystemCommand(f"mptop: {binding.description}", help_text, run)

    # -- actions: workers ----------------------------------------------------------

    def selected_pid(self) -> int | None:
        """PID of the selected worker row, or None."""
        return self.query_one(WorkerTable).selected_pid

    def _warn(self, text: str) -> None:
        self.notify(text, severity="warning")
        self.log_line(text)

    @work(thread=True, group="commands")
    def _command(self, fn: Callable[[int], object], pid: int, ends_it: bool) -> None:
        assert self.supervisor is not None
        try:
            fn(pid)
            if ends_it:  # show the exit code at once rather than on the next tick
                self.supervisor.wait_exit(pid, EXIT_WAIT)
        except (NoSuchWorker, ValueError, NotImplementedError, OSError) as err:
            self.call_from_thread(self._warn, str(err))
        self._poke()

    def _on_selected(self, fn: Callable[[int], object], ends_it: bool = False) -> None:
        if self._quitting or self.supervisor is None:
            return
        pid = self.selected_pid()
        if pid is None:
            self.notify("no worker selected", severity="warning")
            return
        self._command(fn, pid, ends_it)

    @work(thread=True, group="commands")
    def action_add(self) -> None:
        """Start one more worker (off the loop: a start may take 100 ms under spawn)."""
        if self._quitting or self.supervisor is None:
            return
        try:
            self.supervisor.add()
        except RuntimeError:
            return
        self._poke()  # the new PID shows at once
        time.sleep(FIRST_CPU_SECONDS)  # this is a thread: sleeping here blocks nothing
        self._poke()  # and its first CPU% as soon as there is a window to measure

    def action_terminate(self) -> None:
        """SIGTERM the selected worker."""
        if self.supervisor is not None:
            self._on_selected(self.supervisor.terminate, ends_it=True)

    def action_kill(self) -> None:
        """SIGKILL the selected worker."""
        if self.supervisor is not None:
            self._on_selected(self.supervisor.kill, ends_it=True)

    def action_suspend(self) -> None:
        """SIGSTOP or SIGCONT the selected worker."""
        if self.supervisor is not None:
            self._on_selected(self.supervisor.toggle_suspend)

    def action_pin(self) -> None:
        """Pin the selected worker to its current core, or unpin it."""
        if self.supervisor is not None:
            self._on_selected(self.supervisor.toggle_pin)

    @work(thread=True, group="commands")
    def action_rebuild(self) -> None:
        """New channels, and new workers on them: the cure for a stalled Queue (takes ~1-2 s)."""
        if self._quitting or self.supervisor is None:
            return
        self.call_from_thread(self.notify, "rebuilding the channels: replacing the workers…")
        try:
            self.supervisor.rebuild_channels()
        except RuntimeError:
            return
        self._poke()

    def action_toggle_daemon(self) -> None:
        """Flip the daemon flag used for the next workers added."""
        sup = self.supervisor
        if sup is None:
            return
        sup.daemon_default = not sup.daemon_default
        self.log_line(f"new workers will be {'daemon' if sup.daemon_default else 'non-daemon'}")
        self._update_summary()

    def _confirm_all(self, verb: str, fn_name: str) -> None:
        if self._quitting or self.supervisor is None:
            return
        pids = self.supervisor.alive_pids()
        if not pids:
            self.notify("no live worker", severity="warning")
            return

        def answered(yes: bool | None) -> None:
            if yes:
                self._all(fn_name, pids)

        self.push_screen(ConfirmScreen(f"{verb} all {len(pids)} live workers?"), answered)

    @work(thread=True, group="commands")
    def _all(self, fn_name: str, pids: list[int]) -> None:
        assert self.supervisor is not None
        fn: Callable[[int], None] = getattr(self.supervisor, fn_name)
        for pid in pids:
            with contextlib.suppress(NoSuchWorker):
                fn(pid)
        deadline = time.monotonic() + EXIT_WAIT
        for pid in pids:
            with contextlib.suppress(NoSuchWorker):
                self.supervisor.wait_exit(pid, max(0.0, deadline - time.monotonic()))
        self._poke()

    def action_terminate_all(self) -> None:
        """SIGTERM every live worker, after a yes."""
        self._confirm_all("Terminate (SIGTERM)", "terminate")

    def action_kill_all(self) -> None:
        """SIGKILL every live worker, after a yes."""
        self._confirm_all("Kill (SIGKILL)", "kill")

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
            )
        )

    def _read_detail(self, sample: WorkerSample) -> WorkerDetail | None:
        """Runs on a thread: the detail of ``sample``'s worker."""
        if self.supervisor is not None:
            return read_detail(self.supervisor, sample)
        if self._detail_source is not None:
            return self._detail_source(sample)
        return detail_from_sample(sample)  # a replay: what the recording holds

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
            self.push_screen(HelpScreen())

    def _set_interval(self, seconds: float) -> None:
        seconds = max(MIN_INTERVAL, min(MAX_INTERVAL, seconds))
        self.interval = seconds
        if self.sampling is not None:
            self.sampling.interval = seconds
            self.sampling.poke()
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
        i = COLUMN_KEYS.index(table.sort_key)
        table.sort_by(COLUMN_KEYS[(i + step) % len(COLUMN_KEYS)])  # CPU%, RSS, rates: biggest first
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
        """Clear the filter and hide its line."""
        box = self.query_one("#filter", Input)
        box.value = ""
        box.remove_class("-shown")
        self.query_one(WorkerTable).filter_text = ""
        self.query_one(WorkerTable).focus()
        self._update_summary()

    # -- quitting ------------------------------------------------------------------

    async def action_quit_now(self) -> None:
        """Ctrl+C: quit from any screen, dialogs included."""
        await self.action_quit()

    async def action_quit(self) -> None:
        """Stop the workers (bounded, about 2.5 s at most), then leave."""
        if self._quitting:
            return
        self._quitting = True
        if self.supervisor is None:
            self.exit(0)
            return
        self.notify("stopping workers…", timeout=3)
        self._shutdown_and_exit()

    @work(thread=True, group="quit")
    def _shutdown_and_exit(self) -> None:
        assert self.supervisor is not None
        self.supervisor.shutdown()
        if self.dispatcher is not None:
            self.dispatcher.stop()
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

    def stop_threads(self) -> None:
        """Stop the sampling and dispatcher threads (idempotent; safe after exit)."""
        if self.sampling is not None:
            self.sampling.stop()
        if self.dispatcher is not None:
            self.dispatcher.stop()
