"""mptop's probe in a user's process: counts every message its multiprocessing connections move.

Standard library only, for CPython 3.9-3.13 on POSIX. Loaded by the
``sitecustomize`` beside it (``mptop run`` puts this folder first on
``PYTHONPATH`` and names a folder in ``MPTOP_PROBE_DIR``). Nothing runs in
the background: no thread, signal handler or atexit hook.

What is counted: every call of ``Connection._send_bytes`` (one message sent,
``len(buf)`` bytes: the pickled payload without multiprocessing's 4-byte
frame header) and ``Connection._recv_bytes`` (one message received, the
same bytes). Every Queue (its feeder thread and ``get``), SimpleQueue,
JoinableQueue, Pipe, Pool and ProcessPoolExecutor message goes through
them (``Lib/multiprocessing/connection.py``, ``queues.py``, 3.9-3.13).

Where: a file ``<MPTOP_PROBE_DIR>/<pid>.probe`` per process, mapped into
memory (so the counts survive ``os._exit`` and SIGKILL), written only by
that process:

- header, 8 uint64 words: magic, pid, slots used, bytes of text used, 4 spare;
- :data:`SLOTS` slots of 5 uint64 words: the channel's pipe or socket inode
  (the ``N`` of ``/proc/PID/fd/X -> pipe:[N]``, the same in every process
  holding either end), messages sent, bytes sent, messages received, bytes
  received;
- :data:`TEXT` bytes of text lines, appended: ``L <inode> <inode2> <label>``
  (where a channel was made: ``prog.py:31 Queue``, ``Pool inqueue``; a
  duplex Pipe's two ends have an inode each), ``C <pid> <daemon> <method>
  <name>`` (a multiprocessing child this process started), ``X <pid>
  <exitcode>`` (a child's exit code, as this process learned it).

A fork child starts a file of its own (``os.register_at_fork``).
"""

from __future__ import annotations

import mmap
import os
import sys
import threading

TYPE_CHECKING = False
if TYPE_CHECKING:  # no typing at run time: importing it costs a few ms of the program's start
    from typing import Any

ENV_DIR = "MPTOP_PROBE_DIR"
MAGIC = 0x31425250504F544D  # "MTOPPRB1", little-endian
HEADER_WORDS = 8
SLOT_WORDS = 5
SLOTS = 4096
TEXT = 1 << 16
SIZE = (HEADER_WORDS + SLOTS * SLOT_WORDS) * 8 + TEXT
# Header words.
W_MAGIC, W_PID, W_USED, W_TEXT = 0, 1, 2, 3

_words: Any = None  # the file's uint64 words (a memoryview), or None: counting is off
_text_at = (HEADER_WORDS + SLOTS * SLOT_WORDS) * 8
_map: Any = None
_gen = 0  # bumped at every (re)open: a connection's cached slot is valid for one generation
_slots: dict[int, int] = {}  # inode -> word index of its slot
_lock = threading.Lock()
_dir = ""
_installed = False


def _open() -> None:
    """Create this process's file and map it."""
    global _words, _map, _gen, _slots, _lock
    path = os.path.join(_dir, f"{os.getpid()}.probe")
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.ftruncate(fd, SIZE)
        m = mmap.mmap(fd, SIZE)
    finally:
        os.close(fd)
    words = memoryview(m).cast("B")[:_text_at].cast("Q")
    words[W_PID] = os.getpid()
    words[W_MAGIC] = MAGIC
    _map, _words = m, words
    _gen += 1
    _slots = {}
    _lock = threading.Lock()


def _slot(conn: Any) -> int:
    """The word index of ``conn``'s slot (0: not counted), looked up once per generation."""
    try:
        cached: tuple[int, int] = conn._mptop_slot
        if cached[0] == _gen:
            return cached[1]
    except AttributeError:
        pass
    base = 0
    words = _words
    if words is not None:
        try:
            inode = os.fstat(conn.fileno()).st_ino
        except (OSError, ValueError):
            return 0
        with _lock:
            base = _slots.get(inode, 0)
            if not base:
                used = words[W_USED]
                if used < SLOTS:
                    base = HEADER_WORDS + used * SLOT_WORDS
                    words[base] = inode
                    words[W_USED] = used + 1  # published after the inode is in place
                    _slots[inode] = base
    try:  # noqa: SIM105 (no contextlib: the probe imports as little as it can)
        conn._mptop_slot = (_gen, base)
    except AttributeError:
        pass
    return base


def note(line: str) -> None:
    """Append one text line (see the module's docstring); dropped once the text area is full."""
    words, m = _words, _map
    if words is None or m is None:
        return
    data = (line.replace("\n", " ") + "\n").encode("utf-8", "replace")
    with _lock:
        used = words[W_TEXT]
        if used + len(data) > TEXT:
            return
        m[_text_at + used : _text_at + used + len(data)] = data
        words[W_TEXT] = used + len(data)


