"""No orphans on any exit path: the real ``mptop`` in tmux, ended six ways.

After each, a psutil check over every PID that mptop started (workers,
forkserver, resource tracker) finds none alive within 2 seconds. mptop runs
under a shell in the pane, as in a real terminal, so the kernel's SIGHUP to a
dying session leader does not do the cleaning for it.
"""

from __future__ import annotations

import os
import shlex
import signal
import sys
import time

import psutil
import pytest

from tests.helpers import alive, kill_all, wait_for
from tests.terminal import Terminal, descendants, mptop_cmd, needs_tmux

pytestmark = [pytest.mark.timeout(60), needs_tmux]

CRASH = (
    "import sys, mptop.tui.app as m\n"
    "def boom(self): raise RuntimeError('injected crash')\n"
    "m.MptopApp.action_add = boom\n"
    "from mptop.tui.cli import main\n"
    "sys.exit(main(sys.argv[1:]))\n"
)


def start(terminal: list[Terminal], crash: bool = False) -> tuple[Terminal, int, set[int]]:
    args = ["-n", "2", "--interval", "0.3", "--no-daemon"]
    cmd = [sys.executable, "-c", CRASH, *args] if crash else mptop_cmd(*args)
    term = Terminal(["bash", "-c", f"{shlex.join(cmd)}; echo mptop-exited-$?; sleep 30"])
    terminal.append(term)
    term.wait("worker-2")
    shell = term.pane_pid()
    (mptop,) = psutil.Process(shell).children()
    term.keys("s")  # suspend one worker: it must not survive either
    term.wait("stopped")
    started = descendants(mptop.pid)
    assert len(started) >= 3  # 2 workers, forkserver (+ resource tracker)
    return term, mptop.pid, started


def describe(pids: list[int]) -> list[str]:
    """``PID status nice cmdline`` of each of ``pids`` (for a failure message)."""
    out = []
    for pid in pids:
        try:
            p = psutil.Process(pid)
            out.append(f"{pid} {p.status()} nice {p.nice()} {' '.join(p.cmdline())[:80]}")
        except psutil.Error:
            out.append(f"{pid} gone")
    return out


@pytest.mark.parametrize(
    "how", ["q", "ctrl+c", "SIGTERM", "SIGHUP", "window-closed", "exception", "SIGKILL"]
)
def test_nothing_left_after(terminal: list[Terminal], how: str) -> None:
    term, mptop, started = start(terminal, crash=how == "exception")
    try:
        if how == "q":
            term.keys("q")
        elif how == "ctrl+c":
            term.keys("C-c")
        elif how == "exception":
            term.keys("a")
        elif how == "window-closed":
            term.close()  # the pty goes away: SIGHUP, and every write to it fails
        else:
            os.kill(mptop, getattr(signal, how))
        wait_for(lambda: not alive([mptop]), 10)  # gone or a zombie (no race between the two)
        t0 = time.monotonic()
        try:
            wait_for(lambda: not alive(started), timeout=2)
        except AssertionError:
            raise AssertionError(f"left behind after 2 s: {describe(alive(started))}") from None
        assert time.monotonic() - t0 < 2
        if how not in ("SIGKILL", "window-closed"):
            screen = term.wait("mptop-exited-")
            code = screen.split("mptop-exited-")[1].split()[0]
            assert code == ("1" if how == "exception" else "0"), screen
            if how == "exception":
                assert "injected crash" in screen
    finally:
        kill_all(started)
