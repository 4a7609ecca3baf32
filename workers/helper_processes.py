"""multiprocessing's helper processes: the forkserver and the resource tracker.

They start once per mptop process, before a UI takes the terminal, with
their stdin on /dev/null and their stdout and stderr in a log file, so
nothing they print reaches the screen. The forkserver is shared by every
:class:`~mptop.workers.supervisor.Supervisor` of the process: it is stopped
with the last one that used it (a test's or a library user's other
Supervisors would otherwise see their workers die with it, exit 255).
"""

from __future__ import annotations

import contextlib
import multiprocessing
import multiprocessing.forkserver
import multiprocessing.resource_tracker
import multiprocessing.spawn
import os
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from mptop.workers import cpython
from mptop.workers.forkserver_main import ENV as MAIN_ENV
from mptop.workers.forkserver_main import NAME_ENV, READY_ENV

# The modules the forkserver imports once, so that a worker costs one fork. The first runs
# the parent's main script in the server, which multiprocessing's own "__main__" preload
# fails to do before Python 3.14 (see forkserver_main.py).
PRELOAD = [
    "mptop.workers.child",
    "mptop.workers.workloads",
    "mptop.workers.channels",
    "mptop.workers.forkserver_main",  # last: it also says when the server is ready
]
READY_TIMEOUT = 10.0  # seconds to wait for the server's preload (about 0.2 s here)

_users: set[int] = set()  # id()s of the open users of the forkserver
_users_lock = threading.Lock()


@contextlib.contextmanager
def stdio_to(path: Path) -> Iterator[None]:
    """Point fds 0 (to /dev/null), 1 and 2 (to ``path``) for helpers started inside, then restore them."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    saved = (os.dup(0), os.dup(1), os.dup(2))
    saved_stderr = sys.stderr
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    null = os.open(os.devnull, os.O_RDONLY)
    try:
        os.dup2(null, 0)  # helpers never share the terminal's stdin
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        # resource_tracker passes sys.stderr.fileno() on; inside a UI or a
        # capturing test runner that may be -1 ("bad value(s) in fds_to_keep").
        sys.stderr = sys.__stderr__
        yield
    finally:
        sys.stderr = saved_stderr
        for target, f in enumerate(saved):
            os.dup2(f, target)
        for f in (*saved, fd, null):
            os.close(f)


def start_helpers(methods: set[str], log_path: Path, user: object) -> list[int]:
    """Start the helpers that ``methods`` (start methods) need; returns their PIDs.

    The forkserver (for ``forkserver``) preloads :data:`PRELOAD`, and the main
    script, if the parent runs one (not a package's ``__main__``); the
    resource tracker runs for every method but ``fork`` alone. ``user`` is
    registered as a user of the forkserver until :func:`release`. Their
    output goes to ``log_path``.
    """
    pids: list[int] = []
    with stdio_to(log_path):
        if "forkserver" in methods:
            multiprocessing.get_context("forkserver").set_forkserver_preload(PRELOAD)
            data = multiprocessing.spawn.get_preparation_data("mptop")
            if main := data.get("init_main_from_path"):
                os.environ[MAIN_ENV] = main
            elif name := data.get("init_main_from_name"):
                os.environ[NAME_ENV] = name  # spawn skips a package's __main__ by itself
            ready = log_path.with_name("forkserver.ready")
            ready.unlink(missing_ok=True)
            os.environ[READY_ENV] = str(ready)
            running = cpython.forkserver_pid()
            try:
                multiprocessing.forkserver.ensure_running()
            finally:
                for key in (MAIN_ENV, NAME_ENV, READY_ENV):
                    os.environ.pop(key, None)
            if cpython.forkserver_pid() != running:  # a new server: wait for its preload
                _wait_for(ready, READY_TIMEOUT)
            with _users_lock:
                _users.add(id(user))
            if pid := cpython.forkserver_pid():
                pids.append(pid)
        if methods != {"fork"}:
            multiprocessing.resource_tracker.ensure_running()
            if pid := cpython.resource_tracker_pid():
                pids.append(pid)
    return pids


def _wait_for(path: Path, timeout: float) -> None:
    """Wait until ``path`` exists, at most ``timeout`` seconds (then go on: starts just wait longer)."""
    deadline = time.monotonic() + timeout
    while not path.exists() and time.monotonic() < deadline:
        time.sleep(0.005)


def release(user: object) -> None:
    """``user`` is done with the forkserver: stop it if no other user is left (bounded, 1 s)."""
    with _users_lock:
        if id(user) not in _users:
            return
        _users.discard(id(user))
        last = not _users
    if last:
        cpython.stop_forkserver()
