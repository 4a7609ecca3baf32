"""``mptop serve`` on real processes: sessions, the token, the Origin, the cap, fd 1, cleanup.

Each test starts a real ``mptop serve`` (tests/served.py) and talks to it as
the page's JavaScript does, over aiohttp; the screen is read by feeding the
session's frames into a terminal emulator (pyte). The test in a real
browser is tests/test_browser.py.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import aiohttp
import pytest

from tests.helpers import alive, busy_port, wait_for
from tests.served import Served, connect, free_port, session_pids
from tests.terminal import mptop_cmd

pytestmark = pytest.mark.timeout(90)

SLEEPERS = ("-n", "2", "--workload", "sleep", "--interval", "0.5")
MakeServed = Callable[..., Served]


def get(url: str, headers: dict[str, str] | None = None) -> tuple[int, str]:
    """Status and body of a GET (an HTTP error's too)."""
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as r:
            return int(r.status), r.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


@pytest.fixture
def served() -> Iterator[MakeServed]:
    """Start ``mptop serve`` processes; afterwards stop them and assert nothing is left."""
    made: list[Served] = []

    def make(*args: str, serve_args: tuple[str, ...] = ()) -> Served:
        s = Served(*args, serve_args=serve_args)
        made.append(s)
        return s

    yield make
    for s in made:
        s.close()
        assert not s.leftovers(), f"left behind: {s.leftovers()}"


async def test_a_tab_gets_its_own_run_keys_act_on_it_and_closing_it_leaves_nothing(
    served: MakeServed,
) -> None:
    s = served(*SLEEPERS)
    async with connect(s) as tab:
        await tab.wait_text("worker-2")
        apps = session_pids(s)
        assert len(apps) == 1
        below = s.note_descendants()
        assert len(below) >= 3  # the app, its forkserver, two workers
        await tab.press("a")
        await tab.wait_text("worker-3")
        async with connect(s) as other:  # a second tab: a second app, with its own two workers
            text = await other.wait_text("worker-2")
            assert "worker-3" not in text
            assert len(session_pids(s)) == 2
            s.note_descendants()
    # both tabs closed: their apps quit and stopped their workers, the server stays
    wait_for(lambda: not s.leftovers(), timeout=15, interval=0.1)
    assert s.proc.poll() is None
    assert any("session" in line and "ended" in line for line in s.err_lines)


async def test_no_token_a_wrong_one_a_foreign_origin_and_a_foreign_host_are_refused(
    served: MakeServed,
) -> None:
    s = served(*SLEEPERS)
    base = f"http://127.0.0.1:{s.port}"
    assert get(f"{base}/?token={s.token}")[0] == 200
    status, body = get(f"{base}/")
    assert status == 403 and "no token" in body
    assert get(f"{base}/?token=wrong-token")[0] == 403
    # DNS rebinding: a page of evil.example resolved to 127.0.0.1, even with the token
    assert get(f"{base}/?token={s.token}", {"Host": f"evil.example:{s.port}"})[0] == 403
    for token, origin, why in (
        ("-", "", "no token"),
        ("wrong-token", "", "a wrong token"),
        (None, "http://evil.example", "Origin"),
        (None, "null", "Origin"),
    ):
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            async with connect(s, token=token, origin=origin):
                pass
        assert refused.value.status == 403, why
        assert any(why in line for line in s.err_lines), (why, s.err_lines)
    assert session_pids(s) == []  # none of them started an app
    # the page's own Origin with the token is a session
    async with connect(s) as tab:
        await tab.wait_text("worker-1")


def test_a_non_loopback_address_without_a_token_is_refused_before_anything_listens() -> None:
    port = free_port()
    done = subprocess.run(
        mptop_cmd("serve", "--host", "0.0.0.0", "--port", str(port), "--no-token"),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "not a loopback address" in done.stderr
    assert "Traceback" not in done.stderr
    # on loopback --no-token is allowed (this machine's users only)
    s = Served(*SLEEPERS, serve_args=("--no-token",))
    try:
        assert s.token is None
        assert get(f"http://127.0.0.1:{s.port}/")[0] == 200
    finally:
        s.close()


async def test_sessions_past_the_cap_are_refused(served: MakeServed) -> None:
    s = served(*SLEEPERS, serve_args=("--sessions", "1"))
    async with connect(s) as tab:
        await tab.wait_text("worker-1")
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            async with connect(s):
                pass
        assert refused.value.status == 503
        status, body = get(f"http://127.0.0.1:{s.port}/?token={s.token}")
        assert status == 503 and "--sessions" in body
        assert len(session_pids(s)) == 1
    # the tab closed (as on a reload): the next one waits while the old session ends, not 503
    async with connect(s) as tab:
        await tab.wait_text("worker-1")


@pytest.mark.parametrize("start_method", ["forkserver", "spawn"])
async def test_what_workers_and_the_app_write_to_fd_1_never_reaches_the_session(
    served: MakeServed, start_method: str
) -> None:
    """tests/shouty.py writes to fd 1 when imported (by the served app itself, while it checks
    its arguments, and by each spawn child before its output is redirected) and in every task
    (print, os.write(1), an exec'd child's echo). None of it may reach the wire: the screen
    keeps drawing, keys still work, and no SHOUT shows."""
    s = served(
        "-n", "2", "--workload", "tests.shouty:shout", "--start-method", start_method,
        "--interval", "0.5",
    )  # fmt: skip
    async with connect(s) as tab:
        await tab.wait_text("worker-2")
        before = tab.screen.received
        await tab.press("a")
        text = await tab.wait_text("worker-3")
        # tasks keep running (each one shouts three times); the session keeps drawing
        await tab.wait_until(lambda: tab.screen.received > before + 20_000, timeout=20)
        await asyncio.sleep(0)
        assert "SHOUT" not in tab.screen.text()
        assert "SHOUT" not in text
        s.note_descendants()
    wait_for(lambda: not s.leftovers(), timeout=15, interval=0.1)
    # what reached the served app's fd 1 went to its stderr: the server's console, at the end
    assert not any("Unknown meta type" in line for line in s.err_lines)


async def test_a_program_under_run_that_prints_does_not_break_its_session(
    served: MakeServed, tmp_path: Path
) -> None:
    program = (
        "import multiprocessing as mp, time\n"
        "def f(x):\n"
        "    print('SHOUT', x, flush=True)\n"
        "    return x\n"
        "if __name__ == '__main__':\n"
        "    print('SHOUT from main', flush=True)\n"
        "    with mp.Pool(2) as pool:\n"
        "        while True:\n"
        "            pool.map(f, range(50))\n"
        "            time.sleep(0.05)\n"
    )
    prog = tmp_path / "prog.py"
    prog.write_text(program)
    s = served("run", "--", sys.executable, str(prog))
    async with connect(s) as tab:
        await tab.wait_text("ForkPoolWorker-2")
        text = await tab.wait_text("Pool result queue")
        s.note_descendants()
        assert "SHOUT" not in tab.screen.text() and "SHOUT" not in text
    wait_for(lambda: not s.leftovers(), timeout=15, interval=0.1)


async def test_quit_in_a_served_run_does_not_offer_to_leave_the_program_running(
    served: MakeServed, tmp_path: Path
) -> None:
    """In a terminal, q on a running program asks: terminate, leave running, stay. A served
    tab must leave nothing behind when it ends, so there is no leave: l does nothing, t ends
    the program and the session."""
    prog = tmp_path / "sleepy.py"
    prog.write_text(
        "import multiprocessing as mp, time\n"
        "if __name__ == '__main__':\n"
        "    p = mp.Process(target=time.sleep, args=(600,)); p.start(); p.join()\n"
    )
    s = served("run", "--", sys.executable, str(prog))
    async with connect(s) as tab:
        await tab.wait_text("Process-1")
        descendants = s.note_descendants()
        await tab.press("q")
        text = await tab.wait_text("What should happen")
        assert "leaves nothing running" in text and "l: leave" not in text
        await tab.press("l")
        await tab.press("n")  # stay: the dialog goes, the program still runs
        await tab.wait_text("Process-1")
        await tab.wait_until(lambda: "What should happen" not in tab.screen.text(), timeout=10)
        assert not tab.closed.is_set() and set(alive(descendants)) == descendants
        await tab.press("q")
        await tab.wait_text("What should happen")
        await tab.press("t")
        await asyncio.wait_for(tab.closed.wait(), 15)
    wait_for(lambda: not s.leftovers(), timeout=15, interval=0.1)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
async def test_stopping_the_server_ends_every_session_and_leaves_nothing(
    served: MakeServed, sig: signal.Signals
) -> None:
    s = served(*SLEEPERS)
    async with connect(s) as one, connect(s) as two:
        await one.wait_text("worker-2")
        await two.wait_text("worker-2")
        apps = session_pids(s)
        assert len(apps) == 2
        s.note_descendants()
        status = await asyncio.to_thread(s.stop, sig, 20)
        assert status == 0
        await asyncio.wait_for(one.closed.wait(), 10)
    assert not alive(apps)
    wait_for(lambda: not s.leftovers(), timeout=10, interval=0.1)


async def test_a_server_killed_with_sigkill_leaves_no_session_behind(served: MakeServed) -> None:
    """The apps see EOF on their input and quit (ServedDriver), stopping their workers."""
    s = served(*SLEEPERS)
    async with connect(s) as tab:
        await tab.wait_text("worker-2")
        s.note_descendants()
        s.proc.kill()
        s.proc.wait(10)
        await asyncio.wait_for(tab.closed.wait(), 10)
    wait_for(lambda: not s.leftovers(), timeout=15, interval=0.1)


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--port", "0"], "--port: must be 1 to 65535"),
        (["--sessions", "0"], "--sessions: must be 1 to 64"),
        (["--token", "short"], "--token: must be 8 or more"),
        (["--token", "abcdefgh", "--no-token"], "conflicts with --no-token"),
        (["--", "--headless", "--output", "x.jsonl"], "--headless"),
        (["--", "--headless"], "browser as its screen"),  # not "needs --output"
        (["--", "--metrics", "127.0.0.1:1"], "--metrics"),
        (["--", "replay", "/nonexistent/run.jsonl"], "/nonexistent/run.jsonl: no such file"),
        (["--", "serve"], "cannot serve itself"),
        (["--", "--list-scenarios"], "--list-scenarios"),
        (["--", "-n", "0"], "-n/--workers"),
        (["--", "run", "--", "no-such-command-here"], "no such command"),
        (["--bogus"], "mptop serve: error: unrecognized argument: --bogus"),
    ],
)
def test_bad_input_is_one_line_and_exit_2_with_nothing_started(args: list[str], says: str) -> None:
    done = subprocess.run(mptop_cmd("serve", *args), capture_output=True, text=True, timeout=30)
    assert done.returncode == 2, done.stderr
    assert done.stderr.count("\n") == 1 and says in done.stderr, done.stderr
    assert "Traceback" not in done.stderr and done.stdout == ""


def test_a_port_in_use_is_one_line_and_exit_2() -> None:
    with busy_port() as port:
        done = subprocess.run(
            mptop_cmd("serve", "--port", str(port)), capture_output=True, text=True, timeout=30
        )
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "cannot listen on 127.0.0.1:" in done.stderr


def test_a_wildcard_address_prints_the_urls_other_machines_can_use() -> None:
    """--host 0.0.0.0 listens on every address: the URLs name this machine, the address its
    default route leaves from (what another machine on the network uses) and 127.0.0.1."""
    import socket

    from mptop.tui.serve_cli import ServeOptions, outward_address, urls

    shown = urls(ServeOptions("0.0.0.0", 8123, "t0ken-abc", 4, False, ()))
    outward = outward_address()
    hosts = [socket.gethostname(), *([outward] if outward else []), "127.0.0.1"]
    assert shown == [f"http://{h}:8123/?token=t0ken-abc" for h in hosts]
    if outward is not None:  # an address of this machine's own: something can listen on it
        with socket.create_server((outward, 0)):
            pass
