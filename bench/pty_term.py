"""A program in a pseudo-terminal of a given size, its output read as it is written.

Used by ``python -m bench.ui keys``: a key press is timed from the moment its
bytes go into the terminal to the moment the program has written the answer
(the reader thread blocks in ``read``, so nothing polls and no extra process
competes for the CPU with the program measured). A terminal emulator such as
tmux would add its own parsing and redraw, and reading its screen needs a
client process per look.
"""

from __future__ import annotations

import codecs
import fcntl
import os
import re
import signal
import struct
import subprocess
import termios
import threading
import time


class PtyProgram:
    """``argv`` running in a new pseudo-terminal of ``cols`` x ``rows`` cells.

    Everything it writes is kept (as text, escape codes included) with the
    time it arrived; :meth:`wait_for` waits for a text written after a given
    moment. Use as a context manager: on exit the program gets ``quit_keys``,
    then SIGTERM after ``grace`` seconds, then SIGKILL.

    Raises:
        OSError: the program cannot be started.
    """

    def __init__(
        self,
        argv: list[str],
        cols: int,
        rows: int,
        env: dict[str, str] | None = None,
        quit_keys: bytes = b"q",
        grace: float = 20.0,
    ) -> None:
        self.quit_keys = quit_keys
        self.grace = grace
        master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        self._master = master
        self._chunks: list[tuple[float, str]] = []
        self._cond = threading.Condition()
        self._eof = False
        try:
            self.proc = subprocess.Popen(
                argv,
                stdin=slave,
                stdout=slave,
                stderr=slave,
                env=env,
                start_new_session=True,  # its own session, with this pty as controlling terminal
                preexec_fn=lambda: fcntl.ioctl(0, termios.TIOCSCTTY, 0),
                close_fds=True,
            )
        finally:
            os.close(slave)
        self._reader = threading.Thread(target=self._read, name="pty-reader", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        decode = codecs.getincrementaldecoder("utf-8")(errors="replace").decode
        while True:
            try:
                data = os.read(self._master, 65536)
            except OSError:  # EIO: the program and its children closed the terminal
                data = b""
            now = time.perf_counter()
            if not data:
                with self._cond:
                    self._eof = True
                    self._cond.notify_all()
                return
            text = decode(data)  # a character cut between two reads waits for its rest
            with self._cond:
                self._chunks.append((now, text))
                self._cond.notify_all()

    def press(self, keys: bytes) -> float:
        """Write ``keys`` into the terminal; returns the ``time.perf_counter()`` of the write."""
        t = time.perf_counter()
        os.write(self._master, keys)
        return t

    def wait_for(
        self, text: str, after: float, timeout: float, pattern: str | None = None
    ) -> float:
        """Seconds from ``after`` until output written after it contains ``text``.

        With ``pattern`` (a regular expression), the output must also match it
        from where ``text`` begins (in the last 200 characters written).

        Raises:
            TimeoutError: not seen within ``timeout`` seconds, or the program ended.
        """
        deadline = time.monotonic() + timeout
        seen, i = "", 0
        with self._cond:
            while True:
                for t, chunk in self._chunks[i:]:
                    i += 1
                    if t < after:
                        continue
                    keep = max(len(text), 200 if pattern else 0)
                    seen = seen[-keep:] + chunk  # enough to catch a text cut in two
                    if text in seen and (
                        pattern is None or re.search(pattern, seen[seen.rfind(text) :])
                    ):
                        return t - after
                left = deadline - time.monotonic()
                if left <= 0 or self._eof:
                    raise TimeoutError(f"{text!r} not written within {timeout:g} s")
                self._cond.wait(left)

    def __enter__(self) -> PtyProgram:
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            if self.proc.poll() is None:
                os.write(self._master, self.quit_keys)
            self.proc.wait(self.grace)
        except (OSError, subprocess.TimeoutExpired):
            for sig, wait in ((signal.SIGTERM, self.grace), (signal.SIGKILL, 5.0)):
                if self.proc.poll() is not None:
                    break
                self.proc.send_signal(sig)
                try:
                    self.proc.wait(wait)
                except subprocess.TimeoutExpired:
                    continue
        finally:
            self._reader.join(timeout=5)
            os.close(self._master)
