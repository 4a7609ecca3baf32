"""The web server of ``mptop serve``: textual-serve's, with a token, an Origin check and bounds.

textual-serve (``textual_serve/server.py``, 1.1.x) serves a page that runs
xterm.js, and for each websocket starts the app as a child whose stdin and
stdout carry the session. As shipped it has no authentication, its
websocket takes any Origin (so any page the user visits could open one to
localhost and press ``k``), it never kills the apps it starts, and its page
loads a font from fonts.googleapis.com. Here:

- every request for the page and the websocket carries the token
  (``/?token=T``, ``/ws/T``), compared in constant time; the static files
  (textual-serve's own JavaScript, CSS and fonts) need none;
- a websocket whose ``Origin`` is not this server's own is refused (a
  browser always sends one; a client that sends none still needs the token);
- on a loopback bind, a request whose ``Host`` is not a loopback name is
  refused, so a DNS-rebinding page cannot reach it even before the token;
- at most ``max_sessions`` apps run at once; one more waits for room while a session
  ends, up to :data:`ROOM_SECONDS`, and gets 503 if none comes; the page's 503 retries
  every :data:`RETRY_SECONDS` (a reload asks for its new page while its old session still
  runs: that one ends once the 503 has replaced the page);
- each app runs in a session of its own (``start_new_session``); closing its
  tab or stopping the server asks it to quit (its bounded quit stops its
  workers), then SIGTERM after :data:`QUIT_SECONDS`, SIGKILL to its process
  group after :data:`TERM_SECONDS` more;
- the page is mptop's copy of textual-serve's template, with the bundled
  font (``tui/templates/serve_index.html``); no download route.

Written against textual-serve 1.1.x (it overrides ``Server._make_app``,
``handle_index``, ``handle_websocket``, ``AppService._open_app_process`` and
``AppService.run``, whose relay of the app's stderr keeps all of it in memory);
pyproject pins ``textual-serve<2``.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import hmac
import html
import logging
import os
import shlex
import signal
import sys
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp_jinja2
import jinja2
from aiohttp import WSCloseCode, web
from aiohttp.web_runner import GracefulExit
from textual_serve.app_service import AppService
from textual_serve.server import Server, to_int

from mptop.workers.printable import printable

log = logging.getLogger("mptop.serve")

QUIT_SECONDS = 8.0
"""Seconds an app gets to quit by itself (it stops its workers first; mptop's quit is bounded:
1.3-4.8 s with 256 workers, docs/PERFORMANCE.md) before it gets SIGTERM."""

TERM_SECONDS = 2.0
"""Seconds after SIGTERM before SIGKILL goes to the app's whole process group."""

ROOM_SECONDS = QUIT_SECONDS + TERM_SECONDS + 1.0
"""Seconds a request past the cap waits for room while some session is ending (its stop is
bounded by QUIT_SECONDS + TERM_SECONDS); with none ending it waits :data:`CLOSE_SECONDS`."""

CLOSE_SECONDS = 1.0
"""Seconds a request past the cap waits with no session ending: a reloaded tab's new page can
arrive before its old websocket's close does."""

DRIVER = "mptop.tui.served_driver:ServedDriver"
"""``TEXTUAL_DRIVER`` of a served app (:mod:`mptop.tui.served_driver`)."""

RETRY_SECONDS = 2
"""Seconds after which the page refused for want of room asks again (a reloaded tab's old
session ends in the meantime)."""

STDERR_LINES = 200
"""Lines of an app's stderr (and of its fd 1, a copy of it) kept for the console when its
session ends: the last ones (textual-serve keeps all of it, in memory, for the session's life)."""

LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})
"""``Host`` names a loopback bind answers (plus the --host given)."""

TEMPLATES = Path(__file__).resolve().parent / "templates"


async def _ended(process: asyncio.subprocess.Process, seconds: float) -> bool:
    """Whether ``process`` ended within ``seconds``."""
    try:
        await asyncio.wait_for(process.wait(), seconds)
    except TimeoutError:
        return False
    return True


