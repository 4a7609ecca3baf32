""":class:`RunSource`: a user's own program (``mptop run -- python prog.py``), behind the Source boundary.

mptop starts the command with the probe first on ``PYTHONPATH``
(``workers/inject``), so every Python process of the program counts what
its multiprocessing connections move (:mod:`mptop.workers.program_counters`).
The process tree comes from psutil (the root and its descendants, each kept
once seen); the figures per process from :class:`~mptop.workers.probe.ProcessProbe`;
the channels are the pipes and sockets the processes counted on, grouped by
inode (a duplex Pipe's two ends are one channel) and labelled where the
program made them.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from mptop.workers import stacks
from mptop.workers.commands import (
    Cap,
    Command,
    CommandError,
    Leave,
    Pin,
    SetInterval,
    ShowThreads,
    Signal,
    ToggleSuspend,
    Unpin,
)
from mptop.workers.detail import ChannelCounts, OutputTail, WorkerDetail
from mptop.workers.events import EventLog
from mptop.workers.output import LOG_CAP, output_tail, tail_lines, tail_text, trim
from mptop.workers.probe import GONE, ProcessProbe, ProcessReading, load_avg
from mptop.workers.process_facts import (
    closer_look,
    end_names,
    process_name,
    zombie_exitcode,
)
from mptop.workers.program_counters import ProbeFiles, ProcessCounts
from mptop.workers.sampling_thread import SamplingThread
from mptop.workers.signals import pin_tree_process, send_signal
from mptop.workers.snapshot import (
    ChannelSample,
    Snapshot,
    WorkerSample,
    WorkerState,
    describe_exitcode,
)
from mptop.workers.source import Closed, Deliver, Failed, Fate, SourceInfo
from mptop.workers.spec import MAX_INTERVAL, MIN_INTERVAL
from mptop.workers.stacks import StackDump
from mptop.workers.stall import StallDetector
from mptop.workers.starter import StarterThread
from mptop.workers.tasks import TaskReading, TaskTracker
from mptop.workers.traffic import Flow

INJECT = Path(__file__).with_name("inject")
# How long the program's processes get after SIGTERM before SIGKILL, seconds.
TERM_GRACE = 1.0
# After this long without a probe file from the root, say why channels are not counted, seconds.
PROBE_WAIT = 2.0
# The guard: a small process that ends the program's process group once mptop is gone, even
# SIGKILLed (its stdin is a pipe only mptop holds open: EOF means mptop died).
GUARD = """
import os, signal, sys, time
for s in (signal.SIGINT, signal.SIGHUP, signal.SIGTERM):
    signal.signal(s, signal.SIG_IGN)
group = int(sys.argv[1])
if sys.stdin.buffer.read(1) == b"l":  # mptop leaves the program running
    sys.exit(0)
for sig, pause in ((signal.SIGCONT, 0), (signal.SIGTERM, 1.0), (signal.SIGKILL, 0)):
    try:
        os.killpg(group, sig)
    except OSError:
        break
    time.sleep(pause)
"""
# The channels a pool worker takes its tasks from and answers to (the probe's labels: Pool's
# _inqueue and _outqueue, the executor's _call_queue and _result_queue).
TASK_QUEUES = frozenset({"Pool task queue", "executor call queue"})
RESULT_QUEUES = frozenset({"Pool result queue", "executor result queue"})
# Lines of the program's output the exit notes show.
NOTE_LINES = 10
TRIM_SECONDS = 5.0
"""Seconds between two looks at the size of the program's output file (one ``stat``)."""
EXIT_CODE_TICKS = 2
"""Ticks the event of a process's exit waits for its exit code (which its parent's probe sends
as it reaps it) before it is told without one."""


@dataclass(eq=False)
class _Proc:
    """What mptop knows of one process of the program."""

    ps: psutil.Process | None  # None: gone before mptop could look at it (then ended is True)
    name: str
    daemon: bool = False
    method: str = ""
    exitcode: int | None = None
    ended: bool = False
    suspended: bool = False
    pinned: int | None = None
    ppid: int | None = None
    rates_at: tuple[int, int, int, int] | None = None
    io_at: tuple[int, int, int, int] | None = None  # /proc/PID/io, when channels are not counted
    tasks_done: int | None = None
    pool: str = ""  # "Pool" or "executor": the kind of pool whose tasks it took
    holding: int = 0  # tasks taken and not answered, as its counts last said
    starter: int | None = None  # the process whose probe said it started this one
    told: bool = False  # its death as a pool worker is in the events
    replaced: bool = False  # a Pool worker that died, and the one that took its place is told
    replacing: bool = False  # a Pool worker started in the place of one that died
    seen: int = 0  # the tick at which mptop first saw it
    ended_at: int = 0  # the tick at which mptop saw it end
    exit_told: bool = False  # its exit is in the events

    @property
    def live(self) -> psutil.Process:
        """The psutil handle of a process not yet ended (its identity anchor)."""
        assert self.ps is not None
        return self.ps


@dataclass(eq=False)
class _Channel:
    key: int
    name: str
    kind: str
    flow: Flow = field(default_factory=Flow)


