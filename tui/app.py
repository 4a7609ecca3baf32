"""``MptopApp``: composes the widgets, binds the keys, runs the sampling loop.

The event loop never blocks: psutil reads happen on the sampling thread,
process starts and signals on Textual thread workers, and mptop's own queue
traffic on the dispatcher thread. A snapshot arrives as a ``SnapshotReady``
message; the next one is armed only after it has been applied.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import ClassVar

from textual import work
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.message import Message
from textual.widgets import Footer, Log, Static

from tui.screens.help import HelpScreen
from tui.widgets.channels_table import ChannelTable
from tui.widgets.cores import CoresPanel
from tui.widgets.workers_table import WorkerTable
from workers import __version__
from workers.dispatcher import Dispatcher
from workers.sampler import MIN_CPU_WINDOW, Sampler, SamplingThread
from workers.snapshot import Snapshot
from workers.supervisor import NoSuchWorker, Supervisor

# After SIGTERM or SIGKILL, how long a key's command waits for the exit before refreshing, seconds.
EXIT_WAIT = 0.3


# After `a`, when to sample again so the new worker's first CPU% shows without waiting
# for the next tick: just over the sampler's shortest CPU window.
FIRST_CPU_SECONDS = MIN_CPU_WINDOW + 0.05


class SnapshotReady(Message):
    """Posted from the sampling thread: one new :class:`Snapshot` to apply."""

    def __init__(self, snapshot: Snapshot) -> None:
        super().__init__()
        self.snapshot = snapshot


class MptopApp(App[int]):
    """The mptop screen for one :class:`Supervisor`.

    The app starts the supervisor's workers, the dispatcher and the sampling
    thread on mount, and shuts all of them down on quit (``q``, Ctrl+C,
    SIGTERM, SIGHUP). ``supervisor.prepare()`` is called here, in
    ``__init__``, because multiprocessing's helpers must start before Textual
    replaces ``sys.stderr``.
    """

    CSS_PATH = Path(__file__).with_name("app.tcss")
    # From 150 cells wide the channels and the event log sit side by side.
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (150, "-wide")]  # noqa: RUF012 (typed by App)
    TITLE = "mptop"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("a", "add", "Add"),
        Binding("t", "terminate", "Term"),
        Binding("k", "kill", "Kill"),
        Binding("s", "suspend", "Stop/Cont"),
        Binding("p", "pin", "Pin"),
        Binding("d", "toggle_daemon", "Daemon"),
        Binding("question_mark,f1", "help", "Help", key_display="?"),
        Binding("q", "quit", "Quit"),
        Binding("ctrl+c", "quit", "Quit", show=False, priority=True),
    ]

    def __init__(
        self,
        supervisor: Supervisor,
        *,
        start_workers: bool = True,
        exit_watchdog: float | None = None,
    ) -> None:
        super().__init__()
        supervisor.prepare()
        self.supervisor = supervisor
        self.sampler = Sampler(supervisor)
        self.sampling = SamplingThread(self.sampler, supervisor.scenario.interval, self._deliver)
        self.dispatcher = Dispatcher(supervisor, supervisor.scenario.worker.task_seconds)
        self.snapshot: Snapshot | None = None
        self._start_workers = start_workers
        self._quitting = False
        # Seconds after the workers are stopped at which the process exits even if
        # Textual has not finished restoring the terminal; None (tests) = never.
        self.exit_watchdog = exit_watchdog
        self._watchdog: threading.Timer | None = None

    # -- layout -----------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Static(id="summary")
        yield CoresPanel(id="cores")
        yield WorkerTable(id="workers")
        with Horizontal(id="bottom"):
            yield ChannelTable(id="channels")
            yield Log(id="log", max_lines=2000)
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#channels").border_title = "IPC channels"
        self.query_one("#log").border_title = "Events"
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGHUP):
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(sig, self._on_signal, sig)
        self.query_one(WorkerTable).focus()
        self.sampling.start()
        self.dispatcher.start()
        if self._start_workers:
            self._start_all()

    def _on_signal(self, sig: signal.Signals) -> None:
        self.log_line(f"mptop got {sig.name}: quitting")
        self.run_worker(self.action_quit(), exclusive=True, group="quit")

    @work(thread=True, group="commands")
    def _start_all(self) -> None:
        try:
            self.supervisor.start()
        except RuntimeError:
            return  # quit came first
        self.sampling.poke()

    # -- snapshots -----------------------------------------------------------------

    def _deliver(self, snapshot: Snapshot) -> None:
        """Runs on the sampling thread: hand over, never block."""
        if not self.post_message(SnapshotReady(snapshot)):
            self.sampling.arm()

    def on_snapshot_ready(self, message: SnapshotReady) -> None:
        try:
            self.apply(message.snapshot)
        finally:
            self.sampling.arm()

    def apply(self, snap: Snapshot) -> None:
        """Show ``snap``: each widget rewrites only what changed."""
        self.snapshot = snap
        with self.batch_update():
            self.query_one("#summary", Static).update(self._summary(snap))
            self.query_one(CoresPanel).update_cores(snap.cores)
            self.query_one(WorkerTable).update_workers(snap.workers)
            self.query_one(ChannelTable).update_channels(snap.channels)
            log = self.query_one(Log)
            for e in snap.events:
                log.write_line(f"{time.strftime('%H:%M:%S', time.localtime(e.time))} {e.text}")

    def _summary(self, snap: Snapshot) -> str:
        sup = self.supervisor
        alive = sum(1 for w in snap.workers if w.alive)
        parts = [
            f"{snap.start_method}"
            + (" (parent has threads!)" if snap.start_method == "fork" else ""),
            f"{alive}/{len(snap.workers)} alive",
            f"total {snap.total_percent:.0f}% of {len(snap.cores)} cores",
        ]
        if snap.load_avg is not None:
            parts.append("load " + " ".join(f"{x:.2f}" for x in snap.load_avg))
        parts += [
            f"new: {'daemon' if sup.daemon_default else 'non-daemon'} {sup.scenario.worker.workload}",
            f"every {sup.scenario.interval:g} s",
            "CPU% 100 = one core",
            f"mptop {__version__}",
        ]
        return " │ ".join(parts)

    def log_line(self, text: str) -> None:
        self.query_one(Log).write_line(f"{time.strftime('%H:%M:%S')} {text}")

    # -- actions -------------------------------------------------------------------

    def selected_pid(self) -> int | None:
        """PID of the selected worker row, or None."""
        return self.query_one(WorkerTable).selected_pid

    @work(thread=True, group="commands")
    def _command(self, fn: Callable[[int], object], pid: int, ends_it: bool) -> None:
        try:
            fn(pid)
            if ends_it:  # show the exit code at once rather than on the next tick
                self.supervisor.wait_exit(pid, EXIT_WAIT)
        except (NoSuchWorker, ValueError, NotImplementedError) as err:
            self.call_from_thread(self.notify, str(err), severity="warning")
            self.call_from_thread(self.log_line, str(err))
        self.sampling.poke()

    def _on_selected(self, fn: Callable[[int], object], ends_it: bool = False) -> None:
        if self._quitting:
            return
        pid = self.selected_pid()
        if pid is None:
            self.notify("no worker selected", severity="warning")
            return
        self._command(fn, pid, ends_it)

    @work(thread=True, group="commands")
    def action_add(self) -> None:
        """Start one more worker (off the loop: a start may take 100 ms under spawn)."""
        if self._quitting:
            return
        try:
            self.supervisor.add()
        except RuntimeError:
            return
        self.sampling.poke()  # the new PID shows at once
        time.sleep(FIRST_CPU_SECONDS)  # this is a thread: sleeping here blocks nothing
        self.sampling.poke()  # and its first CPU% as soon as there is a window to measure

    def action_terminate(self) -> None:
        """SIGTERM the selected worker."""
        self._on_selected(self.supervisor.terminate, ends_it=True)

    def action_kill(self) -> None:
        """SIGKILL the selected worker."""
        self._on_selected(self.supervisor.kill, ends_it=True)

    def action_suspend(self) -> None:
        """SIGSTOP or SIGCONT the selected worker."""
        self._on_selected(self.supervisor.toggle_suspend)

    def action_pin(self) -> None:
        """Pin the selected worker to the core it is on, or unpin it (all cores)."""
        self._on_selected(self.supervisor.toggle_pin)

    def action_toggle_daemon(self) -> None:
        """Flip the daemon flag used for the next workers added."""
        sup = self.supervisor
        sup.daemon_default = not sup.daemon_default
        self.log_line(f"new workers will be {'daemon' if sup.daemon_default else 'non-daemon'}")
        if self.snapshot is not None:
            self.query_one("#summary", Static).update(self._summary(self.snapshot))

    def action_help(self) -> None:
        """Show every key and what the numbers mean."""
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    async def action_quit(self) -> None:
        """Stop the workers (bounded, about 2.5 s at most), then leave."""
        if self._quitting:
            return
        self._quitting = True
        self.notify("stopping workers…", timeout=3)
        self._shutdown_and_exit()

    @work(thread=True, group="quit")
    def _shutdown_and_exit(self) -> None:
        self.supervisor.shutdown()
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
        self.sampling.stop()
        self.dispatcher.stop()
