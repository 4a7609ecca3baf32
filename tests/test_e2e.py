"""End to end: the real ``mptop`` command in a tmux terminal, driven by keys like a person."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator

import psutil
import pytest

from tests.helpers import alive, kill_all, wait_for

pytestmark = [
    pytest.mark.timeout(60),
    pytest.mark.skipif(
        shutil.which("tmux") is None, reason="tmux is not installed (.ci/run installs it)"
    ),
]


class Terminal:
    """A detached tmux session on a private server, running one command."""

    def __init__(self, cmd: list[str], size: tuple[int, int] = (120, 40)) -> None:
        self.socket = f"mptop-test-{os.getpid()}-{time.monotonic_ns()}"
        self.name = "mptop"
        # COLUMNS/LINES leak in from the test run and would fix Textual's idea of the size.
        env_cmd = ["env", "-u", "COLUMNS", "-u", "LINES", "TERM=xterm-256color", *cmd]
        self.tmux(
            "new-session", "-d", "-s", self.name, "-x", str(size[0]), "-y", str(size[1]), *env_cmd
        )

    def tmux(self, *args: str) -> str:
        return subprocess.run(
            ["tmux", "-L", self.socket, *args],
            capture_output=True,
            text=True,
            check=False,
            timeout=10,
        ).stdout

    def screen(self) -> str:
        return self.tmux("capture-pane", "-p", "-t", self.name)

    def keys(self, *keys: str) -> None:
        for k in keys:
            self.tmux("send-keys", "-t", self.name, k)

    def wait(self, text: str, timeout: float = 15) -> str:
        """Wait until ``text`` is on screen; return the screen. Fails showing the last screen."""
        deadline = time.monotonic() + timeout
        while True:
            screen = self.screen()
            if text in screen:
                return screen
            if time.monotonic() > deadline:
                raise AssertionError(f"{text!r} not on screen within {timeout} s:\n{screen}")
            time.sleep(0.1)

    def pane_pid(self) -> int:
        return int(self.tmux("list-panes", "-t", self.name, "-F", "#{pane_pid}").split()[0])

    def close(self) -> None:
        self.tmux("kill-server")


@pytest.fixture
def terminal() -> Iterator[list[Terminal]]:
    made: list[Terminal] = []
    yield made
    for t in made:
        t.close()


def mptop_cmd(*args: str) -> list[str]:
    # The mptop installed next to this interpreter: a `mptop` earlier on PATH may be another checkout's.
    return [sys.executable, "-m", "tui", *args]


def descendants(pid: int) -> set[int]:
    try:
        return {p.pid for p in psutil.Process(pid).children(recursive=True)}
    except psutil.NoSuchProcess:
        return set()


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
