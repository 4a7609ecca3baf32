"""``mptop serve`` in a real browser: Debian's headless Chromium, driven by Playwright.

The page draws the terminal on a canvas, so its text is not in the DOM: the
test reads it by feeding the session websocket's binary frames (what
xterm.js draws) into a ``pyte`` screen of the page's own size. Every
request that is not for 127.0.0.1 is aborted and recorded, and the test
asserts there was none. ``.ci/run`` installs the ``chromium`` package;
``playwright install`` is never run (Playwright launches /usr/bin/chromium
through ``executable_path``).
"""

from __future__ import annotations

import json
import re
import shutil
import struct
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, urlsplit

import psutil
import pytest

from mptop.tui.web_server import QUIT_SECONDS
from tests.helpers import alive, kill_all, wait_for
from tests.served import Screen, Served, session_pids

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext, Page, Route, WebSocket

CHROMIUM = shutil.which("chromium")

pytestmark = [
    pytest.mark.timeout(120),
    pytest.mark.skipif(
        CHROMIUM is None, reason="chromium is not installed (.ci/run installs Debian's chromium)"
    ),
]

VIEWPORT = {"width": 1400, "height": 900}
"""Room for the whole table, the channels and the events (xterm fits about 155 x 42 cells)."""

CHROMIUM_ARGS = [
    # Playwright adds --headless itself (headless=True). It passes all of these but --disable-gpu
    # by default too (1.65); they are said here so the test does not depend on its defaults. The
    # container needs --no-sandbox, there is no GPU, and the network flags keep Chromium's own
    # connections (updates, sync, safe browsing...) off this machine's closed network.
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    # Not needed: --use-angle=swiftshader (and --enable-unsafe-swiftshader, which Playwright
    # passes anyway). textual.js loads xterm.js's WebGL addon and then its canvas addon, and
    # the canvas addon draws (2D canvases .xterm-text-layer etc., no WebGL); without either
    # flag the page draws the same.
]

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


class Tab:
    """A page's session websocket, its output fed into a ``pyte`` screen of the page's size.

    The screen takes the size in the websocket URL (``?width=W&height=H``, what
    xterm.js's fit proposed) and every ``["resize", {...}]`` the page sends
    after. Playwright's sync API calls these handlers only while the test is
    inside one of its calls, so :meth:`wait_text` waits with
    ``page.wait_for_timeout``, not ``time.sleep``.
    """

    def __init__(self, page: Page) -> None:
        self.page = page
        self.screen: Screen | None = None
        self.sockets = 0
        self.closed = False
        page.on("websocket", self._opened)

    def _opened(self, ws: WebSocket) -> None:
        self.sockets += 1
        query = parse_qs(urlsplit(ws.url).query)
        self.screen = Screen(int(query["width"][0]), int(query["height"][0]))
        ws.on("framereceived", self._received)
        ws.on("framesent", self._sent)
        ws.on("close", self._closed)

    def _received(self, payload: bytes | str) -> None:
        if isinstance(payload, bytes) and self.screen is not None:
            self.screen.feed(payload)

    def _sent(self, payload: bytes | str) -> None:
        if isinstance(payload, str) and self.screen is not None:
            message = json.loads(payload)
            if message[0] == "resize":
                self.screen.resize(int(message[1]["width"]), int(message[1]["height"]))

    def _closed(self, ws: WebSocket) -> None:
        self.closed = True

    def text(self) -> str:
        return "" if self.screen is None else self.screen.text()

    def wait(self, holds: Callable[[str], object], what: str, timeout: float = 30) -> str:
        """The screen's text once ``holds(text)``; AssertionError (showing the screen, saying
        ``what`` was awaited) if not within ``timeout`` s, or if the session closes first."""
        deadline = time.monotonic() + timeout
        while not holds(text := self.text()):
            if time.monotonic() > deadline or self.closed:
                why = "the session closed" if self.closed else f"not within {timeout} s"
                raise AssertionError(f"{what} ({why}):\n{text}")
            self.page.wait_for_timeout(50)
        return text

    def wait_text(self, *needles: str, timeout: float = 30) -> str:
        """The screen's text once it holds every one of ``needles`` (see :meth:`wait`)."""
        return self.wait(
            lambda text: all(needle in text for needle in needles),
            f"{needles!r} not all on the screen",
            timeout,
        )