class Session(AppService):
    """One tab's mptop: ``python -m mptop.tui.served ARGS`` in a session (process group) of its own.

    :meth:`stop` is bounded, unlike textual-serve's: quit, then SIGTERM after
    :data:`QUIT_SECONDS`, then SIGKILL to the group after :data:`TERM_SECONDS`.
    """

    def __init__(
        self,
        argv: Sequence[str],
        *,
        write_bytes: Callable[[bytes], Awaitable[None]],
        write_str: Callable[[str], Awaitable[None]],
        close: Callable[[], Awaitable[Any]],
        server: Server,
    ) -> None:
        self.argv = tuple(argv)
        super().__init__(
            shlex.join(["mptop", *self.argv]),
            write_bytes=write_bytes,
            write_str=write_str,
            close=close,
            download_manager=server.download_manager,
        )
        self._stopping: asyncio.Task[None] | None = None

    @property
    def pid(self) -> int | None:
        """The app's PID once started, else None."""
        return None if self._process is None else self._process.pid

    def _build_environment(self, width: int = 80, height: int = 24) -> dict[str, str]:
        environment = super()._build_environment(width, height)
        environment["TEXTUAL_DRIVER"] = DRIVER
        return environment

    async def _open_app_process(self, width: int = 80, height: int = 24) -> Any:
        self._process = process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "mptop.tui.served",
            *self.argv,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=self._build_environment(width=width, height=height),
            start_new_session=True,  # its group is its PID: the last resort kills them all
        )
        assert process.stdin is not None
        self._stdin = process.stdin
        return process

    async def run(self) -> None:
        """Relay the app's frames to its tab until the app's stdout ends, as textual-serve's
        ``AppService.run`` does; its stderr, bounded (the last :data:`STDERR_LINES` lines), goes
        to the server's stderr when it ends, each line prefixed ``session PID|``."""
        process = self._process
        assert process is not None and process.stdout is not None and process.stderr is not None
        stdout, stderr = process.stdout, process.stderr
        said: collections.deque[bytes] = collections.deque(maxlen=STDERR_LINES)

        async def read_stderr() -> None:
            with contextlib.suppress(ValueError):  # a line longer than the stream's limit
                async for line in stderr:
                    said.append(line)

        reader = asyncio.create_task(read_stderr())
        try:
            for _ in range(10):  # textual-serve's check that it is a Textual app
                line = await stdout.readline()
                if not line or line == b"__GANGLION__\n":
                    break
            handlers = {b"D": self.on_data, b"M": self.on_meta, b"P": self.on_packed}
            while True:
                kind = await stdout.readexactly(1)
                size = int.from_bytes(await stdout.readexactly(4), "big")
                payload = await stdout.readexactly(size)
                if (handler := handlers.get(kind)) is not None:
                    await handler(payload)
        except (asyncio.IncompleteReadError, ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(reader), 1.0)  # the rest, at its EOF
            reader.cancel()
            text = b"".join(said).decode("utf-8", "replace").rstrip("\n")
            if text:
                lines = [f"session {process.pid}| {printable(line)}" for line in text.split("\n")]
                with contextlib.suppress(OSError):
                    print("\n".join(lines), file=sys.stderr, flush=True)

    @property
    def stopping(self) -> bool:
        """Whether :meth:`stop` has been called (the app may still be ending)."""
        return self._stopping is not None

    async def stop(self) -> None:
        """End the app within QUIT_SECONDS + TERM_SECONDS (+ a second for SIGKILL); idempotent."""
        if self._stopping is None:
            self._stopping = asyncio.ensure_future(self._stop())
        await asyncio.shield(self._stopping)

    async def _stop(self) -> None:
        process = self._process
        if process is not None and process.returncode is None:
            await self.send_meta({"type": "quit"})
            if not await _ended(process, QUIT_SECONDS):
                log.warning(
                    "session %s: no quit in %.0f s, sent SIGTERM", process.pid, QUIT_SECONDS
                )
                with contextlib.suppress(ProcessLookupError):
                    process.send_signal(signal.SIGTERM)
                if not await _ended(process, TERM_SECONDS):
                    log.warning("session %s: sent SIGKILL to its process group", process.pid)
                    with contextlib.suppress(ProcessLookupError, PermissionError):
                        os.killpg(process.pid, signal.SIGKILL)
                    await _ended(process, 1.0)
        if self._task is not None:
            try:
                await asyncio.wait_for(self._task, 1.0)  # the reader ends at the pipe's EOF
            except TimeoutError:
                self._task.cancel()
            self._task = None


