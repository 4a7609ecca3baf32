""":class:`DaskSource`: a Dask cluster's workers (``mptop dask [ADDRESS]``), behind the Source boundary.

Without an address, mptop starts a local cluster in a process of its own
(:mod:`mptop.workers.dask_cluster`: ``LocalCluster`` of worker processes,
its log in a file) and closes it at quit. With ``tcp://host:port`` it
connects to that scheduler and leaves the cluster running at quit.

mptop is a client of the cluster: distributed's **asynchronous** ``Client``
on an asyncio loop of mptop's own (one thread, ``mptop-dask``), so neither
Textual's loop nor the sampling thread ever waits on a synchronous client.
Each tick asks the scheduler once (``run_on_scheduler``) and each worker
once (``client.run(..., workers=[address])``; a worker that does not answer
within the tick keeps its last figures and is asked again once it has
answered), with :mod:`mptop.workers.dask_tally`'s functions, and
:class:`~mptop.workers.dask_model.ClusterModel` turns the answers into rows,
channels and events. A worker on this host (its PID exists here with the
start time the worker itself reported) gets psutil's figures too: state,
CPU%, core, RSS, OS threads (:class:`~mptop.workers.probe.ProcessProbe`);
it takes SIGKILL, SIGSTOP/SIGCONT and an affinity, identity-checked. A
worker elsewhere shows its own monitor's CPU% and RSS, and its host is one of the
snapshot's ``hosts`` (grouped: mptop cannot read that host's cores).

Commands: ``Add`` (a local cluster scales up by one), ``Retire`` (the
scheduler moves the worker's data to the others, then closes it),
``Restart`` (through its nanny), ``Signal``/``ToggleSuspend``/``Pin`` (a
worker on this host), ``SetInterval``, ``ShowThreads``; :meth:`DaskSource.stacks`
asks a worker, anywhere, for each thread's Python stack.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Coroutine
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

import psutil

from mptop.workers.commands import (
    Add,
    Cap,
    Command,
    CommandError,
    Leave,
    Pin,
    Restart,
    Retire,
    SetInterval,
    ShowThreads,
    Signal,
    ToggleSuspend,
    Unpin,
)
from mptop.workers.dask_model import SCHEDULER, ClusterModel, Member
from mptop.workers.detail import OutputTail, WorkerDetail
from mptop.workers.events import EventLog
from mptop.workers.output import output_tail, tail_lines
from mptop.workers.probe import GONE, ProcessProbe, load_avg
from mptop.workers.process_facts import closer_look
from mptop.workers.sampling_thread import SamplingThread
from mptop.workers.signals import pin_tree_process, send_signal
from mptop.workers.snapshot import HostSample, Snapshot, WorkerSample, WorkerState
from mptop.workers.source import Closed, Deliver, Failed, SourceInfo
from mptop.workers.spec import MAX_INTERVAL, MIN_INTERVAL
from mptop.workers.stacks import StackDump, parse

T = TypeVar("T")

INSTALL = "mptop dask needs Dask's distributed: pip install 'mptop[dask]'"
ADDRESS = re.compile(r"^(tcp|tls)://[^\s/:]+:\d{1,5}$")
# Seconds: to start a local cluster, to connect to a scheduler, for a command.
START_TIMEOUT = 60.0
CONNECT_TIMEOUT = 5.0
COMMAND_TIMEOUT = 30.0
# Seconds without a heartbeat after which a worker is said not to answer (a worker sends one
# every 0.5 s below 10 workers; SIGSTOPped, or its event loop blocked, it sends none).
SILENT_AFTER = 3.0
# Seconds the local cluster gets to close after its stdin closes, then after SIGTERM.
CLOSE_GRACE = 8.0
TERM_GRACE = 3.0
# Seconds a worker gets to send its stacks.
STACKS_TIMEOUT = 2.0
NOT_HERE = "runs on another host: mptop can signal only a worker on this host"
SCHEDULER_ROW = "the scheduler: mptop's commands act on workers"


def _tally() -> Any:
    """:mod:`mptop.workers.dask_tally`, imported when a cluster is there (it needs distributed,
    which this module must not need to say that it is missing)."""
    from mptop.workers import dask_tally

    return dask_tally


class _ToEvents(logging.Handler):
    """distributed's and asyncio's log records in mptop's own process, as warning events: on
    the screen their stderr lines would land on the terminal Textual draws on."""

    def __init__(self, events: EventLog) -> None:
        super().__init__(logging.WARNING)
        self.events = events

    def emit(self, record: logging.LogRecord) -> None:
        with contextlib.suppress(Exception):
            text = record.getMessage().splitlines()[0] if record.getMessage() else ""
            if record.exc_info and record.exc_info[1] is not None:
                err = record.exc_info[1]
                text = f"{text}: {type(err).__name__}: {err}".strip(": ")
            self.events.add(f"{record.name}: {text}", level="warning")


def _route_logs(events: EventLog) -> list[tuple[logging.Logger, list[logging.Handler], bool]]:
    """Send the ``distributed`` and ``asyncio`` loggers of this process to ``events``; returns
    what to put back (:func:`_restore_logs`). Imports distributed first: its import sets up
    its own handler on stderr, which this replaces."""
    import distributed  # noqa: F401

    saved = []
    names = {"distributed", "asyncio", "tornado"} | {
        name  # distributed gives some of its loggers a handler of their own (distributed.client)
        for name, logger in logging.root.manager.loggerDict.items()
        if isinstance(logger, logging.Logger)
        and logger.handlers
        and name.split(".")[0] in ("distributed", "tornado", "bokeh")
    }
    for name in sorted(names):
        logger = logging.getLogger(name)
        saved.append((logger, list(logger.handlers), logger.propagate))
        logger.handlers = [_ToEvents(events)]
        logger.propagate = False
    return saved


def _restore_logs(saved: list[tuple[logging.Logger, list[logging.Handler], bool]]) -> None:
    for logger, handlers, propagate in saved:
        logger.handlers = handlers
        logger.propagate = propagate


class ConnectError(RuntimeError):
    """The scheduler at the address given cannot be reached (bad input: the address)."""


def distributed_missing() -> str:
    """The one line to print when ``distributed`` cannot be imported ("" if it can)."""
    try:
        import distributed  # noqa: F401
    except ImportError:
        return INSTALL
    return ""


def check_address(address: str) -> str:
    """Why ``address`` is not a scheduler address ("" if it is): ``tcp://host:port``."""
    if not ADDRESS.match(address):
        return (
            f"{address!r} is not a scheduler address (tcp://HOST:PORT, e.g. tcp://127.0.0.1:8786)"
        )
    port = int(address.rsplit(":", 1)[1])
    if not 0 < port < 65536:
        return f"{address!r}: port {port} is out of range (1-65535)"
    return ""


