"""`mptop attach PID` on a real tree it did not start: its PIDs, the pipe between two of its processes,
signals only inside the tree, and a close that leaves the tree running.

The tree: a small Python program (written to the test's folder) whose main
process starts two fork children sharing one ``os.pipe()``, a writer and a
reader, and writes the three PIDs to a file.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from mptop.workers.attach_source import NO_OUTPUT, NOT_IN_TREE, AttachSource, process_name
from mptop.workers.commands import Cap, CommandError, Pin, Signal, ToggleSuspend, Unpin
from mptop.workers.proc_fds import BOTH, READ, WRITE, FdScanner, read_ends
from mptop.workers.record import read_recording
from mptop.workers.snapshot import Snapshot, WorkerState
from tests.helpers import alive, kill_all, wait_for
from tests.terminal import mptop_cmd

pytestmark = pytest.mark.timeout(60)

TREE = """
import multiprocessing as mp, os, sys, time

def writer(w, r):
    os.close(r)
    while True:
        os.write(w, b"x" * 100)
        time.sleep(0.05)

def reader(r, w):
    os.close(w)
    while os.read(r, 4096):
        pass

if __name__ == "__main__":
    ctx = mp.get_context("fork")
    r, w = os.pipe()
    a = ctx.Process(target=writer, args=(w, r), name="writer")
    a.start()
    b = ctx.Process(target=reader, args=(r, w), name="reader")
    b.start()
    os.close(r)
    os.close(w)
    with open(sys.argv[1] + ".tmp", "w") as f:
        f.write(f"main {os.getpid()}\\nwriter {a.pid}\\nreader {b.pid}\\n")
    os.rename(sys.argv[1] + ".tmp", sys.argv[1])
    a.join()
    b.join()
