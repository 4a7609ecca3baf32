""":class:`AttachSource`: a process tree mptop did not start (``mptop attach PID``), behind the Source boundary.

Any program, as far as the OS lets mptop read it: the PID and its
descendants (each kept once seen, also after it exited or was reparented),
each with state, CPU%, core, RSS and PPID (:class:`~mptop.workers.probe.ProcessProbe`)
and all its I/O in bytes/s (``/proc/PID/io``: files and terminals too; no
message counts, only ``mptop run`` counts those). The channels are the
pipes and sockets that two or more processes of the tree hold, from their
``/proc/PID/fd`` links (:mod:`mptop.workers.proc_fds`): who holds which
end, not what moves through them.

It never stops what it did not start: :meth:`AttachSource.close` stops
sampling only. Signals go only to processes of the tree, identity-checked
with the ``psutil.Process`` kept from discovery (PID plus create time), as
does a CPU affinity (``Pin``: the front end asks the user first, as for a
signal, since mptop did not start the process), and mptop itself and its own children are never part of the tree (attached to
its own shell, mptop leaves itself out).
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from dataclasses import dataclass

import psutil

from mptop.workers.commands import (
    Cap,
    Command,
    CommandError,
    Pin,
    SetInterval,
    ShowThreads,
    Signal,
    ToggleSuspend,
    Unpin,
)
from mptop.workers.detail import OutputTail, WorkerDetail
from mptop.workers.events import EventLog
from mptop.workers.probe import GONE, ProcessProbe, ProcessReading, load_avg
from mptop.workers.proc_fds import (
    BOTH,
    HAS_CHILDREN,
    READ,
    WRITE,
    FdScanner,
    children,
    descendants,
    parents,
)
from mptop.workers.process_facts import (
    closer_look,
    end_names,
    process_name,
    zombie_exitcode,
)
from mptop.workers.sampling_thread import SamplingThread
from mptop.workers.signals import pin_tree_process, send_signal
from mptop.workers.snapshot import (
    ChannelSample,
    Snapshot,
    WorkerSample,
    WorkerState,
    describe_exitcode,
)
from mptop.workers.source import Closed, Deliver, Failed, SourceInfo
from mptop.workers.spec import MAX_INTERVAL, MIN_INTERVAL
from mptop.workers.stacks import StackDump

NOT_OURS = "exit code unknown: not our child"
NO_OUTPUT = "mptop attach cannot see the program's output"
NOT_IN_TREE = "not a process of the attached tree"
NO_STACKS = (
    "mptop attach cannot read the stacks: the program has no handler for the signal that asks"
    " (it would end it); py-spy dump --pid PID can"
)
NO_COUNTS = "message counts are not available when attached (only mptop run counts them)"
# Processes the exit notes name one by one.
NOTE_PROCS = 12


def check_pid(pid: int) -> str:
    """Why ``pid`` cannot be attached to ("" if it can): one line for the command line."""
    if pid <= 0:
        return f"PID must be a positive whole number, got {pid}"
    if pid == os.getpid():
        return f"PID {pid} is mptop itself"
    try:
        ps = psutil.Process(pid)
        if ps.status() == psutil.STATUS_ZOMBIE:
            return f"PID {pid} has exited (a zombie waiting for its parent)"
    except psutil.NoSuchProcess:
        return f"PID {pid}: no such process"
    except psutil.AccessDenied:
        pass  # another user's: what can be read is shown
    return ""


@dataclass(eq=False)
class _Proc:
    """What mptop knows of one process of the attached tree."""

    ps: psutil.Process | None  # the identity anchor; None: gone before mptop could look at it
    name: str
    cmdline: tuple[str, ...] = ()
    method: str = ""
    exitcode: int | None = None
    ended: bool = False
    zombie: bool = False
    ppid: int | None = None
    io_at: tuple[int, int] | None = None
    pinned: int | None = None  # the one core a Pin from mptop allowed

    @property
    def live(self) -> psutil.Process:
        """The psutil handle of a process not yet ended (its identity anchor)."""
        assert self.ps is not None
        return self.ps


class AttachSource:
    """The running process ``pid`` and its descendants, watched; they take signals, suspend and
    a CPU affinity.

    Raises ``psutil.NoSuchProcess`` (an ``Exception``) if ``pid`` does not
    exist; :func:`check_pid` says so in words first. Nothing of the tree is
    changed unless a command asks: sampling only reads ``/proc``.
    """

    caps = frozenset({Cap.SIGNAL, Cap.SUSPEND, Cap.PIN, Cap.INTERVAL, Cap.THREADS})

    def __init__(self, pid: int, *, interval: float = 1.0) -> None:
        self.pid = pid
        self.root = psutil.Process(pid)
        try:
            raw_name, cmdline = self.root.name(), self.root.cmdline()
        except psutil.AccessDenied:
            raw_name, cmdline = str(pid), []
        self.name, method = process_name(raw_name, cmdline)
        self.probe = ProcessProbe()
        self.threads_on = False  # sample each process's threads (key H)
        self.fds = FdScanner()
        self.events = EventLog()
        self.sampling = SamplingThread(self._sample, interval)
        self._lock = threading.RLock()
        self._procs: dict[int, _Proc] = {
            pid: _Proc(self.root, self.name, tuple(cmdline), method),
        }
        self._order: dict[tuple[str, int], None] = {}  # channels in the order first seen
        self._own = os.getpid()
        self._started = time.monotonic()
        self._ended_at: float | None = None
        self._last: float | None = None
        self._denied_said = False
        self._closed: Closed | None = None

    # -- the boundary -------------------------------------------------------------------

    def info(self) -> SourceInfo:
        """Kind ``attach``; the header leads with the process and how long it has been watched."""
        now = time.monotonic()
        ended_at = self._ended_at
        if ended_at is not None:
            lead = f"PID {self.pid} and its tree have exited after {ended_at - self._started:.1f} s"
        else:
            lead = f"attached to {self.name} (PID {self.pid}) for {now - self._started:.0f} s"
        return SourceInfo(
            kind="attach",
            title=f"mptop attach {self.pid}",
            interval=self.sampling.interval,
            lead=(lead,),
            facts=("no message counts", "In/Out B/s = all I/O", "mptop attach"),
            unavailable=(
                "mptop attach did not start the program: it cannot add a process,"
                " nor see its output"
            ),
            record={
                "name": self.name,
                "description": f"mptop attach {self.pid}",
                "attached": self.pid,
                "interval": self.sampling.interval,
            },
            ended=ended_at is not None,
            no_channels=(
                "no pipe or socket shared by two processes of the tree · "
                f"{NO_COUNTS} · In/Out B/s: all I/O (/proc/PID/io)"
            ),
            confirm_signals=True,
        )

    def start(self, deliver: Deliver, failed: Failed) -> None:
        """Begin sampling (the first snapshot at once)."""
        self._started = time.monotonic()
        self.events.add(f"attached to {self.pid} ({self.name})", self.pid)
        self.sampling.start(deliver, failed)

    def arm(self) -> None:
        """The last snapshot was applied."""
        self.sampling.arm()

    def poke(self) -> None:
        """Sample as soon as the last snapshot was applied."""
        self.sampling.poke()

    def send(self, command: Command) -> str | None:
        """Signal or suspend a process of the tree, or set its CPU affinity (``Pin``, ``Unpin``;
        identity-checked); change the interval.

        Raises :class:`CommandError` for a PID outside the tree, a process that
        has exited, a core this machine does not have, or an OS that refuses
        (another user's process).
        """
        match command:
            case SetInterval(seconds=seconds):
                self.sampling.interval = max(MIN_INTERVAL, min(MAX_INTERVAL, seconds))
            case ShowThreads(on=on):
                self.threads_on = on
            case Signal(pid=pid, sig=sig, wait=wait):
                p = self._live(pid)
                if sig in (signal.SIGTERM, signal.SIGKILL) and self._stopped(p):
                    self._signal(p, signal.SIGCONT)
                self._signal(p, sig)
                self.events.add(f"sent {sig.name} to {pid}", pid)
                if wait > 0 and sig in (signal.SIGTERM, signal.SIGKILL):
                    with contextlib.suppress(psutil.Error):
                        p.live.wait(wait)
            case ToggleSuspend(pid=pid):
                p = self._live(pid)
                sig = signal.SIGCONT if self._stopped(p) else signal.SIGSTOP
                self._signal(p, sig)
                self.events.add(f"sent {sig.name} to {pid}", pid)
            case Pin(pid=pid, cores=cores):
                p = self._live(pid)
                chosen = pin_tree_process(pid, p.live, cores)
                p.pinned = chosen[0] if len(chosen) == 1 else None
                self.events.add(f"pinned {pid} to core {','.join(map(str, chosen))}", pid)
            case Unpin(pid=pid):
                p = self._live(pid)
                try:
                    p.live.cpu_affinity([])  # psutil: every eligible core
                except psutil.Error as err:
                    raise CommandError(pid, f"affinity: {type(err).__name__}") from None
                p.pinned = None
                self.events.add(f"unpinned {pid} (all cores)", pid)
            case _:
                raise CommandError(
                    getattr(command, "pid", None),
                    f"{type(command).__name__}: mptop attach did not start the program",
                )
        self.poke()
        return None

    def detail(self, pid: int) -> WorkerDetail:
        """psutil's facts (PPID, threads, affinity, nice, command line). Raises CommandError."""
        with self._lock:
            p = self._procs.get(pid)
        if p is None:
            raise CommandError(pid, NOT_IN_TREE)
        look = closer_look(None if p.ended else p.ps)
        return WorkerDetail(
            pid=pid,
            ppid=look.ppid if look.ppid is not None else p.ppid,
            cmdline=p.cmdline,
            start_method=p.method,
            create_time=look.create_time,
            affinity=look.affinity,
            threads=look.threads,
            channels=(),  # nothing is counted (ChannelCounts would read 0 msgs): see the channels panel
            stdout_tail=f"({NO_OUTPUT})",
            stderr_tail=f"({NO_OUTPUT})",
            traceback=None,
            nice=look.nice,
            mptop_nice=os.nice(0),
            last_seen=p.ended,
        )

    def output(self, pid: int) -> tuple[OutputTail, ...]:
        """Always raises :class:`CommandError`: the program's output is not mptop's to see."""
        raise CommandError(pid, NO_OUTPUT)

    def stacks(self, pid: int) -> StackDump:
        """Always raises :class:`CommandError`: the signal that asks for the stacks would end the
        program's processes, which registered no handler for it (mptop did not start them)."""
        raise CommandError(pid, NO_STACKS)

    def close(self) -> Closed:
        """Stop sampling, never the tree: it runs on. Idempotent; returns at once (one last snapshot)."""
        with self._lock:
            if self._closed is not None:
                return self._closed
        self.sampling.stop()
        last = self._sample()
        with self._lock:
            procs = list(self._procs.items())
        running = [pid for pid, p in procs if not p.ended and not p.zombie]
        notes: list[str] = []
        if running:
            notes.append(
                f"mptop: left PID {self.pid} and its tree running"
                " (mptop attach never stops what it did not start)"
            )
        lines = []
        for pid, p in procs[:NOTE_PROCS]:
            if pid in running:
                how = "still running"
            elif p.exitcode is not None:
                how = f"exited with {p.exitcode}"
            else:
                how = f"exited ({NOT_OURS})"
            lines.append(f"  {p.name:<16} {pid:>7}  {how}")
        if len(procs) > NOTE_PROCS:
            lines.append(f"  ... and {len(procs) - NOTE_PROCS} more")
        notes.append(f"mptop: {len(procs)} process(es) seen in the tree of PID {self.pid}:")
        notes += lines
        # fates would read "still running?" for an exit code mptop cannot know: the notes say it
        self._closed = Closed((), last, None, tuple(notes))
        return self._closed

    # -- inside --------------------------------------------------------------------------

    def _live(self, pid: int) -> _Proc:
        with self._lock:
            p = self._procs.get(pid)
        if p is None:
            raise CommandError(pid, NOT_IN_TREE)
        if p.ended or p.ps is None or not p.ps.is_running():
            raise CommandError(pid, "has exited")
        return p

    @staticmethod
    def _stopped(p: _Proc) -> bool:
        try:
            return p.live.status() in (psutil.STATUS_STOPPED, psutil.STATUS_TRACING_STOP)
        except psutil.Error:
            return False

    @staticmethod
    def _signal(p: _Proc, sig: signal.Signals) -> None:
        send_signal(p.live, sig)

    def _discover(self) -> None:
        """New descendants of every live process of the tree (mptop and its own children left out).

        Each live process's children come from ``/proc/PID/task/*/children``
        (cost: the tree's size, not the system's); where the kernel lacks it,
        from one pass over every ``/proc/PID/stat``.
        """
        with self._lock:
            roots = {pid for pid, p in self._procs.items() if not p.ended}
        if not roots:
            return
        if HAS_CHILDREN:
            todo, found, ppids = list(roots), set(), {}
            while todo:
                parent = todo.pop()
                for pid in children(parent):
                    if pid == self._own or pid in found or pid in roots:
                        continue
                    found.add(pid)
                    ppids[pid] = parent
                    todo.append(pid)
        else:
            ppids = parents()
            found = descendants(roots, ppids) - {self._own} - descendants({self._own}, ppids)
        for pid in sorted(found - self._procs.keys()):
            self._add(pid, ppids.get(pid))

    def _add(self, pid: int, ppid: int | None) -> None:
        """Know ``pid`` (a child of ``ppid``) from now on, named from its command line."""
        try:
            ps = psutil.Process(pid)
            try:
                raw, cmdline = ps.name(), ps.cmdline()
            except psutil.AccessDenied:
                raw, cmdline = str(pid), []
        except psutil.Error:  # gone already
            return
        name, method = process_name(raw, cmdline)
        parent = self._procs.get(ppid) if ppid is not None else None
        if not method and parent is not None and parent.cmdline == tuple(cmdline):
            method = "forkserver" if parent.name == "forkserver" else "fork"
            if parent.name == "forkserver":
                name = "forkserver child"
        with self._lock:
            self._procs[pid] = _Proc(ps, name, tuple(cmdline), method, ppid=ppid)
        self.events.add(f"started {pid} ({name})", pid)

    def _sample(self) -> Snapshot:
        now = time.monotonic()
        dt = None if self._last is None else now - self._last
        self._last = now
        self._discover()
        loads = self.probe.core_loads(now)
        with self._lock:
            procs = list(self._procs.items())
        workers = [self._worker(pid, p, now, dt) for pid, p in procs]
        cores = self.probe.cores(loads, workers, now)
        channels = self._channel_samples(procs, now)
        if self.fds.denied and not self._denied_said:
            self._denied_said = True
            pids = ", ".join(map(str, sorted(self.fds.denied)[:5]))
            self.events.add(
                f"cannot read the descriptors of {pids} (another user's): their channels are not shown",
                level="warning",
            )
        if self._ended_at is None and all(p.ended or p.zombie for _, p in procs):
            self._ended_at = now
            self.events.add(f"PID {self.pid} and its tree have exited", self.pid)
        return Snapshot(
            time=time.time(),
            interval=dt or 0.0,
            start_method=",".join(sorted({p.method for _, p in procs if p.method})) or "attach",
            cores=cores,
            workers=tuple(workers),
            channels=channels,
            events=tuple(self.events.drain()),
            load_avg=load_avg(),
            mptop=self.probe.own_sample(),
        )

    def _worker(self, pid: int, p: _Proc, now: float, dt: float | None) -> WorkerSample:
        reading: ProcessReading = GONE
        if not p.ended and p.ps is not None:
            reading = self.probe.read(p.ps, now)
            if reading is GONE:  # reaped by its parent (a zombie read as ZOMBIE before)
                p.ended = True
                self.probe.forget(pid)
                self.fds.forget(pid)
                if p.exitcode is None:
                    self.events.add(f"{pid} exited ({NOT_OURS})", pid)
                else:
                    how = describe_exitcode(p.exitcode)
                    self.events.add(f"{pid} exited with {p.exitcode} ({how})", pid)
        state = WorkerState.EXITED if p.ended else reading.state
        if reading.ppid is not None:
            p.ppid = reading.ppid
        if state is WorkerState.ZOMBIE and not p.zombie:
            p.zombie = True
            p.exitcode = zombie_exitcode(pid)
        rates = self._io_rates(p, dt)
        return WorkerSample(
            pid=pid,
            name=p.name,
            daemon=False,
            state=state,
            core=None if p.ended else reading.core,
            cpu_percent=None if p.ended else reading.cpu_percent,
            rss=None if p.ended else reading.rss,
            msgs_in_per_s=None,
            bytes_in_per_s=rates[0],
            msgs_out_per_s=None,
            bytes_out_per_s=rates[1],
            exitcode=p.exitcode if p.ended or state is WorkerState.ZOMBIE else None,
            start_method=p.method,
            ppid=p.ppid,
            pinned=None if p.ended else p.pinned,
            threads=self.probe.threads(pid, now) if self.threads_on and not p.ended else (),
        )

    @staticmethod
    def _io_rates(p: _Proc, dt: float | None) -> tuple[float | None, float | None]:
        """Bytes/s read and written by the process over the last tick: all its I/O, files and
        terminals included (``/proc/PID/io`` rchar and wchar, psutil's read_chars/write_chars)."""
        if p.ended or p.zombie or p.ps is None:
            return None, None
        try:
            c = p.ps.io_counters()
            io = (c.read_chars, c.write_chars)
        except (psutil.Error, AttributeError):
            return None, None
        before, p.io_at = p.io_at, io
        if before is None or not dt:
            return None, None
        return (io[0] - before[0]) / dt, (io[1] - before[1]) / dt

    def _channel_samples(
        self, procs: list[tuple[int, _Proc]], now: float
    ) -> tuple[ChannelSample, ...]:
        """Every pipe or socket inode held by two or more live processes of the tree."""
        holders: dict[tuple[str, int], dict[int, set[str]]] = {}
        for pid, p in procs:
            if p.ended or p.zombie:
                continue
            for end in self.fds.ends(pid, now).values():
                holders.setdefault((end.kind, end.inode), {}).setdefault(pid, set()).add(end.mode)
        shared = {key: held for key, held in holders.items() if len(held) >= 2}
        for key in sorted(shared):
            self._order.setdefault(key, None)
        names = [p.name for _, p in procs]
        by_pid = dict(procs)

        def label(pid: int) -> str:
            name = by_pid[pid].name
            return name if names.count(name) == 1 else f"{name} {pid}"

        out = []
        for key in self._order:
            held = shared.get(key)
            if held is None:
                continue
            kind, inode = key
            if kind == "pipe":
                writers = {label(pid) for pid, m in held.items() if m & {WRITE, BOTH}}
                readers = {label(pid) for pid, m in held.items() if m & {READ, BOTH}}
            else:
                writers = readers = {label(pid) for pid in held}
            out.append(
                ChannelSample(
                    name=f"{kind}:[{inode}]",
                    kind=kind,
                    producer=end_names(writers),
                    consumer=end_names(readers),
                    sent=0,
                    sent_bytes=0,
                    received=0,
                    received_bytes=0,
                    msgs_per_s=None,
                    bytes_per_s=None,
                    counted=False,
                )
            )
        return tuple(out)


__all__ = ["AttachSource", "check_pid", "process_name"]
