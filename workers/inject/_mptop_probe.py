"""mptop's probe in a user's process: counts every message its multiprocessing connections move.

Standard library only, for CPython 3.9-3.13 on POSIX. Loaded by the
``sitecustomize`` beside it (``mptop run`` puts this folder first on
``PYTHONPATH`` and names a folder in ``MPTOP_PROBE_DIR``). Nothing runs in
the background: no thread and no atexit hook; one signal handler, faulthandler's
(C, registered at start for SIGRTMIN+6: it writes every thread's stack to
``<pid>.stacks`` when mptop asks; :mod:`mptop.workers.stacks`).

What is counted: every call of ``Connection._send_bytes`` (one message sent,
``len(buf)`` bytes: the pickled payload without multiprocessing's 4-byte
frame header) and ``Connection._recv_bytes`` (one message received, the
same bytes; one longer than ``recv_bytes(maxlength)`` allows: no bytes). Every Queue (its feeder thread and ``get``), SimpleQueue,
JoinableQueue, Pipe, Pool and ProcessPoolExecutor message goes through
them (``Lib/multiprocessing/connection.py``, ``queues.py``, 3.9-3.13).

Where: a file ``<MPTOP_PROBE_DIR>/<pid>.probe`` per process, mapped into
memory (so the counts survive ``os._exit`` and SIGKILL), written only by
that process:

- header, 8 uint64 words: magic, pid, slots used, bytes of text used, 1 once
  the stacks handler is registered, the parent's PID at start, 2 spare;
- :data:`SLOTS` slots of 5 uint64 words: the channel's pipe or socket inode
  (the ``N`` of ``/proc/PID/fd/X -> pipe:[N]``, the same in every process
  holding either end), messages sent, bytes sent, messages received, bytes
  received;
- :data:`TEXT` bytes of text lines, appended: ``L <inode> <inode2> <label>``
  (where a channel was made: ``prog.py:31 Queue``, ``Pool task queue``; a
  duplex Pipe's two ends have an inode each), ``C <pid> <daemon> <method>
  <name>`` (a multiprocessing child this process started), ``X <pid>
  <exitcode>`` (a child's exit code, as this process learned it).

A fork child starts a file of its own (``os.register_at_fork``).

When: the file is made at start-up (its existence tells mptop that the
probe loaded); the patches wait until the program first imports
``multiprocessing.process`` / ``multiprocessing.connection`` (a finder on
``sys.meta_path`` patches each module right after it ran), so a Python process
that never uses multiprocessing imports nothing of it.

The hot path (docs/PERFORMANCE.md): where CPython's own ``_send_bytes`` /
``_recv_bytes`` are the stock ones (the same code in 3.9-3.13, checked by
their code objects' names and constants), they are replaced by copies that
count inline, with no extra Python frame; otherwise they are wrapped. Either
way a connection caches ``(words, slot)`` on itself: valid while ``words`` is
this process's current file (a fork child maps a new one).
"""

import _signal  # type: ignore[import-not-found]  # not signal: it imports enum (start-up)
import faulthandler
import mmap
import os
import sys
from _thread import allocate_lock

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
W_MAGIC, W_PID, W_USED, W_TEXT, W_STACKS, W_PPID = 0, 1, 2, 3, 4, 5
# The signal mptop asks for stacks with (as workers/stacks.py: SIGRTMIN+6, else SIGUSR2).
STACK_SIGNAL = _signal.SIGRTMIN + 6 if hasattr(_signal, "SIGRTMIN") else _signal.SIGUSR2

_words: "Any" = None  # the file's uint64 words (a memoryview), or None: counting is off
_text_at = (HEADER_WORDS + SLOTS * SLOT_WORDS) * 8
_map: "Any" = None
_slots: "dict[int, int]" = {}  # inode -> word index of its slot, in the current file
_lock = allocate_lock()
_dir = ""
_installed = False


def _open() -> None:
    """Create this process's file and map it."""
    global _words, _map, _slots, _lock
    path = os.path.join(_dir, f"{os.getpid()}.probe")
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.ftruncate(fd, SIZE)
        m = mmap.mmap(fd, SIZE)
    finally:
        os.close(fd)
    words = memoryview(m).cast("B")[:_text_at].cast("Q")
    words[W_PID] = os.getpid()
    words[W_PPID] = os.getppid()
    words[W_MAGIC] = MAGIC
    _register_stacks(words)
    _slots = {}
    _lock = allocate_lock()
    _map, _words = m, words  # a new object: every connection's cached (words, slot) is stale


_stack_fd = -1


