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
import multiprocessing.forkserver
import multiprocessing.resource_tracker
import multiprocessing.synchronize
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from multiprocessing.process import BaseProcess
from pathlib import Path

import psutil

from workers import child
from workers.channels import ChannelInfo, CountedQueue, Counters
from workers.snapshot import Event, describe_exitcode
from workers.spec import Scenario

TASKS = ChannelInfo(0, "tasks", "Queue", "mptop", "workers")
RESULTS = ChannelInfo(1, "results", "Queue", "workers", "mptop")
CHANNELS: tuple[ChannelInfo, ...] = (TASKS, RESULTS)

# Shutdown budget, seconds: how long non-daemon workers get to finish by
# themselves, then how long SIGTERM gets before SIGKILL.
FINISH_GRACE = 1.0
TERM_GRACE = 0.7


@dataclass(eq=False)
class WorkerHandle:
    """mptop's record of one worker it started.

    ``ps`` is the identity anchor (``psutil.Process`` remembers the create
    time); ``None`` if the worker died before it could be looked at.
    ``exitcode`` is set once, by :meth:`Supervisor.poll`.
    """

    name: str
    process: BaseProcess
    pid: int
    ps: psutil.Process | None
    daemon: bool
    workload: str
    counters: Counters
    started: float
    exitcode: int | None = None
    suspended: bool = False
    pinned: int | None = None
    log_paths: tuple[Path, Path, Path] = field(default=(Path(), Path(), Path()))

    @property
    def alive(self) -> bool:
        """True until reaped."""
        return self.exitcode is None


class NoSuchWorker(LookupError):
    """The PID is not a live worker of this run (gone, reaped, or never ours)."""


