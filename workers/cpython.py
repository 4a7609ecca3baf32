"""Every use mptop makes of CPython's private multiprocessing internals, and a check of them.

Nothing else in mptop touches an underscored attribute of ``multiprocessing``.
What is used, and why:

- the forkserver's PID, its "alive" pipe and its ``_stop`` (``Lib/multiprocessing/
  forkserver.py``): mptop shows the server as a helper process, a worker closes
  its copy of the pipe so that the server exits with mptop, and shutdown stops it;
- the resource tracker's PID (``resource_tracker.py``), shown as a helper;
- ``multiprocessing.queues.Queue``'s feeder plumbing (``queues.py``): mptop's
  counting Queue starts a feeder thread of its own (:class:`OwnFeederQueue`)
  with the Queue's buffer, locks, pipe ends and finalizers, and reads the pipe
  under the Queue's read lock (:class:`QueueReader`);
- ``Connection._recv_bytes`` (``connection.py``), which hands back the receive
  buffer that ``Connection.recv`` would copy.

:func:`problems` compares the running Python with these expectations; it uses
the standard library only, so it also runs as a script under any Python
(``python workers/cpython.py`` prints what differs and exits 1; the test suite
does that under every CPython 3.11-3.13 it finds). These attributes are the
same in CPython 3.11, 3.12 and 3.13 (checked); a newer Python may move them,
and then :func:`problems` says which.
"""

from __future__ import annotations

import contextlib
import inspect
import io
import multiprocessing
import multiprocessing.connection
import multiprocessing.forkserver
import multiprocessing.queues
import multiprocessing.resource_tracker
import multiprocessing.util as mp_util
import os
import sys
import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

# Queue._feed's parameters in CPython 3.11-3.13: the feeder of OwnFeederQueue behaves as
# this function does, so a change in its signature is a sign that its behaviour changed too.
FEED_PARAMETERS = (
    "buffer",
    "notempty",
    "send_bytes",
    "writelock",
    "reader_close",
    "writer_close",
    "ignore_epipe",
    "onerror",
    "queue_sem",
)
# Attributes of a multiprocessing.Queue instance that OwnFeederQueue and QueueReader use.
QUEUE_ATTRIBUTES = (
    "_buffer",
    "_notempty",
    "_send_bytes",
    "_writer",
    "_wlock",
    "_reader",
    "_rlock",
    "_poll",
    "_closed",
    "_ignore_epipe",
    "_sem",
    "_joincancelled",
    "_jointhread",
    "_close",
    "_thread",
)


# -- the forkserver and the resource tracker -----------------------------------------------


def forkserver_pid() -> int | None:
    """The PID of this process's forkserver, or ``None`` if it has not started."""
    pid = getattr(multiprocessing.forkserver._forkserver, "_forkserver_pid", None)
    return int(pid) if pid else None


def resource_tracker_pid() -> int | None:
    """The PID of this process's resource tracker, or ``None`` if it has not started."""
    pid = getattr(multiprocessing.resource_tracker._resource_tracker, "_pid", None)
    return int(pid) if pid else None


def release_forkserver() -> None:
    """In a forkserver child: close its copy of the server's "alive" pipe.

    multiprocessing hands every forkserver child the write end of the pipe
    whose EOF tells the server that its client (mptop) is gone, so the server
    outlives mptop for as long as any worker lives. Closed, the server exits
    with mptop. Does nothing where the attribute is absent.
    """
    server = getattr(multiprocessing.forkserver, "_forkserver", None)
    fd = getattr(server, "_forkserver_alive_fd", None)
    if fd is not None:
        with contextlib.suppress(OSError):
            os.close(fd)
        server._forkserver_alive_fd = None  # type: ignore[union-attr]


def forget_child(proc: object) -> None:
    """Take a started ``Process`` out of multiprocessing's set of this process's children.

    Every ``Process.start()`` first polls each child still in that set
    (``_cleanup`` in ``Lib/multiprocessing/process.py``): one ``poll()`` or
    ``waitpid()`` per child, so n starts cost n²/2 polls. Measured here with
    forkserver: 1024 starts took 13.7 s bare, about 12 ms each, most of it that
    loop. mptop reaps its own workers (Supervisor.poll, through ``exitcode``)
    and shuts them down itself, so they leave the set: ``active_children()``
    and the interpreter's exit (which joins the set's non-daemons) no longer
    see them. Does nothing where the set is absent.
    """
    children = getattr(multiprocessing.process, "_children", None)
    if isinstance(children, set):
        children.discard(proc)