class MptopServer(Server):
    """textual-serve's ``Server`` for ``mptop ARGS``, with the checks in the module docstring.

    Args:
        argv: mptop's arguments for each tab (already checked by ``mptop serve``).
        host, port: the address to listen on.
        token: the token every page and websocket request must carry; None only on a
            loopback bind (``--no-token``).
        max_sessions: apps running at once, at least 1.
        loopback: whether ``host`` is a loopback address (turns on the Host check).
        on_ready: called with the server's URLs once it listens.
    """

    def __init__(
        self,
        argv: Sequence[str],
        *,
        host: str,
        port: int,
        token: str | None,
        max_sessions: int,
        loopback: bool,
        on_ready: Callable[[], None] = lambda: None,
    ) -> None:
        super().__init__(
            shlex.join(["mptop", *argv]),
            host=host,
            port=port,
            title=shlex.join(["mptop", *argv]),
            templates_path=TEMPLATES,
        )
        self.argv = tuple(argv)
        self.token = token
        self.max_sessions = max_sessions
        self.loopback = loopback
        self.on_ready = on_ready
        self.sessions: dict[Session, web.WebSocketResponse] = {}
        self._starting = 0  # websockets past the checks, not yet sessions
        self._allowed_hosts = LOOPBACK_NAMES | {host.strip("[]").lower()}

    # -- checks -------------------------------------------------------------------------

    def _refusal(self, request: web.Request, token: str | None) -> str:
        """Why ``request`` is refused ("" if it is not): a foreign Host, a missing or wrong token."""
        host = (request.url.host or "").strip("[]").lower()
        if self.loopback and host not in self._allowed_hosts:
            return f"Host {request.host!r} is not this loopback server's"
        if self.token is not None and not hmac.compare_digest(
            (token or "").encode(), self.token.encode()
        ):
            return "no token" if not token else "a wrong token"
        return ""

    def _refuse(self, request: web.Request, status: int, why: str) -> web.Response:
        peer = request.remote or "?"
        path = "/ws/…" if request.path.startswith("/ws/") else request.path  # not the token
        log.warning("refused %s %s from %s: %s", request.method, path, peer, why)
        hint = (
            " (open the URL mptop serve printed, with its ?token=)"
            if why in ("no token", "a wrong token")
            else ""
        )
        return web.Response(status=status, text=f"mptop serve: refused: {why}{hint}\n")

    def _full(self) -> str:
        if len(self.sessions) + self._starting >= self.max_sessions:
            return (
                f"{self.max_sessions} sessions are open, the most --sessions allows; "
                "close a tab and reload"
            )
        return ""

    async def _room(self) -> str:
        """Why one more session does not fit, or an empty string once it does: waits while
        sessions are ending (up to ROOM_SECONDS), or CLOSE_SECONDS when none is."""
        loop = asyncio.get_running_loop()
        start = loop.time()
        while why := self._full():
            ending = any(session.stopping for session in self.sessions)
            wait = ROOM_SECONDS if ending else CLOSE_SECONDS
            if loop.time() - start >= wait:
                return why
            await asyncio.sleep(0.05)
        return ""

    # -- routes -------------------------------------------------------------------------

    async def _make_app(self) -> web.Application:
        app = web.Application(middlewares=[_headers])
        aiohttp_jinja2.setup(app, loader=jinja2.FileSystemLoader(self.templates_path))
        app.add_routes(
            [
                web.get("/", self.handle_index, name="index"),
                web.get("/ws/{token}", self.handle_websocket, name="websocket"),
                web.static("/static", self.statics_path, name="static"),
            ]
        )
        app.on_startup.append(self.on_startup)
        app.on_shutdown.append(self.on_shutdown)
        return app

    async def handle_index(self, request: web.Request) -> web.StreamResponse:
        """The page, for a request with the token; 403 without, 503 when full."""
        token = request.query.get("token")
        if why := self._refusal(request, token):
            return self._refuse(request, 403, why)
        if why := await self._room():
            # A reload asks for the new page before its old one (and session) goes, so it
            # lands here while full: this page retries until the old session has ended.
            text = self._refuse(request, 503, why).text or ""
            return web.Response(
                status=503,
                content_type="text/html",
                text=(
                    f'<!doctype html><meta http-equiv="refresh" content="{RETRY_SECONDS}">'
                    f"<title>mptop serve: full</title><pre>{html.escape(text)}"
                    f"This page tries again every {RETRY_SECONDS} s.</pre>"
                ),
            )
        scheme = "wss" if request.secure else "ws"
        base = f"{request.scheme}://{request.host}"
        context = {
            "font_size": to_int(request.query.get("fontsize", "16"), 16),
            "app_websocket_url": f"{scheme}://{request.host}/ws/{token or '-'}",
            "config": {"static": {"url": f"{base}/static/"}},
            "application": {"name": self.title},
        }
        response = aiohttp_jinja2.render_template("serve_index.html", request, context)
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["Content-Security-Policy"] = "frame-ancestors 'none'"
        return response

    async def handle_websocket(self, request: web.Request) -> web.WebSocketResponse:
        """A tab's session: refused (403/503) before the upgrade unless token, Origin and room
        allow it; then the app runs until the tab closes, the app quits, or the server stops."""
        token = request.match_info["token"]
        why = self._refusal(request, None if token == "-" else token)
        origin = request.headers.get("Origin")
        if not why and origin is not None:
            parts = urlsplit(origin)
            if (
                parts.scheme not in ("http", "https")
                or parts.netloc.lower() != request.host.lower()
            ):
                why = f"Origin {origin!r} is not this server's"
        if why:
            raise self._refusal_error(request, 403, why)
        if why := await self._room():
            raise self._refusal_error(request, 503, why)
        websocket = web.WebSocketResponse(heartbeat=15)
        self._starting += 1  # the slot is taken before the next await: no two take the last
        try:
            await websocket.prepare(request)
        finally:
            self._starting -= 1
        session = Session(
            self.argv,
            write_bytes=websocket.send_bytes,
            write_str=websocket.send_str,
            close=websocket.close,
            server=self,
        )
        self.sessions[session] = websocket
        try:
            await session.start(
                to_int(request.query.get("width", "80"), 80),
                to_int(request.query.get("height", "24"), 24),
            )
            log.info("session %s started (%d open)", session.pid, len(self.sessions))
            await self._process_messages(websocket, session)
        except (asyncio.CancelledError, ConnectionError):
            pass
        finally:
            await session.stop()
            self.sessions.pop(session, None)
            log.info("session %s ended (%d open)", session.pid, len(self.sessions))
            with contextlib.suppress(Exception):
                await websocket.close()
        return websocket

    def _refusal_error(self, request: web.Request, status: int, why: str) -> web.HTTPException:
        response = self._refuse(request, status, why)
        error = web.HTTPForbidden if status == 403 else web.HTTPServiceUnavailable
        return error(text=response.text)

    # -- life -----------------------------------------------------------------------------

    async def on_startup(self, app: web.Application) -> None:
        """Nothing: textual-serve prints its logo here, before the socket listens."""

    async def on_shutdown(self, app: web.Application) -> None:
        """Stop every session at once (each bounded), then close their websockets."""
        sessions = list(self.sessions.items())
        await asyncio.gather(*(session.stop() for session, _ in sessions))
        for _, websocket in sessions:
            with contextlib.suppress(Exception):
                await websocket.close(code=WSCloseCode.GOING_AWAY, message=b"mptop serve stopped")

    def initialize_logging(self) -> None:
        """One plain line per event on stderr: ``mptop serve: ...``."""
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("mptop serve: %(message)s"))
        for name in ("mptop.serve", "textual-serve"):
            logger = logging.getLogger(name)
            logger.handlers[:] = [handler]
            logger.setLevel(logging.INFO)
            logger.propagate = False

    def serve(self, debug: bool = False) -> None:
        """Listen until SIGINT, SIGTERM or SIGHUP; then stop every session (bounded) and return.

        Raises ``OSError`` if the address cannot be bound.
        """
        self.initialize_logging()
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            loop.add_signal_handler(sig, self.request_exit)
        web.run_app(
            self._make_app(),
            host=self.host,
            port=self.port,
            handle_signals=False,
            loop=loop,
            # run_app calls print once, after every site listens: the moment to say where
            print=lambda *_: self.on_ready(),
            access_log=None,
            shutdown_timeout=QUIT_SECONDS + TERM_SECONDS + 2,
        )

    def request_exit(self) -> None:
        """Stop serving (a signal's handler)."""
        raise GracefulExit()


@web.middleware
async def _headers(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """No referrer (the token is in the URL), no sniffing, no caching of the page."""
    response = await handler(request)
    if response.prepared:  # a websocket: its headers are sent
        return response
    response.headers.setdefault("Referrer-Policy", "no-referrer")
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    if not request.path.startswith("/static/"):
        response.headers.setdefault("Cache-Control", "no-store")
    return response
