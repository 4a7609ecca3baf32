"""A real ``mptop serve`` process for tests, and a terminal screen fed by its websocket frames.

:class:`Served` starts ``mptop serve`` on a free loopback port and reads the
URL it prints; :class:`Screen` is a ``pyte`` terminal that the binary frames
of a session (what xterm.js would draw) are fed into, so a test asserts on
the text a browser shows. :func:`connect` opens a session with aiohttp, as
the page's JavaScript does (``/ws/TOKEN?width=W&height=H``, JSON text frames
``["stdin", keys]``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import queue
import signal
import socket
import subprocess
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field

import aiohttp
import psutil
import pyte

from tests.helpers import alive, kill_all
from tests.terminal import descendants, mptop_cmd


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Served:
    """``mptop serve [serve_args] -- [mptop_args]`` on a free port; :meth:`close` leaves nothing.

    ``url`` is the first URL it printed (with ``?token=`` unless ``--no-token``).
    Every PID seen below it (:meth:`note_descendants`) is checked gone by
    :meth:`leftovers`, also those reparented away from it.
    """

    def __init__(self, *mptop_args: str, serve_args: Iterable[str] = (), timeout: float = 20):
        self.port = free_port()
        cmd = mptop_cmd("serve", "--port", str(self.port), *serve_args, "--", *mptop_args)
        self.proc = subprocess.Popen(
            cmd,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        self.out: queue.Queue[str] = queue.Queue()
        self.err_lines: list[str] = []
        self.seen: set[int] = set()
        threading.Thread(target=self._pump, args=(self.proc.stdout, self.out), daemon=True).start()
        threading.Thread(target=self._collect, daemon=True).start()
        self.url = self._read_url(timeout)
        self.token = self.url.partition("token=")[2] or None

    @staticmethod
    def _pump(stream: object, into: queue.Queue[str]) -> None:
        for line in stream:  # type: ignore[attr-defined]
            into.put(line)
        into.put("")

    def _collect(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.err_lines.append(line)

    def _read_url(self, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self.out.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                self.close()
                raise AssertionError(f"mptop serve printed no URL in {timeout} s") from None
            if not line:
                self.close()
                raise AssertionError(f"mptop serve exited: {''.join(self.err_lines)}")
            if line.strip().startswith("http://"):
                return line.strip()

    def ws_url(self, token: str | None = None, width: int = 120, height: int = 40) -> str:
        """The websocket a page for ``token`` (default: the right one) opens."""
        tok = self.token if token is None else token
        return f"ws://127.0.0.1:{self.port}/ws/{tok or '-'}?width={width}&height={height}"

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def note_descendants(self) -> set[int]:
        """Every process below the server now (also kept for :meth:`leftovers`)."""
        now = descendants(self.proc.pid)
        self.seen |= now
        return now

    def leftovers(self) -> list[int]:
        """Processes seen below the server that still run."""
        return alive(self.seen | descendants(self.proc.pid))

    def stop(self, sig: int = signal.SIGINT, timeout: float = 20) -> int:
        """Send ``sig`` to the server; its exit status (AssertionError if it outlives ``timeout``)."""
        self.note_descendants()
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"mptop serve still ran {timeout} s after {sig}") from None

    def close(self) -> None:
        """Test clean-up: stop the server and SIGKILL whatever is left."""
        if self.proc.poll() is None:
            with contextlib.suppress(AssertionError):
                self.stop(timeout=15)
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)
        kill_all(self.leftovers())


@dataclass
class Screen:
    """A ``pyte`` terminal of ``cols`` x ``rows`` fed with a session's output bytes."""

    cols: int = 120
    rows: int = 40
    screen: pyte.Screen = field(init=False)
    stream: pyte.ByteStream = field(init=False)
    received: int = 0

    def __post_init__(self) -> None:
        self.screen = pyte.Screen(self.cols, self.rows)
        self.stream = pyte.ByteStream(self.screen)

    def feed(self, data: bytes) -> None:
        self.received += len(data)
        self.stream.feed(data)

    def resize(self, cols: int, rows: int) -> None:
        """Take the size the page asked for (its ``["resize", ...]`` message); the app redraws."""
        self.cols, self.rows = cols, rows
        self.screen.resize(lines=rows, columns=cols)

    def text(self) -> str:
        """The screen's text, a line per row."""
        return "\n".join(line.rstrip() for line in self.screen.display)


class Client:
    """One session as the page's JavaScript drives it."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse, screen: Screen) -> None:
        self.ws = ws
        self.screen = screen
        self.closed = asyncio.Event()

    async def pump(self) -> None:
        async for message in self.ws:
            if message.type == aiohttp.WSMsgType.BINARY:
                self.screen.feed(message.data)
        self.closed.set()

    async def press(self, keys: str) -> None:
        await self.ws.send_str(json.dumps(["stdin", keys]))

    async def wait_until(self, condition: Callable[[], bool], timeout: float = 20) -> None:
        """Poll ``condition`` while the frames keep coming in (a blocking wait would stop them);
        AssertionError (with the screen) if it does not hold within ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                raise AssertionError(f"not within {timeout} s:\n{self.screen.text()}")
            await asyncio.sleep(0.05)

    async def wait_text(self, needle: str, timeout: float = 20) -> str:
        """The screen's text once it contains ``needle``; AssertionError (with the screen) if not."""
        deadline = time.monotonic() + timeout
        while needle not in (text := self.screen.text()):
            if time.monotonic() > deadline or self.closed.is_set():
                raise AssertionError(f"{needle!r} not on the screen within {timeout} s:\n{text}")
            await asyncio.sleep(0.05)
        return text


@contextlib.asynccontextmanager
async def connect(
    served: Served,
    *,
    token: str | None = None,
    origin: str | None = "",
    cols: int = 120,
    rows: int = 40,
) -> AsyncIterator[Client]:
    """A session on ``served`` (``origin=""``: the server's own Origin; None: no Origin header).
    Raises ``aiohttp.WSServerHandshakeError`` if the server refuses it."""
    headers = {} if origin is None else {"Origin": origin or served.origin}
    async with (
        aiohttp.ClientSession() as http,
        http.ws_connect(served.ws_url(token, cols, rows), headers=headers) as ws,
    ):
        client = Client(ws, Screen(cols, rows))
        task = asyncio.create_task(client.pump())
        try:
            yield client
        finally:
            await ws.close()
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


def session_pids(served: Served) -> list[int]:
    """PIDs of the apps the server runs now (its direct children)."""
    try:
        return [p.pid for p in psutil.Process(served.proc.pid).children()]
    except psutil.NoSuchProcess:
        return []
