"""mptop's own end of the task and result channels, on a thread of its own.

The :class:`Dispatcher` keeps the task Queue topped up (so every live worker
has work waiting) and drains the result Queue, counting both in mptop's
counters. It never runs on a UI loop, and none of its calls can block for
long: puts go to the Queue's feeder thread, gets time out.
"""

from __future__ import annotations

import queue
import threading

from workers.channels import RECEIVED
from workers.supervisor import TASKS, Supervisor
from workers.workloads import Task

# How many tasks may wait in the queue per live worker.
BACKLOG_PER_WORKER = 2
# Longest a result get blocks before the loop looks at its stop flag, seconds.
GET_SECONDS = 0.02
# Results taken per loop at most, so the feeding side is not starved.
DRAIN_BATCH = 512


class Dispatcher:
    """Feeds Tasks of ``task_seconds`` to the workers and collects their Results.

    ``results_received`` counts results taken (also in the supervisor's
    counters). Start with :meth:`start`; :meth:`stop` joins the thread within
    about :data:`GET_SECONDS`.
    """

    def __init__(self, supervisor: Supervisor, task_seconds: float) -> None:
        self.supervisor = supervisor
        self.task_seconds = task_seconds
        self.results_received = 0
        self._seq = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="mptop-dispatcher", daemon=True)

    def start(self) -> None:
        """Start the dispatching thread."""
        self._thread.start()

    def stop(self) -> None:
        """Stop and join the thread (idempotent)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=2.0)

    def backlog(self) -> int:
        """Tasks put by mptop minus tasks taken by any worker, living or dead."""
        sup = self.supervisor
        taken = sum(h.counters.array[TASKS.index * 4 + RECEIVED] for h in sup.handles())
        sent = int(sup.counters.array[TASKS.index * 4])
        return sent - int(taken)

    def _top_up(self) -> None:
        sup = self.supervisor
        if sup.stop_event.is_set():
            return
        live = sum(1 for h in sup.handles() if h.alive and not h.suspended)
        want = BACKLOG_PER_WORKER * live - self.backlog()
        for _ in range(max(0, want)):
            self._seq += 1
            sup.tasks.put(Task(self._seq, self.task_seconds))

    def _drain(self) -> None:
        results = self.supervisor.results
        try:
            results.get(timeout=GET_SECONDS)
        except queue.Empty:
            return
        self.results_received += 1
        for _ in range(DRAIN_BATCH):
            try:
                results.get(timeout=0)
            except queue.Empty:
                return
            self.results_received += 1

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._top_up()
                self._drain()
            except (ValueError, OSError):
                return  # the supervisor closed the channels: nothing left to dispatch
