"""End to end: the real ``mptop`` command in a tmux terminal, driven by keys like a person."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

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


def test_mptop_run_shows_the_program_k_shows_minus_9_and_q_terminates(
    terminal: list[Terminal],
) -> None:
    """`mptop run -- python examples/producer_consumer.py` in a real terminal: names and PIDs,
    `k` on a consumer shows -9, `q` asks, `t` terminates, and no process is left."""
    example = Path(__file__).resolve().parent.parent / "examples" / "producer_consumer.py"
    cmd = mptop_cmd("run", "--", sys.executable, str(example), "--items", "20000", "--slow", "0.02")
    term = Terminal(["bash", "-c", f"{shlex.join(cmd)}; echo mptop-exited-$?; sleep 30"])
    terminal.append(term)
    screen = term.wait("consumer-2", 20)
    (mptop,) = psutil.Process(term.pane_pid()).children()
    started = descendants(mptop.pid)
    try:
        rows = [line.split() for line in screen.splitlines()]
        pids = {r[2]: int(r[0]) for r in rows if len(r) > 3 and r[0].isdigit()}  # PID PPID Name
        assert {"producer-1", "producer-2", "consumer-1", "consumer-2"} <= set(pids), screen
        order = sorted(pids.values())
        term.keys(*["Down"] * order.index(pids["consumer-1"]), "k")
        term.wait("-9 SIGKILL", 10)
        term.keys("q")
        term.wait("is still running", 10)
        term.keys("t")
        term.wait("mptop-exited-143", 15)  # the program's status: killed by SIGTERM (128 + 15)
        wait_for(lambda: not alive(started), timeout=3)
    finally:
        kill_all(started)
