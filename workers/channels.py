"""Counted IPC channels and the shared traffic counters.

Every process that touches a channel owns a :class:`Counters` block in shared
memory and is its only writer, so the hot path takes no lock: a put adds to
the putter's ``sent`` slots, a get to the getter's ``received`` slots. The
sampler in mptop reads all blocks and sums them per channel.

Bytes are the pickled payload length: ``len(pickle.dumps(obj, HIGHEST_PROTOCOL))``,
the message as it crosses the pipe, without multiprocessing's 4-byte frame
header.
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass
from multiprocessing.context import BaseContext
from typing import Any

# Slot offsets inside one channel's block of a Counters array.
SENT, SENT_BYTES, RECEIVED, RECEIVED_BYTES = range(4)
FIELDS = 4


class Counters:
    """One process's traffic counters: ``n_channels`` blocks of four uint64.

    Layout: ``array[channel * 4 + field]`` with field one of ``SENT``,
    ``SENT_BYTES``, ``RECEIVED``, ``RECEIVED_BYTES`` (messages and bytes).
    Lives in shared memory (``RawArray``, no lock): exactly one process writes
    it, any process may read it. Pass it to a child only as a ``Process``
    argument (multiprocessing shares it while spawning).
    """

    def __init__(self, ctx: BaseContext, n_channels: int) -> None:
        self.n_channels = n_channels
        self.array: Any = ctx.RawArray("Q", n_channels * FIELDS)

    def count_sent(self, channel: int, nbytes: int) -> None:
        """Add one message of ``nbytes`` bytes to ``channel``'s sent totals."""
        a = self.array
        i = channel * FIELDS
        a[i + SENT] += 1
        a[i + SENT_BYTES] += nbytes

    def count_received(self, channel: int, nbytes: int) -> None:
        """Add one message of ``nbytes`` bytes to ``channel``'s received totals."""
        a = self.array
        i = channel * FIELDS
        a[i + RECEIVED] += 1
        a[i + RECEIVED_BYTES] += nbytes

    def read(self) -> tuple[int, ...]:
        """A consistent-enough copy of all slots (each uint64 is read atomically)."""
        return tuple(self.array[:])


@dataclass(frozen=True, slots=True)
class ChannelInfo:
    """What a channel connects, for display: ``kind`` is ``Queue`` or ``Pipe``."""

    index: int
    name: str
    kind: str
    producer: str
    consumer: str


class CountedQueue:
    """A ``multiprocessing.Queue`` whose puts and gets are counted.

    Each process calls :meth:`bind` with its own :class:`Counters` before use.
    Pickling (to hand the queue to a child) drops the binding.
    """

    def __init__(self, ctx: BaseContext, info: ChannelInfo) -> None:
        self.info = info
        self.queue: Any = ctx.Queue()
        self._counters: Counters | None = None

    def __getstate__(self) -> dict[str, Any]:
        return {"info": self.info, "queue": self.queue}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.info = state["info"]
        self.queue = state["queue"]
        self._counters = None

    def bind(self, counters: Counters) -> CountedQueue:
        """Count this process's traffic into ``counters``; returns self."""
        self._counters = counters
        return self

    def put(self, obj: object) -> int:
        """Pickle ``obj``, count it as sent, enqueue it. Returns the pickled size in bytes.

        Raises ``RuntimeError`` if :meth:`bind` was not called.
        """
        if self._counters is None:
            raise RuntimeError(f"channel {self.info.name!r} used before bind()")
        data = pickle.dumps(obj, pickle.HIGHEST_PROTOCOL)
        self._counters.count_sent(self.info.index, len(data))
        self.queue.put(data)
        return len(data)

    def get(self, timeout: float | None = None) -> Any:
        """Take one message, count it as received, unpickle it.

        Raises ``queue.Empty`` after ``timeout`` seconds without a message, and
        ``RuntimeError`` if :meth:`bind` was not called.
        """
        if self._counters is None:
            raise RuntimeError(f"channel {self.info.name!r} used before bind()")
        data: bytes = self.queue.get(timeout=timeout)
        self._counters.count_received(self.info.index, len(data))
        return pickle.loads(data)

    def abandon(self) -> None:
        """Let this process exit without flushing what is still buffered.

        ``Queue.cancel_join_thread`` plus ``close``: a queue whose reader is gone
        must not block the exit of its writer (multiprocessing's docs warn that
        joining a process that has put items can deadlock).
        """
        self.queue.cancel_join_thread()
        self.queue.close()