"""


@contextlib.contextmanager
def tree(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], dict[str, int]]]:
    """Start the tree; yield its Popen and ``{"main": pid, "writer": pid, "reader": pid}``;
    afterwards SIGKILL whatever is left of it and reap the main process."""
    prog = tmp_path / "tree.py"
    prog.write_text(TREE)
    pids_file = tmp_path / "pids.txt"
    proc = subprocess.Popen(
        [sys.executable, str(prog), str(pids_file)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
    )
    pids: dict[str, int] = {}
    try:
        wait_for(pids_file.exists, timeout=20)
        pids = {
            k: int(v)
            for k, v in (line.split() for line in pids_file.read_text().split("\n") if line)
        }
        yield proc, pids
    finally:
        kill_all([pids[k] for k in ("writer", "reader") if k in pids])
        proc.kill()
        proc.wait(5)


def started(source: AttachSource) -> list[Snapshot]:
    """Start ``source``, arming each snapshot as it comes; the list fills as they do."""
    snaps: list[Snapshot] = []

    def deliver(snap: Snapshot) -> None:
        snaps.append(snap)
        source.arm()

    source.start(deliver, lambda line: None)
    return snaps


def test_headless_records_exactly_the_tree_and_its_pipe(tmp_path: Path) -> None:
    with tree(tmp_path) as (proc, pids):
        out = tmp_path / "x.jsonl"
        cmd = mptop_cmd("attach", "--headless", "--output", str(out), "--duration", "3")
        done = subprocess.run(
            [*cmd, "--interval", "0.5", str(proc.pid)], capture_output=True, text=True, timeout=30
        )
        assert done.returncode == 0, done.stderr
        rec = read_recording(out)
        seen = {w.pid for s in rec.snapshots for w in s.workers}
        assert seen == set(pids.values())
        last = rec.snapshots[-1]
        workers = {w.pid: w for w in last.workers}
        assert workers[pids["writer"]].ppid == pids["main"]
        assert all(w.msgs_in_per_s is None and w.msgs_out_per_s is None for w in last.workers)
        # the writer writes 100 B every 50 ms: its all-I/O Out B/s shows it
        rates = [w.bytes_out_per_s or 0 for s in rec.snapshots for w in s.workers]
        assert max(rates) > 500
        # both ends named: the one process holding the write end, the one holding the read end
        # (processes of one name are told apart by PID)
        ends = (f"tree.py {pids['writer']}", f"tree.py {pids['reader']}")
        pipe = [c for c in last.channels if (c.producer, c.consumer) == ends]
        assert len(pipe) == 1, last.channels
        assert pipe[0].kind == "pipe" and pipe[0].name.startswith("pipe:[")
        assert pipe[0].sent == 0 and pipe[0].msgs_per_s is None
        assert set(alive(pids.values())) == set(pids.values()), "headless stopped the tree"


def test_a_signal_never_leaves_the_tree(tmp_path: Path) -> None:
    outside = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    source: AttachSource | None = None
    try:
        with tree(tmp_path) as (proc, pids):
            source = AttachSource(proc.pid, interval=0.2)
            snaps = started(source)
            wait_for(lambda: snaps and len(snaps[-1].workers) == 3)
            for command in (Signal(outside.pid, signal.SIGTERM), ToggleSuspend(outside.pid)):
                with pytest.raises(CommandError) as err:
                    source.send(command)
                assert err.value.pid == outside.pid and err.value.reason == NOT_IN_TREE
            assert outside.poll() is None and psutil.Process(outside.pid).status() != "stopped"
            with pytest.raises(CommandError) as err:
                source.send(Pin(outside.pid, (0,)))
            assert err.value.reason == NOT_IN_TREE
            # an affinity inside the tree is set (the app asks the user first)
            everything = psutil.Process(pids["writer"]).cpu_affinity()
            source.send(Pin(pids["writer"], (0,)))
            assert psutil.Process(pids["writer"]).cpu_affinity() == [0]
            source.send(Unpin(pids["writer"]))
            assert psutil.Process(pids["writer"]).cpu_affinity() == everything
            with pytest.raises(CommandError, match=NO_OUTPUT):
                source.output(pids["writer"])
            with pytest.raises(CommandError, match="cannot read the stacks"):
                source.stacks(pids["writer"])  # its signal would end a process with no handler
            detail = source.detail(pids["writer"])
            assert (
                detail.ppid == pids["main"] and detail.channels == () and detail.traceback is None
            )
            # inside the tree it acts: suspend, resume, terminate
            writer = psutil.Process(pids["writer"])
            source.send(ToggleSuspend(writer.pid))
            wait_for(lambda: writer.status() == psutil.STATUS_STOPPED)
            source.send(ToggleSuspend(writer.pid))
            wait_for(lambda: writer.status() != psutil.STATUS_STOPPED)
            source.send(Signal(writer.pid, signal.SIGTERM, wait=2))
            wait_for(lambda: not alive([writer.pid]))
            with pytest.raises(CommandError, match="has exited"):
                source.send(Signal(writer.pid, signal.SIGKILL))
            assert outside.poll() is None
    finally:
        if source is not None:
            source.close()
        outside.kill()
        outside.wait(5)


def test_bad_command_lines_are_one_line_and_exit_2(tmp_path: Path) -> None:
    for args, text in (
        (["x"], "PID: must be a whole number, got 'x'"),
        (["0"], "PID must be a positive whole number, got 0"),
        (["--", "-3"], "PID must be a positive whole number, got -3"),
        (["4194304999"], "PID 4194304999: no such process"),
        ([], "the following arguments are required: PID"),
        (["--interval", "0", "1"], "--interval: must be between 0.1 and 10 seconds"),
        (["--output", "x.jsonl", "1"], "--output: only with --headless"),
    ):
        done = subprocess.run(
            mptop_cmd("attach", *args), cwd=tmp_path, capture_output=True, text=True, timeout=30
        )
        assert done.returncode == 2, (args, done.stderr)
        assert done.stderr.count("\n") == 1 and text in done.stderr, done.stderr


def test_attach_to_mptop_itself_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    from mptop.tui.cli import parse_invocation

    with pytest.raises(SystemExit) as done:
        parse_invocation(["attach", str(os.getpid())])
    assert done.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"PID {os.getpid()} is mptop itself" in err


def test_once_the_tree_has_exited_it_is_ended_and_close_leaves_nothing(tmp_path: Path) -> None:
    source: AttachSource | None = None
    # (children this test process had already: a forkserver or resource tracker of an earlier test)
    before = set(psutil.Process().children())
    try:
        with tree(tmp_path) as (proc, pids):
            source = AttachSource(proc.pid, interval=0.2)
            snaps = started(source)
            wait_for(lambda: snaps and len(snaps[-1].workers) == 3)
            assert not source.info().ended
            assert source.info().confirm_signals and source.info().kind == "attach"
            # the children end; main joins them and exits 0, a zombie until the test reaps it
            for name in ("writer", "reader"):
                # (the reader may end by itself first: the writer's end of the pipe closed)
                with contextlib.suppress(CommandError):
                    source.send(Signal(pids[name], signal.SIGTERM, wait=0))
            wait_for(lambda: source is not None and source.info().ended, timeout=15)
            assert (
                source.info().lead[0].startswith(f"PID {proc.pid} and its tree have exited after")
            )

            def root_zombie() -> bool:
                root = {w.pid: w for w in snaps[-1].workers}[proc.pid]
                return root.state is WorkerState.ZOMBIE and root.exitcode == 0

            wait_for(root_zombie)
            proc.wait(5)
            closed = source.close()
            assert closed.last is not None
            last = {w.pid: w for w in closed.last.workers}
            assert {w.state for w in last.values()} == {WorkerState.EXITED}
            assert last[proc.pid].exitcode == 0  # read from its zombie's /proc/PID/stat
            texts = [e.text for s in snaps for e in s.events] + [e.text for e in closed.last.events]
            assert any(
                "exit code unknown: not our child" in t or " exited with " in t for t in texts
            )
            assert not any(
                t.name == "mptop-sampler" and t.is_alive() for t in threading.enumerate()
            )
            assert set(psutil.Process().children()) <= before
            assert not any("left PID" in n for n in closed.notes)
            assert source.close() is closed  # idempotent
    finally:
        if source is not None:
            source.close()


def test_close_leaves_the_tree_running(tmp_path: Path) -> None:
    source: AttachSource | None = None
    try:
        with tree(tmp_path) as (proc, pids):
            source = AttachSource(proc.pid, interval=0.2)
            assert Cap.LEAVE not in source.caps and Cap.OUTPUT not in source.caps
            snaps = started(source)
            wait_for(lambda: snaps and len(snaps[-1].workers) == 3)
            closed = source.close()
            assert closed.fates == ()
            assert closed.notes[0] == (
                f"mptop: left PID {proc.pid} and its tree running"
                " (mptop attach never stops what it did not start)"
            )
            assert set(alive(pids.values())) == set(pids.values())
            assert proc.poll() is None
    finally:
        if source is not None:
            source.close()


def test_pipe_and_socket_ends_are_read_from_proc() -> None:
    r, w = os.pipe()
    a, b = socket.socketpair()
    try:
        ends = read_ends(os.getpid())
        assert ends[str(r)].kind == "pipe" and ends[str(r)].mode == READ
        assert ends[str(w)].kind == "pipe" and ends[str(w)].mode == WRITE
        assert ends[str(w)].inode == ends[str(r)].inode
        assert ends[str(a.fileno())].kind == "socket" and ends[str(a.fileno())].mode == BOTH
        scanner = FdScanner()
        first = scanner.ends(os.getpid(), 0.0)
        assert scanner.ends(os.getpid(), 0.5) is first  # no change: no rescan
        os.close(w)
        w = -1
        assert str(r) in scanner.ends(os.getpid(), 0.6) and scanner.rescans == 2
    finally:
        os.close(r)
        if w >= 0:
            os.close(w)
        a.close()
        b.close()


def test_process_names() -> None:
    py = "/usr/bin/python3"
    assert process_name("python3", [py, "prog.py", "--x"]) == ("prog.py", "")
    assert process_name("python3", [py, "-u", "-m", "pkg.main"]) == ("pkg.main", "")
    spawn = [py, "-c", "from multiprocessing.spawn import spawn_main; spawn_main(tracker_fd=5)"]
    assert process_name("python3", [*spawn, "--multiprocessing-fork"]) == ("spawn child", "spawn")
    tracker = [py, "-c", "from multiprocessing.resource_tracker import main;main(5)"]
    assert process_name("python3", tracker) == ("resource_tracker", "")
    assert process_name("sleep", ["sleep", "60"]) == ("sleep", "")


async def test_in_the_app_k_and_s_ask_first_and_q_leaves_the_tree_running(tmp_path: Path) -> None:
    from mptop.tui.app import MptopApp
    from mptop.tui.screens.confirm import ConfirmScreen
    from mptop.tui.widgets.workers_table import WorkerTable
    from tests.helpers import until

    with tree(tmp_path) as (proc, pids):
        source = AttachSource(proc.pid, interval=0.3)
        app = MptopApp(source)
        try:
            async with app.run_test(size=(130, 40)) as pilot:
                table = app.query_one(WorkerTable)
                await until(pilot, lambda: set(table.order) == set(pids.values()), timeout=20)
                assert app.check_action("output", ()) is None  # greyed: no output to see
                table.select_pid(pids["writer"])
                await pilot.press("k")
                await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
                await pilot.press("n")  # no: nothing is sent
                await until(pilot, lambda: not isinstance(app.screen, ConfirmScreen))
                assert alive([pids["writer"]]) == [pids["writer"]]
                writer = psutil.Process(pids["writer"])
                await pilot.press("s")  # (a kill would end the whole tree: the reader reads EOF)
                await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
                await pilot.press("y")
                await until(pilot, lambda: writer.status() == psutil.STATUS_STOPPED, timeout=10)
                await pilot.press("q")  # no question: mptop attach never stops the tree
                await until(pilot, lambda: not app.is_running, timeout=10)
            assert app.closed is not None and "left PID" in app.closed.notes[0]
            assert set(alive(pids.values())) == set(pids.values())
        finally:
            source.close()