def _profile_processes(profile: Path) -> list[int]:
    """Chromium processes running with the ``--user-data-dir`` ``profile``."""
    pids = []
    for proc in psutil.process_iter(["cmdline"]):
        if any(str(profile) in arg for arg in proc.info["cmdline"] or ()):
            pids.append(proc.pid)
    return pids


@dataclass
class Browser:
    """A headless Chromium's context, and the URLs it asked for that were not 127.0.0.1's."""

    context: BrowserContext
    foreign: list[str]


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Browser]:
    """Headless Chromium on a fresh profile, every request for a host other than 127.0.0.1
    aborted (and recorded); afterwards no process of that profile is left."""
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="the playwright package is not installed"
    )
    profile = tmp_path / "profile"
    foreign: list[str] = []

    def only_loopback(route: Route) -> None:
        url = route.request.url
        if urlsplit(url).hostname == "127.0.0.1":
            route.continue_()
        else:
            foreign.append(url)
            route.abort("blockedbyclient")

    with sync_api.sync_playwright() as playwright:
        context: BrowserContext = playwright.chromium.launch_persistent_context(
            profile,
            executable_path=CHROMIUM,
            headless=True,
            args=CHROMIUM_ARGS,
            viewport=VIEWPORT,
        )
        try:
            context.route("**/*", only_loopback)
            yield Browser(context, foreign)
        finally:
            context.close()
    try:
        wait_for(lambda: not _profile_processes(profile), timeout=10)
    finally:
        kill_all(_profile_processes(profile))


def _png_size(path: Path) -> tuple[int, int]:
    """Width and height from a PNG's IHDR (AssertionError if ``path`` is no PNG)."""
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE and data[12:16] == b"IHDR", f"{path} is not a PNG"
    width, height = struct.unpack(">II", data[16:24])
    return int(width), int(height)


