"""End to end: the real ``mptop`` command in a tmux terminal, driven by keys like a person."""

from __future__ import annotations

import psutil
import pytest

from tests.helpers import alive, kill_all, wait_for
from tests.terminal import Terminal, descendants, mptop_cmd, needs_tmux

pytestmark = [pytest.mark.timeout(60), needs_tmux]


def test_launch_add_kill_quit_leaves_nothing(terminal: list[Terminal]) -> None:
    term = Terminal(mptop_cmd("-n", "2", "--interval", "0.3"))
    terminal.append(term)
    term.wait("worker-2")
    mptop_pid = term.pane_pid()
    assert psutil.Process(mptop_pid).name().startswith(("mptop", "python"))
    term.keys("a")
    term.wait("worker-3")
    started = descendants(mptop_pid)  # workers, forkserver, resource tracker
    assert len(started) >= 4
    term.keys("k")  # the first row is selected
    screen = term.wait("-9 SIGKILL")
    assert "exited with -9 (SIGKILL)" in screen
    term.keys("q")
    try:
        wait_for(lambda: not psutil.pid_exists(mptop_pid), timeout=10)
        wait_for(lambda: not alive(started), timeout=3)
    finally:
        kill_all(started)