@contextlib.contextmanager
def _stdio_to(path: Path) -> Iterator[None]:
    """Point fds 1 and 2 at ``path`` for helpers started inside, then restore them."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    saved = (os.dup(1), os.dup(2))
    saved_stderr = sys.stderr
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        # resource_tracker passes sys.stderr.fileno() on; inside a UI or a
        # capturing test runner that may be -1 ("bad value(s) in fds_to_keep").
        sys.stderr = sys.__stderr__
        yield
    finally:
        sys.stderr = saved_stderr
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for f in (*saved, fd):
            os.close(f)


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
        self.ctx = multiprocessing.get_context(self.start_method)
        self.daemon_default = scenario.worker.daemon
        self._own_log_dir = log_dir is None
        self.log_dir = log_dir or tempfile.mkdtemp(prefix="mptop-")
        self._lock = threading.RLock()
        self._handles: dict[int, WorkerHandle] = {}
        self._events: deque[Event] = deque()
        self._names = itertools.count(1)
        self._prepared = False
        self._closed = False
        self.helper_pids: list[int] = []
        self.counters: Counters
        self.tasks: CountedQueue
        self.results: CountedQueue
        self.stop_event: multiprocessing.synchronize.Event

    # -- set-up ---------------------------------------------------------------

    def prepare(self) -> None:
        """Start multiprocessing's helpers and create the channels and mptop's counters.

        Call from the main thread before any UI replaces ``sys.stderr``. The
        forkserver (default on Linux) is started here with ``workers``
        preloaded, so adding a worker later costs only a fork. Idempotent.
        """
        if self._prepared:
            return
        with _stdio_to(Path(self.log_dir) / "multiprocessing.log"):
            if self.start_method == "forkserver":
                self.ctx.set_forkserver_preload(
                    ["workers.child", "workers.workloads", "workers.channels"]
                )
                multiprocessing.forkserver.ensure_running()
                pid = getattr(multiprocessing.forkserver._forkserver, "_forkserver_pid", None)
                if pid:
                    self.helper_pids.append(pid)
            if self.start_method != "fork":
                multiprocessing.resource_tracker.ensure_running()
                pid = getattr(multiprocessing.resource_tracker._resource_tracker, "_pid", None)
                if pid:
                    self.helper_pids.append(pid)
            self.counters = Counters(self.ctx, len(CHANNELS))
            self.tasks = CountedQueue(self.ctx, TASKS).bind(self.counters)
            self.results = CountedQueue(self.ctx, RESULTS).bind(self.counters)
            self.stop_event = self.ctx.Event()
        self._prepared = True

    def start(self) -> list[WorkerHandle]:
        """Start ``scenario.count`` workers; returns their handles."""
        return [self.add() for _ in range(self.scenario.count)]

    # -- events ---------------------------------------------------------------

    def _event(self, text: str, pid: int | None = None, level: str = "info") -> None:
        self._events.append(Event(time.time(), text, pid, level))

    def drain_events(self) -> list[Event]:
        """Events since the last call, oldest first (single consumer: the sampler)."""
        out: list[Event] = []
        while self._events:
            out.append(self._events.popleft())
        return out

    # -- queries --------------------------------------------------------------

    def handles(self) -> list[WorkerHandle]:
        """All workers of this run, in start order, including exited ones."""
        with self._lock:
            return list(self._handles.values())

    def handle(self, pid: int) -> WorkerHandle:
        """The handle of worker ``pid``. Raises :class:`NoSuchWorker`."""
        with self._lock:
            try:
                return self._handles[pid]
            except KeyError:
                raise NoSuchWorker(f"{pid}: no such process") from None

    def alive_pids(self) -> list[int]:
        """PIDs of workers not yet reaped."""
        with self._lock:
            return [h.pid for h in self._handles.values() if h.alive]

    # -- lifecycle ------------------------------------------------------------

    def add(self, daemon: bool | None = None) -> WorkerHandle:
        """Start one more worker; ``daemon`` defaults to :attr:`daemon_default`.

        Blocks for the start (a fork under forkserver, about 1-20 ms here; a
        fresh interpreter under spawn, about 50-150 ms). Raises
        ``RuntimeError`` after :meth:`shutdown`.
        """
        if not self._prepared:
            self.prepare()
        with self._lock:
            if self._closed:
                raise RuntimeError("supervisor is shut down")
            daemon = self.daemon_default if daemon is None else daemon
            name = f"worker-{next(self._names)}"
            counters = Counters(self.ctx, len(CHANNELS))
            args = child.ChildArgs(
                name=name,
                workload=self.scenario.worker.workload,
                log_dir=self.log_dir,
                start_method=self.start_method,
                tasks=self.tasks,
                results=self.results,
                counters=counters,
                stop=self.stop_event,
            )
            process_cls = self.ctx.Process  # type: ignore[attr-defined]
            proc: BaseProcess = process_cls(
                target=child.main, args=(args,), name=name, daemon=daemon
            )
            proc.start()
            pid = proc.pid
            assert pid is not None
            try:
                ps: psutil.Process | None = psutil.Process(pid)
            except psutil.Error:
                ps = None
            handle = WorkerHandle(
                name=name,
                process=proc,
                pid=pid,
                ps=ps,
                daemon=daemon,
                workload=self.scenario.worker.workload,
                counters=counters,
                started=time.time(),
                log_paths=child.log_paths(self.log_dir, name),
            )
            self._handles[pid] = handle
            kind = "daemon" if daemon else "non-daemon"
            self._event(f"started {pid} ({kind}, {self.start_method})", pid)
            return handle

    def _live(self, pid: int) -> WorkerHandle:
        """The handle of a live worker whose identity still checks out, else NoSuchWorker."""
        h = self.handle(pid)
        if not h.alive or h.ps is None or not h.ps.is_running():
            raise NoSuchWorker(f"{pid}: no such process")
        return h

    def _signal(self, h: WorkerHandle, sig: signal.Signals) -> None:
        assert h.ps is not None
        try:
            h.ps.send_signal(sig)  # psutil re-checks the create time first
        except psutil.NoSuchProcess:
            raise NoSuchWorker(f"{h.pid}: no such process") from None

    def send(self, pid: int, sig: signal.Signals) -> None:
        """Send ``sig`` to worker ``pid`` after the identity check.

        SIGCONT goes first to a suspended worker for SIGTERM (a stopped process
        would not act on it). Raises :class:`NoSuchWorker` if ``pid`` is not a
        live worker of this run.
        """
        with self._lock:
            h = self._live(pid)
            if h.suspended and sig not in (signal.SIGSTOP, signal.SIGCONT):
                self._signal(h, signal.SIGCONT)
                h.suspended = False
            self._signal(h, sig)
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

    def toggle_pin(self, pid: int) -> int | None:
        """Pin worker ``pid`` to one core, or unpin a pinned one; returns the core, or None if unpinned.

        Pinning sets its affinity (psutil ``Process.cpu_affinity``) to the core
        it last ran on, or the first core mptop may use if that is unknown;
        unpinning gives it every eligible core again. Raises
        :class:`NoSuchWorker`, or ``NotImplementedError`` where the platform has
        no CPU affinity (macOS).
        """
        with self._lock:
            h = self._live(pid)
            assert h.ps is not None
            if not hasattr(h.ps, "cpu_affinity"):
                raise NotImplementedError("CPU affinity is not supported on this platform")
            try:
                if h.pinned is None:
                    allowed = psutil.Process().cpu_affinity() or [0]
                    core = h.ps.cpu_num() if hasattr(h.ps, "cpu_num") else allowed[0]
                    if core not in allowed:
                        core = allowed[0]
                    h.ps.cpu_affinity([core])
                    h.pinned = core
                    self._event(f"pinned {pid} to core {core}", pid)
                else:
                    h.ps.cpu_affinity([])  # psutil: an empty list means every eligible core
                    h.pinned = None
                    self._event(f"unpinned {pid}: any core", pid)
            except psutil.NoSuchProcess:
                raise NoSuchWorker(f"{pid}: no such process") from None
            return h.pinned

    def poll(self) -> list[WorkerHandle]:
        """Reap workers that exited; returns the newly exited ones.

        The only place that reaps: ``Process.exitcode`` polls the child
        (``waitpid(WNOHANG)`` under fork/spawn, the sentinel under forkserver).
        """
        exited: list[WorkerHandle] = []
        with self._lock:
            for h in self._handles.values():
                if h.exitcode is None:
                    code = h.process.exitcode
                    if code is not None:
                        h.exitcode = code
                        h.suspended = False
                        exited.append(h)
                        meaning = describe_exitcode(code)
                        level = "info" if code == 0 else "warning"
                        self._event(f"{h.pid} exited with {code} ({meaning})", h.pid, level)
        return exited

    def wait_exit(self, pid: int, timeout: float) -> int | None:
        """Wait up to ``timeout`` seconds for worker ``pid`` to exit; returns its exit code or None.

        Reaps through :meth:`poll`. Raises :class:`NoSuchWorker` for a PID not of this run.
        """
        h = self.handle(pid)
        if h.alive:
            multiprocessing.connection.wait([h.process.sentinel], timeout)
            self.poll()
        return h.exitcode

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

        Daemon workers are terminated at once, as multiprocessing does with a
        parent's daemonic children at exit; non-daemon workers are asked to
        finish (the stop flag) and get :data:`FINISH_GRACE` seconds. Whatever
        is left gets SIGTERM, then SIGKILL after :data:`TERM_GRACE`; each
        escalation is logged. Takes at most about 2.5 s.
        """
        with self._lock:
            if self._closed:
                return
            self._closed = True
            if not self._prepared:
                return
            self.stop_event.set()
            self.poll()
            alive = [h for h in self._handles.values() if h.alive]
            for h in alive:
                if h.daemon:
                    with contextlib.suppress(NoSuchWorker, psutil.Error):
                        self.terminate(h.pid)
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
            for q in (self.tasks, self.results):
                q.abandon()
            if self.start_method == "forkserver":
                stop = getattr(multiprocessing.forkserver._forkserver, "_stop", None)
                if stop is not None:
                    with contextlib.suppress(OSError, ChildProcessError):
                        stop()

    def remove_log_dir(self) -> None:
        """Delete the per-run log directory if this supervisor created it."""
        if self._own_log_dir:
            shutil.rmtree(self.log_dir, ignore_errors=True)
