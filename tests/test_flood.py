"""A worker that prints 10,000 lines a second to stdout and to stderr, under the real
``mptop`` in a real terminal (tmux): nothing of it reaches the screen, the output view (o)
follows it, and mptop's memory stays flat (the view keeps the last 500 lines of each file,
read from at most the last 64 KiB: workers/output.py)."""

from __future__ import annotations

import time
from pathlib import Path

import psutil
import pytest

from tests.helpers import alive, wait_for
from tests.terminal import Terminal, descendants, mptop_cmd, needs_tmux

pytestmark = [pytest.mark.timeout(90), needs_tmux]

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