def stop_forkserver(timeout: float = 1.0) -> None:
    """Stop this process's forkserver (its private ``_stop``), waiting at most ``timeout`` seconds.

    The server exits on EOF of its "alive" pipe; ``_stop`` closes mptop's end
    and reaps it. Runs on a helper thread so that a stuck server cannot hold
    mptop's exit for longer than ``timeout``.
    """
    stop = getattr(multiprocessing.forkserver._forkserver, "_stop", None)
    if stop is None:
        return

    def run() -> None:
        with contextlib.suppress(OSError, ChildProcessError):
            stop()

    t = threading.Thread(target=run, name="mptop-forkserver-stop", daemon=True)
    t.start()
    t.join(timeout)


# -- multiprocessing.Queue ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FeederParts:
    """What a Queue's feeder thread works with, as ``Queue._start_thread`` hands it to ``_feed``.

    ``buffer`` is the deque that ``put`` appends to, ``notempty`` the condition
    it notifies; ``send_bytes`` frames and writes one message, ``send_all``
    writes raw bytes; ``writelock`` is the Queue's write lock (``None`` where
    one process only writes); ``sentinel`` the object that ``close`` appends;
    ``sem`` the Queue's bounded semaphore; ``is_exiting`` multiprocessing's
    "the interpreter is shutting down" test.
    """

    buffer: Any
    notempty: threading.Condition
    send_bytes: Callable[[Any], None]
    send_all: Callable[[Any], None]
    writelock: Any
    reader_close: Callable[[], None]
    writer_close: Callable[[], None]
    ignore_epipe: bool
    sem: Any
    sentinel: object
    is_exiting: Callable[[], bool]


class OwnFeederQueue(multiprocessing.queues.Queue):  # type: ignore[type-arg]
    """A ``multiprocessing.Queue`` whose feeder thread runs :meth:`feed` instead of ``_feed``.

    Subclasses give ``feed(state, parts)`` as a static method: ``state`` is
    what :meth:`feeder_state` returns, ``parts`` a :class:`FeederParts`.
    Everything else (the pipe, the locks, the finalizers that flush and join
    the feeder at exit) is multiprocessing's own, set up as
    ``Queue._start_thread`` does in CPython 3.11-3.13.
    """

    @staticmethod
    def feed(state: Any, parts: FeederParts) -> None:
        """The feeder thread's body (override)."""
        raise NotImplementedError

    def feeder_state(self) -> Any:
        """The first argument of :meth:`feed` (override); read when the feeder starts."""
        return None

    def _start_thread(self) -> None:
        q: Any = self
        q._buffer.clear()
        parts = FeederParts(
            buffer=q._buffer,
            notempty=q._notempty,
            send_bytes=q._send_bytes,
            send_all=q._writer._send,
            writelock=q._wlock,
            reader_close=q._reader.close,
            writer_close=q._writer.close,
            ignore_epipe=q._ignore_epipe,
            sem=q._sem,
            sentinel=multiprocessing.queues._sentinel,  # type: ignore[attr-defined]
            is_exiting=mp_util.is_exiting,
        )
        q._thread = threading.Thread(
            target=type(self).feed,
            args=(self.feeder_state(), parts),
            name="QueueFeederThread",
            daemon=True,
        )
        q._thread.start()
        base: Any = multiprocessing.queues.Queue
        if not q._joincancelled:
            q._jointhread = mp_util.Finalize(
                q._thread, base._finalize_join, [weakref.ref(q._thread)], exitpriority=-5
            )
        q._close = mp_util.Finalize(
            q, base._finalize_close, [q._buffer, q._notempty], exitpriority=10
        )

    def reader(self) -> QueueReader:
        """This Queue's read side, for taking messages as bytes (see :class:`QueueReader`).

        Made once per process (the Queue's own pickling drops it).
        """
        r: QueueReader | None = self.__dict__.get("_mptop_reader")
        if r is None:
            r = self.__dict__["_mptop_reader"] = QueueReader(self)
        return r


