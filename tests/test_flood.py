"""A worker that prints 10,000 lines a second to stdout and to stderr, under the real
``mptop`` in a real terminal (tmux): nothing of it reaches the screen, the output view (o)
follows it, and mptop's memory stays flat (the view keeps the last 500 lines of each file,
read from at most the last 64 KiB: workers/output.py)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from mptop.workers.output import tail_lines, trim
from tests.helpers import alive, wait_for
from tests.terminal import Terminal, descendants, mptop_cmd, needs_tmux

pytestmark = pytest.mark.timeout(90)

ROOT = Path(__file__).resolve().parent.parent


def mptop_process(term: Terminal) -> psutil.Process:
    """The mptop process in the pane (``env`` execs it, so it is the pane's process)."""
    return psutil.Process(term.pane_pid())


@needs_tmux
def test_a_flooding_worker_never_reaches_the_screen_and_mptop_stays_small() -> None:
    cmd = ["env", f"PYTHONPATH={ROOT}"]
    cmd += mptop_cmd("-n", "1", "--workload", "tests.targets:flood", "--ipc", "none")
    term = Terminal(cmd, size=(120, 40))
    started: set[int] = set()
    try:
        term.wait("worker-1", timeout=30)
        mptop = mptop_process(term)
        started |= descendants(mptop.pid)
        for _ in range(10):  # 2 s of the flood on the main screen
            assert "flood line" not in term.screen()
            time.sleep(0.2)
        term.keys("o")
        term.wait("stdout of worker-1")
        # the view follows the flood: the newest lines are on screen, and the files grow by MBs
        screen = term.wait("flood line")
        assert "on stdout" in screen
        wait_for(lambda: "M in " in term.screen(), timeout=15)
        rss = [mptop.memory_info().rss]
        for _ in range(6):
            time.sleep(1)
            rss.append(mptop.memory_info().rss)
        growth = (rss[-1] - rss[1]) / 2**20
        print(f"mptop's RSS over 6 s of the output view: {[r >> 20 for r in rss]} MiB")
        assert growth < 8, rss
        term.keys("Escape")
        time.sleep(0.5)
        assert "flood line" not in term.screen()
        started |= descendants(mptop.pid)
        term.keys("q")
        wait_for(lambda: not mptop.is_running(), timeout=15)
    finally:
        term.close()
    wait_for(lambda: not alive(started), timeout=10)


WRITER = """\
import os, sys, time
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)  # as child.py opens it
n = 0
while True:
    n += 1
    os.write(fd, f"line {n}\\n".encode())
    if n % 1000 == 0:
        time.sleep(0.001)
"""


def last_number(path: Path) -> int:
    """N of the file's last whole ``line N`` (0 if it has none yet)."""
    for line in reversed(tail_lines(path, 3)):
        words = line.split()
        if len(words) == 2 and words[0] == "line" and words[1].isdigit():
            return int(words[1])
    return 0


def test_an_output_file_past_its_cap_is_emptied_and_the_writer_goes_on(tmp_path: Path) -> None:
    path = tmp_path / "worker-1.out"
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(path)])
    try:
        wait_for(lambda: path.exists() and path.stat().st_size > 300_000)
        assert trim(path, cap=10**9) == 0  # under the cap: left alone
        dropped = trim(path, cap=200_000)
        assert dropped > 300_000
        assert path.read_bytes().startswith(b"[mptop: the first ")
        last = last_number(path)
        # the writer goes on after the note, at the new end (O_APPEND), with higher numbers
        wait_for(lambda: last_number(path) > last + 1000)
        assert path.stat().st_size < dropped
    finally:
        writer.kill()
        writer.wait(10)
