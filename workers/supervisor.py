"""The :class:`Supervisor`: starts, signals, reaps and shuts down the workers.

Rules kept here (see DESIGN.md):

- Reaping happens in one place, :meth:`Supervisor.poll`, through the
  ``multiprocessing.Process`` objects (``exitcode``), never ``os.wait*``.
- Signals go only to workers this run started and only after an identity
  check (PID plus create time, via ``psutil.Process``), so a reused PID is
  never hit. A suspended worker gets SIGCONT before SIGTERM.
- multiprocessing's helper processes (forkserver, resource tracker) start in
  :meth:`Supervisor.prepare`, before a UI takes the terminal, with their
  stdout/stderr sent to a log file instead of the screen.
- :meth:`Supervisor.shutdown` is bounded: ask, then SIGTERM, then SIGKILL.

All public methods are thread-safe (one re-entrant lock) and may block for
a process start or join, so a UI calls them off its event loop.
"""

from __future__ import annotations

import contextlib
import itertools
import multiprocessing
import multiprocessing.connection
import select
import shutil
import signal
import tempfile
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import psutil

from mptop.workers import cpython, helper_processes
from mptop.workers.channels import CountedQueue
from mptop.workers.events import EventLog
from mptop.workers.flag import StopFlag
from mptop.workers.handles import NoSuchWorker, WorkerHandle
from mptop.workers.launch import RunContext, launch
from mptop.workers.output import tail_lines, trim
from mptop.workers.signals import check_live, deliver, is_stopped, set_affinity
from mptop.workers.snapshot import Event, describe_exitcode
from mptop.workers.spec import Scenario, WorkerSpec
from mptop.workers.starter import StarterThread
from mptop.workers.topology import Topology
from mptop.workers.workloads import calibrate

__all__ = [
    "FINISH_GRACE",
    "TERM_GRACE",
    "NoSuchWorker",
    "Supervisor",
    "WorkerHandle",
    "WorkerOutput",
]

# Shutdown budget, seconds: how long non-daemon workers get to finish by
# themselves, then how long SIGTERM gets before SIGKILL.
FINISH_GRACE = 1.0
TERM_GRACE = 0.7
# Exited workers kept as rows (with their exit codes); older ones are forgotten, as htop
# forgets a process, so that hours of churn keep memory, fds and the tick's cost flat.
MAX_EXITED = 100


@dataclass(frozen=True, slots=True)
class Forgotten:
    """A worker that exited and was forgotten (see :data:`MAX_EXITED`): what its fate needs.

    ``error`` is the last line of its traceback for exit code 1, else ``""``.
    """

    pid: int
    name: str
    daemon: bool
    exitcode: int
    error: str = ""


@dataclass(frozen=True, slots=True)
class WorkerOutput:
    """The tail of a worker's captured output: lines without newlines, oldest first.

    ``traceback`` is the full text of the uncaught exception, or ``None``.
    """

    stdout: tuple[str, ...]
    stderr: tuple[str, ...]
    traceback: str | None


def ended(sentinels: list[int]) -> list[int]:
    """Those of ``sentinels`` (process sentinels, fds) that are readable now: their process ended.

    One ``poll(2)`` with a zero timeout. ``select.poll`` directly where it exists:
    ``multiprocessing.connection.wait`` builds a selector and registers every fd
    through it, 9 µs per fd here, a tenth of a 1024-worker tick.
    """
    if not hasattr(select, "poll"):
        return list(multiprocessing.connection.wait(sentinels, 0))  # type: ignore[arg-type]
    poller = select.poll()
    for fd in sentinels:
        poller.register(fd, select.POLLIN)
    return [fd for fd, _events in poller.poll(0)]


