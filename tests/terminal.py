"""A real terminal for end-to-end tests: tmux on a private server, driven by keys."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

needs_tmux = pytest.mark.skipif(
    shutil.which("tmux") is None, reason="tmux is not installed (.ci/run installs it)"
)


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


def mptop_cmd(*args: str) -> list[str]:
    """The real ``mptop`` console script of the environment running the tests.

    Taken next to ``sys.executable`` (a venv's or pyenv's bin/), not the first
    ``mptop`` on PATH, which may be another install; ``python -m mptop.tui`` if the
    script is missing (an install without scripts).
    """
    exe = Path(sys.executable).parent / "mptop"
    return [str(exe), *args] if exe.exists() else [sys.executable, "-m", "mptop.tui", *args]


def descendants(pid: int) -> set[int]:
    try:
        return {p.pid for p in psutil.Process(pid).children(recursive=True)}
    except psutil.NoSuchProcess:
        return set()