class QueueReader:
    """The read side of a ``multiprocessing.Queue``: its lock, pipe and semaphore.

    ``rlock`` is the read lock every getter takes, ``recv_bytes()`` reads one
    framed message from the pipe as a ``BytesIO`` (``Connection._recv_bytes``),
    ``poll(seconds)`` waits for data, ``release()`` releases the semaphore
    slot of one message taken (as ``Queue.get`` does), ``fd`` and
    ``connection`` are the pipe's read end, and ``closed()`` says whether
    ``Queue.close`` was called in this process.
    """

    __slots__ = ("_q", "connection", "fd", "poll", "recv_bytes", "release", "rlock")

    def __init__(self, queue: multiprocessing.queues.Queue) -> None:  # type: ignore[type-arg]
        q: Any = queue
        self._q = q
        self.rlock: Any = q._rlock
        self.connection: multiprocessing.connection.Connection = q._reader
        self.recv_bytes: Callable[[], io.BytesIO] = q._reader._recv_bytes
        self.poll: Callable[[float], bool] = q._poll
        self.release: Callable[[], None] = q._sem.release
        self.fd: int = q._reader.fileno()

    def closed(self) -> bool:
        """True once ``close()`` was called on the Queue in this process."""
        return bool(self._q._closed)


def recv_buffer(conn: multiprocessing.connection.Connection) -> io.BytesIO:
    """One framed message from ``conn`` as the ``BytesIO`` that ``Connection.recv`` would copy.

    Raises ``EOFError`` at end of file and ``OSError`` on a closed or broken
    connection (``TypeError`` inside ``_recv_bytes`` when another thread closed
    it meanwhile is turned into ``OSError``).
    """
    try:
        return conn._recv_bytes()  # type: ignore[attr-defined,no-any-return]
    except TypeError:
        if conn.closed:  # closed under us: _recv_bytes skips recv()'s check
            raise OSError("the connection is closed") from None
        raise


# -- the check ------------------------------------------------------------------------------


def _params(fn: object) -> tuple[str, ...]:
    return tuple(inspect.signature(fn).parameters)  # type: ignore[arg-type]


def problems() -> list[str]:
    """What differs between the running Python and the internals mptop uses; [] if nothing.

    Each item is one line naming the attribute and what was found. Creates one
    ``fork``-context Queue (a pipe and three locks, closed at once) to see its
    instance attributes.
    """
    found: list[str] = []
    queues, conn = multiprocessing.queues, multiprocessing.connection
    forkserver = getattr(multiprocessing.forkserver, "_forkserver", None)
    for name in ("_forkserver_pid", "_forkserver_alive_fd", "_stop"):
        if not hasattr(forkserver, name):
            found.append(f"multiprocessing.forkserver._forkserver has no {name}")
    if not isinstance(getattr(multiprocessing.process, "_children", None), set):
        found.append("multiprocessing.process has no _children set")
    tracker = getattr(multiprocessing.resource_tracker, "_resource_tracker", None)
    if not hasattr(tracker, "_pid"):
        found.append("multiprocessing.resource_tracker._resource_tracker has no _pid")
    if not hasattr(queues, "_sentinel"):
        found.append("multiprocessing.queues has no _sentinel")
    for name, expected in (
        ("_feed", FEED_PARAMETERS),
        ("_start_thread", ("self",)),
        ("_finalize_join", ("twr",)),
        ("_finalize_close", ("buffer", "notempty")),
    ):
        fn = getattr(queues.Queue, name, None)
        if fn is None:
            found.append(f"multiprocessing.queues.Queue has no {name}")
        elif _params(fn) != expected:
            found.append(
                f"multiprocessing.queues.Queue.{name}{_params(fn)}: expected parameters {expected}"
            )
    for name, expected in (("_recv_bytes", ("self", "maxsize")), ("_send", ("self", "buf"))):
        fn = getattr(conn.Connection, name, None)
        if fn is None:
            found.append(f"multiprocessing.connection.Connection has no {name}")
        elif _params(fn)[: len(expected)] != expected:
            found.append(
                f"multiprocessing.connection.Connection.{name}{_params(fn)}: expected {expected}"
            )
    for name in ("Finalize", "is_exiting"):
        if not hasattr(mp_util, name):
            found.append(f"multiprocessing.util has no {name}")
    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
    q: Any = multiprocessing.get_context(method).Queue()
    try:
        for name in QUEUE_ATTRIBUTES:
            if not hasattr(q, name):
                found.append(f"multiprocessing.Queue instances have no {name}")
        for name in ("_send",):
            if not hasattr(getattr(q, "_writer", None), name):
                found.append(f"multiprocessing.Queue's writer has no {name}")
    finally:
        q.close()
        q.join_thread()
    return found


def main() -> int:
    """Print what differs (one line each) and return 1, or print ``ok`` and return 0."""
    found = problems()
    version = ".".join(map(str, sys.version_info[:3]))
    for line in found:
        print(f"{sys.implementation.name} {version}: {line}")
    if not found:
        print(f"{sys.implementation.name} {version}: ok")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
