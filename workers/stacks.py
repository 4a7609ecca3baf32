"""What each thread of a process runs now: its Python stack, asked with a signal, read from a file.

How (no py-spy, no ptrace): at start the process registers the standard
library's :func:`faulthandler.register` for :data:`STACK_SIGNAL` (SIGRTMIN+6) with
``all_threads=True``, writing to a file of its own opened with ``O_APPEND``
(:func:`register`). To read its stacks, mptop notes the file's size, sends
the signal, and reads what was appended once it stops growing
(:func:`dump`). faulthandler writes from its C signal handler, so this works
while the process runs Python code, holds the GIL or sleeps in a call; it
costs the process nothing until asked and about a millisecond when asked.
Its limits, from faulthandler's own: at most 100 threads and 100 frames per
thread; no local variables; a thread inside a C call shows its last Python
frame; a process that is stopped (SIGSTOP) answers only once resumed.

faulthandler prints, per thread, most recent call first::

    Thread 0x00007f1c2a5fe640 (most recent call first):
      File "/x/prog.py", line 12 in work
    Current thread 0x00007f1c2b9f1740 (most recent call first):
      File "/x/prog.py", line 30 in main
"""

from __future__ import annotations

import faulthandler
import os
import re
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

# The signal that asks for the stacks: a real-time one, which programs almost never handle
# themselves (SIGRTMIN+6 = 40 on Linux; glibc keeps the first two for its threads), else
# SIGUSR2. The probe of ``mptop run`` (workers/inject/_mptop_probe.py) computes the same.
STACK_SIGNAL: int = int(signal.SIGRTMIN) + 6 if hasattr(signal, "SIGRTMIN") else int(signal.SIGUSR2)
# How long a dump may take to appear, and how long the file must stop growing, seconds.
DUMP_TIMEOUT = 2.0
SETTLE = 0.03

_THREAD = re.compile(r"^(Current thread|Thread) (0x[0-9a-fA-F]+) \(most recent call first\):")
_FRAME = re.compile(r'^\s+File "(.*)", line (\d+) in (.*)$')


@dataclass(frozen=True, slots=True)
class Frame:
    """One frame of a stack: its file, line and function (faulthandler's ``File "f", line N in g``)."""

    file: str
    line: int
    function: str


@dataclass(frozen=True, slots=True)
class ThreadStack:
    """One thread: ``ident`` as ``threading.get_ident()`` prints in hex; ``frames`` most recent first.

    ``current``: the thread that ran the signal handler (the main thread, as Python
    runs handlers there).
    """

    ident: str
    current: bool
    frames: tuple[Frame, ...]


@dataclass(frozen=True, slots=True)
class StackDump:
    """Every thread's stack of process ``pid`` at ``time`` (``time.time()``), and how it was read."""

    pid: int
    time: float
    threads: tuple[ThreadStack, ...]
    how: str = "faulthandler, on a signal"


def register(path: Path | str) -> None:
    """In the process to be watched: dump every thread's stack to ``path`` on :data:`STACK_SIGNAL`.

    The file is opened for appending and stays open for the life of the process
    (faulthandler writes to the descriptor from its signal handler). Raises
    ``OSError`` if it cannot be opened.
    """
    fd = os.open(str(path), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    faulthandler.register(STACK_SIGNAL, file=fd, all_threads=True, chain=False)


def parse(text: str) -> tuple[ThreadStack, ...]:
    """faulthandler's text -> threads, in the order it printed them (lines it adds are skipped)."""
    threads: list[ThreadStack] = []
    frames: list[Frame] = []
    head: tuple[str, bool] | None = None
    for line in text.splitlines():
        m = _THREAD.match(line)
        if m:
            if head is not None:
                threads.append(ThreadStack(head[0], head[1], tuple(frames)))
            head, frames = (m.group(2), m.group(1) == "Current thread"), []
            continue
        f = _FRAME.match(line)
        if f and head is not None:
            frames.append(Frame(f.group(1), int(f.group(2)), f.group(3)))
    if head is not None:
        threads.append(ThreadStack(head[0], head[1], tuple(frames)))
    return tuple(threads)


def dump(
    pid: int, path: Path, send: Callable[[int], object], timeout: float = DUMP_TIMEOUT
) -> StackDump:
    """Ask process ``pid`` for its stacks: ``send(STACK_SIGNAL)`` then read what ``path`` gained.

    ``send`` is a callable that signals the process (identity-checked by the
    caller, e.g. ``psutil.Process.send_signal``). Raises ``TimeoutError`` if
    nothing was written within ``timeout`` seconds (the process is stopped, or
    did not register), ``OSError`` if the file cannot be read.
    """
    start = path.stat().st_size if path.exists() else 0
    send(STACK_SIGNAL)
    deadline = time.monotonic() + timeout
    size, stable_since = start, time.monotonic()
    while True:
        now_size = path.stat().st_size if path.exists() else 0
        now = time.monotonic()
        if now_size != size:
            size, stable_since = now_size, now
        elif size > start and now - stable_since >= SETTLE:
            break
        if now > deadline:
            raise TimeoutError(f"no stacks from {pid} within {timeout:g} s")
        time.sleep(0.005)
    with path.open("rb") as f:
        f.seek(start)
        text = f.read(size - start).decode("utf-8", "replace")
    return StackDump(pid, time.time(), parse(text))
