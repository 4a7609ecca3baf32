"""Worker bodies, by name. Importable and picklable, so every start method can run them.

A :class:`Workload` says what one task costs a worker:

- ``cpu``: a pure-Python busy loop worth the task's seconds of one idle
  core's work (holds the GIL, so one worker fills at most one core; with
  more workers than cores each task takes longer, and the throughput stays
  what the cores can do);
- ``duty:PERCENT``: busy PERCENT% of every 100 ms period, idle the rest, so a
  worker shows about PERCENT% of one core;
- ``sleep``: waits like I/O for the task's seconds (near 0% CPU);
- ``memory:MB``: allocates and touches MB mebibytes once at start (RSS shows
  it), then waits like ``sleep``;
- ``threads:N``: N busy threads in one process (N - 1 burn forever, the main
  thread burns per task). The GIL lets one run at a time, so the process
  stays near 100%, not N x 100%;
- ``package.module:function``: the user's own code, called with no arguments
  once per task; its return value is the result sent back.

:func:`parse_workload` validates the text; :func:`make_body` builds the
per-task callable inside the worker.
"""

from __future__ import annotations

import importlib
import os
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

# How long a blocked get waits before it looks at the stop flag again, seconds.
POLL_SECONDS = 0.2
# Period of the duty-cycle workload, seconds.
DUTY_PERIOD = 0.1
PAGE = 4096
MIB = 1 << 20

KINDS = ("cpu", "duty", "sleep", "memory", "threads")
# Bounds of each parameter, inclusive: duty percent, memory MiB, thread count.
LIMITS = {"duty": (0, 100), "memory": (1, 1 << 20), "threads": (1, 1024)}
SYNTAX = "cpu, duty:PERCENT, sleep, memory:MB, threads:N or package.module:function"


@dataclass(frozen=True, slots=True)
class Workload:
    """A parsed workload: ``kind`` is one of :data:`KINDS` or ``custom``.

    ``amount`` is the duty percent, memory MiB or thread count (0 where the
    kind has none); ``target`` the ``package.module:function`` of a custom one.
    """

    kind: str
    amount: int = 0
    target: str = ""

    def __str__(self) -> str:
        if self.kind == "custom":
            return self.target
        return f"{self.kind}:{self.amount}" if self.kind in LIMITS else self.kind


def resolve_target(target: str) -> Callable[[], object]:
    """Import ``package.module:function`` and return the function.

    Raises ``ValueError`` with a one-line reason if the module cannot be
    imported, has no such attribute, or it is not callable.
    """
    module_name, _, func_name = target.partition(":")
    if not module_name or not func_name:
        raise ValueError(f"{target!r} is not of the form package.module:function")
    try:
        module = importlib.import_module(module_name)
    except Exception as err:  # ImportError, or whatever the module raises on import
        raise ValueError(f"cannot import {module_name!r}: {type(err).__name__}: {err}") from None
    func = getattr(module, func_name, None)
    if func is None:
        raise ValueError(f"module {module_name!r} has no attribute {func_name!r}")
    if not callable(func):
        raise ValueError(f"{target!r} is not callable")
    return func  # type: ignore[no-any-return]


def parse_workload(text: str, check_import: bool = True) -> Workload:
    """Parse ``cpu``, ``duty:30``, ``sleep``, ``memory:200``, ``threads:4`` or ``pkg.mod:func``.

    A custom target is imported here (``check_import``) so that a typo fails
    before any process starts. Raises ``ValueError`` with a one-line reason.
    """
    text = text.strip()
    kind, sep, arg = text.partition(":")
    if kind in ("cpu", "sleep"):
        if sep:
            raise ValueError(f"{kind} takes no parameter, got {text!r}")
        return Workload(kind)
    if kind in LIMITS:
        low, high = LIMITS[kind]
        if not sep or not arg:
            raise ValueError(
                f"{kind} needs a parameter, e.g. {kind}:{max(low, 1) * 10 if kind != 'threads' else 4}"
            )
        try:
            amount = int(arg)
        except ValueError:
            raise ValueError(f"{kind} parameter must be a whole number, got {arg!r}") from None
        if not low <= amount <= high:
            raise ValueError(f"{kind} parameter must be between {low} and {high}, got {amount}")
        return Workload(kind, amount)
    if sep and arg and all(part.isidentifier() for part in kind.split(".")):
        if check_import:
            resolve_target(text)
        return Workload("custom", target=text)
    raise ValueError(f"unknown workload {text!r} (choose from {SYNTAX})")


def burn_cpu(seconds: float) -> int:
    """Busy-loop in pure Python for ``seconds`` of wall time; returns the loop count."""
    deadline = time.perf_counter() + seconds
    n = 0
    while time.perf_counter() < deadline:
        for _ in range(1000):
            n += 1
    return n


def burn_work(loops: int) -> int:
    """Busy-loop in pure Python for a fixed amount of work: ``loops`` thousand-step loops.

    Unlike :func:`burn_cpu`, the work does not shrink when the core is
    shared: with more busy workers than cores, each task takes longer and
    the total throughput stays what the cores can do.
    """
    n = 0
    for _ in range(loops):
        for _ in range(1000):
            n += 1
    return n


