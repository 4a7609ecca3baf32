"""`mptop run --headless` on the real example programs: every process, every message, the exit status.

On fork, forkserver and spawn, and on every CPython 3.9-3.13 found (a
missing one is skipped with the reason). What is counted: one message per
``Connection._send_bytes`` / ``_recv_bytes`` call, its bytes the pickled
payload without the 4-byte frame header; so sent = received on every channel
the program drained, and the counts equal what the program itself counted.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from mptop.workers.record import Recording, read_recording
from tests.helpers import reap_recorded, wait_for
from tests.terminal import mptop_cmd
from tests.test_cpython import python_or_skip

if TYPE_CHECKING:
    from mptop.workers.run_source import RunSource
    from mptop.workers.snapshot import Snapshot

pytestmark = pytest.mark.timeout(90)

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
VERSIONS = ["3.9", "3.10", "3.11", "3.12", "3.13"]


def run(
    tmp_path: Path, python: str, example: str, *args: str, flags: tuple[str, ...] = ()
) -> tuple[subprocess.CompletedProcess[str], Recording]:
    """``mptop run --headless`` on ``python [flags] examples/EXAMPLE --items 40 [args]``."""
    out = tmp_path / "run.jsonl"
    cmd = mptop_cmd(
        "run",
        "--interval",
        "0.5",
        "--headless",
        "-o",
        str(out),
        "--",
        python,
        *flags,
        str(EXAMPLES / example),
        "--items",
        "40",
        *args,
    )
    done = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=80)
    rec = read_recording(out)
    reap_recorded(rec.snapshots)
    return done, rec


def printed(done: subprocess.CompletedProcess[str], what: str) -> dict[str, int]:
    return {
        line.split()[1]: int(line.split()[2])
        for line in done.stdout.splitlines()
        if line.startswith(what) and len(line.split()) == 3
    }


def run_collecting(argv: list[str], log_cap: int | None = None) -> tuple[RunSource, list[Snapshot]]:
    """A RunSource of ``argv`` (0.2 s ticks; ``log_cap``: its output file's cap, bytes), started;
    and the list its snapshots go into, each armed again as it comes. The caller closes it."""
    from mptop.workers.run_source import RunSource

    source = RunSource(argv, interval=0.2)
    if log_cap is not None:
        source.log_cap = log_cap
    seen: list[Snapshot] = []

    def deliver(snap: Snapshot) -> None:
        seen.append(snap)
        source.arm()

    source.start(deliver, print)
    return source, seen


def pids_printed(done: subprocess.CompletedProcess[str]) -> set[int]:
    return set(parents_printed(done))


def parents_printed(done: subprocess.CompletedProcess[str]) -> dict[int, int]:
    """PID -> PPID of each ``PROC <pid> <name> parent <ppid>`` line the program printed."""
    lines = (line.split() for line in done.stdout.splitlines() if line.startswith("PROC"))
    return {int(f[1]): int(f[-1]) for f in lines}


@pytest.mark.parametrize("method", ["fork", "forkserver", "spawn"])
@pytest.mark.parametrize("version", VERSIONS)
def test_producer_consumer_every_process_and_message(
    tmp_path: Path, version: str, method: str
) -> None:
    exe = python_or_skip(version)
    done, rec = run(tmp_path, str(exe), "producer_consumer.py", "--start-method", method)
    assert done.returncode == 0, done.stderr
    last = rec.snapshots[-1]
    seen = {w.pid: w for s in rec.snapshots for w in s.workers}
    assert pids_printed(done) <= set(seen)
    # PPID as the process itself saw it: the main process under fork and spawn, the forkserver
    # (psutil's, or the probe's as each process saw it at start if it ended between ticks)
    assert {pid: seen[pid].ppid for pid in parents_printed(done)} == parents_printed(done)
    names = {w.name for w in seen.values()}
    assert {"producer-1", "producer-2", "consumer-1", "consumer-2"} <= names
    assert {w.start_method for w in seen.values() if w.name.startswith("consumer")} == {method}
    assert all(w.exitcode == 0 for w in last.workers if w.name.startswith(("producer", "consumer")))
    counted = printed(done, "COUNT")
    tasks, results = sorted(last.channels, key=lambda c: c.name)  # made in that order, one line
    assert tasks.sent == tasks.received == counted["tasks"] + counted["sentinels"]
    assert results.sent == results.received == counted["results"]
    assert tasks.sent_bytes == tasks.received_bytes > 40 * 64  # each item pickles its payload
    assert tasks.name.startswith("producer_consumer.py:") and tasks.kind == "Queue"


@pytest.mark.parametrize(
    ("example", "labels"),
    [
        ("pipe_echo.py", {"Pipe": 80, "Pipe (one-way)": 1}),
        ("pool_map.py", {"Pool task queue": None, "Pool result queue": None}),
        ("process_pool.py", {"executor call queue": None, "executor result queue": None}),
    ],
)
def test_pipes_pool_and_executor_channels_are_labelled(
    tmp_path: Path, example: str, labels: dict[str, int | None]
) -> None:
    done, rec = run(tmp_path, sys.executable, example)
    assert done.returncode == 0, done.stderr
    channels = {c.kind: c for c in rec.snapshots[-1].channels}
    for kind, messages in labels.items():
        assert kind in channels, sorted(channels)
        c = channels[kind]
        assert c.sent > 0 and c.received > 0
        if messages is not None:
            assert c.sent == c.received == messages
    assert pids_printed(done) <= {w.pid for s in rec.snapshots for w in s.workers}


@pytest.mark.parametrize("example", ["pool_map.py", "process_pool.py"])
@pytest.mark.parametrize("version", VERSIONS)
def test_pool_and_executor_workers_count_their_tasks(
    tmp_path: Path, version: str, example: str
) -> None:
    exe = python_or_skip(version)
    done, rec = run(tmp_path, str(exe), example)
    assert done.returncode == 0, done.stderr
    by_pid = {int(pid): n for pid, n in printed(done, "TASKS").items()}  # the program's own tally
    last = {w.pid: w for w in rec.snapshots[-1].workers}
    counted = {pid: w.tasks_done for pid, w in last.items() if w.tasks_done is not None}
    # every worker that did a task, and none other (the main process takes no task)
    assert {pid: counted.get(pid, 0) for pid in set(by_pid) | set(counted)} == {
        pid: by_pid.get(pid, 0) for pid in set(by_pid) | set(counted)
    }
    assert sum(counted.values()) == printed(done, "COUNT")["tasks"] == 40


@pytest.mark.parametrize("code", [0, 3])
def test_the_exit_status_passes_through(tmp_path: Path, code: int) -> None:
    done, rec = run(tmp_path, sys.executable, "pipe_echo.py", "--exit", str(code))
    assert done.returncode == code, done.stderr
    assert "DONE" in done.stdout  # the program's own output passes through headless
    root = rec.snapshots[-1].workers[0]
    assert root.name == "pipe_echo.py" and root.exitcode == code


def test_python_dash_i_gives_the_uncounted_view(tmp_path: Path) -> None:
    # without the probe the tree is only seen at the ticks: the child must live through one
    # (and past the 2 s mptop waits for a probe file, so that its I/O is read for a while)
    done, rec = run(tmp_path, sys.executable, "pipe_echo.py", "--slow", "0.08", flags=("-I",))
    assert done.returncode == 0, done.stderr
    assert all(not s.channels for s in rec.snapshots)
    events = [e.text for s in rec.snapshots for e in s.events]
    assert "channels not counted: the program runs with -I or -E, which ignore PYTHONPATH" in events
    assert pids_printed(done) <= {w.pid for s in rec.snapshots for w in s.workers}
    # no messages/s, but each process's bytes/s of all its I/O (/proc/PID/io): the echo's
    # pipe carries 40 x 64 B each way
    samples = [w for s in rec.snapshots for w in s.workers if w.alive]
    assert all(w.msgs_in_per_s is None and w.msgs_out_per_s is None for w in samples)
    assert any((w.bytes_in_per_s or 0) > 64 and (w.bytes_out_per_s or 0) > 64 for w in samples)


def test_bad_commands_are_one_line_and_exit_2(tmp_path: Path) -> None:
    (tmp_path / "prog.py").write_text("print(1)\n")  # a script that is not executable
    for args, text in (
        (["--", "./prog.py"], "./prog.py: not executable (run it as: mptop run -- python"),
        ([], "give the program to run after --"),
        (["--", "no-such-program-here"], "no-such-program-here: no such command"),
        (["--interval", "0", "--", "true"], "--interval: must be between 0.1 and 10 seconds"),
        (["--output", "x.jsonl", "--", "true"], "--output: only with --headless"),
    ):
        done = subprocess.run(
            mptop_cmd("run", *args), cwd=tmp_path, capture_output=True, text=True, timeout=30
        )
        assert done.returncode == 2, (args, done.stderr)
        assert done.stderr.count("\n") == 1 and text in done.stderr, done.stderr


async def test_in_the_app_k_on_a_consumer_shows_minus_9_and_q_leaves_nothing() -> None:
    from textual.widgets import Log

    from mptop.tui.app import MptopApp
    from mptop.tui.screens.output import OutputScreen
    from mptop.tui.widgets.workers_table import WorkerTable
    from mptop.workers.run_source import RunSource
    from tests.helpers import alive, until

    source = RunSource(
        [
            sys.executable,
            str(EXAMPLES / "producer_consumer.py"),
            "--items",
            "5000",
            "--slow",
            "0.02",
        ],
        interval=0.3,
    )
    app = MptopApp(source)
    seen: set[int] = set()
    try:
        async with app.run_test(size=(130, 40)) as pilot:
            table = app.query_one(WorkerTable)

            def consumer() -> int | None:
                for pid in table.order:
                    w = table.sample(pid)
                    if w is not None and w.name == "consumer-1" and w.alive:
                        return pid
                return None

            await until(pilot, consumer, timeout=20)
            pid = consumer()
            assert pid is not None
            seen |= set(table.order)
            assert app.check_action("add", ()) is None  # greyed: mptop does not own the code
            table.select_pid(pid)
            await pilot.press("k")
            await until(pilot, lambda: table.texts(pid)["exit"].strip() == "-9 SIGKILL", timeout=10)
            seen |= set(table.order)
            await pilot.press("o")  # the program's output, as it goes on
            screen = app.screen
            assert isinstance(screen, OutputScreen)

            def shown() -> str:
                return "\n".join("\n".join(log.lines) for log in screen.query(Log))

            await until(pilot, lambda: f"PROC {pid} consumer-1" in shown(), timeout=10)
            await pilot.press("escape")
            await pilot.press("q", "t")  # q asks: terminate the program
            await until(pilot, lambda: not app.is_running, timeout=10)
        assert app.closed is not None and app.closed.status is not None
        assert alive(seen) == []  # (zombies count as gone)
    finally:
        source.close()


@pytest.mark.parametrize("how", ["SIGKILL", "SIGTERM"])
def test_the_program_ends_within_3_s_when_mptop_is_killed(tmp_path: Path, how: str) -> None:
    import os
    import signal
    import time

    import psutil

    from tests.helpers import alive, kill_all, wait_for

    out = tmp_path / "run.jsonl"
    cmd = mptop_cmd(
        "run",
        "--headless",
        "-o",
        str(out),
        "--",
        sys.executable,
        str(EXAMPLES / "producer_consumer.py"),
        "--items",
        "5000",
        "--slow",
        "0.02",
    )
    mptop = subprocess.Popen(cmd, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    tree: set[int] = set()
    try:

        def started() -> bool:
            tree.update(p.pid for p in psutil.Process(mptop.pid).children(recursive=True))
            return len(tree) >= 6  # the program's 5 processes and mptop's guard

        wait_for(started, timeout=20)
        os.kill(mptop.pid, getattr(signal, how))
        mptop.wait(10)
        t0 = time.monotonic()
        try:
            wait_for(lambda: not alive(tree), timeout=3)
        except AssertionError:
            left = [" ".join(psutil.Process(p).cmdline())[:90] for p in alive(tree)]
            raise AssertionError(f"left after 3 s: {left}") from None
        assert time.monotonic() - t0 < 3
    finally:
        if mptop.poll() is None:
            mptop.kill()
        kill_all(tree)


@pytest.mark.parametrize("choice", ["escape", "t", "l"])
async def test_q_asks_about_a_running_program(choice: str) -> None:
    import signal as signals

    import psutil

    from mptop.tui.app import MptopApp
    from mptop.tui.screens.quit import QuitScreen
    from mptop.tui.widgets.workers_table import WorkerTable
    from mptop.workers.run_source import RunSource
    from tests.helpers import alive, kill_all, until

    source = RunSource(
        [sys.executable, str(EXAMPLES / "pipe_echo.py"), "--items", "5000", "--slow", "0.01"],
        interval=0.3,
    )
    app = MptopApp(source)
    pids: list[int] = []
    try:
        async with app.run_test(size=(120, 40)) as pilot:
            table = app.query_one(WorkerTable)
            await until(pilot, lambda: len(table.order) == 2, timeout=20)
            pids = list(table.order)
            await pilot.press("q")
            await until(pilot, lambda: isinstance(app.screen, QuitScreen))
            await pilot.press(choice)
            if choice == "escape":  # stay: the program runs on and mptop too
                await until(pilot, lambda: not isinstance(app.screen, QuitScreen))
                assert app.is_running and alive(pids) == pids
                await pilot.press("q", "t")
            await until(pilot, lambda: not app.is_running, timeout=10)
        assert app.closed is not None
        if choice == "l":
            assert alive(pids) == pids  # left running, and the guard lets it be
            assert any("runs on: PID" in n for n in app.closed.notes)
            for pid in pids:
                psutil.Process(pid).send_signal(signals.SIGTERM)
        else:
            assert alive(pids) == []
    finally:
        source.close()
        kill_all(pids)


@pytest.mark.parametrize(
    ("example", "told"),
    [
        ("pool_map.py", ("died (SIGKILL) holding a task", "gh-66587", "PoolWorker-5 (")),
        ("process_pool.py", ("the ProcessPoolExecutor is broken", "BrokenProcessPool")),
    ],
)
def test_a_pool_worker_killed_in_a_task_is_told_plainly(
    tmp_path: Path, example: str, told: tuple[str, ...]
) -> None:
    out = tmp_path / "run.jsonl"
    cmd = mptop_cmd(
        "run", "--interval", "0.3", "--headless", "-o", str(out), "--duration", "5", "--",
        sys.executable, str(EXAMPLES / example), "--items", "40", "--slow", "0.5",
    )  # fmt: skip
    proc = subprocess.Popen(cmd, cwd=tmp_path, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        victim = None
        for line in proc.stdout:  # the workers announce themselves as they start
            fields = line.split()
            if fields[:1] == ["PROC"] and fields[2] != "MainProcess":
                victim = int(fields[1])
                break
        assert victim is not None
        # in its first task (0.5 s each); the mptop tick (0.3 s) must have seen it take it
        wait_for(lambda: task_taken(out, victim), timeout=10)
        os.kill(victim, signal.SIGKILL)
        proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    rec = read_recording(out)
    reap_recorded(rec.snapshots)
    events = " | ".join(e.text for s in rec.snapshots for e in s.events)
    for text in told:
        assert text in events, events
    if example == "pool_map.py":  # the fifth worker the Pool started takes the dead one's place
        assert re.search(rf"PoolWorker-5 \(\d+\) replaces \S+ \({victim}\)", events), events
        tasks = next(c for c in rec.snapshots[-1].channels if c.kind == "Pool task queue")
        assert tasks.lost == 1  # the task the killed worker held, as the channel's Lost
    else:  # the one killed broke it, not those the executor terminated after (-15)
        assert f"({victim}) died (SIGKILL): the ProcessPoolExecutor is broken" in events, events


def task_taken(out: Path, pid: int) -> bool:
    """True once the recording so far shows ``pid`` inside a task."""
    try:
        lines = out.read_text().splitlines()[1:]
    except OSError:
        return False
    for line in lines[-3:]:
        with contextlib.suppress(ValueError):
            for w in json.loads(line)["workers"]:
                if w["pid"] == pid and w["current_task_seconds"] is not None:
                    return True
    return False


@pytest.mark.parametrize("how", ["close", "t"])
def test_a_program_mptop_ends_reads_killed_by_sigterm_not_done(how: str) -> None:
    from mptop.workers.commands import Signal
    from tests.helpers import alive

    prog = [sys.executable, str(EXAMPLES / "pool_map.py"), "--slow", "0.5", "--exit", "3"]
    source, snaps = run_collecting(prog)

    def seen() -> set[int]:
        return {w.pid for snap in snaps for w in snap.workers}

    try:
        assert source._popen is not None
        root = source._popen.pid
        wait_for(lambda: len(seen()) >= 5, timeout=20)  # the main process and 4 workers
        if how == "t":  # the key t on the main process: SIGTERM, waited for
            source.send(Signal(root, signal.SIGTERM, 1.0))
            wait_for(lambda: source._popen is not None and source._popen.returncode is not None)
    finally:
        closed = source.close()
    fate = next(f for f in closed.fates if f.pid == root)
    assert fate.exitcode == -signal.SIGTERM, fate  # (was 0: psutil reaped mptop's child)
    assert closed.status == -signal.SIGTERM
    assert alive(seen()) == []


def test_the_program_is_named_by_its_script_or_module() -> None:
    from mptop.workers.run_source import program_name

    assert program_name(["python", "-X", "pycache_prefix=/tmp/pyc", "prog.py"]) == "prog.py"
    assert program_name(["python3.9", "-u", "-m", "compileall", "-j", "2"]) == "compileall"
    assert program_name(["/venv/bin/python", "-c", "print(1)"]) == "python -c"
    assert program_name(["./tool", "--flag"]) == "tool"


@pytest.mark.timeout(60)
@pytest.mark.parametrize("prints", [False, True])
def test_the_output_file_is_kept_and_named_only_if_the_program_wrote_to_it(
    tmp_path: Path, prints: bool
) -> None:

    say = "print('said', flush=True)" if prints else "pass"
    prog = tmp_path / "quiet.py"
    prog.write_text(
        "import multiprocessing as mp\n"
        "if __name__ == '__main__':\n"
        f"    {say}\n"
        "    p = mp.Process(target=int); p.start(); p.join()\n"
    )
    source, _ = run_collecting([sys.executable, str(prog)])
    try:
        wait_for(lambda: source._popen is not None and source._popen.poll() is not None)
        assert source._popen is not None
    finally:
        closed = source.close()
    assert closed.status == 0
    named = [n for n in closed.notes if "output is in" in n]
    if prints:
        assert named == [f"mptop: the program's output is in {source.log_path}; its last lines:"]
        assert "  said" in closed.notes
        assert source.log_path.read_text() == "said\n"
        source.log_path.unlink()
        source.log_path.parent.rmdir()
    else:  # nothing to read: no file to name, none left in /tmp
        assert named == [] and not source.log_path.parent.exists()


@pytest.mark.timeout(60)
def test_escape_codes_a_program_prints_never_reach_the_screen(tmp_path: Path) -> None:
    """A child that clears the screen, recolours it, sets the window title and rings the bell:
    its output tail (o, Enter) and the lines printed after quit keep only the text."""
    from mptop.workers.printable import printable

    prog = tmp_path / "esc.py"
    prog.write_text(
        "import multiprocessing as mp, sys\n"
        "def shout():\n"
        "    sys.stdout.write('\\x1b[2J\\x1b[H\\x1b[41mESCAPED\\x1b[0m\\x07\\n')\n"
        "    sys.stdout.write('\\x1b]0;a title\\x0710%\\r50%\\r100%\\n')\n"
        "    sys.stdout.flush()\n"
        "if __name__ == '__main__':\n"
        "    p = mp.Process(target=shout); p.start(); p.join()\n"
    )
    source, _ = run_collecting([sys.executable, str(prog)])
    try:
        wait_for(lambda: source._popen is not None and source._popen.poll() is not None)
        assert source._popen is not None
        (tail,) = source.output(source._popen.pid)
    finally:
        closed = source.close()
    assert tail.lines == ("ESCAPED", "100%")
    assert "  ESCAPED" in closed.notes and "  100%" in closed.notes
    assert not any("\x1b" in n or "\x07" in n or "\r" in n for n in closed.notes)
    source.log_path.unlink()
    source.log_path.parent.rmdir()
    # what is kept: text, tabs, non-ASCII; what goes: every other control character
    assert printable("a\tb é ✓") == "a\tb é ✓"
    assert printable("\x1bPq#0;2;0;0;0\x1b\\x\x00y\x7fz") == "xyz"  # a DCS string (sixel), NUL, DEL


@pytest.mark.timeout(60)
def test_a_pool_that_ended_leaves_only_its_wake_ups_unread() -> None:
    """What the channels panel says of a backlog left once the program has ended
    (channels_table.ENDED_NOTE), on the real CPython: a Pool, as it closes, puts None on its
    change notifier (5 times here) and once on its result queue, for handler threads that may
    have stopped already. Only those are left: the task queue empty, the result queue 1 at
    most, nothing lost."""
    source, seen = run_collecting([sys.executable, str(EXAMPLES / "pool_map.py"), "--items", "40"])
    try:
        wait_for(lambda: source.info().ended, timeout=30)
        n = len(seen)
        wait_for(lambda: len(seen) > n + 1, timeout=10)  # a tick after the end: final counts
    finally:
        source.close()
    assert seen[-1].channels, "no channel counted"
    by = {c.kind: c for c in seen[-1].channels}  # a program's channel: kind, and where made
    print({kind: (c.sent, c.delivered, c.backlog) for kind, c in by.items()})
    assert by["Pool task queue"].backlog == 0
    assert by["Pool result queue"].backlog <= 1
    assert by["Pool change notifier"].backlog <= 5
    assert all(c.lost == 0 for c in by.values())


@pytest.mark.timeout(60)
def test_a_killed_executor_worker_s_exit_event_has_its_code() -> None:
    """A ProcessPoolExecutor worker killed from outside (not through mptop): its parent reaps
    it, and its probe's word on the code can come a tick after the process is gone (the event
    waits for it, EXIT_CODE_TICKS). The event says "PID exited with -9 (SIGKILL)", as the table
    does. (A trial saw a bare "exited" once; this test has not caught that race here.)"""
    from tests.helpers import alive

    source, seen = run_collecting(
        [sys.executable, str(EXAMPLES / "process_pool.py"), "--slow", "0.2"]
    )

    def workers() -> list[int]:
        return [w.pid for w in seen[-1].workers if w.start_method and w.alive] if seen else []

    try:
        wait_for(lambda: len(workers()) >= 2, timeout=20)
        victim = workers()[0]
        os.kill(victim, signal.SIGKILL)
        wait_for(lambda: any(f"{victim} exited" in e.text for s in seen for e in s.events))
        said = [e.text for s in seen for e in s.events if f"{victim} exited" in e.text]
        rows = [w for w in seen[-1].workers if w.pid == victim]
    finally:
        closed = source.close()
    assert said == [f"{victim} exited with -9 (SIGKILL)"], said
    assert [w.exitcode for w in rows] == [-9]
    assert not alive([f.pid for f in closed.fates])


@pytest.mark.timeout(60)
def test_the_program_s_output_file_is_emptied_past_its_cap(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A program that prints without end fills its output file (in /tmp, often memory): past
    the cap (16 MiB; 1 MiB here) mptop empties it, says so once, and what the program writes
    next lands at the file's start, not after a hole (the file is opened O_APPEND)."""
    from mptop.workers import run_source

    monkeypatch.setattr(run_source, "TRIM_SECONDS", 0.2)
    prog = tmp_path / "noisy.py"
    prog.write_text(
        "import sys, time\n"
        "for i in range(3 * 1024):\n"
        "    sys.stdout.write('x' * 1023 + '\\n')\n"
        "sys.stdout.flush()\n"
        "time.sleep(1.0)\n"
        "print('after', flush=True)\n"
        "time.sleep(30)\n"
    )
    source, snaps = run_collecting([sys.executable, str(prog)], log_cap=1 << 20)

    def said() -> list[str]:
        return [e.text for snap in snaps for e in snap.events]

    try:
        wait_for(lambda: any("mptop emptied its file" in t for t in said()), timeout=20)
        wait_for(lambda: "after" in source.log_path.read_text(), timeout=10)
        text = source.log_path.read_text()
    finally:
        source.close()
    assert [t for t in said() if "emptied" in t] == [
        "the program's output passed 3 MiB: mptop emptied its file (the program writes on; "
        "older lines are gone)"
    ]
    assert text == "[mptop: the first 3 MiB of this output were dropped]\nafter\n", text[:200]
    source.log_path.unlink()
    source.log_path.parent.rmdir()
