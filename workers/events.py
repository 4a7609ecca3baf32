""":class:`EventLog`: lifecycle facts waiting for the next snapshot."""

from __future__ import annotations

import time
from collections import deque

from mptop.workers.snapshot import Event


class EventLog:
    """Events appended by any thread, drained by the one that takes snapshots.

    ``deque.append`` and ``popleft`` are atomic in CPython, so no lock is taken.
    """

    def __init__(self) -> None:
        self._events: deque[Event] = deque()

    def add(self, text: str, pid: int | None = None, level: str = "info") -> None:
        """Record ``text`` now (``level``: ``info``, ``warning`` or ``error``)."""
        self._events.append(Event(time.time(), text, pid, level))

    def drain(self) -> list[Event]:
        """Events since the last call, oldest first (single consumer)."""
        out: list[Event] = []
        while self._events:
            out.append(self._events.popleft())
        return out
