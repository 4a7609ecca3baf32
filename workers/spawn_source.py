""":class:`SpawnSource`: the run of workers mptop starts itself, behind the Source boundary.

Inside: the :class:`~mptop.workers.supervisor.Supervisor` (start, signal,
reap, shut down), the :class:`~mptop.workers.dispatcher.Dispatcher`
(mptop's end of the channels), the :class:`~mptop.workers.sampler.Sampler`
and a :class:`~mptop.workers.sampling_thread.SamplingThread`.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading

import psutil

from mptop.workers import stacks
from mptop.workers.child import stack_path
from mptop.workers.commands import (
    Add,
    Cap,
    Command,
    CommandError,
    Pin,
    Rebuild,
    SetInterval,
    ShowThreads,
    Signal,
    ToggleDaemon,
    ToggleSuspend,
    Unpin,
)
from mptop.workers.detail import ChannelCounts, OutputTail, WorkerDetail
from mptop.workers.dispatcher import Dispatcher
from mptop.workers.output import output_tail, tail_text
from mptop.workers.probe import MIN_CPU_WINDOW
from mptop.workers.record import scenario_record
from mptop.workers.sampler import Sampler
from mptop.workers.sampling_thread import SamplingThread
from mptop.workers.source import Closed, Deliver, Failed, Fate, SourceInfo
from mptop.workers.spec import MAX_INTERVAL, MIN_INTERVAL, Scenario
from mptop.workers.stacks import StackDump
from mptop.workers.supervisor import Supervisor

# After `a`, when to sample again so the new worker's first CPU% shows without waiting
# for the next tick: just over the probe's shortest CPU window, seconds.
FIRST_CPU_SECONDS = MIN_CPU_WINDOW + 0.05
# Lines of a worker's stdout and stderr the detail shows; lines of its traceback.
TAIL_LINES = 12
TRACEBACK_LINES = 200
# Failed starts in a row after which the launch gives up on the rest.
MAX_FAILED_STARTS = 3


class SpawnSource:
    """Workers of ``scenario``, started, controlled and measured by mptop.

    The constructor prepares the run: multiprocessing's helper processes (the
    forkserver with mptop's worker code preloaded, the resource tracker) start
    here, before a UI takes the terminal, and the channels are created. No
    worker starts before :meth:`start` (none at all with ``start_workers``
    False; before the first snapshot with ``start_first``). Raises ``RuntimeError`` if this Python's multiprocessing is not
    what mptop relies on, ``OSError`` if the helpers cannot start.
    ``description`` and ``lesson`` are the scenario file's words.
    """

    caps = frozenset(
        {
            Cap.ADD,
            Cap.SIGNAL,
            Cap.SUSPEND,
            Cap.PIN,
            Cap.DAEMON,
            Cap.REBUILD,
            Cap.INTERVAL,
            Cap.OUTPUT,
            Cap.STACKS,
            Cap.THREADS,
        }
    )

    def __init__(
        self,
        scenario: Scenario,
        *,
        description: str = "",
        lesson: str = "",
        start_workers: bool = True,
        start_first: bool = False,
        log_dir: str | None = None,
    ) -> None:
        self.scenario = scenario
        self.description = description
        self.lesson = lesson.strip()
        self.supervisor = Supervisor(scenario, log_dir)
        try:
            self.supervisor.prepare()
        except BaseException:
            self.supervisor.shutdown()
            self.supervisor.remove_log_dir()
            raise
        self.dispatcher = Dispatcher(
            self.supervisor,
            scenario.worker.task_seconds,
            scenario.message_size,
            scenario.rate,
        )
        self.sampler = Sampler(self.supervisor, self.dispatcher.delivered, self.dispatcher.drop)
        self.sampling = SamplingThread(self.sampler.sample, scenario.interval)
        self._start_workers = start_workers
        self._start_first = start_first
        self._record = scenario_record(scenario, description, self.lesson)
        self._closed: Closed | None = None
        self._close_lock = threading.Lock()

    # -- the boundary -------------------------------------------------------------------

    def info(self) -> SourceInfo:
        """Kind ``spawn``; facts: the daemon flag and workload of the next worker ``a`` adds."""
        sup = self.supervisor
        daemon = "daemon" if sup.daemon_default else "non-daemon"
        name = self.scenario.name
        return SourceInfo(
            kind="spawn",
            title=f"mptop: {name}" if name else "mptop",
            interval=self.sampling.interval,
            facts=(f"new: {daemon} {self.scenario.worker.workload}",),
            lesson=self.lesson,
            lesson_title=f"Lesson: {name}" if name else "Lesson",
            record=self._record,
            no_channels="no channels: the workers only run their workload (--ipc none)",
        )

    def start(self, deliver: Deliver, failed: Failed) -> None:
        """Start the dispatcher, sampling and the workers.

        The workers start on a thread of their own while the first snapshots
        show them arriving; with ``start_first``, every one is started before
        the first snapshot (a recording's first tick then holds them all).
        """
        self.dispatcher.start()
        if self._start_first:
            if self._start_workers:
                self._launch()
            self.sampling.start(deliver, failed)
            return
        self.sampling.start(deliver, failed)
        if self._start_workers:
            threading.Thread(target=self._launch, name="mptop-launch", daemon=True).start()

    def arm(self) -> None:
        """The last snapshot was applied."""
        self.sampling.arm()

    def poke(self) -> None:
        """Sample as soon as the last snapshot was applied."""
        self.sampling.poke()

    def send(self, command: Command) -> str | None:
        """Carry ``command`` out (see :mod:`mptop.workers.commands`); blocks for a start or a wait.

        Raises :class:`CommandError` for a process that is gone, an OS that
        refuses, a fork that fails, or a command of no capability here.
        """
        pid = getattr(command, "pid", None)
        try:
            note = self._send(command)
        except CommandError:
            raise
        except RuntimeError as err:  # the supervisor is shut down
            raise CommandError(pid, f"mptop is shutting down ({err})") from None
        except (ValueError, NotImplementedError) as err:
            raise CommandError(pid, str(err)) from None
        except psutil.Error as err:
            raise CommandError(pid, f"{type(err).__name__}: {err}") from None
        except OSError as err:
            what = "cannot start a worker" if isinstance(command, Add) else type(command).__name__
            raise CommandError(pid, f"{what}: {err.strerror or err}") from None
        self.poke()
        return note

    def _send(self, command: Command) -> str | None:
        sup = self.supervisor
        match command:
            case Add():
                sup.add()
                timer = threading.Timer(FIRST_CPU_SECONDS, self.poke)  # its first CPU% soon
                timer.daemon = True
                timer.start()
            case Signal(pid=pid, sig=sig, wait=wait):
                sup.send(pid, sig)
                if wait > 0 and sig in (signal.SIGTERM, signal.SIGKILL):
                    sup.wait_exit(pid, wait)  # the exit code shows at once, not a tick later
            case ToggleSuspend(pid=pid):
                sup.toggle_suspend(pid)
            case Pin(pid=pid, cores=cores):
                sup.pin(pid, cores)
            case Unpin(pid=pid):
                sup.unpin(pid)
            case ToggleDaemon():
                daemon = sup.toggle_daemon_default()
                return f"new workers will be {'daemon' if daemon else 'non-daemon'}"
            case Rebuild():
                sup.rebuild_channels()
            case SetInterval(seconds=seconds):
                self.sampling.interval = max(MIN_INTERVAL, min(MAX_INTERVAL, seconds))
            case ShowThreads(on=on):
                self.sampler.threads_on = on
                self.sampling.poke()
            case _:
                raise CommandError(None, f"{type(command).__name__}: not available in this run")
        return None

    def detail(self, pid: int) -> WorkerDetail:
        """psutil's facts, the worker's counters and the tails of its output files.

        Blocks for psutil and file reads (about 1 ms). Raises
        :class:`CommandError` if ``pid`` is not a worker of this run.
        """
        h = self.supervisor.handle(pid)
        ppid: int | None = None
        cmdline: tuple[str, ...] = ()
        affinity: tuple[int, ...] | None = None
        threads: int | None = None
        nice: int | None = None
        if h.alive and h.ps is not None:
            with contextlib.suppress(psutil.Error), h.ps.oneshot():
                ppid = h.ps.ppid()
                nice = int(h.ps.nice())
                cmdline = tuple(h.ps.cmdline())
                threads = h.ps.num_threads()
                with contextlib.suppress(AttributeError, psutil.Error):
                    affinity = tuple(h.ps.cpu_affinity() or ())
        out, err, tb = h.log_paths
        return WorkerDetail(
            pid=pid,
            ppid=ppid,
            cmdline=cmdline,
            start_method=h.start_method or self.supervisor.start_method,
            # mptop's clock when it started the worker, not psutil's create_time(): that one
            # is derived from boot time in clock ticks and can read a second off the Events'
            create_time=h.started,
            affinity=affinity,
            threads=threads,
            nice=nice,
            mptop_nice=os.nice(0),
            channels=tuple(
                ChannelCounts(channel.info.name, channel.info.kind, *block.read())
                for channel, block in h.blocks
            ),
            stdout_tail=tail_text(out, TAIL_LINES),
            stderr_tail=tail_text(err, TAIL_LINES),
            traceback=tail_text(tb, TRACEBACK_LINES),
        )

    def output(self, pid: int) -> tuple[OutputTail, ...]:
        """The ends of worker ``pid``'s stdout and stderr files. Raises CommandError if not a worker."""
        h = self.supervisor.handle(pid)
        out, err, _ = h.log_paths
        return (output_tail(f"stdout of {h.name}", out), output_tail(f"stderr of {h.name}", err))

    def stacks(self, pid: int) -> StackDump:
        """Worker ``pid``'s threads' stacks: it registered faulthandler for SIGRTMIN+6 as it started.

        Raises CommandError if it is not a worker, has exited, is still starting or is
        suspended (a stopped process cannot answer), or did not answer within 2 s.
        """
        h = self.supervisor.handle(pid)
        if not h.alive or h.ps is None:
            raise CommandError(pid, "has exited")
        if not h.guarded:
            raise CommandError(pid, "still starting: it answers once it runs")
        if h.suspended:
            raise CommandError(pid, "suspended (SIGSTOP): it answers once resumed (s)")
        path = stack_path(str(h.log_paths[0].parent), h.name)
        try:
            return stacks.dump(pid, path, h.ps.send_signal)
        except psutil.NoSuchProcess:
            raise CommandError(pid, "has exited") from None
        except (TimeoutError, OSError, psutil.Error) as err:
            raise CommandError(pid, f"stacks: {err}") from None

    def close(self) -> Closed:
        """Stop the workers (bounded, about 2.5 s), the threads and the forkserver; say how each ended.

        Sampling goes on while the workers stop, so a screen shows them
        exiting; the last snapshot is taken after. Idempotent.
        """
        with self._close_lock:
            if self._closed is not None:
                return self._closed
            sup = self.supervisor
            try:
                sup.shutdown()
                self.dispatcher.stop()
                self.sampling.stop()
                handles = sup.handles()
                last = self.sampler.sample() if handles else None
                fates = tuple(
                    Fate(f.pid, f.name, f.daemon, f.exitcode, error=f.error) for f in sup.forgotten
                ) + tuple(
                    Fate(
                        h.pid,
                        h.name,
                        h.daemon,
                        h.exitcode,
                        error=sup.error_line(h) if h.exitcode == 1 else "",
                    )
                    for h in handles
                )
                self._closed = Closed(fates, last)
            finally:
                sup.remove_log_dir()
            return self._closed

    # -- inside --------------------------------------------------------------------------

    def _launch(self) -> None:
        """Start every group's workers; a failed start is an event, and three in a row end it."""
        sup = self.supervisor
        failures = 0
        for group in self.scenario.groups:
            for _ in range(group.count):
                try:
                    sup.add(group)
                    failures = 0
                except RuntimeError:
                    return  # shut down meanwhile
                except OSError as err:
                    failures += 1
                    sup.note(f"cannot start a worker: {err.strerror or err}", level="error")
                    if failures >= MAX_FAILED_STARTS:
                        sup.note(
                            f"gave up starting workers after {failures} failures in a row",
                            level="error",
                        )
                        return
        self.poke()
