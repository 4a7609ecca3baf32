"""Stall detection: a channel with a backlog, live consumers and nothing taken for a while."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

# A channel with a backlog, live consumers and nothing taken for this many ticks is stalled.
STALL_TICKS = 3

Note = Callable[[str, str], None]
"""Where the stall marks go: ``note(text, level)``."""


@dataclass(eq=False, slots=True)
class _Watch:
    received: int | None = None
    idle_ticks: int = 0
    stalled: bool = False


class StallDetector:
    """Says per tick whether each channel is stalled, and notes when one stalls or flows again.

    Stalled: backlog above 0, someone alive who could take, and no message
    taken for :data:`STALL_TICKS` ticks: a suspended consumer, or a Queue
    whose read lock died with a worker killed in the middle of a get (the
    danger the multiprocessing docs name for ``terminate()``). Ticks without
    progress count only while a consumer is alive: a channel whose consumers
    are all gone is idle, and a consumer started after that gets
    STALL_TICKS fresh ticks before it is blamed.
    """

    def __init__(self, note: Note) -> None:
        self._note = note
        self._watch: dict[object, _Watch] = {}

    def check(
        self, key: object, name: str, received: int, backlog: int, consumers_alive: bool
    ) -> bool:
        """One tick of channel ``key`` (named ``name``): ``received`` messages taken in all so far."""
        w = self._watch.get(key)
        if w is None:
            w = self._watch[key] = _Watch()
        still = w.received == received and consumers_alive
        w.idle_ticks = w.idle_ticks + 1 if still else 0
        w.received = received
        stalled = backlog > 0 and consumers_alive and w.idle_ticks >= STALL_TICKS
        if stalled != w.stalled:
            w.stalled = stalled
            if stalled:
                self._note(
                    f"channel {name} stalled: {backlog} waiting, nothing taken for "
                    f"{w.idle_ticks} ticks",
                    "warning",
                )
            else:
                self._note(f"channel {name} flows again", "info")
        return stalled