def test_a_tab_adds_and_kills_workers_and_leaves_no_process(
    browser: Browser, tmp_path: Path
) -> None:
    """One tab of ``mptop serve -- -n 2 --workload sleep`` in Chromium.

    Asserts: the page uses the bundled Roboto Mono and draws the worker table
    (worker-1, worker-2, mptop's own row); ``a`` adds a row worker-3; ``k``
    SIGKILLs a worker with no question asked (mptop started it) — the events say
    ``sent SIGKILL to PID`` and ``PID exited with -9 (SIGKILL)``, its row says
    ``exited  -9 SIGKILL`` and that process is gone, the other two still run;
    a screenshot of the viewport is a PNG of its size and over 30 KB (the
    drawn table is 60-85 KB; a blank page is 6 KB, textual-serve's intro
    dialog 16 KB) and the page has had its first bytes and is not closed; the
    page asked no host but 127.0.0.1.
    Closing the tab ends its session's app and every worker within
    QUIT_SECONDS (the app quit by itself: the server sent no SIGTERM) while the
    server keeps running; stopping the server with SIGINT exits 0, nothing left.
    """
    served = Served("-n", "2", "--workload", "sleep")
    try:
        pages = browser.context.pages
        page = pages[0] if pages else browser.context.new_page()
        tab = Tab(page)
        errors: list[str] = []  # the page's console errors and failed requests
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on(
            "response",
            lambda r: errors.append(f"{r.status} {r.url}") if r.status >= 400 else None,
        )
        page.goto(served.url)

        text = tab.wait_text("worker-1", "worker-2", "mptop (this)", "Events")
        assert tab.sockets == 1
        assert page.evaluate(
            """() => [...document.fonts].some(
                   f => f.family.replace(/"/g, "") === "Roboto Mono" && f.status === "loaded")"""
        ), "the page did not load the bundled Roboto Mono"
        sessions = session_pids(served)
        assert len(sessions) == 1, f"one tab, apps running: {sessions}"
        served.note_descendants()

        page.focus(".xterm-helper-textarea")
        page.keyboard.press("a")
        text = tab.wait_text("worker-3")
        workers = {
            int(pid): name
            for pid, name in re.findall(r"^\s*(\d+)\s+\d+\s+(worker-\d+)\s", text, re.MULTILINE)
        }
        assert sorted(workers.values()) == ["worker-1", "worker-2", "worker-3"], text
        served.note_descendants()

        page.keyboard.press("k")
        text = tab.wait_text("exited with -9 (SIGKILL)")
        [killed] = (int(pid) for pid in re.findall(r"(\d+) exited with -9 \(SIGKILL\)", text))
        assert killed in workers, f"{killed} is not one of the workers {workers}:\n{text}"
        assert f"sent SIGKILL to {killed}" in text
        row = re.compile(rf"^\s*{killed}\s+\S+\s+{workers[killed]}\s+exited\s+-9 SIGKILL", re.M)
        text = tab.wait(row.search, f"the row of {killed} does not say exited -9 SIGKILL")
        assert not alive([killed])
        others = [pid for pid in workers if pid != killed]
        assert alive(others) == others, f"only {killed} was to die"
        assert "y: yes" not in text, "mptop asked before killing a worker it started"

        shot = tmp_path / "mptop-serve.png"
        page.screenshot(path=shot)
        assert _png_size(shot) == (VIEWPORT["width"], VIEWPORT["height"])
        assert shot.stat().st_size > 30_000, f"a near-blank screenshot: {shot.stat().st_size} B"
        assert errors == [], f"the page logged errors: {errors}"
        body = page.evaluate("() => document.body.className")
        assert "-first-byte" in body and "-closed" not in body, body

        noted = served.note_descendants()
        assert set(sessions) <= noted and set(others) <= noted, (sessions, others, noted)
        page.close()
        closed = time.monotonic()
        wait_for(lambda: not served.leftovers(), timeout=QUIT_SECONDS)
        gone_in = time.monotonic() - closed
        print(f"the session's app and workers were gone {gone_in:.2f} s after the tab closed")
        assert served.proc.poll() is None, "the server stopped with the tab"
        wait_for(lambda: any(f"session {sessions[0]} ended" in line for line in served.err_lines))
        # web_server.Session._stop's warnings: "no quit in 8 s, sent SIGTERM", "sent SIGKILL to its
        # process group"
        forced = [line for line in served.err_lines if "sent SIG" in line]
        assert not forced, f"the app did not quit by itself ({gone_in:.1f} s): {forced}"

        assert served.stop() == 0, served.err_lines
        assert not served.leftovers()
        assert browser.foreign == [], (
            f"the page asked hosts other than 127.0.0.1: {browser.foreign}"
        )
    finally:
        served.close()


def test_a_reload_at_the_session_cap_gets_a_new_session(browser: Browser) -> None:
    """``--sessions 1``, one tab, F5: the browser asks for the new page while the old one (and
    its session) still runs, so that request finds the server full. It gets a page that tries
    again, and once the old session has ended, a new session of its own: a new app, new
    workers, the old ones gone."""
    served = Served("-n", "1", "--workload", "sleep", serve_args=("--sessions", "1"))
    try:
        pages = browser.context.pages
        page = pages[0] if pages else browser.context.new_page()
        tab = Tab(page)
        page.goto(served.url)
        tab.wait_text("worker-1", "Events")
        [first] = session_pids(served)
        old = served.note_descendants()
        page.reload()
        tab.wait(lambda _: tab.sockets == 2, "no second websocket after the reload", 30)
        tab.wait_text("worker-1", "Events")
        [second] = session_pids(served)
        assert second != first
        assert not alive(old), f"the old session's processes run on: {alive(old)}"
        assert any(
            "refused GET / " in line and "sessions are open" in line for line in served.err_lines
        ), "the reload did not find the server full"
        served.note_descendants()
        assert served.stop() == 0, served.err_lines
        assert not served.leftovers()
    finally:
        served.close()
