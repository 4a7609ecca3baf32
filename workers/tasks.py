"""Tasks of a worker from its message counts: how many it finished, and how long the current one runs.

A worker that takes its work as messages (mptop's workers from their inbox,
a ``multiprocessing.Pool`` worker from the Pool's task queue, a
``ProcessPoolExecutor`` worker from its call queue) and answers each with a
message (to its outbox, the result queue) has a task in flight while it has
taken more than it answered. Its counts are read once a tick, so the start
of a task is known to within one tick: the task began after the last tick
at which the counts were different, and :attr:`TaskReading.seconds` counts
from there (a lower bound, at most one interval short). Nothing is added to
the worker's own hot path.

What "a task" is follows the worker: for ``Pool.map`` with a chunksize above
1 it is one chunk, as Pool's own ``maxtasksperchild`` counts it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class TaskReading:
    """``done``: tasks answered; ``seconds``: how long the task in flight has run, None when idle."""

    done: int
    seconds: float | None


class TaskTracker:
    """Per worker PID: the counts seen last and since when they have stood (``time.monotonic()``)."""

    def __init__(self) -> None:
        self._seen: dict[int, tuple[int, int, float]] = {}

    def read(self, pid: int, taken: int, answered: int, now: float, alive: bool) -> TaskReading:
        """The worker's tasks now, from ``taken`` messages of work and ``answered`` results.

        ``now`` is ``time.monotonic()``; a worker no longer ``alive`` has no task
        in flight (one it held is lost: see ``ChannelSample.lost_taken``).
        """
        last = self._seen.get(pid)
        if last is None or last[:2] != (taken, answered):
            since = now  # changed since the last tick (or first seen): the task began after it
            self._seen[pid] = (taken, answered, now)
        else:
            since = last[2]
        busy = alive and taken > answered
        return TaskReading(answered, now - since if busy else None)

    def forget(self, pid: int) -> None:
        """Drop what is kept of ``pid`` (it exited and was reported)."""
        self._seen.pop(pid, None)
