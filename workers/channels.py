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

import array
import contextlib
import ctypes
import errno
import fcntl
import os
import pickle
import queue
import struct
import termios
import time
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from multiprocessing.context import BaseContext
from multiprocessing.reduction import ForkingPickler
from typing import Any, Self

from mptop.workers.cpython import FeederParts, OwnFeederQueue, recv_buffer

# Slots of one Counters block.
SENT, SENT_BYTES, RECEIVED, RECEIVED_BYTES = range(4)
FIELDS = 4


# Bytes of one CPU cache line (64 on x86-64 and most ARM cores).
CACHE_LINE = 64


class Counters:
    """One process's traffic on one channel: four uint64 in shared memory.

    ``array[SENT]`` and ``array[RECEIVED]`` are messages, ``array[SENT_BYTES]``
    and ``array[RECEIVED_BYTES]`` pickled bytes. Exactly one process writes
    a block; any may read it (each aligned uint64 is read atomically). Pass it
    to a child only as a ``Process`` argument (multiprocessing shares it while
    spawning).

    Each block has a cache line of its own: multiprocessing's heap packs
    RawArrays 8-byte aligned side by side, so 32-byte blocks of a producer
    and its consumer would share a line, and each count on one core would
    evict the line from the other's cache ("false sharing"). A block
    allocates ``FIELDS + CACHE_LINE / 8`` slots and uses the four that start on
    a line boundary; the next block's four start at least a line further.
    """

    def __init__(self, ctx: BaseContext) -> None:
        self.raw: Any = ctx.RawArray("Q", FIELDS + CACHE_LINE // 8)
        self.array = _slots(self.raw)

    def __getstate__(self) -> dict[str, Any]:
        return {"raw": self.raw}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.raw = state["raw"]
        self.array = _slots(self.raw)

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


def _slots(raw: Any) -> memoryview:
    """The block's four uint64 slots, starting on a cache line, as a memoryview.

    Indexing a memoryview is several times cheaper than the ctypes array.
    The offset is computed from the address in each process: the shared
    mapping may sit at a different address in a spawned child.
    """
    skip = (-ctypes.addressof(raw) % CACHE_LINE) // 8
    return memoryview(raw).cast("B").cast("Q")[skip : skip + FIELDS]


# multiprocessing's frame header: a big-endian int32 length, or -1 and then a uint64 length.
_HEADER = struct.Struct("!i")
_BIG_HEADER = struct.Struct("!Q")
# Most bytes CountedQueue.take_ready() reads from the pipe in one call.
READ_CHUNK = 1 << 20
# Most bytes of small messages a CountingQueue's feeder joins into one write.
BATCH_BYTES = 64 * 1024

# Above this many payload bytes, pickle into a BytesIO (one copy) rather than a bytes object.
BIG = 64 * 1024


def _dumps(obj: object) -> bytes | memoryview:
    """Pickle ``obj``; the length always equals ``len(pickle.dumps(obj, HIGHEST_PROTOCOL))``.

    Small messages: ``pickle.dumps``, which for a small object costs a
    fraction of ``ForkingPickler.dumps`` (that one builds a BytesIO and a
    Pickler per call; multiprocessing's Queue feeder and ``Connection.send``
    use it). Messages with a large bytes payload (``obj`` itself, or its
    ``payload`` attribute, as :class:`~mptop.workers.workloads.Task` has):
    ``ForkingPickler`` into a BytesIO, whose buffer is sent as is;
    ``pickle.dumps`` would copy the payload once more into the bytes object it
    returns. Objects only ``ForkingPickler`` can pickle (its extra reducers,
    ``Lib/multiprocessing/reduction.py``) go through it too. Both produce the
    same stream, which ``pickle.loads`` reads.
    """
    payload = obj if isinstance(obj, bytes) else getattr(obj, "payload", None)
    if isinstance(payload, bytes) and len(payload) > BIG:
        return ForkingPickler.dumps(obj, pickle.HIGHEST_PROTOCOL)
    try:
        return pickle.dumps(obj, pickle.HIGHEST_PROTOCOL)
    except (pickle.PicklingError, TypeError, AttributeError):
        return ForkingPickler.dumps(obj, pickle.HIGHEST_PROTOCOL)


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
    ``folded`` holds the final counts of workers that exited and were
    forgotten (``(sent, sent_bytes, received, received_bytes, lost_taken,
    lost_unsent)``, see :meth:`Traffic.fold`), whose blocks are gone;
    ``unsettled`` what such a worker sent to mptop, while mptop has not taken
    all of it.
    """

    info: ChannelInfo
    endpoint: CountedQueue | CountedPipeEnd | None = None
    blocks: dict[int, Counters] = field(default_factory=dict)
    consumers: set[int] = field(default_factory=set)
    producers: set[int] = field(default_factory=set)
    folded: tuple[int, int, int, int, int, int] = (0, 0, 0, 0, 0, 0)
    unsettled: dict[int, int] = field(default_factory=dict)  # forgotten PID -> what it sent

    def totals(self) -> tuple[int, int, int, int]:
        """``(sent, sent_bytes, received, received_bytes)`` over every block, and the folded ones."""
        s, sb, r, rb = self.folded[:4]
        for b in list(self.blocks.values()):
            a, ab, c, cb = b.read()
            s += a
            sb += ab
            r += c
            rb += cb
        return s, sb, r, rb


class CountingQueue(OwnFeederQueue):
    """A ``multiprocessing.Queue`` whose feeder thread counts what it sends.

    Everything is multiprocessing's Queue (pipe, locks, semaphore, feeder
    thread, and the same danger when a holder of its lock dies), except that
    the feeder thread pickles each message once with :func:`_dumps` (the
    same bytes as the raw Queue's ``ForkingPickler``, made more cheaply),
    then adds it to the :class:`Counters` block given to :meth:`bind_sent` (the
    feeder is the only writer of the block's sent slots), and that
    :meth:`get_buffer` returns the bytes before unpickling, so the taker can
    count them. A message is thus counted as sent when it leaves the put
    buffer for the pipe. What the feeder finds buffered it writes in as few
    ``write`` calls as it can (small messages framed and joined, up to
    :data:`BATCH_BYTES`), where multiprocessing's feeder makes one lock round
    and one or two writes per message; the bytes in the pipe are the same.
    The feeder's plumbing is CPython's (:class:`~mptop.workers.cpython.OwnFeederQueue`).
    """

    _sent_box: list[memoryview | None]

    def bind_sent(self, counters: Counters) -> None:
        """Count this process's sends into ``counters`` (call before the first put)."""
        if not hasattr(self, "_sent_box"):
            self._sent_box = [None]
        self._sent_box[0] = counters.array

    def __setstate__(self, state: Any) -> None:
        super().__setstate__(state)
        self._sent_box = [None]

    def feeder_state(self) -> list[memoryview | None]:
        """The box holding the sent slots the feeder counts into (filled by :meth:`bind_sent`)."""
        if not hasattr(self, "_sent_box"):
            self._sent_box = [None]
        return self._sent_box

    def get_buffer(self, timeout: float | None = None) -> memoryview:
        """Take one message's pickled bytes, uncopied; ``queue.Empty`` after ``timeout`` seconds.

        The view is of the connection's receive buffer (a BytesIO), which
        ``Queue.get`` would first copy into a bytes object: one copy of the
        message fewer, which counts at 1 MiB. Raises ``ValueError`` once the
        Queue is closed.
        """
        r = self.reader()
        if r.closed():
            raise ValueError(f"Queue {self!r} is closed")
        if timeout is None:
            with r.rlock:
                buf = r.recv_bytes()
            r.release()
            return buf.getbuffer()
        deadline = time.monotonic() + timeout
        if not r.rlock.acquire(True, timeout):
            raise queue.Empty
        try:
            if not r.poll(max(0.0, deadline - time.monotonic())):
                raise queue.Empty
            buf = r.recv_bytes()
            r.release()
        finally:
            r.rlock.release()
        return buf.getbuffer()

    @staticmethod
    def feed(sent_box: list[memoryview | None], parts: FeederParts) -> None:
        """The feeder thread: pickle, count and write what ``put`` buffered, in batches."""
        buffer, notempty, writelock = parts.buffer, parts.notempty, parts.writelock
        send_bytes, send_all, sentinel = parts.send_bytes, parts.send_all, parts.sentinel
        sent, sent_bytes, dumps, pack = SENT, SENT_BYTES, _dumps, _HEADER.pack

        def flush(frames: list[bytes | memoryview]) -> None:
            """Write the framed messages in ``frames`` as one write, under the Queue's write lock."""
            if frames:
                with writelock:
                    send_all(b"".join(frames))

        while True:
            try:
                with notempty:
                    if not buffer:
                        notempty.wait()
                # Everything buffered goes out in as few writes as possible: small
                # messages are framed here (the frame Connection.send_bytes writes) and
                # joined, up to BATCH_BYTES per write; a big one goes alone, uncopied.
                frames: list[bytes | memoryview] = []
                size = 0
                while buffer:
                    obj = buffer.popleft()
                    if obj is sentinel:
                        flush(frames)
                        parts.reader_close()
                        parts.writer_close()
                        return
                    data = dumps(obj)
                    slots = sent_box[0]
                    if slots is not None:
                        slots[sent] += 1
                        slots[sent_bytes] += len(data)
                    if len(data) > BIG:
                        flush(frames)
                        frames, size = [], 0
                        with writelock:
                            send_bytes(data)
                        continue
                    frames += (pack(len(data)), data)
                    size += 4 + len(data)
                    if size >= BATCH_BYTES:
                        flush(frames)
                        frames, size = [], 0
                flush(frames)
            except Exception as e:
                if parts.ignore_epipe and getattr(e, "errno", 0) == errno.EPIPE:
                    return
                if parts.is_exiting():
                    return
                parts.sem.release()


def _counted_get(q: CountingQueue, slots: memoryview) -> Any:
    """``CountedQueue.get`` for one process: take, count into ``slots``, unpickle.

    ``q`` is a :class:`CountingQueue`, ``slots`` its taker's counter block.
    Blocking gets follow ``multiprocessing.Queue.get`` step by step, but
    unpickle from the receive buffer (no copy, see
    :meth:`CountingQueue.get_buffer`); timed ones go through ``get_buffer``.
    """
    r = q.reader()
    rlock, recv, sem_release, closed, loads = (
        r.rlock,
        r.recv_bytes,
        r.release,
        r.closed,
        pickle.loads,
    )
    received, received_bytes = RECEIVED, RECEIVED_BYTES

    def get(timeout: float | None = None) -> Any:
        if timeout is None and not closed():
            with rlock:
                buf = recv()
            sem_release()
            data = buf.getbuffer()
        else:
            data = q.get_buffer(timeout)
        slots[received] += 1
        slots[received_bytes] += data.nbytes
        return loads(data)

    return get


class _CountedEnd:
    """What a counted Queue and a counted Pipe end share: their channel and their binding.

    Each process calls :meth:`bind` with its own :class:`Counters` block
    before use; pickling (to hand the end to a child) keeps ``info`` and the
    attributes named in ``_SHARED`` and drops the binding.
    """

    _SHARED: tuple[str, ...] = ()

    def __init__(self, info: ChannelInfo) -> None:
        self.info = info
        self._counters: Counters | None = None

    def __getstate__(self) -> dict[str, Any]:
        return {"info": self.info, **{name: getattr(self, name) for name in self._SHARED}}

    def __setstate__(self, state: dict[str, Any]) -> None:
        for name, value in state.items():
            setattr(self, name, value)
        self._counters = None

    def bind(self, counters: Counters) -> Self:
        """Count this process's traffic into ``counters``; returns self."""
        self._counters = counters
        return self

    def _bound(self) -> Counters:
        """The bound block; ``RuntimeError`` if :meth:`bind` was not called."""
        if self._counters is None:
            raise RuntimeError(f"channel {self.info.name!r} used before bind()")
        return self._counters


class CountedQueue(_CountedEnd):
    """A ``multiprocessing.Queue`` whose puts and gets are counted.

    ``maxsize`` bounds it as ``Queue(maxsize)`` does (0: unbounded; a put
    then blocks while it is full).

    :meth:`bind` builds this process's hot path once: ``put`` becomes the
    Queue's own ``put`` (the feeder thread counts), and ``get`` a closure
    that holds the Queue's lock, pipe, semaphore and counter slots in local
    variables. Per message it then does no more attribute lookups than
    ``multiprocessing.Queue.get`` does (``Lib/multiprocessing/queues.py``),
    plus two additions to shared memory, so counting costs well under the 5%
    of a message's time that ``bench/ipc_overhead.py`` checks.
    """

    _SHARED = ("queue",)

    def __init__(self, ctx: BaseContext, info: ChannelInfo, maxsize: int = 0) -> None:
        super().__init__(info)
        self.queue = CountingQueue(maxsize, ctx=ctx)
        self._pending = bytearray()  # take_ready(): bytes of a message not yet whole

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        self._pending = bytearray()

    def bind(self, counters: Counters) -> Self:
        """Count this process's traffic into ``counters`` (its feeder thread's too); returns self."""
        self.queue.bind_sent(counters)
        super().bind(counters)
        self.put = self.queue.put  # type: ignore[method-assign]
        self.get = _counted_get(self.queue, counters.array)  # type: ignore[method-assign]
        return self

    def put(self, obj: object) -> None:
        """Enqueue ``obj``; the feeder thread pickles it, counts it as sent, and writes it.

        Blocks only while a bounded Queue is full. Raises ``RuntimeError`` if
        :meth:`bind` was not called (after it, this is the Queue's own ``put``).
        """
        self._bound()

    def get(self, timeout: float | None = None) -> Any:
        """Take one message, count it as received, unpickle it.

        Raises ``queue.Empty`` after ``timeout`` seconds without a message
        (also while another process holds the Queue's read lock), and
        ``RuntimeError`` if :meth:`bind` was not called (after it, the
        closure from :func:`_counted_get` answers).
        """
        self._bound()

    def take_ready(self) -> list[Any]:
        """Every whole message already in the pipe, counted and unpickled, without blocking.

        Only for a Queue with ONE reading process (mptop's ``results``): it
        reads what the pipe holds in one ``read`` (``FIONREAD`` says how much,
        at most :data:`READ_CHUNK`) and splits it into multiprocessing's frames
        itself (a 4-byte big-endian signed length, -1 meaning an 8-byte length
        follows; ``Lib/multiprocessing/connection.py``), instead of a lock, a
        poll and two reads per message. A frame still being written stays
        buffered for the next call, so a writer killed in the middle of a
        message never blocks the reader. The Queue's semaphore is released
        once per message, as ``Queue.get`` does. Returns ``[]`` when nothing
        whole has arrived; raises ``OSError`` if the pipe is closed, and
        ``RuntimeError`` if :meth:`bind` was not called.
        """
        slots = self._bound().array
        r = self.queue.reader()
        fd = r.fd
        buf = self._pending
        avail = array.array("i", [0])
        fcntl.ioctl(fd, termios.FIONREAD, avail)
        if avail[0]:
            buf += os.read(fd, min(avail[0], READ_CHUNK))
        out: list[Any] = []
        at, end = 0, len(buf)
        release, loads = r.release, pickle.loads
        view = memoryview(buf)
        try:
            while end - at >= 4:
                (size,) = _HEADER.unpack_from(buf, at)
                head = 4
                if size == -1:
                    if end - at < 12:
                        break
                    (size,) = _BIG_HEADER.unpack_from(buf, at + 4)
                    head = 12
                if end - at - head < size:
                    break
                start = at + head
                at = start + size
                slots[RECEIVED] += 1
                slots[RECEIVED_BYTES] += size
                release()
                # a message mptop cannot unpickle (a custom workload's value of a class
                # mptop cannot import) is taken and counted, then dropped: the thread
                # that reads the results must not die of it
                with contextlib.suppress(Exception):
                    out.append(loads(view[start:at]))
        finally:
            view.release()
        del buf[:at]
        return out

    def waitable(self) -> Connection:
        """The Queue's read end, for ``multiprocessing.connection.wait`` (single reader only)."""
        return self.queue.reader().connection

    def abandon(self) -> None:
        """Let this process exit without flushing what is still buffered.

        ``Queue.cancel_join_thread`` plus ``close``: a queue whose reader is gone
        (or stuck) must not block the exit of its writer; multiprocessing's docs
        warn that joining a process that has put items can deadlock.
        """
        self.queue.cancel_join_thread()
        self.queue.close()


class CountedPipeEnd(_CountedEnd):
    """One end of a duplex ``multiprocessing.Pipe`` whose sends and receives are counted.

    Same interface as :class:`CountedQueue` (``bind``, ``put``, ``get``), so a
    worker body does not care which it has. A send blocks while the pipe's
    buffer is full (no feeder thread), as ``Connection.send`` does.
    """

    _SHARED = ("conn",)

    def __init__(self, conn: Connection, info: ChannelInfo) -> None:
        super().__init__(info)
        self.conn = conn

    def put(self, obj: object) -> int:
        """Pickle ``obj``, send it, count it. Returns the pickled size in bytes.

        Raises ``OSError``/``EOFError`` if the other end is gone.
        """
        counters = self._bound()
        data = _dumps(obj)
        counters.count_sent(len(data))  # before the send, so a fast reply never outruns it
        try:
            self.conn.send_bytes(data)
        except BaseException:
            counters.array[SENT] -= 1
            counters.array[SENT_BYTES] -= len(data)  # not sent after all
            raise
        return len(data)

    def get(self, timeout: float | None = None) -> Any:
        """Receive one message, count it, unpickle it.

        Raises ``queue.Empty`` after ``timeout`` seconds without a message,
        ``EOFError`` if the other end is closed, and ``OSError`` if this end
        is (also when another thread of this process closes it meanwhile, as
        mptop's shutdown does while its dispatcher may still be reading).
        """
        counters = self._bound()
        conn = self.conn
        if timeout is not None and not conn.poll(timeout):
            raise queue.Empty
        # unpickling from the receive buffer spares a copy of the message, as
        # Connection.recv() does
        try:
            buf = recv_buffer(conn)
        except OSError:
            if conn.closed:
                raise OSError(f"channel {self.info.name!r}: this end is closed") from None
            raise
        view = buf.getbuffer()
        counters.count_received(view.nbytes)
        return ForkingPickler.loads(view)

    def waitable(self) -> Connection:
        """The connection, for ``multiprocessing.connection.wait``."""
        return self.conn

    def abandon(self) -> None:
        """Close this end."""
        self.conn.close()