def _where() -> tuple[str, str]:
    """``(what, where)`` for a channel being made: its kind and the first frame of the program."""
    what, where = "Pipe", ""
    frame: Any = sys._getframe(2)
    seen_pool = False
    while frame is not None:
        code = frame.f_code
        path = code.co_filename.replace("\\", "/")
        inside = "/multiprocessing/" in path or "/concurrent/futures/" in path
        if inside:
            me = frame.f_locals.get("self")
            name = code.co_name
            if name == "_setup_queues" and not seen_pool:
                seen_pool = True
                what = "Pool outqueue" if hasattr(me, "_inqueue") else "Pool inqueue"
            elif name == "__init__" and type(me).__name__ == "Pool" and what == "SimpleQueue":
                what = "Pool change notifier"
            elif path.endswith("concurrent/futures/process.py") and name == "__init__":
                kind = type(me).__name__
                if kind == "_ThreadWakeup":
                    what = "executor wakeup"
                elif kind == "_SafeQueue":
                    what = "executor call queue"
                elif kind == "ProcessPoolExecutor" and what in ("SimpleQueue", "Pipe"):
                    what = "executor result queue"
            elif (
                name == "__init__"
                and type(me).__name__
                in (
                    "Queue",
                    "SimpleQueue",
                    "JoinableQueue",
                )
                and not seen_pool
                and not what.startswith("executor")
            ):
                what = type(me).__name__
        elif not path.endswith("_mptop_probe.py"):
            where = f"{os.path.basename(path)}:{frame.f_lineno}"
            break
        frame = frame.f_back
    return what, where


def _inode(conn: Any) -> int:
    return os.fstat(conn.fileno()).st_ino


def install() -> None:
    """Patch multiprocessing's connections to count, if ``MPTOP_PROBE_DIR`` names a folder."""
    global _dir, _installed
    if (
        _installed
        or not os.environ.get(ENV_DIR)
        or not sys.platform.startswith(("linux", "darwin"))
    ):
        return
    _dir = os.environ[ENV_DIR]
    import multiprocessing.connection as connection
    import multiprocessing.process as process

    _open()
    _installed = True
    cls: Any = connection.Connection
    base_process: Any = process.BaseProcess
    send, recv, pipe, start = cls._send_bytes, cls._recv_bytes, connection.Pipe, base_process.start

    # The hot path: one cached (generation, slot) per connection, read inline (no call).
    def _send_bytes(self, buf, _send=send, _slot=_slot):  # type: ignore[no-untyped-def]
        _send(self, buf)
        try:
            gen, base = self._mptop_slot
        except AttributeError:
            gen = -1
        if gen != _gen:
            base = _slot(self)
        if base:
            w = _words
            w[base + 1] += 1
            w[base + 2] += len(buf)

    def _recv_bytes(self, maxsize=None, _recv=recv, _slot=_slot):  # type: ignore[no-untyped-def]
        buf = _recv(self, maxsize)
        try:
            gen, base = self._mptop_slot
        except AttributeError:
            gen = -1
        if gen != _gen:
            base = _slot(self)
        if base:
            w = _words
            w[base + 3] += 1
            w[base + 4] += buf.tell()  # _recv leaves it at the end
        return buf

    def Pipe(duplex=True, _pipe=pipe):  # type: ignore[no-untyped-def]
        a, b = _pipe(duplex)
        try:
            what, where = _where()
            label = what if what != "Pipe" or duplex else "Pipe (one-way)"
            note(" ".join(("L", str(_inode(a)), str(_inode(b)), *filter(None, (where, label)))))
        except Exception:
            pass
        return a, b

    def start_process(self, _start=start):  # type: ignore[no-untyped-def]
        _start(self)
        try:
            _patch_exitcodes(type(self._popen))
            method = getattr(getattr(self, "_popen", None), "method", "?")
            note(f"C {self.pid} {int(bool(self.daemon))} {method} {self.name}")
        except Exception:
            pass

    cls._send_bytes = _send_bytes
    cls._recv_bytes = _recv_bytes
    connection.Pipe = Pipe
    base_process.start = start_process
    os.register_at_fork(after_in_child=_after_fork)


_patched: set[Any] = set()


def _patch_exitcodes(popen: Any) -> None:
    """Note each child's exit code when its parent (this process) learns it (``Popen.poll``).

    Patched on the first start of each Popen class (fork, forkserver, spawn), so
    the probe imports none of them itself (start-up time).
    """
    if popen in _patched:
        return
    _patched.add(popen)
    for cls in popen.__mro__:
        poll = cls.__dict__.get("poll")
        if poll is not None:
            break
    else:
        return
    if getattr(poll, "_mptop_wrapped", False):
        return  # a base class's poll, wrapped already

    def patched(self, flag=os.WNOHANG, _poll=poll):  # type: ignore[no-untyped-def]
        known = self.returncode is not None
        code = _poll(self, flag)
        if code is not None and not known:
            note(f"X {self.pid} {code}")
        return code

    patched._mptop_wrapped = True  # type: ignore[attr-defined]
    popen.poll = patched


def _after_fork() -> None:
    """In a fork child: a file of its own (the parent's mapping is shared and must not be written)."""
    try:
        _open()
    except OSError:
        global _words
        _words = None