def _python_reason(cmdline: list[str]) -> str:
    """Why a process started from ``cmdline`` has no probe (one line)."""
    exe = Path(cmdline[0]).name if cmdline else "?"
    if "python" not in exe:
        return f"{exe} is not a Python program"
    flags = [a for a in cmdline[1:] if a.startswith("-") and not a.startswith("--")]
    if any(f in ("-I", "-E") or ("I" in f[1:] and f[1:].isalpha()) for f in flags):
        return "the program runs with -I or -E, which ignore PYTHONPATH"
    return "the probe did not load (PYTHONPATH or sitecustomize is overridden?)"


# Options of the python command that take a value as the next argument (python(1)).
_PYTHON_VALUE_OPTIONS = frozenset({"-X", "-W", "--check-hash-based-pycs"})


def program_name(argv: list[str]) -> str:
    """A command's short name: ``prog.py`` for ``python -X dev prog.py``, ``mypkg.main`` for
    ``python -m mypkg.main``, ``python -c`` for ``python -c CODE``, else the command's name."""
    command = Path(argv[0]).name
    if "python" not in command:
        return command
    args = argv[1:]
    skip = False
    for i, a in enumerate(args):
        if skip:
            skip = False
        elif a in _PYTHON_VALUE_OPTIONS:
            skip = True  # its value is not the script
        elif a == "-m" and i + 1 < len(args):
            return args[i + 1]
        elif a == "-c":
            return f"{command} -c"
        elif not a.startswith("-"):
            return Path(a).name
    return command


