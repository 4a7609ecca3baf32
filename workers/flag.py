"""The stop flag mptop shares with every worker: one byte in shared memory, read without a lock."""

from __future__ import annotations

import ctypes
from multiprocessing.context import BaseContext
from typing import Any


class StopFlag:
    """A one-way "finish now" flag: mptop sets it once, every worker reads it per task.

    Why not ``multiprocessing.Event``: its ``is_set()`` takes a lock shared by
    all processes (``Event`` is a ``Condition`` over a ``SemLock``, see
    CPython ``Lib/multiprocessing/synchronize.py``). A worker killed with
    SIGKILL or SIGTERM, or suspended with SIGSTOP, while inside ``is_set()``
    keeps that lock forever, and every other worker's next ``is_set()`` then
    blocks: one ``k`` could freeze all workers and make quitting wait for
    SIGKILL. This flag is a ``RawValue`` (one ``c_bool`` in a shared mmap): the
    only writer is mptop, readers only load the byte, so no lock is needed and
    no process can hold one.

    Pickles into a child only while it starts (``Process`` arguments), like
    any ``multiprocessing.sharedctypes`` object.
    """

    def __init__(self, ctx: BaseContext) -> None:
        self._value: Any = ctx.RawValue(ctypes.c_bool, False)

    def set(self) -> None:
        """Ask every worker to finish its task and return."""
        self._value.value = True

    def is_set(self) -> bool:
        """True once :meth:`set` was called, in any process that shares the flag."""
        return bool(self._value.value)
