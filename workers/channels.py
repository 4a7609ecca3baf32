"""Counted IPC channels and their shared traffic counters.

Every process that touches a channel owns one :class:`Counters` block for it
in shared memory and is that block's only writer, so the hot path takes no
lock: a put adds to the putter's ``sent`` slots, a get to the getter's
``received`` slots. mptop's sampler reads every block and sums them per
channel (:class:`Channel` keeps the list).

Bytes are the pickled payload length, ``len(pickle.dumps(obj, HIGHEST_PROTOCOL))``:
the message as it crosses the pipe, without multiprocessing's 4-byte frame
header (and, for a Queue, without the few bytes of the bytes object's own
pickle frame).
"""

from __future__ import annotations

import pickle
import queue
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from multiprocessing.context import BaseContext
from typing import Any

# Slots of one Counters block.
SENT, SENT_BYTES, RECEIVED, RECEIVED_BYTES = range(4)
FIELDS = 4


class Counters:
    """One process's traffic on one channel: four uint64 in shared memory.

    ``array[SENT]`` and ``array[RECEIVED]`` are messages, ``array[SENT_BYTES]``
    and ``array[RECEIVED_BYTES]`` pickled bytes. Exactly one process writes
    a block; any may read it (each aligned uint64 is read atomically). Pass it
    to a child only as a ``Process`` argument (multiprocessing shares it while
    spawning).
    """

    def __init__(self, ctx: BaseContext) -> None:
        self.array: Any = ctx.RawArray("Q", FIELDS)

    def count_sent(self, nbytes: int) -> None:
        """Add one message of ``nbytes`` bytes to the sent totals."""
        a = self.array
        a[SENT] += 1
        a[SENT_BYTES] += nbytes

    def count_received(self, nbytes: int) -> None:
        """Add one message of ``nbytes`` bytes to the received totals."""
        a = self.array
        a[RECEIVED] += 1
        a[RECEIVED_BYTES] += nbytes

    def read(self) -> tuple[int, int, int, int]:
        """``(sent, sent_bytes, received, received_bytes)`` now."""
        a = self.array
        return a[SENT], a[SENT_BYTES], a[RECEIVED], a[RECEIVED_BYTES]


@dataclass(frozen=True, slots=True)
class ChannelInfo:
    """What a channel connects, for display: ``kind`` is ``Queue`` or ``Pipe``."""

    name: str
    kind: str
    producer: str
    consumer: str


@dataclass(eq=False)
class Channel:
    """mptop's record of one channel: its ends and every process's counter block on it.

    ``blocks`` maps an owner (a worker PID, or 0 for mptop) to its block;
    ``consumers`` holds the PIDs that take from it (0 = mptop).
    ``endpoint`` is the object mptop uses, or ``None`` where only workers do.
    """

    info: ChannelInfo
    endpoint: CountedQueue | CountedPipeEnd | None = None
    blocks: dict[int, Counters] = field(default_factory=dict)
    consumers: set[int] = field(default_factory=set)
    producers: set[int] = field(default_factory=set)

    def totals(self) -> tuple[int, int, int, int]:
        """``(sent, sent_bytes, received, received_bytes)`` over every block."""
        s = sb = r = rb = 0
        for b in list(self.blocks.values()):
            a, ab, c, cb = b.read()
            s += a
            sb += ab
            r += c
            rb += cb
        return s, sb, r, rb


class CountedQueue:
    """A ``multiprocessing.Queue`` whose puts and gets are counted.

    Each process calls :meth:`bind` with its own :class:`Counters` block
    before use; pickling (to hand the queue to a child) drops the binding.
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

    def _bound(self) -> Counters:
        if self._counters is None:
            raise RuntimeError(f"channel {self.info.name!r} used before bind()")
        return self._counters

    def put(self, obj: object) -> int:
        """Pickle ``obj``, count it as sent, enqueue it. Returns the pickled size in bytes.

        Never blocks: the Queue's feeder thread does the writing. Raises
        ``RuntimeError`` if :meth:`bind` was not called.
        """
        data = pickle.dumps(obj, pickle.HIGHEST_PROTOCOL)
        self._bound().count_sent(len(data))
        self.queue.put(data)
        return len(data)

    def get(self, timeout: float | None = None) -> Any:
        """Take one message, count it as received, unpickle it.

        Raises ``queue.Empty`` after ``timeout`` seconds without a message
        (also while another process holds the Queue's read lock), and
        ``RuntimeError`` if :meth:`bind` was not called.
        """
        counters = self._bound()
        data: bytes = self.queue.get(timeout=timeout)
        counters.count_received(len(data))
        return pickle.loads(data)

    def waitable(self) -> Connection:
        """The Queue's read end, for ``multiprocessing.connection.wait`` (single reader only)."""
        reader: Connection = self.queue._reader
        return reader

    def abandon(self) -> None:
        """Let this process exit without flushing what is still buffered.

        ``Queue.cancel_join_thread`` plus ``close``: a queue whose reader is gone
        (or stuck) must not block the exit of its writer; multiprocessing's docs
        warn that joining a process that has put items can deadlock.
        """
        self.queue.cancel_join_thread()
        self.queue.close()


class CountedPipeEnd:
    """One end of a duplex ``multiprocessing.Pipe`` whose sends and receives are counted.

    Same interface as :class:`CountedQueue` (``bind``, ``put``, ``get``), so a
    worker body does not care which it has. A send blocks while the pipe's
    buffer is full (no feeder thread), as ``Connection.send`` does.
    """

    def __init__(self, conn: Connection, info: ChannelInfo) -> None:
        self.info = info
        self.conn = conn
        self._counters: Counters | None = None

    def __getstate__(self) -> dict[str, Any]:
        return {"info": self.info, "conn": self.conn}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.info = state["info"]
        self.conn = state["conn"]
        self._counters = None

    def bind(self, counters: Counters) -> CountedPipeEnd:
        """Count this process's traffic into ``counters``; returns self."""
        self._counters = counters
        return self

    def _bound(self) -> Counters:
        if self._counters is None:
            raise RuntimeError(f"channel {self.info.name!r} used before bind()")
        return self._counters

    def put(self, obj: object) -> int:
        """Pickle ``obj``, send it, count it. Returns the pickled size in bytes.

        Raises ``OSError``/``EOFError`` if the other end is gone.
        """
        counters = self._bound()
        data = pickle.dumps(obj, pickle.HIGHEST_PROTOCOL)
        counters.count_sent(len(data))  # before the send, so a fast reply never outruns it
        try:
            self.conn.send_bytes(data)
        except BaseException:
            counters.array[SENT] -= 1
            counters.array[SENT_BYTES] -= len(data)
            raise
        return len(data)

    def get(self, timeout: float | None = None) -> Any:
        """Receive one message, count it, unpickle it.

        Raises ``queue.Empty`` after ``timeout`` seconds without a message and
        ``EOFError`` if the other end is closed.
        """
        counters = self._bound()
        if timeout is not None and not self.conn.poll(timeout):
            raise queue.Empty
        data = self.conn.recv_bytes()
        counters.count_received(len(data))
        return pickle.loads(data)

    def waitable(self) -> Connection:
        """The connection, for ``multiprocessing.connection.wait``."""
        return self.conn

    def abandon(self) -> None:
        """Close this end."""
        self.conn.close()