def calibrate(seconds: float = 0.03, rounds: int = 4) -> float:
    """Thousand-step loops per second of one core in this interpreter.

    The best of ``rounds`` runs of :func:`burn_cpu` for ``seconds`` each (the
    best, because an interruption only ever makes a run slower). Run it while
    the cores are idle (mptop does, before starting workers).
    """
    best = 1.0
    for _ in range(rounds):
        t0 = time.perf_counter()
        loops = burn_cpu(seconds) / 1000
        best = max(best, loops / (time.perf_counter() - t0))
    return best


def idle(seconds: float) -> int:
    """Sleep ``seconds``, as an I/O-bound task would; returns 0."""
    time.sleep(seconds)
    return 0


def _burn_forever() -> None:
    while True:
        burn_cpu(1.0)


def make_body(
    workload: Workload, loops_per_second: float | None = None
) -> Callable[[float], object]:
    """Build, inside the worker, the callable that runs one task of ``seconds``.

    For ``cpu`` (and the main thread of ``threads``), a task is ``seconds`` of
    *one idle core's work*, converted with ``loops_per_second`` (from
    :func:`calibrate`, measured by mptop before any worker ran); without it,
    ``seconds`` of wall time. Does the workload's one-time set-up first:
    ``memory`` allocates and touches its pages, ``threads`` starts its N - 1
    busy threads, a custom target is imported (``ValueError`` if it cannot be).
    """
    kind = workload.kind

    def work(seconds: float) -> int:
        if loops_per_second is None:
            return burn_cpu(seconds)
        return burn_work(max(1, round(seconds * loops_per_second)))

    if kind == "cpu":
        return work
    if kind == "sleep":
        return idle
    if kind == "duty":
        busy = DUTY_PERIOD * workload.amount / 100

        def duty(_seconds: float) -> int:
            n = burn_cpu(busy) if busy > 0 else 0
            time.sleep(DUTY_PERIOD - busy)
            return n

        return duty
    if kind == "memory":
        block = bytearray(workload.amount * MIB)
        block[::PAGE] = b"\x01" * len(range(0, len(block), PAGE))  # touch every page

        def hold(seconds: float) -> int:
            time.sleep(seconds)
            return len(block)

        return hold
    if kind == "threads":
        for i in range(workload.amount - 1):
            threading.Thread(target=_burn_forever, name=f"busy-{i + 1}", daemon=True).start()
        return work
    if kind == "custom":
        func = resolve_target(workload.target)
        return lambda _seconds: func()
    raise ValueError(f"unknown workload kind {kind!r}")


class Task(NamedTuple):
    """One unit of work from mptop: ``seconds`` of the workload, plus ``payload`` bytes of data.

    A NamedTuple, not a dataclass: thousands cross the channels every second,
    and a tuple unpickles with one call of its ``__new__``, where a frozen
    slots dataclass runs its generated ``__setstate__`` (a Python loop over
    its fields) for every message.
    """

    seq: int
    seconds: float
    payload: bytes = b""


class Result(NamedTuple):
    """A worker's answer to :class:`Task` ``seq``: who did it, what the body returned.

    ``payload`` is the request's payload for an echo (Pipe), else empty. A
    NamedTuple for the same reason as :class:`Task`.
    """

    seq: int
    pid: int
    value: object
    payload: bytes = b""


def serve(role: Any, body: Callable[[float], object], stop: Any) -> None:
    """A worker's loop for its :class:`~mptop.workers.topology.Role` (inbox/outbox already bound).

    ``consume``: take a Task, run ``body``, put a Result; ``forward``: take a
    Task, run ``body``, pass the Task on (pipeline stage 1); ``echo``: the
    same over a Pipe, the Result carrying the request's payload back;
    ``spin``: run ``body`` over and over with no messages. Returns when
    ``stop`` (a :class:`~mptop.workers.flag.StopFlag`) is set, notices it within
    :data:`POLL_SECONDS` plus one task, or when a ``None`` message or EOF
    arrives.
    """
    pid = os.getpid()
    if role.kind == "spin":
        # 50 ms of work per check of the flag; a sleeping worker (no messages to wait
        # for) sleeps POLL_SECONDS instead: 1024 of them waking 20 times a second took
        # about a third of a core here, 5 times a second a quarter of that
        seconds = POLL_SECONDS if body is idle else 0.05
        while not stop.is_set():
            body(seconds)
        return
    inbox, outbox = role.inbox, role.outbox
    forward = role.kind == "forward"
    echo = role.kind == "echo"
    while not stop.is_set():
        try:
            task = inbox.get(timeout=POLL_SECONDS)
        except queue.Empty:
            continue
        except EOFError:
            return  # mptop closed the Pipe
        if task is None:
            return
        value = body(task.seconds)
        if forward:
            outbox.put(task)
        else:
            outbox.put(Result(task.seq, pid, value, task.payload if echo else b""))