def _register_stacks(words: "Any") -> None:
    """Dump every thread's stack to ``<pid>.stacks`` on :data:`STACK_SIGNAL`; say so in the header.

    The file stays open (faulthandler writes to its descriptor from the handler); a fork
    child registers a file of its own and closes its parent's descriptor.
    """
    global _stack_fd
    try:
        fd = os.open(
            os.path.join(_dir, f"{os.getpid()}.stacks"),
            os.O_WRONLY | os.O_CREAT | os.O_APPEND,
            0o600,
        )
        faulthandler.register(STACK_SIGNAL, file=fd, all_threads=True, chain=False)
    except (OSError, RuntimeError, ValueError):
        return
    if _stack_fd >= 0:
        try:  # noqa: SIM105 (no contextlib: the probe imports as little as it can)
            os.close(_stack_fd)
        except OSError:
            pass
    _stack_fd = fd
    words[W_STACKS] = 1


def _slot(conn: "Any") -> "tuple[Any, int]":
    """``(words, word index of conn's slot)`` (index 0: not counted), cached on ``conn``."""
    base = 0
    words = _words
    if words is not None:
        try:
            inode = os.fstat(conn.fileno()).st_ino
        except (OSError, ValueError):
            return words, 0
        with _lock:
            base = _slots.get(inode, 0)
            if not base:
                used = words[W_USED]
                if used < SLOTS:
                    base = HEADER_WORDS + used * SLOT_WORDS
                    words[base] = inode
                    words[W_USED] = used + 1  # published after the inode is in place
                    _slots[inode] = base
    got = (words, base)
    try:  # noqa: SIM105 (no contextlib: the probe imports as little as it can)
        conn._mptop_slot = got
    except AttributeError:
        pass
    return got


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


def _where() -> "tuple[str, str]":
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
                what = "Pool result queue" if hasattr(me, "_inqueue") else "Pool task queue"
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


def _inode(conn: "Any") -> int:
    return os.fstat(conn.fileno()).st_ino


# CPython's Connection._send_bytes / _recv_bytes, 3.9-3.13: (co_names, co_consts) of each.
_STOCK_SEND = (("len", "struct", "pack", "_send"), (None, 0x7FFFFFFF, "!i", -1, "!Q", 16384))
_STOCK_RECV = (("_recv", "struct", "unpack", "getvalue"), (None, 4, "!i", -1, 8, "!Q"))


def _is_stock(f: "Any", stock: "tuple[tuple[str, ...], tuple[Any, ...]]") -> bool:
    code = getattr(f, "__code__", None)
    return (
        code is not None
        and getattr(f, "__module__", None) == "multiprocessing.connection"
        and (code.co_names, code.co_consts) == stock
    )


def _counting_copies(struct: "Any") -> "tuple[Any, Any]":
    """Copies of CPython's ``_send_bytes`` and ``_recv_bytes`` (3.9-3.13) that count inline."""
    _pack, _unpack = struct.pack, struct.unpack

    def _send_bytes(self, buf):  # type: ignore[no-untyped-def]
        n = len(buf)
        if n > 0x7FFFFFFF:
            self._send(_pack("!i", -1))
            self._send(_pack("!Q", n))
            self._send(buf)
        elif n > 16384:  # large: no concatenation (and no Nagle delay either)
            self._send(_pack("!i", n))
            self._send(buf)
        else:  # one write: no Nagle delay, and no 0-length write of its own
            self._send(_pack("!i", n) + buf)
        w, i = self._mptop_slot
        if w is not _words:
            w, i = _slot(self)
        if i:
            w[i + 1] += 1
            w[i + 2] += n

    def _recv_bytes(self, maxsize=None):  # type: ignore[no-untyped-def]
        buf = self._recv(4)
        (size,) = _unpack("!i", buf.getvalue())
        if size == -1:
            buf = self._recv(8)
            (size,) = _unpack("!Q", buf.getvalue())
        if maxsize is not None and size > maxsize:
            buf, size = None, 0  # too long: the caller raises (one message, no bytes)
        else:
            buf = self._recv(size)
        w, i = self._mptop_slot
        if w is not _words:
            w, i = _slot(self)
        if i:
            w[i + 3] += 1
            w[i + 4] += size
        return buf

    return _send_bytes, _recv_bytes