class DaskSource:
    """A Dask cluster: a local one mptop starts (``address=None``: ``workers`` processes of
    ``threads`` threads, its scheduler on ``port``, 0 = any free one) or the one at ``address``.

    Blocks until the cluster answers: raises ``RuntimeError`` (one line: why)
    if the local cluster cannot start within :data:`START_TIMEOUT` seconds,
    :class:`ConnectError` if the scheduler at ``address`` cannot be reached
    within ``connect_timeout`` seconds; nothing is left running then.
    """

    def __init__(
        self,
        address: str | None = None,
        *,
        workers: int = 2,
        threads: int = 1,
        port: int = 0,
        interval: float = 1.0,
        connect_timeout: float = CONNECT_TIMEOUT,
    ) -> None:
        self.local = address is None
        self.caps = frozenset(
            {
                Cap.SIGNAL,
                Cap.SUSPEND,
                Cap.PIN,
                Cap.INTERVAL,
                Cap.THREADS,
                Cap.RETIRE,
                Cap.RESTART,
                Cap.STACKS,
            }
            | ({Cap.ADD, Cap.OUTPUT, Cap.LEAVE} if self.local else set())
        )
        self.events = EventLog()
        self._logs = _route_logs(self.events)
        self.model = ClusterModel(self.events)
        self.probe = ProcessProbe()
        self.threads_on = False
        self.sampling = SamplingThread(self._sample, interval, name="mptop-dask-sampler")
        self._hostname = socket.gethostname()
        self._anchors: dict[int, psutil.Process] = {}  # PID -> identity anchor (this host)
        self._pinned: dict[int, int] = {}
        self._since = 0.0
        self._connected_at: float | None = None  # the scheduler's clock at the first tally
        self._scheduler: dict[str, Any] = {}
        self._streams: dict[str, list[int]] = {}
        self._last: float | None = None
        self._last_snap: Snapshot | None = None
        self._lost = ""  # why the cluster is gone (it ended by itself)
        self._closed: Closed | None = None
        self._leave = False  # Leave: the local cluster runs on after mptop
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[bytes] | None = None
        self._dir: Path | None = None
        self.log_path: Path | None = None
        self._log_at = 0
        self.workers_asked = workers
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="mptop-dask", daemon=True
        )
        self._thread.start()
        self._client: Any = None
        try:
            if address is None:
                address = self._start_cluster(workers, threads, port)
            else:
                self._by_value()
            self.address = address
            try:
                self._call(self._connect(address, connect_timeout), connect_timeout + 2)
            except TimeoutError as err:
                raise ConnectError(f"cannot connect to the scheduler at {address}: {err}") from None
        except BaseException:
            self._shutdown()
            raise

    # -- the boundary -------------------------------------------------------------------

    def info(self) -> SourceInfo:
        """Kind ``dask``; the header leads with the cluster, its workers and threads."""
        alive = [m for m in self.model.members.values() if not m.gone]
        threads = sum(
            int(w.get("nthreads", 0)) for w in self._scheduler.get("workers", {}).values()
        )
        where = "local cluster" if self.local else "cluster"
        lead = self._lost or (
            f"{where} {self.address} · {len(alive)} worker{'s' if len(alive) != 1 else ''}"
            f" · {threads} thread{'s' if threads != 1 else ''}"
        )
        return SourceInfo(
            kind="dask",
            title=f"mptop dask {'' if self.local else self.address}".strip(),
            interval=self.sampling.interval,
            lead=(lead,),
            facts=("mptop dask",),
            unavailable=(
                "mptop did not start this cluster: it cannot add a worker nor read its log"
                if not self.local
                else "a Dask cluster has no daemon flag nor channels to rebuild: its scheduler owns them"
            ),
            record={
                "name": "dask",
                "description": f"mptop dask {self.address}",
                "dask": self.address,
                "local": self.local,
                "interval": self.sampling.interval,
                "columns": "dask",
            },
            ended=bool(self._lost),
            not_workers=frozenset({int(self._scheduler["pid"])} if self._scheduler else ()),
            no_channels=(
                "no traffic yet: transfers between workers (counted by the receiver) and the"
                " scheduler's streams (counted by the sender) show here"
            ),
            columns="dask",
            quiet_quit=not self._others(),
            leave_question=(
                f"The local cluster at {self.address} has {self._others()} other client(s)"
                " connected. What should happen to it?"
            ),
            leave_hints=(
                "t: close it (its workers, nannies and scheduler: the clients lose it)",
                "l: leave it running (mptop prints its address and PID, to stop it later)",
            ),
            channels_note=(
                "transfers between workers, counted by the receiver (bytes: Dask's nbytes;"
                " backlog: in flight); the scheduler's streams, by the sender (backlog: not yet"
                " written)"
            ),
        )

    def start(self, deliver: Deliver, failed: Failed) -> None:
        """Begin sampling (the first snapshot at once)."""
        what = f"a local cluster of {self.workers_asked} workers" if self.local else "the cluster"
        self.events.add(f"connected to {what} at {self.address}")
        self.sampling.start(deliver, failed)

    def arm(self) -> None:
        """The last snapshot was applied."""
        self.sampling.arm()

    def poke(self) -> None:
        """Sample as soon as the last snapshot was applied."""
        self.sampling.poke()

    def send(self, command: Command) -> str | None:
        """Carry out ``command`` on the cluster (see the module's docstring).

        Raises :class:`CommandError` for a PID that is no worker of the cluster,
        a signal to a worker on another host or to the scheduler, a command the
        cluster refused or that timed out (:data:`COMMAND_TIMEOUT` seconds).
        """
        match command:
            case SetInterval(seconds=seconds):
                self.sampling.interval = max(MIN_INTERVAL, min(MAX_INTERVAL, seconds))
            case ShowThreads(on=on):
                self.threads_on = on
            case Leave() if self.local:
                self._leave = True
                with contextlib.suppress(OSError, AttributeError):
                    assert self._proc is not None and self._proc.stdin is not None
                    self._proc.stdin.write(b"leave\n")
                    self._proc.stdin.flush()
            case Add() if self.local:
                n = self._command(lambda c: c.scheduler.mptop_add(), None)
                self.events.add(f"asked the local cluster for one more worker ({n} in all)")
            case Retire(pid=pid):
                m = self._member(pid)
                if self.local:
                    m.retired = True
                    self._command(lambda c: c.scheduler.mptop_retire(name=self._dask_name(m)), pid)
                else:
                    m.retired = True
                    self._command(
                        lambda c: c.retire_workers(workers=[m.address], close_workers=True), pid
                    )
                self.events.add(f"asked the scheduler to retire {m.name} (PID {pid})", pid)
            case Restart(pid=pid):
                m = self._member(pid)
                result = self._command(lambda c: c.restart_workers([m.address]), pid)
                if result.get(m.address, "OK") != "OK":
                    raise CommandError(pid, f"restart: {result[m.address]}")
                self.events.add(f"asked {m.name}'s nanny to restart it (PID {pid})", pid)
            case Signal(pid=pid, sig=sig, wait=wait):
                ps = self._here(pid)
                if sig in (signal.SIGTERM, signal.SIGKILL):
                    with contextlib.suppress(psutil.Error):
                        if ps.status() == psutil.STATUS_STOPPED:
                            send_signal(ps, signal.SIGCONT)
                send_signal(ps, sig)
                name = self._member(pid).name
                more = ": its nanny starts it again" if sig == signal.SIGKILL else ""
                self.events.add(f"sent {sig.name} to {pid} ({name}){more}", pid)
                if wait > 0 and sig in (signal.SIGTERM, signal.SIGKILL):
                    with contextlib.suppress(psutil.Error):
                        ps.wait(wait)
            case ToggleSuspend(pid=pid):
                ps = self._here(pid)
                try:
                    stopped = ps.status() == psutil.STATUS_STOPPED
                except psutil.Error:
                    raise CommandError(pid, "no such process") from None
                sig = signal.SIGCONT if stopped else signal.SIGSTOP
                send_signal(ps, sig)
                self.events.add(f"sent {sig.name} to {pid} ({self._member(pid).name})", pid)
            case Pin(pid=pid, cores=cores):
                ps = self._here(pid)
                chosen = pin_tree_process(pid, ps, cores)
                if len(chosen) == 1:
                    self._pinned[pid] = chosen[0]
                self.events.add(f"pinned {pid} to core {','.join(map(str, chosen))}", pid)
            case Unpin(pid=pid):
                ps = self._here(pid)
                try:
                    ps.cpu_affinity([])
                except psutil.Error as err:
                    raise CommandError(pid, f"affinity: {type(err).__name__}") from None
                self._pinned.pop(pid, None)
                self.events.add(f"unpinned {pid} (all cores)", pid)
            case _:
                raise CommandError(
                    getattr(command, "pid", None),
                    f"{type(command).__name__}: not a command for a Dask cluster"
                    + ("" if self.local else " mptop did not start"),
                )
        self.poke()
        return None  # the events say what was done

    def _others(self) -> int:
        """Clients of the cluster other than mptop's own (a user's program)."""
        mine = getattr(self._client, "id", None)
        return sum(1 for c in self._scheduler.get("clients", ()) if c != mine)

    def detail(self, pid: int) -> WorkerDetail:
        """psutil's facts of a worker on this host (PPID, threads, affinity, nice, command line);
        for one elsewhere, what its scheduler says. Raises CommandError for a PID not of the cluster."""
        m = self._member(pid, scheduler_too=True)
        ps = self._anchors.get(pid)
        look = closer_look(ps)
        cmdline: tuple[str, ...] = ()
        if ps is not None:
            with contextlib.suppress(psutil.Error):
                cmdline = tuple(ps.cmdline())
        where = f"{m.address} on {m.host}" if m is not None else self.address
        note = f"(Dask worker {where}: its output is in the cluster's log, key o)"
        if not self.local:
            note = f"(Dask worker {where}: its output is where its cluster keeps it)"
        return WorkerDetail(
            pid=pid,
            ppid=look.ppid,
            cmdline=cmdline,
            start_method="spawn (Dask nanny)" if m is not None and m.nanny else "",
            create_time=look.create_time,
            affinity=look.affinity,
            threads=look.threads,
            channels=(),
            stdout_tail=note,
            stderr_tail=note,
            traceback=None,
            nice=look.nice,
            mptop_nice=os.nice(0),
            last_seen=ps is None,
        )

    def output(self, pid: int) -> tuple[OutputTail, ...]:
        """The end of the local cluster's log (its scheduler, nannies and workers share one file).
        Raises CommandError for a cluster mptop did not start."""
        if self.log_path is None:
            raise CommandError(pid, "mptop did not start this cluster: its log is not mptop's")
        return (output_tail("the local cluster's log", self.log_path),)

    def stacks(self, pid: int) -> StackDump:
        """Each thread's Python stack in worker ``pid`` now, asked through the cluster
        (``client.run`` of :func:`~mptop.workers.dask_tally.worker_stacks`: the worker's event
        loop reads ``sys._current_frames()``). Blocks up to :data:`STACKS_TIMEOUT` seconds.
        Raises CommandError for a PID that is no worker, or one that does not answer (suspended,
        its event loop blocked)."""
        m = self._member(pid)

        async def ask() -> str:
            got = await self._client.run(_tally().worker_stacks, workers=[m.address])
            return str(got[m.address])

        try:
            text = self._call(ask(), STACKS_TIMEOUT)
        except Exception as err:
            raise CommandError(pid, f"stacks: {type(err).__name__}: {err}".rstrip(": ")) from None
        return StackDump(
            pid, time.time(), parse(text), how="Dask's client.run: sys._current_frames()"
        )

    def close(self) -> Closed:
        """Stop sampling and the client; a local cluster is closed too (bounded: about
        :data:`CLOSE_GRACE` + :data:`TERM_GRACE` seconds at worst), a remote one left running.
        Idempotent."""
        with self._lock:
            if self._closed is not None:
                return self._closed
        self.sampling.stop()
        members = list(self.model.members.values())
        notes: list[str] = []
        last: Snapshot | None
        if self.local and self._leave and not self._lost:
            last = self._sample_or_last()
            self._shutdown()  # the client only: the cluster process runs on
            assert self._proc is not None
            notes.append(
                f"mptop: left the local cluster running at {self.address}: PID"
                f" {self._proc.pid} (its scheduler and nannies; stop it with kill"
                f" {self._proc.pid}), its log: {self.log_path}"
            )
        elif self.local:
            self._shutdown()
            for m in members:
                m.gone = True
            self._last = None
            last = self._snapshot(time.monotonic(), final=True)
            restarted = sum(m.restarts for m in members)
            retired = sum(m.retired for m in members)
            if self._lost:
                notes.append(f"mptop: {self._lost} ({self.address}) before mptop quit")
            else:
                notes.append(
                    f"mptop: closed the local cluster at {self.address}: its scheduler, nannies"
                    f" and {len(members) - retired} worker(s)"
                    + (f" ({restarted} restart(s) by their nannies)" if restarted else "")
                    + (f"; {retired} retired before" if retired else "")
                )
            if self.log_path is not None:
                notes.append(f"mptop: the local cluster's log: {self.log_path}")
        else:
            last = self._sample_or_last()
            self._shutdown()
            alive = [m for m in members if not m.gone]
            notes.append(
                f"mptop: left the cluster at {self.address} running ({len(alive)} workers):"
                " mptop dask never stops a cluster it did not start"
            )
        # no fates: a Dask worker's exit code is its nanny's to know, not mptop's
        self._closed = Closed((), last, None, tuple(notes))
        return self._closed

    # -- the loop -----------------------------------------------------------------------

    def _call(self, coro: Coroutine[Any, Any, T], timeout: float) -> T:
        """Run ``coro`` on mptop's Dask loop and wait up to ``timeout`` seconds for it."""
        future = asyncio.run_coroutine_threadsafe(coro, self._loop)
        try:
            return future.result(timeout)
        except FutureTimeout:
            future.cancel()
            raise TimeoutError(f"no answer within {timeout:g} s") from None

    def _command(self, call: Callable[[Any], Any], pid: int | None) -> Any:
        """``call(client)``, made and awaited on the Dask loop (an asynchronous client's method
        called on another thread would run synchronously there); CommandError if it fails."""

        async def run() -> Any:
            return await call(self._client)

        try:
            return self._call(run(), COMMAND_TIMEOUT)
        except CommandError:
            raise
        except Exception as err:
            raise CommandError(pid, f"{type(err).__name__}: {err}".rstrip(": ")) from None

    async def _connect(self, address: str, timeout: float) -> None:
        import distributed

        client: Any = distributed.Client  # distributed is untyped: Any
        try:
            self._client = await client(address, asynchronous=True, name="mptop", timeout=timeout)
        except OSError as err:
            raise ConnectError(f"cannot connect to the scheduler at {address}: {err}") from None
        await self._install()

    def _by_value(self) -> None:
        """The tally functions travel by value: a remote cluster need not have mptop installed."""
        import cloudpickle  # type: ignore[import-untyped]

        cloudpickle.register_pickle_by_value(_tally())

    async def _install(self) -> None:
        """Put mptop's tallies into the cluster, once: the worker plugin (its figures ride on each
        heartbeat) and the scheduler's ``mptop_tally`` handler (:mod:`~mptop.workers.dask_tally`)."""
        client = self._client
        tally = _tally()
        await client.register_plugin(tally.TallyPlugin())
        await client.run_on_scheduler(tally.install)

    async def _uninstall(self) -> None:
        """Take them out again (a cluster mptop leaves running is left as it was)."""
        client = self._client
        with contextlib.suppress(Exception):
            await asyncio.wait_for(client.unregister_worker_plugin(_tally().TallyPlugin.name), 3)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(client.run_on_scheduler(_tally().uninstall), 3)

    async def _gather(self, interval: float) -> dict[str, Any]:
        """The scheduler's tally, with each worker's as of its last heartbeat: one RPC."""
        ask = self._client.scheduler.mptop_tally(since=self._since)
        result: dict[str, Any] = await asyncio.wait_for(ask, max(2.0, interval * 2))
        return result

    # -- sampling -----------------------------------------------------------------------

    def _sample(self) -> Snapshot:
        now = time.monotonic()
        if self._lost:  # nothing left to ask
            return self._snapshot(now, final=True)
        try:
            sched = self._call(
                self._gather(self.sampling.interval), max(3.0, self.sampling.interval * 3)
            )
        except Exception as err:
            if self.local and self._proc is not None:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self._proc.wait(1.0)  # killed: the lost connection may come before its exit
            if self.local and self._proc is not None and self._proc.poll() is not None:
                self._cluster_gone(f"the local cluster exited with {self._proc.returncode}")
            elif not self._lost and self._client is not None and self._client.status != "running":
                self._cluster_gone(f"lost the scheduler at {self.address}")
            if self._lost:
                return self._snapshot(now, final=True)
            raise RuntimeError(
                f"the scheduler did not answer: {type(err).__name__}: {err}"
            ) from None
        self._since = float(sched.get("now", self._since))
        self._scheduler = sched
        self._streams = sched.get("streams", {})
        self.model.update_members(sched["workers"])
        clock = float(sched.get("now", time.time()))
        for address, ws in sched["workers"].items():
            if ws.get("tally"):
                self.model.take_tally(address, ws["tally"])
            quiet = clock - float(ws.get("last_seen") or clock)
            if quiet > SILENT_AFTER:
                self.model.silent(address, f"no heartbeat for {quiet:.0f} s")
            else:
                self.model.heard(address)
        if self._connected_at is None:
            self._connected_at = self._since
        self.model.erred(sched.get("erred", []), before=self._connected_at)
        self._read_log()
        return self._snapshot(now)

    def _sample_or_last(self) -> Snapshot | None:
        try:
            return self._sample()
        except Exception:
            return self._last_snap

    def _snapshot(self, now: float, final: bool = False) -> Snapshot:
        dt = None if self._last is None else now - self._last
        self._last = now
        loads = self.probe.core_loads(now)
        rows = [] if final and not self._scheduler else [self._scheduler_row(now, final)]
        rows += [self._row(m, now, dt, final) for m in self.model.members.values()]
        workers = tuple(r for r in rows if r is not None)
        channels = (
            self.model.channels(self._streams, dt)
            if not final
            else (self._last_snap.channels if self._last_snap is not None else ())
        )
        snap = Snapshot(
            time=time.time(),
            interval=dt or 0.0,
            start_method="dask",
            cores=self.probe.cores(loads, workers, now),
            workers=workers,
            channels=channels,
            events=tuple(self.events.drain()),
            load_avg=load_avg(),
            hosts=self._hosts(workers),
            mptop=self.probe.own_sample(),
        )
        self._last_snap = snap
        return snap

    def _anchor(
        self, pid: int | None, created: float | None, hostname: str | None
    ) -> psutil.Process | None:
        """The psutil handle of ``pid`` if it is this host's process started at ``created``."""
        if pid is None or created is None or hostname != self._hostname:
            return None
        ps = self._anchors.get(pid)
        if ps is not None:
            return ps
        try:
            ps = psutil.Process(pid)
            if abs(ps.create_time() - created) > 0.05:
                return None  # the same PID here is another process: the worker is elsewhere
        except psutil.Error:
            return None
        self._anchors[pid] = ps
        return ps

    def _scheduler_row(self, now: float, final: bool) -> WorkerSample | None:
        s = self._scheduler
        if not s:
            return None
        pid = int(s["pid"])
        ps = None if final else self._anchor(pid, s.get("created"), s.get("hostname"))
        name = "scheduler+nannies" if self.local else SCHEDULER
        host = self.address.split("://", 1)[-1].rsplit(":", 1)[0]
        return self._process_row(pid, name, ps, now, final, host=host)

    def _row(self, m: Member, now: float, dt: float | None, final: bool) -> WorkerSample | None:
        t = m.tally
        if m.pid is None:
            return None
        ps = None if m.gone or final else self._anchor(m.pid, t.get("created"), t.get("hostname"))
        rates = self.model.rates(m) if not m.gone else (None, None, None, None)
        sample = self._process_row(m.pid, m.name, ps, now, final or m.gone, host=m.host)
        if ps is None and not (final or m.gone):  # elsewhere: the worker's own monitor
            sample = replace(
                sample,
                state=self.model.remote_state(m),
                cpu_percent=t.get("cpu"),
                rss=int(t["memory"]) if t.get("memory") is not None else None,
                thread_count=t.get("threads"),
            )
        return replace(
            sample,
            ppid=t.get("ppid", sample.ppid),
            msgs_in_per_s=rates[0],
            bytes_in_per_s=rates[1],
            msgs_out_per_s=rates[2],
            bytes_out_per_s=rates[3],
            **self.model.dask_figures(m),
        )

    def _process_row(
        self, pid: int, name: str, ps: psutil.Process | None, now: float, gone: bool, host: str
    ) -> WorkerSample:
        reading = GONE
        threads: int | None = None
        if ps is not None and not gone:
            reading = self.probe.read(ps, now)
            with contextlib.suppress(psutil.Error):
                threads = ps.num_threads()
        exited = gone or (ps is not None and reading is GONE)
        if exited:
            self.probe.forget(pid)
        return WorkerSample(
            pid=pid,
            name=name,
            daemon=False,
            state=WorkerState.EXITED if exited else reading.state,
            core=None if exited else reading.core,
            cpu_percent=None if exited else reading.cpu_percent,
            rss=None if exited else reading.rss,
            msgs_in_per_s=None,
            bytes_in_per_s=None,
            msgs_out_per_s=None,
            bytes_out_per_s=None,
            exitcode=None,
            start_method="dask",
            ppid=reading.ppid,
            pinned=None if exited else self._pinned.get(pid),
            host=host,
            thread_count=threads,
            threads=self.probe.threads(pid, now)
            if self.threads_on and ps is not None and not exited
            else (),
        )

    def _hosts(self, workers: tuple[WorkerSample, ...]) -> tuple[HostSample, ...]:
        """The workers on hosts other than this one, grouped by host: how many, their summed CPU%
        and RSS (their own monitors' figures)."""
        hosts: dict[str, list[WorkerSample]] = {}
        scheduler = self._scheduler.get("pid")
        for w in workers:
            if w.alive and w.pid not in self._anchors and w.host and w.pid != scheduler:
                hosts.setdefault(w.host, []).append(w)
        out = []
        for host, ws in sorted(hosts.items()):
            cpus = [w.cpu_percent for w in ws if w.cpu_percent is not None]
            rss = [w.rss for w in ws if w.rss is not None]
            out.append(
                HostSample(host, len(ws), sum(cpus) if cpus else None, sum(rss) if rss else None)
            )
        return tuple(out)

    # -- members and processes ----------------------------------------------------------

    def _member(self, pid: int, scheduler_too: bool = False) -> Member:
        m = self.model.address_of(pid)
        if m is not None:
            return m
        if scheduler_too and self._scheduler and int(self._scheduler.get("pid", -1)) == pid:
            return Member(SCHEDULER, address=self.address)
        if self._scheduler and int(self._scheduler.get("pid", -1)) == pid:
            raise CommandError(pid, SCHEDULER_ROW)
        raise CommandError(pid, "not a worker of this cluster (or it has gone)")

    def _dask_name(self, m: Member) -> Any:
        """The name the scheduler knows ``m`` by (LocalCluster's are whole numbers)."""
        for ws in self._scheduler.get("workers", {}).values():
            if str(ws["name"]) == m.name or f"worker-{ws['name']}" == m.name:
                return ws["name"]
        return m.name

    def _here(self, pid: int) -> psutil.Process:
        """The identity-checked process of a worker on this host; CommandError otherwise."""
        m = self._member(pid)
        ps = self._anchors.get(pid)
        if ps is None:
            raise CommandError(pid, f"{m.name} {NOT_HERE}")
        return ps

    # -- the local cluster --------------------------------------------------------------

    def _start_cluster(self, workers: int, threads: int, port: int) -> str:
        """Start :mod:`mptop.workers.dask_cluster`, its output in a log file; its scheduler's address."""
        self._dir = Path(tempfile.mkdtemp(prefix="mptop-dask-"))
        self.log_path = self._dir / "cluster.log"
        address_file = self._dir / "address"
        cmd = [
            sys.executable,
            "-m",
            "mptop.workers.dask_cluster",
            "--workers",
            str(workers),
            "--threads",
            str(threads),
            "--port",
            str(port),
            "--address-file",
            str(address_file),
        ]
        with open(self.log_path, "ab") as log:
            self._proc = subprocess.Popen(
                cmd,
                stdin=subprocess.PIPE,
                stdout=log,
                stderr=log,
                start_new_session=True,  # Ctrl+C at a headless mptop reaches mptop only
            )
        deadline = time.monotonic() + START_TIMEOUT
        while not address_file.exists():
            if self._proc.poll() is not None:
                raise RuntimeError(f"the local Dask cluster did not start: {self._last_log_line()}")
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"the local Dask cluster did not start within {START_TIMEOUT:g} s"
                )
            time.sleep(0.05)
        return address_file.read_text().strip()

    def _last_log_line(self) -> str:
        lines = tail_lines(self.log_path, 5) if self.log_path is not None else ()
        return lines[-1] if lines else "(its log is empty)"

    def _read_log(self) -> None:
        """New WARNING, ERROR and CRITICAL lines of the local cluster's log become events."""
        if self.log_path is None:
            return
        try:
            with open(self.log_path, "rb") as f:
                f.seek(self._log_at)
                data = f.read(1 << 20)
        except OSError:
            return
        end = data.rfind(b"\n") + 1
        self._log_at += end
        for raw in data[:end].decode(errors="replace").splitlines():
            for level in ("CRITICAL", "ERROR", "WARNING"):
                if f" - {level} - " in raw:
                    where, _, text = raw.partition(f" - {level} - ")
                    logger = where.rpartition(" - ")[2].strip()  # after the time stamp
                    # the cluster's, not mptop's: a warning (error events are what mptop could not do)
                    self.events.add(f"{logger}: {text.strip()}", level="warning")
                    break

    def _cluster_gone(self, why: str) -> None:
        if self._lost:
            return
        self._lost = why
        self.events.add(why, level="error")
        for m in self.model.members.values():
            m.gone = True

    def _shutdown(self) -> None:
        """Close the client; stop a local cluster (stdin closed, then SIGTERM, then SIGKILL to
        its process group) and any worker of it still here; stop the loop."""
        client = self._client
        if client is not None:

            async def close_client() -> None:
                if (not self.local or self._leave) and not self._lost:
                    await self._uninstall()  # a cluster left running is left as it was
                await client.close(timeout=0.5 if self._lost else 2)

            with contextlib.suppress(Exception):
                self._call(close_client(), 9.0)
        proc = self._proc
        if proc is not None and self._leave and not self._lost:
            with contextlib.suppress(OSError):
                assert proc.stdin is not None
                proc.stdin.close()  # after "leave": the cluster runs on
            proc = None
        if proc is not None:
            with contextlib.suppress(OSError):
                assert proc.stdin is not None
                proc.stdin.close()
            try:
                proc.wait(CLOSE_GRACE)
            except subprocess.TimeoutExpired:
                proc.terminate()
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(TERM_GRACE)
            with contextlib.suppress(OSError):
                os.killpg(proc.pid, signal.SIGKILL)  # the stragglers of its session
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(1.0)
            for ps in self._anchors.values():  # a worker that left the process group
                with contextlib.suppress(psutil.Error):
                    ps.kill()

        async def cancel_the_rest() -> None:  # the client's reconnect attempts, tallies in flight
            me = asyncio.current_task()
            rest = [t for t in asyncio.all_tasks() if t is not me]
            for t in rest:
                t.cancel()
            await asyncio.wait(rest, timeout=1.0) if rest else None

        if self._thread.is_alive():
            with contextlib.suppress(Exception):
                self._call(cancel_the_rest(), 2.0)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(2.0)
        if not self._thread.is_alive() and not self._loop.is_closed():
            self._loop.close()
        _restore_logs(self._logs)


__all__ = ["INSTALL", "ConnectError", "DaskSource", "check_address", "distributed_missing"]
