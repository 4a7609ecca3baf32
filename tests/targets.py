"""Custom workloads (``tests.targets:NAME``) for lifecycle tests; each is called once per task."""

from __future__ import annotations

import multiprocessing
import os
import signal
import sys
import time


def hello() -> str:
    """Print to stdout and stderr, then return a short result."""
    print(f"hello from {os.getpid()}", flush=True)
    print(f"warning from {os.getpid()}", file=sys.stderr, flush=True)
    time.sleep(0.05)
    return "hi"


def exit_3() -> None:
    """End the worker with ``sys.exit(3)``."""
    sys.exit(3)


def boom() -> None:
    """Raise an uncaught exception (exit code 1, traceback kept)."""
    raise ValueError("boom from a worker")


def start_child() -> None:
    """Try to start a child process; a daemon worker is not allowed to."""
    p = multiprocessing.Process(target=time.sleep, args=(0.1,))
    p.start()
    p.join()


def ignore_sigterm() -> None:
    """Ignore SIGTERM from now on, then run a task far longer than quit's budget."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    time.sleep(30)


def long_task() -> None:
    """A task far longer than quit's budget."""
    time.sleep(30)


def big_result() -> bytes:
    """A 1 MiB result: with nobody reading, the result pipe fills and the feeder blocks."""
    return b"x" * (1 << 20)


NOT_CALLABLE = 42


def work() -> None:
    """Sleep inside a function called ``work`` (its stack shows it, at this file and line)."""
    time.sleep(30)


FLOOD_LINES_PER_SECOND = 10_000


def flood() -> int:
    """For 0.2 s, print FLOOD_LINES_PER_SECOND lines a second to stdout and as many to stderr
    (in batches of 1/100 s, paced by the clock); returns the lines printed."""
    batch = FLOOD_LINES_PER_SECOND // 100
    t0 = time.monotonic()
    n = 0
    for i in range(20):
        for _ in range(batch):
            n += 1
            print(f"flood line {n} on stdout")
            print(f"flood line {n} on stderr", file=sys.stderr)
        time.sleep(max(0.0, t0 + (i + 1) / 100 - time.monotonic()))
    return n
