"""What every worker runs first, then its workload.

In order: stdin from /dev/null and stdout/stderr into per-worker files that
mptop reads (never the terminal, which Textual owns); SIGINT ignored (Ctrl+C
is mptop's to handle), SIGTERM and SIGHUP back to their defaults (a forked
child inherits the parent's handlers); a parent-death guard; then the
workload. An uncaught exception is also written to ``<name>.traceback``.
"""

from __future__ import annotations

import contextlib
import ctypes
import multiprocessing
import os
import signal
import sys
import threading
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mptop.workers.cpython import release_forkserver
from mptop.workers.flag import StopFlag
from mptop.workers.snapshot import EXIT_PARENT_GONE
from mptop.workers.stacks import register as register_stacks
from mptop.workers.topology import Role
from mptop.workers.workloads import Workload, make_body, serve

GUARD_SECONDS = 0.25
_PR_SET_PDEATHSIG = 1


@dataclass(slots=True)
class ChildArgs:
    """Everything a worker needs, passed as the ``Process`` argument (pickled for spawn/forkserver)."""

    name: str
    workload: Workload
    log_dir: str
    start_method: str
    expected_ppid: int
    role: Role
    stop: StopFlag  # set by mptop when the worker should finish
    ready: Any = None  # a shared double: time.time() once this worker runs, guard set
    loops_per_second: float | None = None  # one core's pure-Python speed, measured by mptop
    nice: int = 0  # the nice value to run the workload at (raised only; see WorkerSpec.nice)


def log_paths(log_dir: str, name: str) -> tuple[Path, Path, Path]:
    """Paths of a worker's stdout, stderr and traceback files."""
    base = Path(log_dir) / name
    return base.with_suffix(".out"), base.with_suffix(".err"), base.with_suffix(".traceback")


def stack_path(log_dir: str, name: str) -> Path:
    """Path of the file a worker's stacks are dumped to (see :mod:`mptop.workers.stacks`)."""
    return (Path(log_dir) / name).with_suffix(".stacks")


def _redirect_stdio(out: Path, err: Path) -> None:
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    for fd, path in ((1, out), (2, err)):
        f = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        os.dup2(f, fd)
        os.close(f)
    sys.stdin = open(os.devnull)  # noqa: SIM115 - lives as long as the process
    sys.stdout = open(1, "w", buffering=1, closefd=False)  # noqa: SIM115
    sys.stderr = open(2, "w", buffering=1, closefd=False)  # noqa: SIM115


def _reset_signals() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGCONT, signal.SIGTSTP):
        signal.signal(sig, signal.SIG_DFL)
    with contextlib.suppress(ValueError):
        signal.set_wakeup_fd(-1)  # a forked child must not write into the parent's loop


def _watch_parent(ppid: int) -> None:
    while True:
        time.sleep(GUARD_SECONDS)
        if os.getppid() != ppid:
            os._exit(EXIT_PARENT_GONE)


def _guard_parent(expected_ppid: int) -> None:
    """Die with the parent: PR_SET_PDEATHSIG on Linux; exit at once if it is already gone.

    The parent is mptop for fork and spawn, the forkserver for forkserver
    (which exits as soon as mptop does). PR_SET_PDEATHSIG fires when the
    *thread* that forked us ends; mptop starts workers from one long-lived
    thread, so it fires only when mptop dies, and it also kills a worker
    that is suspended (SIGSTOP), which no thread of its own could.
    :func:`_watch_parent_thread` covers other platforms.
    """
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != expected_ppid:
        os._exit(EXIT_PARENT_GONE)


def _watch_parent_thread(expected_ppid: int) -> None:
    """A thread that exits the worker when ``getppid`` changes (reparenting), everywhere.

    Wakes every :data:`GUARD_SECONDS`. Start it after the worker's nice value
    is set: on Linux nice is per thread, and a thread keeps the value it was
    created with. Measured with ``python -m bench.ui keys --workload cpu``
    (256 workers): with this thread at nice 0, mptop answered a key in about
    1 s (median) to 5 s (p95), as 256 threads at mptop's own priority woke 4
    times a second each; niced, 17-25 ms and 66-141 ms. Without the thread at
    all it was 63-74 ms and 113-181 ms: each wake-up makes its busy worker
    hand over the GIL and wait to get it back, so fewer workers compete for
    the CPU at any moment.
    """
    threading.Thread(
        target=_watch_parent, args=(expected_ppid,), name="parent-guard", daemon=True
    ).start()


def main(args: ChildArgs) -> None:
    """Entry point of every worker (the ``Process`` target)."""
    # First the guard, then letting go of the forkserver's pipe, then telling mptop we
    # run: mptop holds back a SIGSTOP until ``ready`` is set (Supervisor.send), because a
    # worker stopped before these two lines keeps the forkserver (and so every worker)
    # alive after mptop is SIGKILLed, or itself outlives it, stopped, without the guard.
    _guard_parent(args.expected_ppid)
    # before `ready`: mptop asks for stacks (SIGRTMIN+6, whose default would kill) only after it
    with contextlib.suppress(OSError):
        register_stacks(stack_path(args.log_dir, args.name))
    if args.start_method == "forkserver":
        release_forkserver()  # so that the server exits with mptop
    if args.ready is not None:
        args.ready.value = time.time()  # how long the start method took, seen from inside
    if os.getpriority(os.PRIO_PROCESS, 0) < args.nice:
        with contextlib.suppress(OSError):
            os.setpriority(os.PRIO_PROCESS, 0, args.nice)
    out, err, tb_path = log_paths(args.log_dir, args.name)
    _redirect_stdio(out, err)
    _reset_signals()
    _watch_parent_thread(args.expected_ppid)  # after the nice value: threads inherit it
    me = multiprocessing.current_process()
    print(
        f"{me.name} pid {os.getpid()} daemon={me.daemon} "
        f"start method {args.start_method} workload {args.workload}"
    )
    role = args.role
    if role.inbox is not None and role.in_counters is not None:
        role.inbox.bind(role.in_counters)
    if role.outbox is not None and role.out_counters is not None and role.outbox is not role.inbox:
        role.outbox.bind(role.out_counters)
    try:
        body = make_body(args.workload, args.loops_per_second)
        serve(role, body, args.stop)
    except Exception:
        tb_path.write_text(traceback.format_exc())
        raise
    print(f"{me.name} finished")
