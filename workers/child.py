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

from workers.channels import CountedQueue, Counters
from workers.workloads import consume_tasks

# Exit status of a worker that noticed its parent (mptop) is gone.
EXIT_PARENT_GONE = 70
GUARD_SECONDS = 0.25
_PR_SET_PDEATHSIG = 1


@dataclass(slots=True)
class ChildArgs:
    """Everything a worker needs, passed as the ``Process`` argument (pickled for spawn/forkserver)."""

    name: str
    workload: str
    log_dir: str
    start_method: str
    tasks: CountedQueue
    results: CountedQueue
    counters: Counters
    stop: Any


def log_paths(log_dir: str, name: str) -> tuple[Path, Path, Path]:
    """Paths of a worker's stdout, stderr and traceback files."""
    base = Path(log_dir) / name
    return base.with_suffix(".out"), base.with_suffix(".err"), base.with_suffix(".traceback")


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


def _guard_parent(start_method: str) -> None:
    """Exit when the parent dies: a polling thread everywhere, plus PDEATHSIG on Linux.

    The parent is mptop for fork and spawn, the forkserver for forkserver
    (which exits as soon as mptop does). PR_SET_PDEATHSIG fires when the
    *thread* that forked us ends, so it is only safe under the single-threaded
    forkserver; the polling thread (``getppid`` changes on reparenting) covers
    the rest within :data:`GUARD_SECONDS`.
    """
    ppid = os.getppid()
    if start_method == "forkserver" and sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if ppid == 1:
        os._exit(EXIT_PARENT_GONE)
    threading.Thread(target=_watch_parent, args=(ppid,), name="parent-guard", daemon=True).start()


def main(args: ChildArgs) -> None:
    """Entry point of every worker (the ``Process`` target)."""
    out, err, tb_path = log_paths(args.log_dir, args.name)
    _redirect_stdio(out, err)
    _reset_signals()
    _guard_parent(args.start_method)
    me = multiprocessing.current_process()
    print(f"{me.name} pid {os.getpid()} daemon={me.daemon} start method {args.start_method}")
    tasks = args.tasks.bind(args.counters)
    results = args.results.bind(args.counters)
    try:
        consume_tasks(args.workload, tasks, results, args.stop)
    except BaseException:
        tb_path.write_text(traceback.format_exc())
        raise
    print(f"{me.name} finished")
