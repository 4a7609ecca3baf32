"""QuietLinuxDriver on a real pseudo-terminal: it reads keys, times out a lone Esc, and sleeps."""

from __future__ import annotations

import os
import pty
import signal
import sys
import threading
import time
import tty
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any, cast

import pytest
from textual import constants, events
from textual.drivers.linux_driver import LinuxDriver
from textual.message import Message

from mptop.tui.app import MptopApp
from mptop.tui.driver import QuietLinuxDriver

pytestmark = [
    pytest.mark.timeout(30),
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/task"),
]


class RecordingDriver(QuietLinuxDriver):
    """Keeps what the input thread would post to the app."""

    def __init__(self) -> None:
        super().__init__(cast(Any, object()))
        self.posted: list[Message] = []

    def process_message(self, message: Message) -> None:
        self.posted.append(message)

    def keys(self) -> list[str]:
        return [m.key for m in self.posted if isinstance(m, events.Key)]


def wait_for(condition: Callable[[], object], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(0.01)


def wakeups(native_id: int) -> int:
    """Voluntary context switches of one thread so far: one per wake-up from a blocking wait."""
    status = Path(f"/proc/self/task/{native_id}/status").read_text()
    line = next(x for x in status.splitlines() if x.startswith("voluntary_ctxt_switches"))
    return int(line.split()[1])


class Typing:
    """A driver reading the slave side of a raw pty, its input thread, and the master fd."""

    def __init__(self) -> None:
        self.master, self.slave = pty.openpty()
        tty.setraw(self.slave)
        self.driver = RecordingDriver()
        self.driver.fileno = self.slave
        self.thread = threading.Thread(target=self.driver.run_input_thread, daemon=True)
        self.thread.start()

    def type(self, data: bytes) -> None:
        os.write(self.master, data)

    def wait_until_idle(self, timeout: float = 10.0) -> None:
        """Wait for a 1 s window in which the input thread woke at most once."""
        tid = cast(int, self.thread.native_id)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            before = wakeups(tid)
            time.sleep(1.0)
            if wakeups(tid) - before <= 1:
                return
        raise AssertionError("the input thread kept waking while no key was pending")


@pytest.fixture
async def typing() -> AsyncIterator[Typing]:
    # Textual's Driver keeps the running event loop, hence an async fixture.
    handlers = signal.getsignal(signal.SIGTSTP), signal.getsignal(signal.SIGCONT)
    t = Typing()
    try:
        yield t
    finally:
        t.driver.exit_event.set()
        t.thread.join(timeout=5)
        t.driver.close()
        os.close(t.master)
        os.close(t.slave)
        signal.signal(signal.SIGTSTP, handlers[0])
        signal.signal(signal.SIGCONT, handlers[1])
    assert not t.thread.is_alive(), "the input thread did not stop after exit_event was set"


async def test_reads_keys_and_times_out_a_lone_escape_after_sleeping(typing: Typing) -> None:
    typing.type(b"q")
    wait_for(lambda: typing.driver.keys() == ["q"])
    # Textual's own driver wakes 10 times a second, so it never gets past this.
    typing.wait_until_idle()
    # A lone Esc is told from an escape sequence only by a timeout: the thread must tick
    # again after waking from its idle block.
    typing.type(b"\x1b")
    wait_for(lambda: typing.driver.keys() == ["q", "escape"])


async def test_a_character_split_across_reads_is_read_whole(typing: Typing) -> None:
    tid = cast(int, typing.thread.native_id)
    before = wakeups(tid)
    typing.type("é".encode()[:1])
    wait_for(lambda: wakeups(tid) > before)  # it woke for the first byte, alone
    typing.type("é".encode()[1:] + b"q")
    wait_for(lambda: typing.driver.keys() == ["é", "q"])


async def test_exit_event_wakes_an_idle_thread_at_once(typing: Typing) -> None:
    typing.wait_until_idle()
    started = time.monotonic()
    typing.driver.exit_event.set()
    typing.thread.join(timeout=5)
    assert not typing.thread.is_alive()
    assert time.monotonic() - started < 1.0


def test_mptop_swaps_only_textuals_own_linux_driver(monkeypatch: pytest.MonkeyPatch) -> None:
    app = MptopApp.__new__(MptopApp)
    monkeypatch.setattr(constants, "DRIVER", None)
    assert app.get_driver_class() is QuietLinuxDriver
    monkeypatch.setattr(constants, "DRIVER", "textual.drivers.linux_driver:LinuxDriver")
    assert app.get_driver_class() is LinuxDriver