class Supervisor:
    """Owns every worker of one run, the channels between them and mptop, and their lifecycle.

    Typical use: ``prepare()`` (before a UI takes the terminal), ``start()``,
    then ``add``/``terminate``/``kill``/``suspend``/``resume`` from keys,
    ``poll()`` every tick, and ``shutdown()`` exactly once at the end (it is
    idempotent and bounded by about ``FINISH_GRACE + 2 * TERM_GRACE`` seconds).
    """

    def __init__(self, scenario: Scenario, log_dir: str | None = None) -> None:
        self.scenario = scenario
        self.start_method = scenario.start_method
        methods = scenario.start_methods()
        # Channels come from a context whose locks can be handed to any child:
        # fork's semaphores are unlinked at once and cannot travel to a spawned one.
        self.ctx = multiprocessing.get_context(
            "fork"
            if methods == {"fork"}
            else ("forkserver" if "forkserver" in methods else "spawn")
        )
        self.daemon_default = scenario.worker.daemon
        self._own_log_dir = log_dir is None
        self.log_dir = log_dir or tempfile.mkdtemp(prefix="mptop-")
        self._lock = threading.RLock()
        self._handles: dict[int, WorkerHandle] = {}
        self.events = EventLog()
        self._numbers: dict[str, itertools.count[int]] = {}  # per group name: busy-1, busy-2
        self._prepared = False
        self._closed = False
        self.helper_pids: list[int] = []
        self._nice_said = False  # the "cannot lower the nice value" event is said once per run
        # Workers are started from this one long-lived thread: PR_SET_PDEATHSIG
        # in a child fires when the thread that forked it ends (see child.py).
        self._starter = StarterThread()
        self.topology: Topology
        self.loops_per_second: float | None = None
        self.retired: list[Topology] = []
        self.stop_event: StopFlag
        self.forgotten: list[Forgotten] = []  # oldest first; about 100 bytes each
        self._forgotten_new: list[int] = []  # PIDs forgotten since drain_forgotten()
        self._trimmed: set[int] = set()  # workers whose output file was emptied (said once)

    # -- set-up ---------------------------------------------------------------

    def prepare(self) -> None:
        """Start multiprocessing's helpers and create the channels and mptop's counters.

        Call from the main thread before any UI replaces ``sys.stderr``. The
        forkserver (default on Linux) is started here with ``workers``
        preloaded, so adding a worker later costs only a fork. Idempotent.
        """
        if self._prepared:
            return
        methods = self.scenario.start_methods()
        problems = cpython.problems()
        if problems:
            raise RuntimeError(
                f"this Python's multiprocessing is not what mptop expects: {problems[0]}"
            )
        log = Path(self.log_dir) / "multiprocessing.log"
        self.helper_pids = helper_processes.start_helpers(methods, log, self)
        self.topology = Topology(self.ctx, self.scenario.ipc)
        # one core's pure-Python speed, before any worker loads the cores: cpu tasks
        # are amounts of work, so oversubscribed cores show as longer tasks
        self.loops_per_second = calibrate()
        self.stop_event = StopFlag(self.ctx)
        self._prepared = True
        if "fork" in methods:
            self._event(
                f"fork: mptop has {threading.active_count()}+ threads (the UI, feeders, sampler); a forked "
                "child inherits their locks in whatever state they were in",
                level="warning",
            )

    def start(self) -> list[WorkerHandle]:
        """Start every group's workers (``scenario.count`` in all); returns their handles."""
        return [self.add(group) for group in self.scenario.groups for _ in range(group.count)]

    @property
    def tasks(self) -> CountedQueue:
        """mptop's end of the current ``tasks`` Queue (queue and pipeline topologies).

        Raises ``RuntimeError`` for a topology without one.
        """
        end = self.topology.sends.endpoint if self.topology.sends is not None else None
        if not isinstance(end, CountedQueue):
            raise RuntimeError(f"the {self.topology.kind} topology has no tasks Queue")
        return end

    @property
    def results(self) -> CountedQueue:
        """mptop's end of the current ``results`` Queue (queue and pipeline topologies).

        Raises ``RuntimeError`` for a topology without one.
        """
        end = self.topology.results.endpoint if self.topology.results is not None else None
        if not isinstance(end, CountedQueue):
            raise RuntimeError(f"the {self.topology.kind} topology has no results Queue")
        return end

    # -- events ---------------------------------------------------------------

    def _event(self, text: str, pid: int | None = None, level: str = "info") -> None:
        self.events.add(text, pid, level)

    def note(self, text: str, pid: int | None = None, level: str = "info") -> None:
        """Add an event from outside the supervisor (the sampler's stall marks)."""
        self.events.add(text, pid, level)

    def drain_events(self) -> list[Event]:
        """Events since the last call, oldest first (single consumer: the sampler)."""
        return self.events.drain()

    # -- queries --------------------------------------------------------------

    def handles(self) -> list[WorkerHandle]:
        """The workers of this run, in start order: the live ones and the last
        :data:`MAX_EXITED` that exited (older ones are in :attr:`forgotten`)."""
        with self._lock:
            return list(self._handles.values())

    def handle(self, pid: int) -> WorkerHandle:
        """The handle of worker ``pid``. Raises :class:`NoSuchWorker`."""
        with self._lock:
            try:
                return self._handles[pid]
            except KeyError:
                raise NoSuchWorker(pid, "no such process") from None

    def count_running(self, pids: Iterable[int]) -> int:
        """How many of ``pids`` are workers alive and not suspended (other PIDs, as mptop's 0, count 0).

        One lock round for all of them: the dispatcher asks 100 times a second
        about every consumer of the tasks Queue.
        """
        pids = list(pids)  # a copy: a set the caller shares may grow meanwhile
        with self._lock:
            handles = self._handles
            n = 0
            for pid in pids:
                h = handles.get(pid)
                if h is not None and h.exitcode is None and not h.suspended:
                    n += 1
            return n

    def alive_pids(self) -> list[int]:
        """PIDs of workers not yet reaped."""
        with self._lock:
            return [h.pid for h in self._handles.values() if h.alive]

    def toggle_daemon_default(self) -> bool:
        """Flip the ``Process.daemon`` flag of workers that :meth:`add` starts without a spec; returns it."""
        with self._lock:
            self.daemon_default = not self.daemon_default
            return self.daemon_default

    # -- lifecycle ------------------------------------------------------------

    def add(self, spec: WorkerSpec | None = None, daemon: bool | None = None) -> WorkerHandle:
        """Start one more worker like ``spec`` (default: the first group, as `a` does).

        ``daemon`` defaults to the spec's flag, or to :attr:`daemon_default`
        when ``spec`` is not given. Blocks for the start (see
        :func:`~mptop.workers.launch.launch`). Raises ``RuntimeError`` after
        :meth:`shutdown`, ``OSError`` if the fork fails.
        """
        if not self._prepared:
            self.prepare()
        with self._lock:
            if self._closed:
                raise RuntimeError("supervisor is shut down")
            if spec is None:
                spec = self.scenario.worker
                daemon = self.daemon_default if daemon is None else daemon
            daemon = spec.daemon if daemon is None else daemon
            method = spec.start_method or self.start_method
            name = f"{spec.name}-{next(self._numbers.setdefault(spec.name, itertools.count(1)))}"
            run = RunContext(
                self.ctx, self.log_dir, self.stop_event, self._starter, self.loops_per_second
            )
            handle = launch(
                run,
                self.topology,
                spec,
                name=name,
                daemon=daemon,
                method=method,
                live=set(self.alive_pids()),
            )
            self._handles[handle.pid] = handle
            kind = "daemon" if daemon else "non-daemon"
            self._event(f"started {handle.pid} ({kind}, {method})", handle.pid)
            if handle.ps is not None:
                self._check_nice(handle.ps, spec.nice)
            return handle

    def _check_nice(self, ps: psutil.Process, nice: int) -> None:
        """Say once per run if a new worker cannot get ``nice`` because it starts higher.

        The worker raises its own nice value (child.py); it starts with its
        parent's (mptop's or the forkserver's), and lowering that needs
        privileges, so a worker of a niced mptop stays at mptop's value.
        """
        with contextlib.suppress(psutil.Error):
            now = int(ps.nice())
            if now > nice and not self._nice_said:
                self._nice_said = True
                self._event(
                    f"workers run at nice {now}, not {nice}: mptop itself runs at nice "
                    f"{now}, and only a privileged process may lower a nice value",
                    ps.pid,
                    "warning",
                )

    def _live(self, pid: int) -> WorkerHandle:
        """The handle of a live worker whose identity still checks out, else NoSuchWorker."""
        h = self.handle(pid)
        check_live(h)
        return h

    def send(self, pid: int, sig: signal.Signals) -> None:
        """Send ``sig`` to worker ``pid`` after the identity check.

        SIGCONT goes first to a suspended worker for SIGTERM (a stopped process
        would not act on it). SIGSTOP to a worker that has not yet run its first
        lines waits for them (:attr:`WorkerHandle.stop_pending`, sent by
        :meth:`poll`); any other signal cancels such a wait. Raises
        :class:`NoSuchWorker` if ``pid`` is not a live worker of this run.
        """
        with self._lock:
            h = self._live(pid)
            if sig == signal.SIGSTOP and not h.guarded:
                # Stopped before it set its parent-death guard (and, under forkserver, let go
                # of the server's "alive" pipe), a worker would outlive a SIGKILLed mptop.
                h.suspended = h.stop_pending = True
                self._event(f"{pid} is still starting: SIGSTOP is sent once it runs", pid)
                return
            h.stop_pending = False
            if sig in (signal.SIGTERM, signal.SIGKILL) and is_stopped(h):
                deliver(h, signal.SIGCONT)
                h.suspended = False
            deliver(h, sig)
            if sig == signal.SIGSTOP:
                h.suspended = True
            elif sig == signal.SIGCONT:
                h.suspended = False
            self._event(f"sent {sig.name} to {pid}", pid)

    def terminate(self, pid: int) -> None:
        """SIGTERM worker ``pid`` (what ``Process.terminate()`` sends). Raises NoSuchWorker."""
        self.send(pid, signal.SIGTERM)

    def kill(self, pid: int) -> None:
        """SIGKILL worker ``pid`` (``Process.kill()``); cannot be caught. Raises NoSuchWorker."""
        self.send(pid, signal.SIGKILL)

    def suspend(self, pid: int) -> None:
        """SIGSTOP worker ``pid``. Raises NoSuchWorker."""
        self.send(pid, signal.SIGSTOP)

    def resume(self, pid: int) -> None:
        """SIGCONT worker ``pid``. Raises NoSuchWorker."""
        self.send(pid, signal.SIGCONT)

    def toggle_suspend(self, pid: int) -> bool:
        """Suspend a running worker or resume a suspended one; returns True if now suspended."""
        with self._lock:
            h = self._live(pid)
            if h.suspended:
                self.resume(pid)
            else:
                self.suspend(pid)
            return h.suspended

    def pin(self, pid: int, cores: tuple[int, ...] | None = None) -> tuple[int, ...]:
        """Set worker ``pid``'s CPU affinity to ``cores`` (default: the one core it last ran on).

        Returns the cores. Raises :class:`NoSuchWorker`, ``ValueError`` for a core
        this machine does not have, and ``NotImplementedError`` where the OS has
        no affinity (macOS).
        """
        with self._lock:
            h = self._live(pid)
            cores = set_affinity(h, cores)
            h.pinned = cores[0] if len(cores) == 1 else None
            where = f"core {cores[0]}" if len(cores) == 1 else f"cores {','.join(map(str, cores))}"
            self._event(f"pinned {pid} to {where}", pid)
            return cores

    def unpin(self, pid: int) -> None:
        """Let worker ``pid`` run on every core again. Raises :class:`NoSuchWorker`."""
        with self._lock:
            h = self._live(pid)
            set_affinity(h, ())
            h.pinned = None
            self._event(f"unpinned {pid} (all cores)", pid)

    def toggle_pin(self, pid: int) -> int | None:
        """Pin an unpinned worker to its current core, or unpin a pinned one; returns the pin."""
        with self._lock:
            if self.handle(pid).pinned is None:
                return self.pin(pid)[0]
            self.unpin(pid)
            return None

    def output(self, pid: int, lines: int = 20) -> WorkerOutput:
        """The last ``lines`` lines of worker ``pid``'s stdout and stderr, and its traceback.

        Reads files (call off a UI loop). Raises :class:`NoSuchWorker`.
        """
        out, err, tb = self.handle(pid).log_paths
        try:
            traceback: str | None = tb.read_text()
        except OSError:
            traceback = None
        return WorkerOutput(tail_lines(out, lines), tail_lines(err, lines), traceback)

    def error_line(self, h: WorkerHandle) -> str:
        """The last line of ``h``'s traceback (``ValueError: boom``), or ``""`` (none written).

        Reads its traceback file (``child.py`` writes it on an uncaught exception), which
        :meth:`remove_log_dir` deletes: ask before that."""
        lines = tail_lines(h.log_paths[2], 1)
        return lines[0].strip() if lines else ""

    def poll(self) -> list[WorkerHandle]:
        """Reap workers that exited, send the SIGSTOPs that waited; returns the newly exited ones.

        The only place that reaps: ``Process.exitcode`` polls the child
        (``waitpid(WNOHANG)`` under fork/spawn, the sentinel under forkserver),
        asked only of workers whose sentinel is readable (the child has ended;
        a child caught between closing its fds and becoming a zombie is asked
        again at the next call).
        """
        exited: list[WorkerHandle] = []
        with self._lock:
            live = {h.process.sentinel: h for h in self._handles.values() if h.exitcode is None}
            # One poll(2) over every sentinel (readable once its process has ended), then
            # exitcode only for those: a per-worker exitcode check is a syscall each.
            for sentinel in ended(list(live)):
                h = live[sentinel]
                code = h.process.exitcode
                if code is not None:
                    h.exitcode = code
                    h.suspended = False
                    exited.append(h)
                    with contextlib.suppress(ValueError):
                        h.process.close()  # its sentinel fd, now, not when garbage-collected
                    meaning = describe_exitcode(code)
                    if code == 1 and (error := self.error_line(h)):
                        meaning = f"{meaning}: {error}"
                    level = "info" if code == 0 else "warning"
                    self._event(f"{h.pid} exited with {code} ({meaning})", h.pid, level)
            for h in live.values():
                if h.stop_pending and h.exitcode is None and h.guarded:
                    self.send(h.pid, signal.SIGSTOP)
            if exited:
                self._forget_old()
        return exited

    def _forget_old(self) -> None:
        """Forget the oldest exited workers beyond :data:`MAX_EXITED` (under the lock)."""
        gone = [h for h in self._handles.values() if h.exitcode is not None]
        for h in gone[: max(0, len(gone) - MAX_EXITED)]:
            del self._handles[h.pid]
            self._trimmed.discard(h.pid)
            assert h.exitcode is not None
            error = self.error_line(h) if h.exitcode == 1 else ""
            self.forgotten.append(Forgotten(h.pid, h.name, h.daemon, h.exitcode, error))
            self._forgotten_new.append(h.pid)

    def trim_logs(self) -> None:
        """Empty each live worker's stdout or stderr file past :data:`~mptop.workers.output.LOG_CAP`.

        Says so once per worker (an event). One ``stat`` per file: the sampler
        calls it every few seconds, not every tick.
        """
        with self._lock:
            live = [h for h in self._handles.values() if h.alive]
        for h in live:
            for what, path in (("stdout", h.log_paths[0]), ("stderr", h.log_paths[1])):
                dropped = trim(path)
                if dropped and h.pid not in self._trimmed:
                    self._trimmed.add(h.pid)
                    self._event(
                        f"{h.name}'s {what} passed {dropped >> 20} MiB: mptop emptied its "
                        "file (the worker writes on; older lines are gone)",
                        h.pid,
                        "warning",
                    )

    def drain_forgotten(self) -> list[int]:
        """PIDs of the workers forgotten since the last call (single consumer: the sampler)."""
        with self._lock:
            out, self._forgotten_new = self._forgotten_new, []
            return out

    def wait_exit(self, pid: int, timeout: float) -> int | None:
        """Wait up to ``timeout`` seconds for worker ``pid`` to exit; returns its exit code or None.

        Reaps through :meth:`poll`. Raises :class:`NoSuchWorker` for a PID not of this run.
        """
        h = self.handle(pid)
        if h.alive:
            multiprocessing.connection.wait([h.process.sentinel], timeout)
            self.poll()
        return h.exitcode

    def rebuild_channels(self) -> list[WorkerHandle]:
        """Replace every channel, and every live worker with a fresh one on the new channels.

        The cure for a stalled channel: a Queue whose lock died with its holder
        (``terminate()`` in the middle of a put or get) can never be used
        again, and neither can the processes blocked on it. Old workers get
        SIGTERM, then SIGKILL after :data:`TERM_GRACE`; the new ones have the
        same specs and daemon flags. The old channels are kept, closed, in
        :attr:`retired` (their counts stay readable). Returns the new handles.
        Takes up to about ``2 * TERM_GRACE`` seconds plus the starts. Raises
        ``RuntimeError`` after :meth:`shutdown`.
        """
        with self._lock:
            if self._closed:
                raise RuntimeError("supervisor is shut down")
            old = self.topology
            live = [h for h in self._handles.values() if h.alive]
            for h in live:
                with contextlib.suppress(NoSuchWorker, psutil.Error):
                    self.terminate(h.pid)
            pending = self._wait(live, TERM_GRACE)
            for h in pending:
                with contextlib.suppress(NoSuchWorker, psutil.Error):
                    self.kill(h.pid)
            self._wait(pending, TERM_GRACE)
            old.close()
            self.retired.append(old)
            abandoned = sum(max(0, s - r) for s, _, r, _ in (c.totals() for c in old.channels))
            self.topology = Topology(self.ctx, self.scenario.ipc, old.generation + 1)
            self._event(
                f"rebuilt the channels (generation {self.topology.generation}): "
                f"{abandoned} message(s) left behind in the old ones; replacing {len(live)} worker(s)",
                level="warning",
            )
            return [self.add(h.spec, h.daemon) for h in live]

    def _wait(self, handles: list[WorkerHandle], seconds: float) -> list[WorkerHandle]:
        """Wait up to ``seconds`` for ``handles`` to exit; returns those still alive."""
        deadline = time.monotonic() + seconds
        pending = [h for h in handles if h.alive]
        while pending:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            multiprocessing.connection.wait([h.process.sentinel for h in pending], remaining)
            self.poll()
            pending = [h for h in pending if h.alive]
        return pending

    def shutdown(self) -> None:
        """Stop every worker, close the channels and stop the forkserver. Idempotent.

        Daemon workers are terminated at once, before the stop flag is set (so
        none of them ends with 0 by finishing first), as multiprocessing does
        with a parent's daemonic children at exit; non-daemon workers are asked to
        finish (the stop flag) and get :data:`FINISH_GRACE` seconds. Whatever
        is left gets SIGTERM, then SIGKILL after :data:`TERM_GRACE`; each
        escalation is logged. The forkserver is stopped with the last open
        Supervisor of this process that uses it. Takes at most about 2.5 s.
        """
        with self._lock:
            if self._closed:
                return
            self._closed = True
            if not self._prepared:
                return
            self.poll()
            alive = [h for h in self._handles.values() if h.alive]
            # daemons first, THEN the stop flag: a daemon that saw the flag first would
            # finish its task and exit 0, and the daemons lesson (-15) would depend on timing
            for h in alive:
                if h.daemon:
                    with contextlib.suppress(NoSuchWorker, psutil.Error):
                        self.terminate(h.pid)
            self.stop_event.set()
            pending = self._wait(alive, FINISH_GRACE)
            for h in pending:
                with contextlib.suppress(NoSuchWorker, psutil.Error):
                    self.terminate(h.pid)
                    self._event(
                        f"{h.pid} did not finish in {FINISH_GRACE:g} s: SIGTERM", h.pid, "warning"
                    )
            pending = self._wait(pending, TERM_GRACE)
            for h in pending:
                with contextlib.suppress(NoSuchWorker, psutil.Error):
                    self.kill(h.pid)
                    self._event(f"{h.pid} ignored SIGTERM: SIGKILL", h.pid, "warning")
            self._wait(pending, TERM_GRACE)
            for topology in (*self.retired, self.topology):
                topology.close()
            self._starter.stop()
            helper_processes.release(self)

    def remove_log_dir(self) -> None:
        """Delete the per-run log directory if this supervisor created it."""
        if self._own_log_dir:
            shutil.rmtree(self.log_dir, ignore_errors=True)