class RunSource:
    """The program ``argv``, run and watched; its processes take signals, suspend and pin.

    ``capture``: its stdout and stderr go to a file (:attr:`log_path`) while a
    TUI owns the terminal; otherwise (headless) they pass through unchanged.
    stdin is /dev/null. Raises ``FileNotFoundError`` if the command does not
    exist. The program starts in :meth:`start`.

    A program scenario (``mptop --scenario pool-order``) gives its ``name``,
    ``description`` and ``lesson``: the lesson panel shows the lesson beside
    the program's last ``output_lines`` lines (:attr:`SourceInfo.lesson_output`,
    while the output is captured), and a recording's header carries all three.
    """

    caps = frozenset(
        {
            Cap.SIGNAL,
            Cap.SUSPEND,
            Cap.PIN,
            Cap.INTERVAL,
            Cap.LEAVE,
            Cap.OUTPUT,
            Cap.STACKS,
            Cap.THREADS,
        }
    )

    def __init__(
        self,
        argv: list[str],
        *,
        interval: float = 1.0,
        capture: bool = True,
        name: str = "",
        description: str = "",
        lesson: str = "",
        output_lines: int = 6,
    ) -> None:
        if not argv:
            raise ValueError("no command to run")
        if shutil.which(argv[0]) is None:
            raise FileNotFoundError(f"no such command: {argv[0]}")
        self.argv = list(argv)
        shm = Path("/dev/shm")
        base = str(shm) if shm.is_dir() and os.access(shm, os.W_OK) else None
        self.folder = Path(tempfile.mkdtemp(prefix="mptop-run-", dir=base))
        self.probe_dir = self.folder / "probe"
        self.probe_dir.mkdir()
        logs = Path(tempfile.mkdtemp(prefix="mptop-run-output-"))
        self.log_path = logs / "output.log"
        self.log_cap = LOG_CAP  # bytes: past it, the output file is emptied (output.trim)
        self.capture = capture
        self._trim_at = 0.0  # time.monotonic() of the next look at its size
        self._trimmed = False  # the event that it was emptied is told
        self.scenario, self.description, self.lesson = name, description, lesson.strip()
        self.output_lines = output_lines
        self.files = ProbeFiles(self.probe_dir)
        self._files_lock = threading.Lock()
        self.probe = ProcessProbe()
        self.events = EventLog()
        self.stalls = StallDetector(lambda text, level: self.events.add(text, level=level))
        self.tasks = TaskTracker()
        self.threads_on = False  # sample each process's threads (key H)
        self._broken: set[int | None] = set()  # executors (their process) told broken
        self._tick = 0
        self.sampling = SamplingThread(self._sample, interval)
        self._starter = StarterThread()
        self._lock = threading.RLock()
        self._procs: dict[int, _Proc] = {}
        self._channels: dict[int, _Channel] = {}
        self._popen: subprocess.Popen[bytes] | None = None
        self._started = 0.0
        self._ended_at: float | None = None
        self._last: float | None = None
        self._uncounted = ""
        self._closed: Closed | None = None
        self._guard: subprocess.Popen[bytes] | None = None
        self._leave = False

    # -- the boundary -------------------------------------------------------------------

    @property
    def program(self) -> str:
        """The program as a short name: the script or module it runs, else the command."""
        return program_name(self.argv)

    def info(self) -> SourceInfo:
        """Kind ``run``; the header leads with the program and how long it has run, or how it ended."""
        with self._lock:
            popen, ended_at = self._popen, self._ended_at
        now = time.monotonic()
        if popen is not None and popen.returncode is not None and ended_at is not None:
            lead = f"{self.program} exited with {popen.returncode} after {ended_at - self._started:.1f} s"
        elif popen is not None:
            lead = f"{self.program} running {now - self._started:.0f} s"
        else:
            lead = f"{self.program} starting"
        facts: tuple[str, ...] = ()
        none = (
            "no channel has carried a message yet: the program's Queues, Pipes and pools"
            " show here once one does"
        )
        if self._uncounted:
            facts = ("channels not counted", "In/Out B/s = all I/O")
            none = f"channels not counted: {self._uncounted} · In/Out B/s: all I/O (/proc/PID/io)"
        record = {"name": self.scenario or self.program, "command": self.argv}
        if self.lesson:
            record |= {"description": self.description, "lesson": self.lesson}
        return SourceInfo(
            kind="run",
            title=f"mptop run {shlex.join(self.argv)}",
            interval=self.sampling.interval,
            lead=(lead,),
            facts=(*facts, "mptop run"),
            unavailable="mptop does not own the program's code: it cannot add a process",
            record={**record, "interval": self.sampling.interval},
            ended=ended_at is not None,
            no_channels=none,
            lesson=self.lesson,
            lesson_title=f"Lesson: {self.scenario}" if self.scenario else "Lesson",
            lesson_output=self.output_lines if self.lesson and self.capture else 0,
        )

    def start(self, deliver: Deliver, failed: Failed) -> None:
        """Start the program (on the long-lived starter thread), then sampling."""
        env = {**os.environ, "MPTOP_PROBE_DIR": str(self.probe_dir)}
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(INJECT), env.get("PYTHONPATH")) if p)
        # O_APPEND: every process writes at the end, also once the file has been emptied (trim)
        out = open(self.log_path, "ab") if self.capture else None  # noqa: SIM115 - closed below

        def launch() -> None:
            self._popen = subprocess.Popen(
                self.argv,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT if out is not None else None,
                start_new_session=True,  # the terminal's Ctrl+C is mptop's; mptop ends the tree
            )

        try:
            self._starter.call(launch)
        finally:
            if out is not None:
                out.close()
        assert self._popen is not None
        # start_new_session: the program's group is its root's PID
        self._guard = subprocess.Popen(
            [sys.executable, "-I", "-c", GUARD, str(self._popen.pid)],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self._started = time.monotonic()
        self._add(self._popen.pid, self.program)
        self.events.add(f"started {self._popen.pid}: {shlex.join(self.argv)}", self._popen.pid)
        self.sampling.start(deliver, failed)

    def arm(self) -> None:
        """The last snapshot was applied."""
        self.sampling.arm()

    def poke(self) -> None:
        """Sample as soon as the last snapshot was applied."""
        self.sampling.poke()

    def send(self, command: Command) -> str | None:
        """Signal, suspend or pin a process of the program (identity-checked); change the interval.

        Raises :class:`CommandError` for a PID outside the program's tree, a
        process that is gone, or an OS that refuses.
        """
        match command:
            case Leave():
                self._leave = True
                return "the program will be left running"
            case SetInterval(seconds=seconds):
                self.sampling.interval = max(MIN_INTERVAL, min(MAX_INTERVAL, seconds))
            case ShowThreads(on=on):
                self.threads_on = on
            case Signal(pid=pid, sig=sig, wait=wait):
                p = self._live(pid)
                if sig in (signal.SIGTERM, signal.SIGKILL) and p.suspended:
                    self._signal(p, signal.SIGCONT)
                self._signal(p, sig)
                self.events.add(f"sent {sig.name} to {pid}", pid)
                if wait > 0 and sig in (signal.SIGTERM, signal.SIGKILL):
                    self._wait([p], wait)
            case ToggleSuspend(pid=pid):
                p = self._live(pid)
                sig = signal.SIGCONT if p.suspended else signal.SIGSTOP
                self._signal(p, sig)
                p.suspended = not p.suspended
                self.events.add(f"sent {sig.name} to {pid}", pid)
            case Pin(pid=pid, cores=cores):
                p = self._live(pid)
                chosen = pin_tree_process(pid, p.live, cores)
                p.pinned = chosen[0] if len(chosen) == 1 else None
                self.events.add(f"pinned {pid} to core {','.join(map(str, chosen))}", pid)
            case Unpin(pid=pid):
                p = self._live(pid)
                try:
                    p.live.cpu_affinity([])
                except psutil.Error as err:
                    raise CommandError(pid, f"affinity: {type(err).__name__}") from None
                p.pinned = None
                self.events.add(f"unpinned {pid} (all cores)", pid)
            case _:
                raise CommandError(
                    getattr(command, "pid", None),
                    f"{type(command).__name__}: mptop does not own the program's code",
                )
        self.poke()
        return None

    def detail(self, pid: int) -> WorkerDetail:
        """psutil's facts, the process's counters, the program's output tail. Raises CommandError."""
        with self._lock:
            p = self._procs.get(pid)
        if p is None:
            raise CommandError(pid, "not a process of the program")
        look = closer_look(None if p.ended else p.ps)
        counts = self._read_counts().get(pid)
        names = {c.key: c for c in self._channels.values()}
        channels = tuple(
            ChannelCounts(
                names[s.inode].name if s.inode in names else f"pipe:[{s.inode}]",
                names[s.inode].kind if s.inode in names else "pipe",
                s.sent,
                s.sent_bytes,
                s.received,
                s.received_bytes,
            )
            for s in (counts.slots if counts else ())
        )
        if self.capture:
            stdout = tail_text(self.log_path, 12)
            stderr = "(with stdout: every process of the program writes to one file; o shows more)"
        else:
            stdout = stderr = "(not captured: headless, it goes to the terminal)"
        return WorkerDetail(
            pid=pid,
            ppid=look.ppid,
            cmdline=look.cmdline,
            start_method=p.method,
            create_time=look.create_time,
            affinity=look.affinity,
            threads=look.threads,
            channels=channels,
            stdout_tail=stdout,
            stderr_tail=stderr,
            traceback=None,  # the program's own: in its output, if it printed one
            nice=look.nice,
            mptop_nice=os.nice(0),
        )

    def stacks(self, pid: int) -> StackDump:
        """Process ``pid``'s threads' stacks, from the faulthandler its probe registered (SIGRTMIN+6).

        Raises CommandError if it is not of the program, has exited, is suspended, has
        no probe (not Python, or the probe could not load), or did not answer in 2 s.
        """
        with self._lock:
            p = self._procs.get(pid)
        if p is None:
            raise CommandError(pid, "not a process of the program")
        if p.ended or p.ps is None:
            raise CommandError(pid, "has exited")
        if p.suspended:
            raise CommandError(pid, "suspended (SIGSTOP): it answers once resumed (s)")
        counts = self._read_counts().get(pid)
        if counts is None or not counts.stacks:
            why = self._uncounted or f"{p.name} is not a Python process with mptop's probe"
            raise CommandError(pid, f"cannot be asked: {why}")
        try:
            return stacks.dump(pid, self.probe_dir / f"{pid}.stacks", p.live.send_signal)
        except psutil.NoSuchProcess:
            raise CommandError(pid, "has exited") from None
        except (TimeoutError, OSError, psutil.Error) as err:
            raise CommandError(pid, f"stacks: {err}") from None

    def output(self, pid: int) -> tuple[OutputTail, ...]:
        """The end of the program's output file: every process's stdout and stderr, in one file.

        Raises CommandError if ``pid`` is not a process of the program, or the output is
        not captured (headless: it goes to mptop's own stdout and stderr).
        """
        with self._lock:
            if pid not in self._procs:
                raise CommandError(pid, "not a process of the program")
        if not self.capture:
            raise CommandError(pid, "the program's output goes to the terminal (headless)")
        return (
            output_tail(f"stdout and stderr of {self.program} (all its processes)", self.log_path),
        )

    def close(self) -> Closed:
        """End the program's tree (SIGTERM, SIGKILL after :data:`TERM_GRACE`) and say how each ended.

        Bounded: about 1.7 s at most. Idempotent. The program's output file is
        kept, unless it is empty (and the program was not left running);
        :attr:`Closed.notes` name it and show its last lines.
        """
        with self._lock:
            if self._closed is not None:
                return self._closed
        self._discover(self._read_counts())  # children born since the last tick, too
        live = [] if self._leave else self._live_procs()
        if self._leave and self._guard is not None and self._guard.stdin is not None:
            with contextlib.suppress(OSError):
                self._guard.stdin.write(b"l")  # the guard lets the program be
                self._guard.stdin.flush()
        if live:
            for p in live:
                with contextlib.suppress(psutil.Error):
                    if p.suspended:
                        p.live.send_signal(signal.SIGCONT)
                    p.live.send_signal(signal.SIGTERM)
            self._signal_group(signal.SIGTERM)  # and whatever of the group psutil has not seen
            self.events.add(
                f"sent SIGTERM to the program's {len(live)} process(es)", level="warning"
            )
            alive = self._wait(live, TERM_GRACE)
            for p in alive:
                with contextlib.suppress(psutil.Error):
                    p.live.kill()
            self._signal_group(signal.SIGKILL)
            if alive:
                self.events.add(
                    f"{len(alive)} still running {TERM_GRACE:g} s after SIGTERM: SIGKILL",
                    level="warning",
                )
                self._wait(alive, 0.7)
        if self._popen is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._popen.wait(0.5)
        if self._guard is not None and not self._leave:  # the tree has ended: nothing to guard
            self._guard.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._guard.wait(1.0)
            if self._guard.stdin is not None:
                self._guard.stdin.close()
        self.sampling.stop()
        last = self._sample()
        with self._lock:
            fates = tuple(
                Fate(pid, p.name, p.daemon, p.exitcode, p.ended) for pid, p in self._procs.items()
            )
        status = self._popen.returncode if self._popen is not None else None
        notes: list[str] = []
        if self._leave and self._popen is not None and self._popen.returncode is None:
            notes.append(
                f"mptop: {self.program} runs on: PID {self._popen.pid} (process group {self._popen.pid})"
            )
        if self.capture and self.log_path.exists():
            said = tail_lines(self.log_path, NOTE_LINES)
            if said or self._leave:  # a program left running may write to it yet
                where = f"mptop: the program's output is in {self.log_path}"
                notes.append(f"{where}; its last lines:" if said else where)
                notes += [f"  {line}" for line in said]
            else:  # it wrote nothing: no empty file left behind
                shutil.rmtree(self.log_path.parent, ignore_errors=True)
        with self._files_lock:
            self.files.close()
        shutil.rmtree(self.folder, ignore_errors=True)
        self._starter.stop()
        self._closed = Closed(fates, last, status, tuple(notes))
        return self._closed

    # -- inside --------------------------------------------------------------------------

    def _add(self, pid: int, name: str) -> _Proc:
        """Know process ``pid`` from now on (as ended at once if it is already gone)."""
        try:
            p = _Proc(psutil.Process(pid), name)
        except psutil.Error:
            p = _Proc(None, name, ended=True, exit_told=True)  # came and went: no event
        with self._lock:
            p.seen = self._tick
            return self._procs.setdefault(pid, p)

    def _read_counts(self) -> dict[int, ProcessCounts]:
        """Every probe file's counts now. ProbeFiles is not thread-safe, and the sampler, the
        detail and stacks reads (Textual thread workers) and close all read it: one at a time."""
        with self._files_lock:
            return self.files.read()

    def _live(self, pid: int) -> _Proc:
        with self._lock:
            p = self._procs.get(pid)
        if p is None:
            raise CommandError(pid, "not a process of the program")
        if p.ended or p.ps is None or not p.ps.is_running():
            raise CommandError(pid, "has exited")
        return p

    @staticmethod
    def _signal(p: _Proc, sig: signal.Signals) -> None:
        send_signal(p.live, sig)

    def _signal_group(self, sig: signal.Signals) -> None:
        """``sig`` to the program's process group (its own session: the root's PID), if any is left."""
        if self._popen is not None:
            with contextlib.suppress(OSError):
                os.killpg(self._popen.pid, sig)

    def _wait(self, procs: list[_Proc], timeout: float) -> list[_Proc]:
        """Wait up to ``timeout`` s for ``procs`` to end; returns those still running.

        The root is mptop's own child: only its ``Popen`` may reap it (psutil's wait
        would, and ``Popen`` would then read its exit status as 0, since waitpid says
        ECHILD). The others are the program's children, which psutil only watches.
        """
        root = self._popen
        deadline = time.monotonic() + timeout
        others = [p for p in procs if root is None or p.live.pid != root.pid]
        _, still = psutil.wait_procs([p.live for p in others], timeout=timeout)
        left = [p for p in others if p.live in still]
        if root is not None and len(others) < len(procs):
            try:
                root.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                left += [p for p in procs if p.live.pid == root.pid]
        return left

    def _live_procs(self) -> list[_Proc]:
        with self._lock:
            return [p for p in self._procs.values() if not p.ended]

    def _discover(self, counts: dict[int, ProcessCounts]) -> None:
        """New descendants of the root, and what the probe says of each child (name, exit code)."""
        popen = self._popen
        new: list[int] = []
        if popen is not None and popen.poll() is None:  # the one place the root is reaped
            with contextlib.suppress(psutil.Error):
                root = self._procs[popen.pid].live
                for child in root.children(recursive=True):
                    if child.pid not in self._procs:
                        with contextlib.suppress(psutil.Error):
                            # a multiprocessing helper by what it is (forkserver,
                            # resource_tracker); a multiprocessing child's name comes below
                            name, _ = process_name(child.name(), child.cmdline())
                            self._add(child.pid, name)
                            new.append(child.pid)
        for pid in counts:  # a process that came and went between two ticks left its file
            if pid not in self._procs:
                self._add(pid, str(pid))
        for pc in counts.values():
            for line in pc.lines:
                kind, _, rest = line.partition(" ")
                fields = rest.split(" ", 3)
                if not fields[0].isdigit():
                    continue
                cpid = int(fields[0])
                if kind == "C" and len(fields) == 4:
                    p = self._procs.get(cpid) or self._add(cpid, fields[3])
                    if p.starter is None:
                        p.starter = pc.pid
                        p.name, p.daemon, p.method = fields[3], fields[1] == "1", fields[2]
                elif kind == "X" and len(fields) == 2 and fields[1].lstrip("-").isdigit():
                    p = self._procs.get(cpid) or self._add(cpid, str(cpid))
                    p.exitcode = int(fields[1])
        for pid in new:  # (after the probe's lines: a multiprocessing child has its name by now)
            self.events.add(f"started {pid} ({self._procs[pid].name})", pid)

    def _pool_deaths(
        self, counts: dict[int, ProcessCounts], labels: dict[int, tuple[int, str, str]]
    ) -> None:
        """Say, once, what CPython does when a pool worker dies by a signal or an error.

        Pool (``multiprocessing/pool.py``): a task the dead worker held is lost and the
        ``map()`` or ``get()`` waiting for it never returns (CPython gh-66587); its worker
        handler starts a replacement, told when it shows (not after ``Pool.terminate()``).
        ProcessPoolExecutor (``concurrent/futures/process.py``): the executor is broken:
        every pending future fails with ``BrokenProcessPool`` and the other workers are
        terminated.
        """
        with self._lock:
            procs = list(self._procs.items())
        for pid, p in procs:
            if p.told or not p.pool or not p.ended or p.exitcode in (None, 0):  # (0: done)
                continue
            if p.pool == "executor" and p.starter not in self._broken:
                # the one that broke it: a worker the executor did not terminate itself (it
                # SIGTERMs the others), once every dead one's code is known
                gone = [
                    q
                    for _, q in procs
                    if q.pool == "executor" and q.starter == p.starter and q.ended
                ]
                if any(q.exitcode is None for q in gone):
                    continue
                culprit = next((q for q in gone if q.exitcode not in (0, -signal.SIGTERM)), p)
                if culprit is not p:
                    continue
            p.told = True
            how = describe_exitcode(p.exitcode)
            if p.pool == "executor" and p.starter not in self._broken:
                self._broken.add(p.starter)  # the others it terminates are not news
                text = (
                    f"{p.name} ({pid}) died ({how}): the ProcessPoolExecutor is broken: "
                    f"its pending futures ({self._handed_out(p, counts, labels)} handed to "
                    "workers and not answered) fail with BrokenProcessPool, and its other "
                    "workers are terminated"
                )
            elif p.pool == "Pool" and p.holding > 0:
                text = (
                    f"{p.name} ({pid}) died ({how}) holding a task: that task is lost, and "
                    "the map() or get() waiting for it never returns (CPython gh-66587)"
                )
            else:
                continue  # an idle Pool worker: a replacement (if any) is told below
            self.events.add(text, pid, level="warning")
        # a Pool worker started after one died, by the same Pool's process, takes its place
        dead = [
            (pid, p)
            for pid, p in procs
            if p.ended and p.pool == "Pool" and p.exitcode not in (None, 0) and not p.replaced
        ]
        for pid, p in dead:
            for q_pid, q in procs:
                if (
                    not q.replacing
                    and q.starter == p.starter
                    and q.seen >= p.ended_at  # first seen once it had died (or that tick)
                    and "PoolWorker" in q.name
                ):
                    p.replaced = q.replacing = True
                    self.events.add(f"{q.name} ({q_pid}) replaces {p.name} ({pid})", q_pid)
                    break

    @staticmethod
    def _handed_out(
        p: _Proc, counts: dict[int, ProcessCounts], labels: dict[int, tuple[int, str, str]]
    ) -> int:
        """Calls the executor's process (``p.starter``) put on its call queue, less the results
        it took back: the futures in its workers' hands when one died."""
        pc = counts.get(p.starter) if p.starter is not None else None
        if pc is None:
            return 0
        calls = results = 0
        for slot in pc.slots:
            kind = labels.get(slot.inode, (0, "", ""))[2]
            if kind == "executor call queue":
                calls += slot.sent
            elif kind == "executor result queue":
                results += slot.received
        return max(0, calls - results)

    def _why_uncounted(self, root_pid: int, now: float) -> None:
        """No process has a probe file: once it is clear that none will, say why, once."""
        popen = self._popen
        if now - self._started <= PROBE_WAIT and (popen is None or popen.returncode is None):
            return
        with contextlib.suppress(psutil.Error, KeyError):
            self._uncounted = _python_reason(self._procs[root_pid].live.cmdline())
        self._uncounted = self._uncounted or _python_reason(self.argv)
        self.events.add(f"channels not counted: {self._uncounted}", level="warning")

    def _labels(self, counts: dict[int, ProcessCounts]) -> dict[int, tuple[int, str, str]]:
        """inode -> (channel key, name, kind) from every process's ``L`` lines."""
        out: dict[int, tuple[int, str, str]] = {}
        made: dict[int, str] = {}
        made_on: dict[tuple[str, str], int] = {}
        for pc in counts.values():
            for line in pc.lines:
                if not line.startswith("L "):
                    continue
                parts = line.split(" ", 3)
                if len(parts) < 4 or not (parts[1].isdigit() and parts[2].isdigit()):
                    continue
                a, b, label = int(parts[1]), int(parts[2]), parts[3]
                where, _, what = label.partition(" ")
                if ":" not in where:
                    where, what = "", label
                name = where or what
                # channels made on one line (a, b = Queue(), Queue()) are told apart by the
                # order they were made in (the order of the lines)
                if min(a, b) not in made:
                    n = made_on[(name, what)] = made_on.get((name, what), 0) + 1
                    made[min(a, b)] = f"{name} #{n}" if n > 1 else name
                out[a] = out[b] = (min(a, b), made[min(a, b)], what)
        return out

    def _sample(self) -> Snapshot:
        self._tick += 1
        now = time.monotonic()
        dt = None if self._last is None else now - self._last
        self._last = now
        counts = self._read_counts()
        self._discover(counts)
        popen = self._popen
        root_pid = popen.pid if popen is not None else None
        if not counts and not self._uncounted and root_pid is not None:
            self._why_uncounted(root_pid, now)
        labels = self._labels(counts)
        loads = self.probe.core_loads(now)
        workers: list[WorkerSample] = []
        with self._lock:
            procs = list(self._procs.items())
        for pid, p in procs:
            workers.append(self._worker(pid, p, counts.get(pid), now, dt, root_pid, labels))
        cores = self.probe.cores(loads, workers, now)
        channels = self._channel_samples(counts, labels, dt)
        self._pool_deaths(counts, labels)
        if self.capture and now >= self._trim_at:
            self._trim_output(now, root_pid)
        if popen is not None and popen.returncode is not None and self._ended_at is None:
            self._ended_at = now
            self.events.add(f"{self.program} exited with {popen.returncode}", root_pid)
        return Snapshot(
            time=time.time(),
            interval=dt or 0.0,
            start_method=",".join(sorted({p.method for _, p in procs if p.method})) or "run",
            cores=cores,
            workers=tuple(workers),
            channels=channels,
            events=tuple(self.events.drain()),
            load_avg=load_avg(),
            mptop=self.probe.own_sample(),
        )

    def _trim_output(self, now: float, root_pid: int | None) -> None:
        """Empty the program's output file past :attr:`log_cap` bytes (a tmpfs file is memory),
        saying so once; looks again after :data:`TRIM_SECONDS`."""
        self._trim_at = now + TRIM_SECONDS
        dropped = trim(self.log_path, self.log_cap)
        if dropped and not self._trimmed:
            self._trimmed = True
            self.events.add(
                f"the program's output passed {dropped >> 20} MiB: mptop emptied its file "
                "(the program writes on; older lines are gone)",
                root_pid,
                level="warning",
            )

    def _worker(
        self,
        pid: int,
        p: _Proc,
        counts: ProcessCounts | None,
        now: float,
        dt: float | None,
        root_pid: int | None,
        labels: dict[int, tuple[int, str, str]],
    ) -> WorkerSample:
        reading: ProcessReading = GONE
        if not p.ended:
            reading = self.probe.read(p.live, now)
            popen = self._popen
            root_done = pid == root_pid and popen is not None and popen.returncode is not None
            if root_done:
                assert popen is not None
                p.exitcode = popen.returncode
            if root_done or reading is GONE:  # a zombie stays one until its parent reaps it
                p.ended, p.ended_at = True, self._tick
                self.probe.forget(pid)
        # its parent's probe says the code as it reaps (an X line): that line can come a tick
        # after the process has gone, so the event waits for it, a little
        if (
            p.ended
            and not p.exit_told
            and pid != root_pid
            and (p.exitcode is not None or self._tick - p.ended_at >= EXIT_CODE_TICKS)
        ):
            p.exit_told = True
            code = (
                ""
                if p.exitcode is None
                else f" with {p.exitcode} ({describe_exitcode(p.exitcode)})"
            )
            self.events.add(f"{pid} exited{code}", pid)
        rates = self._rates(p, counts, dt)
        state = WorkerState.EXITED if p.ended else reading.state
        if reading.ppid is not None:
            p.ppid = reading.ppid
        elif p.ppid is None and counts is not None and counts.ppid:
            p.ppid = counts.ppid  # gone before psutil saw it: as its probe saw it at start
        if state is WorkerState.ZOMBIE and p.exitcode is None:
            p.exitcode = zombie_exitcode(pid)
        tasks = self._tasks(pid, p, counts, labels, now)
        return WorkerSample(
            pid=pid,
            name=p.name,
            daemon=p.daemon,
            state=state,
            core=None if p.ended else reading.core,
            cpu_percent=None if p.ended else reading.cpu_percent,
            rss=None if p.ended else reading.rss,
            msgs_in_per_s=rates[0],
            bytes_in_per_s=rates[1],
            msgs_out_per_s=rates[2],
            bytes_out_per_s=rates[3],
            exitcode=p.exitcode if p.ended or state is WorkerState.ZOMBIE else None,
            workload="",
            pinned=None if p.ended else p.pinned,
            start_method=p.method,
            ppid=p.ppid,
            threads=self.probe.threads(pid, now) if self.threads_on and not p.ended else (),
            tasks_done=p.tasks_done,
            current_task_seconds=None if tasks is None else tasks.seconds,
        )

    def _tasks(
        self,
        pid: int,
        p: _Proc,
        counts: ProcessCounts | None,
        labels: dict[int, tuple[int, str, str]],
        now: float,
    ) -> TaskReading | None:
        """A pool worker's tasks: taken from a Pool's or executor's task queue, answered to its
        result queue (:mod:`mptop.workers.tasks`); None for a process that took no task.

        A ``ProcessPoolExecutor`` worker that shuts down takes a ``None`` and answers with its
        PID (``concurrent/futures/process.py``, 3.9-3.13): that pair is not a task, and is
        left out once the worker has exited with 0 having answered all it took. (A worker
        ended by ``max_tasks_per_child`` answers its last task without that pair: it then
        reads one task short.)
        """
        if counts is None:
            return None
        taken = answered = 0
        executor = False
        for slot in counts.slots:
            kind = labels.get(slot.inode, (0, "", ""))[2]
            if kind in TASK_QUEUES:
                taken += slot.received
                executor = executor or kind.startswith("executor")
            elif kind in RESULT_QUEUES:
                answered += slot.sent
        if not taken:
            return None
        p.pool, p.holding = ("executor" if executor else "Pool"), taken - answered
        reading = self.tasks.read(pid, taken, answered, now, not p.ended)
        done = reading.done
        if executor and p.ended and p.exitcode == 0 and answered == taken:
            done -= 1
        p.tasks_done = done
        return reading

    def _rates(
        self, p: _Proc, counts: ProcessCounts | None, dt: float | None
    ) -> list[float | None]:
        """Messages/s and bytes/s in and out of one process over the last tick.

        Counted: from its probe file (what its connections moved); None for a
        process that has none (yet), as a non-Python child. Uncounted
        (the probe could not load): no messages/s, and bytes/s of all its I/O,
        files and terminals included (``/proc/PID/io`` rchar and wchar, via
        psutil's ``io_counters()`` read_chars/write_chars; Linux only).
        """
        if self._uncounted:
            io = (0, 0, 0, 0)
            if not p.ended:
                with contextlib.suppress(psutil.Error, AttributeError):
                    c = p.live.io_counters()
                    io = (0, c.read_chars, 0, c.write_chars)
            rates: list[float | None] = [None] * 4
            if p.io_at is not None and dt and not p.ended:
                rates[1], rates[3] = (
                    (a - b) / dt for a, b in ((io[1], p.io_at[1]), (io[3], p.io_at[3]))
                )
            p.io_at = io
            return rates
        rates = [None] * 4
        if counts is None:  # not counted (yet): a process with no probe file, as a shell
            return rates
        totals = tuple(
            sum(getattr(s, f) for s in counts.slots)
            for f in ("received", "received_bytes", "sent", "sent_bytes")
        )
        if p.rates_at is not None and dt and not p.ended:
            rates = [(a - b) / dt for a, b in zip(totals, p.rates_at, strict=True)]
        p.rates_at = totals
        return rates

    def _channel_samples(
        self,
        counts: dict[int, ProcessCounts],
        labels: dict[int, tuple[int, str, str]],
        dt: float | None,
    ) -> tuple[ChannelSample, ...]:
        totals: dict[int, list[int]] = {}
        producers: dict[int, set[str]] = {}
        consumers: dict[int, set[str]] = {}
        taker_pids: dict[int, set[int]] = {}
        lost: dict[int, int] = {}  # a Pool's task queue: tasks its dead workers held (lost_taken)
        names = {pid: p.name for pid, p in self._procs.items()}
        for pid, pc in counts.items():
            for s in pc.slots:
                key, _, _ = labels.get(s.inode, (s.inode, "", ""))
                t = totals.setdefault(key, [0, 0, 0, 0])
                t[0] += s.sent
                t[1] += s.sent_bytes
                t[2] += s.received
                t[3] += s.received_bytes
                who = names.get(pid, str(pid))
                if s.sent:
                    producers.setdefault(key, set()).add(who)
                if s.received:
                    consumers.setdefault(key, set()).add(who)
                    taker_pids.setdefault(key, set()).add(pid)
                proc = self._procs.get(pid)
                kind = labels.get(s.inode, (0, "", ""))[2]
                if (
                    s.received
                    and kind == "Pool task queue"
                    and proc is not None
                    and proc.ended
                    and proc.exitcode not in (None, 0)
                ):
                    lost[key] = lost.get(key, 0) + max(0, proc.holding)  # taken, never answered
        out = []
        alive = {pid for pid, p in self._procs.items() if not p.ended}
        named = {k: (n, w) for k, n, w in labels.values()}
        for key, (sent, sent_bytes, received, received_bytes) in sorted(totals.items()):
            name, kind = named.get(key, (f"pipe:[{key}]", "pipe"))
            ch = self._channels.get(key)
            if ch is None:
                ch = self._channels[key] = _Channel(key, name, kind)
            mps, bps = ch.flow.update(received, received_bytes, dt)
            backlog = sent - received
            # stalled needs a live process that took from it before and takes no more: one
            # that has not begun to take (main drains results at the end) is not a stall
            takers = bool(taker_pids.get(key, set()) & alive)
            out.append(
                ChannelSample(
                    name=name,
                    kind=kind,
                    producer=end_names(producers.get(key, set())),
                    consumer=end_names(consumers.get(key, set())),
                    sent=sent,
                    sent_bytes=sent_bytes,
                    received=received,
                    received_bytes=received_bytes,
                    msgs_per_s=mps,
                    bytes_per_s=bps,
                    lost_taken=lost.get(key, 0),
                    stalled=self.stalls.check(key, name, received, backlog, takers),
                    history=tuple(ch.flow.history),
                )
            )
        return tuple(out)


__all__ = ["RunSource"]
