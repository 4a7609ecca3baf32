"""Shared test helpers: condition polling with deadlines, and process clean-up checks."""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

import psutil

T = TypeVar("T")


def wait_for(condition: Callable[[], T], timeout: float = 10.0, interval: float = 0.02) -> T:
    """Poll ``condition`` until it returns something truthy; return it. Raises AssertionError on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s: {condition}")
        time.sleep(interval)


def alive(pids: Iterable[int]) -> list[int]:
    """The PIDs among ``pids`` that still run (zombies count as gone)."""
    out = []
    for pid in pids:
        try:
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                out.append(pid)
        except psutil.NoSuchProcess:
            pass
    return out


def kill_all(pids: Iterable[int]) -> None:
    """SIGKILL whatever is left of ``pids`` (test clean-up only)."""
    for pid in pids:
        with contextlib.suppress(psutil.Error):
            psutil.Process(pid).kill()


async def until(
    pilot: Any, condition: Callable[[], object], timeout: float = 10.0, step: float = 0.02
) -> None:
    """Let a Textual app (under ``pilot``) run until ``condition()`` is truthy; AssertionError after
    ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        await pilot.pause(step)


def reap_recorded(snapshots: Iterable[Any]) -> None:
    """Wait (5 s at most) until every worker PID of recorded ``snapshots`` is gone; SIGKILL the rest."""
    pids = {w.pid for s in snapshots for w in s.workers}
    try:
        wait_for(lambda: not alive(pids), timeout=5)
    finally:
        kill_all(pids)


@contextlib.contextmanager
def busy_port() -> Iterator[int]:
    """A port of 127.0.0.1 that something listens on while the ``with`` block runs."""
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        yield int(held.getsockname()[1])