def _counting_wrappers(send: "Any", recv: "Any") -> "tuple[Any, Any]":
    """``send`` and ``recv`` wrapped to count (one more Python frame per message)."""

    def _send_bytes(self, buf, _send=send):  # type: ignore[no-untyped-def]
        _send(self, buf)
        w, i = self._mptop_slot
        if w is not _words:
            w, i = _slot(self)
        if i:
            w[i + 1] += 1
            w[i + 2] += len(buf)

    def _recv_bytes(self, maxsize=None, _recv=recv):  # type: ignore[no-untyped-def]
        buf = _recv(self, maxsize)
        w, i = self._mptop_slot
        if w is not _words:
            w, i = _slot(self)
        if i:
            w[i + 3] += 1
            if buf is not None:
                w[i + 4] += buf.tell()  # _recv leaves it at the end
        return buf

    return _send_bytes, _recv_bytes


def _patch_connection(connection: "Any") -> None:
    """Count on every ``Connection``; note where each ``Pipe`` is made."""
    cls: Any = connection.Connection
    send, recv, pipe = cls._send_bytes, cls._recv_bytes, connection.Pipe
    cls._mptop_slot = (None, 0)  # until looked up: None is never the current words
    if _is_stock(send, _STOCK_SEND) and _is_stock(recv, _STOCK_RECV):
        cls._send_bytes, cls._recv_bytes = _counting_copies(connection.struct)
    else:  # not the code we know (a later CPython, or patched by someone else)
        cls._send_bytes, cls._recv_bytes = _counting_wrappers(send, recv)

    def Pipe(duplex=True, _pipe=pipe):  # type: ignore[no-untyped-def]
        a, b = _pipe(duplex)
        try:
            what, where = _where()
            label = what if what != "Pipe" or duplex else "Pipe (one-way)"
            note(" ".join(("L", str(_inode(a)), str(_inode(b)), *filter(None, (where, label)))))
        except Exception:
            pass
        return a, b

    connection.Pipe = Pipe


def _patch_process(process: "Any") -> None:
    """Note every multiprocessing child this process starts."""
    base_process: Any = process.BaseProcess
    start = base_process.start

    def start_process(self, _start=start):  # type: ignore[no-untyped-def]
        _start(self)
        try:
            _patch_exitcodes(type(self._popen))
            method = getattr(getattr(self, "_popen", None), "method", "?")
            note(f"C {self.pid} {int(bool(self.daemon))} {method} {self.name}")
        except Exception:
            pass

    base_process.start = start_process


class _Hook:
    """On ``sys.meta_path``: patches each module of ``todo`` right after its first run."""

    def __init__(self, todo: "dict[str, Any]") -> None:
        self.todo = todo

    def find_spec(self, name: str, path: "Any" = None, target: "Any" = None) -> "Any":
        patch = self.todo.get(name)
        if patch is None:
            return None
        for finder in sys.meta_path:
            find = getattr(finder, "find_spec", None)
            if finder is not self and find is not None:
                spec = find(name, path, target)
                if spec is not None:
                    break
        else:
            return None
        loader = spec.loader
        real = getattr(loader, "exec_module", None)
        if real is None:
            return None

        def exec_module(module: "Any") -> None:
            try:  # noqa: SIM105 (no contextlib: the probe imports as little as it can)
                del loader.exec_module  # the loader's own again (a zip's loader is shared)
            except AttributeError:
                pass
            real(module)
            if module.__name__ == name and self.todo.pop(name, None) is not None:
                self._done()
                try:  # noqa: SIM105
                    patch(module)
                except Exception:
                    pass

        try:
            loader.exec_module = exec_module
        except AttributeError:  # a loader that takes no attribute: patch now, from here on
            return None
        return spec

    def _done(self) -> None:
        if not self.todo:
            try:  # noqa: SIM105
                sys.meta_path.remove(self)
            except ValueError:
                pass


def install() -> None:
    """Count, if ``MPTOP_PROBE_DIR`` names a folder: make this process's file, patch on import."""
    global _dir, _installed
    if (
        _installed
        or not os.environ.get(ENV_DIR)
        or not sys.platform.startswith(("linux", "darwin"))
    ):
        return
    _dir = os.environ[ENV_DIR]
    _open()
    _installed = True
    os.register_at_fork(after_in_child=_after_fork)
    todo = {}
    for name, patch in (
        ("multiprocessing.process", _patch_process),
        ("multiprocessing.connection", _patch_connection),
    ):
        module = sys.modules.get(name)
        if module is None:
            todo[name] = patch
        else:  # imported already (by a .pth file?)
            patch(module)
    if todo:
        sys.meta_path.insert(0, _Hook(todo))


_patched: "set[Any]" = set()


def _patch_exitcodes(popen: "Any") -> None:
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
    global _words
    try:
        _open()
    except OSError:
        _words = None
