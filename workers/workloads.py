"""Worker bodies, by name. Importable and picklable, so every start method can run them.

A workload here is what one task costs a worker: ``cpu`` burns a core with a
pure-Python loop (the GIL is held, so one worker fills at most one core),
``sleep`` waits as an I/O-bound worker would (near 0% CPU).
"""

from __future__ import annotations

import os
import queue
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from workers.channels import CountedQueue

# How long a blocked get waits before it looks at the stop flag again, seconds.
POLL_SECONDS = 0.2


def burn_cpu(seconds: float) -> int:
    """Busy-loop in pure Python for ``seconds`` of wall time; returns the loop count."""
    deadline = time.perf_counter() + seconds
    n = 0
    while time.perf_counter() < deadline:
        for _ in range(1000):
            n += 1
    return n


def idle(seconds: float) -> int:
    """Sleep ``seconds``, as an I/O-bound task would; returns 0."""
    time.sleep(seconds)
    return 0


TASK_BODIES: dict[str, Callable[[float], int]] = {"cpu": burn_cpu, "sleep": idle}


@dataclass(frozen=True, slots=True)
class Task:
    """One unit of work sent from mptop to the workers: ``seconds`` of ``body``."""

    seq: int
    seconds: float


@dataclass(frozen=True, slots=True)
class Result:
    """A worker's answer to :class:`Task` ``seq``: who did it and what it counted."""

    seq: int
    pid: int
    value: int


def consume_tasks(workload: str, tasks: CountedQueue, results: CountedQueue, stop: Any) -> None:
    """The Pool pattern: take a Task, run it with ``workload``'s body, put a Result back.

    Returns when ``stop`` (a ``multiprocessing.Event``) is set or a ``None``
    task arrives; notices ``stop`` within :data:`POLL_SECONDS` plus one task.
    Raises ``KeyError`` for an unknown workload.
    """
    body = TASK_BODIES[workload]
    pid = os.getpid()
    while not stop.is_set():
        try:
            task = tasks.get(timeout=POLL_SECONDS)
        except queue.Empty:
            continue
        if task is None:
            return
        results.put(Result(task.seq, pid, body(task.seconds)))
