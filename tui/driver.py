"""``QuietLinuxDriver``: Textual's Linux driver, with an input thread that sleeps while idle.

Textual's ``LinuxDriver`` reads keys on a thread that calls ``select`` with a
0.1 s timeout forever: 10 wake-ups a second, whether a key is pending or not.
The timeout has two jobs: it times out a lone Esc (the parser has to wait to
tell Esc from the start of an escape sequence), and it lets the thread see
``exit_event``. Measured here (``python -m bench.ui cpu``, per-thread CPU
times from psutil), that thread was 0.10-0.17% of a core, a tenth of mptop's
whole CPU use at a 1 s refresh.

This driver keeps the same reading and parsing, and changes only when the
thread wakes:

- while input arrived within the last :data:`GRACE` seconds, it ticks every
  :data:`TICK` seconds, as Textual does, so a lone Esc is still delivered;
- after that it blocks until input arrives or ``exit_event`` is set, which
  writes a byte to a wake pipe (store, then wake).

It is used only where Textual would pick ``LinuxDriver`` itself (see
:meth:`mptop.tui.app.MptopApp.get_driver_class`); ``TEXTUAL_DRIVER`` and the
headless driver of tests are left alone. Written against Textual 8.x
(``LinuxDriver.run_input_thread``); pyproject pins ``textual<9``.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import threading
import time
from codecs import getincrementaldecoder
from typing import TYPE_CHECKING, Any

from textual._parser import ParseError
from textual._xterm_parser import XTermParser
from textual.drivers.linux_driver import LinuxDriver

if TYPE_CHECKING:
    from textual.app import App

TICK = 0.1
"""Seconds between parser ticks while input is recent (Textual's own select timeout)."""

GRACE = 0.5
"""Seconds after the last input during which the thread keeps ticking.

Textual's longest parser timeout (a lone Esc) is 0.1 s, so 0.5 s covers it
with room for a late wake-up on a loaded machine.
"""


class _WakingEvent(threading.Event):
    """A ``threading.Event`` whose :meth:`set` also writes a byte to ``fd``.

    ``fd`` is the write end of a non-blocking pipe; a full pipe means the
    reader has a wake-up pending already, and a closed one means nobody waits.
    """

    def __init__(self, fd: int) -> None:
        super().__init__()
        self._fd: int | None = fd

    def set(self) -> None:
        """Set the flag, then wake the input thread."""
        super().set()
        fd = self._fd
        if fd is not None:
            with contextlib.suppress(OSError):
                os.write(fd, b"!")

    def detach(self) -> None:
        """Stop writing to the pipe (call before closing it: its number could be reused)."""
        self._fd = None


class QuietLinuxDriver(LinuxDriver):
    """``LinuxDriver`` whose input thread makes no wake-ups while no key is pending.

    Opens one pipe (two file descriptors, close-on-exec), closed by
    :meth:`close`. Everything else is Textual's driver unchanged.
    """

    def __init__(
        self,
        app: App[Any],
        *,
        debug: bool = False,
        mouse: bool = True,
        size: tuple[int, int] | None = None,
    ) -> None:
        super().__init__(app, debug=debug, mouse=mouse, size=size)
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)
        self._waker = _WakingEvent(self._wake_w)
        self.exit_event = self._waker

    def run_input_thread(self) -> None:
        """Read the terminal and post its events until ``exit_event`` is set.

        The same steps as ``LinuxDriver.run_input_thread`` (read up to 4 KiB,
        decode UTF-8 incrementally, feed the XTerm parser, tick it), with the
        wake-ups described in the module docstring. At end of input (stdin
        is not a terminal and was closed) it stops watching stdin rather than
        spinning on it.
        """
        selector = selectors.SelectSelector()
        tty = self.fileno
        selector.register(tty, selectors.EVENT_READ)
        selector.register(self._wake_r, selectors.EVENT_READ)
        parser = XTermParser(self._debug)
        decode = getincrementaldecoder("utf-8")().decode
        last_input = float("-inf")
        try:
            while not self.exit_event.is_set():
                recent = time.monotonic() - last_input < GRACE
                for key, _mask in selector.select(TICK if recent else None):
                    if key.fd == self._wake_r:
                        _drain(self._wake_r)
                        continue
                    data = os.read(tty, 4096)
                    if not data:  # end of input (the decoder alone may hold half a character)
                        selector.unregister(tty)
                        continue
                    last_input = time.monotonic()
                    text = decode(data)
                    if text:
                        for event in parser.feed(text):
                            self.process_message(event)
                for event in parser.tick():
                    self.process_message(event)
        finally:
            selector.close()
            try:
                for _event in parser.feed(""):
                    pass
            except (EOFError, ParseError):
                pass

    def close(self) -> None:
        """Textual's cleanup, then close the wake pipe."""
        super().close()
        self._waker.detach()
        for fd in (self._wake_r, self._wake_w):
            with contextlib.suppress(OSError):
                os.close(fd)


def _drain(fd: int) -> None:
    """Read a non-blocking pipe until it is empty (the bytes carry no data)."""
    try:
        while os.read(fd, 512):
            pass
    except BlockingIOError:
        pass
