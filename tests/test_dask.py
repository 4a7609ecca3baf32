"""`mptop dask` on real Dask clusters on loopback: a LocalCluster mptop starts (2 workers), and a
scheduler started apart from mptop, which quit leaves running.

Each test builds its own cluster (about 2-3 s on 2 cores) and checks that
none of its processes outlive it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

pytest.importorskip("distributed", reason="mptop dask needs distributed: pip install 'mptop[dask]'")

from mptop.tui.widgets.body import EventLog
from mptop.workers.commands import Add, Cap, CommandError, Leave, Restart, Retire, Signal
from mptop.workers.dask_source import ConnectError, DaskSource
from mptop.workers.record import read_recording
from mptop.workers.snapshot import Snapshot, WorkerSample
from mptop.workers.stacks import StackDump
from tests.helpers import alive, busy_port, kill_all, wait_for
from tests.terminal import mptop_cmd

pytestmark = pytest.mark.timeout(90)


def session_pids(pid: int) -> set[int]:
    """Every process in the session that ``pid`` leads (the local cluster's)."""
    out = set()
    for p in psutil.process_iter():
        with contextlib.suppress(psutil.Error):
            if os.getsid(p.pid) == pid:
                out.add(p.pid)
    return out


@pytest.fixture
def cluster() -> Iterator[DaskSource]:
    source = DaskSource(workers=2, threads=1, interval=0.5)
    assert source._proc is not None
    leader = source._proc.pid
    seen: set[int] = set()
    try:
        yield source
    finally:
        seen = session_pids(leader) | set(source._anchors)
        source.close()
        left = wait_for(lambda: not alive(seen) or None, timeout=10) if alive(seen) else True
        kill_all(seen)
        assert left, f"left behind: {alive(seen)}"


def sample(source: DaskSource) -> Snapshot:
    return source._sample()


def workers(snap: Snapshot) -> dict[str, WorkerSample]:
    return {w.name: w for w in snap.workers if w.name.startswith("worker-") and w.alive}


def until(source: DaskSource, check: Any, timeout: float = 20.0) -> Snapshot:
    """Sample until ``check(snapshot)`` holds; the events of every sample taken are kept."""
    events: list[str] = []
    deadline = time.monotonic() + timeout
    while True:
        snap = sample(source)
        events += [e.text for e in snap.events]
        if check(snap):
            return snap
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout} s; events: {events}")
        time.sleep(0.2)


def test_local_cluster_rows_have_pids_hosts_and_the_nanny(cluster: DaskSource) -> None:
    snap = until(
        cluster, lambda s: len(workers(s)) == 2 and all(w.rss for w in workers(s).values())
    )
    rows = workers(snap)
    assert sorted(rows) == ["worker-0", "worker-1"]
    scheduler = snap.workers[0]
    assert scheduler.name == "scheduler+nannies"
    assert cluster._proc is not None and scheduler.pid == cluster._proc.pid
    for w in rows.values():
        ps = psutil.Process(w.pid)  # a real process of this host
        assert ps.ppid() == scheduler.pid == w.ppid  # LocalCluster's nannies live in its process
        assert w.host == "127.0.0.1"
        assert w.rss is not None and w.rss > 20 << 20  # psutil's reading
        assert w.thread_count is not None and w.thread_count >= 2
        assert w.managed_bytes == 0 and w.tasks_executing == 0
    info = cluster.info()
    assert info.kind == "dask" and info.columns == "dask"
    assert {Cap.ADD, Cap.RETIRE, Cap.RESTART, Cap.SIGNAL} <= cluster.caps
    with pytest.raises(CommandError, match="scheduler"):
        cluster.send(Signal(scheduler.pid, signal.SIGKILL))

    # seen from another machine (the workers' host name is not this one's): no psutil, the
    # workers' own monitors, and their host grouped, since its cores are not this machine's
    anchors, cluster._anchors = cluster._anchors, {}
    cluster._hostname = "another-machine"
    try:
        snap = until(cluster, lambda s: bool(s.hosts) and s.hosts[0].rss is not None)
        (host,) = snap.hosts
        assert host.host == "127.0.0.1" and host.workers == 2 and (host.rss or 0) > 40 << 20
        far = workers(snap)["worker-0"]
        assert far.core is None and far.rss is not None and far.rss > 20 << 20
        with pytest.raises(CommandError, match="another host"):
            cluster.send(Signal(far.pid, signal.SIGKILL))
        assert psutil.Process(far.pid).is_running()
    finally:
        cluster._anchors = anchors | cluster._anchors


def test_a_graph_that_moves_data_shows_bytes_on_the_transfer_channel(cluster: DaskSource) -> None:
    from distributed import Client as make_client

    client_of: Any = make_client  # distributed is untyped

    rows = workers(until(cluster, lambda s: len(workers(s)) == 2))
    size = 8 << 20
    with client_of(cluster.address, timeout=10) as client:
        addresses = {m.name: m.address for m in cluster.model.members.values()}
        a, b = addresses["worker-0"], addresses["worker-1"]
        blob = client.submit(os.urandom, size, workers=[a], pure=False)
        assert client.submit(len, blob, workers=[b]).result(timeout=20) == size

        def moved(s: Snapshot) -> bool:
            return any(
                c.kind == "transfer" and c.producer == "worker-0" and c.received_bytes >= size
                for c in s.channels
            )

        snap = until(cluster, moved)

        def mptop_test_busy(seconds: float) -> None:  # a task with a Python frame of its own
            end = time.time() + seconds
            while time.time() < end:
                time.sleep(0.01)

        slow = client.submit(mptop_test_busy, 3, workers=[a], pure=False)

        def busy_stack() -> StackDump | None:
            d = cluster.stacks(rows["worker-0"].pid)
            frames = [f.function for t in d.threads for f in t.frames]
            return d if "mptop_test_busy" in frames else None

        stacks = wait_for(busy_stack, timeout=10, interval=0.2)
        assert stacks is not None
        assert len(stacks.threads) >= 2 and any(t.current for t in stacks.threads)
        slow.cancel()
        bad = client.submit(lambda: 1 / 0)
        with contextlib.suppress(ZeroDivisionError):
            bad.result(timeout=20)
        erred = until(cluster, lambda s: any("erred" in e.text for e in s.events))
    transfer = next(c for c in snap.channels if c.kind == "transfer" and c.producer == "worker-0")
    assert transfer.consumer == "worker-1" and transfer.received >= 1
    assert transfer.sent == transfer.delivered + transfer.backlog + transfer.lost
    assert rows["worker-1"].pid != rows["worker-0"].pid
    line = next(e for e in erred.events if "erred" in e.text)
    assert (
        "ZeroDivisionError" in line.text and line.level == "warning"
    )  # the program's, not mptop's
    streams = [c for c in snap.channels if c.kind == "stream"]
    assert {(c.producer, c.consumer) for c in streams} >= {
        ("scheduler", "worker-0"),
        ("worker-1", "scheduler"),
    }
    assert all(c.sent_bytes > 0 for c in streams if c.producer == "scheduler")


def test_add_retire_and_a_killed_worker_restarted_under_its_name(cluster: DaskSource) -> None:
    rows = workers(until(cluster, lambda s: len(workers(s)) == 2))
    cluster.send(Add())
    rows = workers(until(cluster, lambda s: len(workers(s)) == 3))
    assert "worker-2" in rows

    cluster.send(Retire(rows["worker-1"].pid))
    snap = until(cluster, lambda s: "worker-1" not in workers(s))
    gone = next(w for w in snap.workers if w.name == "worker-1")
    assert not gone.alive

    old = rows["worker-0"].pid
    cluster.send(Signal(old, signal.SIGKILL))
    snap = until(
        cluster,
        lambda s: "worker-0" in workers(s) and workers(s)["worker-0"].pid != old,
    )
    back = workers(snap)["worker-0"]
    assert back.restarts == 1 and back.replaces == old
    assert not psutil.pid_exists(old) or psutil.Process(old).status() == psutil.STATUS_ZOMBIE
    assert sorted(workers(snap)) == ["worker-0", "worker-2"]  # the retired one stays retired

    before = back.pid
    cluster.send(Restart(before))
    snap = until(cluster, lambda s: workers(s).get("worker-0", back).pid != before)
    assert workers(snap)["worker-0"].restarts == 2


def test_headless_recording_then_no_dask_process_is_left(tmp_path: Path) -> None:
    out = tmp_path / "cluster.jsonl"
    before = {p.pid for p in psutil.process_iter()}
    proc = subprocess.run(
        [*mptop_cmd("dask", "-n", "2", "--headless", "--duration", "3", "--output", str(out))],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert "starting a local Dask cluster of 2 workers" in proc.stderr
    rec = read_recording(out)
    from mptop.workers.replay_source import ReplaySource

    assert ReplaySource(rec).info().columns == "dask"
    names = {w.name for s in rec.snapshots for w in s.workers}
    assert {"worker-0", "worker-1", "scheduler+nannies"} <= names
    pids = {w.pid for s in rec.snapshots for w in s.workers}
    assert all(w.host == "127.0.0.1" for s in rec.snapshots for w in s.workers)
    assert not rec.snapshots[-1].workers or not any(w.alive for w in rec.snapshots[-1].workers)
    new = {p.pid for p in psutil.process_iter()} - before
    left = [p for p in alive(new) if "distributed" in " ".join(psutil.Process(p).cmdline())]
    assert not alive(pids) and not left, (alive(pids), left)


@pytest.fixture
def scheduler(tmp_path: Path) -> Iterator[str]:
    """A scheduler and one worker started apart from mptop (dask's own command line)."""
    file = tmp_path / "scheduler.json"
    bin_dir = Path(sys.executable).parent
    log = (tmp_path / "scheduler.log").open("w")
    procs = [
        subprocess.Popen(
            [
                str(bin_dir / "dask"),
                "scheduler",
                "--host",
                "127.0.0.1",
                "--port",
                "0",
                "--no-dashboard",
                "--scheduler-file",
                str(file),
            ],
            stdout=log,
            stderr=log,
        )
    ]
    try:
        wait_for(lambda: file.exists() and file.stat().st_size > 0, timeout=30)
        address = json.loads(file.read_text())["address"]
        procs.append(
            subprocess.Popen(
                [
                    str(bin_dir / "dask"),
                    "worker",
                    address,
                    "--nthreads",
                    "1",
                    "--no-dashboard",
                    "--name",
                    "apart-1",
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
        yield address
    finally:
        pids = [p.pid for p in procs]
        pids += [
            c.pid
            for p in procs
            if psutil.pid_exists(p.pid)
            for c in psutil.Process(p.pid).children(recursive=True)
        ]
        kill_all(pids)  # test clean-up: no grace needed
        for p in procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                p.wait(10)
        log.close()


def test_a_cluster_started_apart_stays_running_after_quit(scheduler: str, tmp_path: Path) -> None:
    from distributed import Client as make_client

    client_of: Any = make_client  # distributed is untyped

    source = DaskSource(scheduler, interval=0.2)
    try:
        snap = until(source, lambda s: any(w.name == "apart-1" and w.rss for w in s.workers))
        for _ in range(10):  # ticks ask with one RPC, which the scheduler does not log
            sample(source)
        row = next(w for w in snap.workers if w.name == "apart-1")
        assert psutil.Process(row.pid).is_running() and row.ppid is not None
        assert Cap.ADD not in source.caps and Cap.OUTPUT not in source.caps
        assert "cannot add a worker" in source.info().unavailable
    finally:
        closed = source.close()
    assert any("left the cluster" in n and "running" in n for n in closed.notes)
    with client_of(scheduler, timeout=10) as client:  # still there, with its worker
        assert client.submit(sum, [1, 2]).result(timeout=20) == 3
        assert len(client.scheduler_info()["workers"]) == 1
        # as it was: mptop's handler and heartbeat metric are gone
        assert not client.run_on_scheduler(
            lambda dask_scheduler: "mptop_tally" in dask_scheduler.handlers
        )
        assert not any(client.run(lambda dask_worker: "mptop" in dask_worker.metrics).values())
    runs = (tmp_path / "scheduler.log").read_text().count("Run out-of-band function")
    assert runs <= 3, runs  # install, uninstall (and this test's own): not one per tick


def test_an_address_that_does_not_answer_is_one_line_and_exit_2() -> None:
    with pytest.raises(
        ConnectError, match=re.escape("cannot connect to the scheduler at tcp://127.0.0.1:9")
    ):
        DaskSource("tcp://127.0.0.1:9", connect_timeout=1.0)
    proc = subprocess.run(
        mptop_cmd("dask", "tcp://nowhere"), capture_output=True, text=True, timeout=30
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "mptop dask: error: ADDRESS: 'tcp://nowhere' is not a scheduler address (tcp://HOST:PORT,"
        " e.g. tcp://127.0.0.1:8786) (see mptop dask --help)"
    ]


def test_a_port_in_use_is_one_line_and_exit_2() -> None:
    with busy_port() as port:
        proc = subprocess.run(
            mptop_cmd("dask", "--port", str(port)), capture_output=True, text=True, timeout=30
        )
    assert proc.returncode == 2
    assert proc.stderr.startswith(f"mptop dask: error: --port: 127.0.0.1:{port} is in use")
    assert len(proc.stderr.strip().splitlines()) == 1


def test_without_distributed_one_line_says_how_to_install_it() -> None:
    code = (
        "import sys; sys.modules['distributed'] = None; from mptop.tui.cli import main;"
        " sys.exit(main(['dask']))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 2
    assert proc.stderr.strip() == (
        "mptop dask: error: mptop dask needs Dask's distributed: pip install 'mptop[dask]'"
    )


async def test_the_keys_on_a_real_cluster_a_t_k_and_the_restart_shows_in_its_row() -> None:

    from mptop.tui.app import MptopApp
    from mptop.tui.widgets.workers_table import WorkerTable
    from tests.helpers import until as app_until

    source = DaskSource(workers=2, threads=1, interval=0.3)
    assert source._proc is not None
    seen = session_pids(source._proc.pid)
    app = MptopApp(source)
    try:
        async with app.run_test(size=(160, 48)) as pilot:
            table = app.query_one(WorkerTable)

            def rows() -> dict[str, int]:
                out = {}
                for pid in table.order:
                    w = table.sample(pid)
                    if w is not None and w.name.startswith("worker-") and w.alive:
                        out[w.name] = pid
                return out

            await app_until(pilot, lambda: len(rows()) == 2, timeout=20)
            assert "Host" in table.render_line(0).text and "Managed" in table.render_line(0).text
            await pilot.press("a")
            await app_until(pilot, lambda: len(rows()) == 3, timeout=20)

            table.select_pid(rows()["worker-1"])
            await pilot.press("t")
            await app_until(pilot, lambda: "worker-1" not in rows(), timeout=20)

            old = rows()["worker-0"]
            table.select_pid(old)
            await pilot.press("k")
            await app_until(pilot, lambda: rows().get("worker-0", old) != old, timeout=20)
            new = rows()["worker-0"]
            assert old not in table.order  # the restart took the old row
            assert table.selected_pid == new  # and the cursor with it
            assert table.texts(new)["exit"].startswith("↻1")
            log = "\n".join(app.query_one(EventLog).events)
            assert f"restarted by its nanny: PID {old} → {new}" in log
            assert "retired" in log

            # a detail screen open on a worker follows it through its nanny's restart
            from mptop.tui.screens.detail import DetailScreen

            await pilot.press("enter")
            await app_until(pilot, lambda: isinstance(app.screen, DetailScreen))
            await asyncio.to_thread(source.send, Restart(new))
            screen = app.screen
            assert isinstance(screen, DetailScreen)
            await app_until(pilot, lambda: screen.pid not in (new, old), timeout=20)
            assert screen.sample.restarts == 2 and screen.sample.name == "worker-0"
            await pilot.press("escape")
            seen |= set(source._anchors)
            await pilot.press("q")
            await app_until(pilot, lambda: not app.is_running, timeout=15)
    finally:
        source.close()
    wait_for(lambda: not alive(seen) or None, timeout=10)


def test_a_local_cluster_that_dies_ends_the_run_and_nothing_reaches_stderr(
    capfd: pytest.CaptureFixture[str],
) -> None:
    source = DaskSource(workers=1, threads=1, interval=0.3)
    assert source._proc is not None
    leader = source._proc.pid
    try:
        until(source, lambda s: len(workers(s)) == 1)
        seen = session_pids(leader)
        os.killpg(leader, signal.SIGKILL)
        snap = until(source, lambda s: source.info().ended)
        assert not any(w.alive for w in snap.workers)
        assert "the local cluster exited with -9" in source.info().lead[0]
    finally:
        closed = source.close()
    assert any("exited with -9" in n and "before mptop quit" in n for n in closed.notes)
    wait_for(lambda: not alive(seen) or None, timeout=10)
    # distributed's client logs its reconnect attempts: into mptop's events, not the terminal
    assert "Traceback" not in capfd.readouterr().err


def test_q_asks_while_other_clients_use_the_local_cluster_and_leave_keeps_it() -> None:
    from distributed import Client as make_client

    client_of: Any = make_client  # distributed is untyped
    source = DaskSource(workers=1, threads=1, interval=0.3)
    assert source._proc is not None
    leader = source._proc.pid
    seen: set[int] = set()
    try:
        until(source, lambda s: len(workers(s)) == 1)
        assert source.info().quiet_quit  # nobody else uses it: q quits at once
        with client_of(source.address, timeout=10) as client:
            until(source, lambda s: not source.info().quiet_quit)
            info = source.info()
            assert "1 other client(s)" in info.leave_question and Cap.LEAVE in source.caps
            source.send(Leave())
            seen = session_pids(leader)
            closed = source.close()
            assert any(
                f"left the local cluster running at {source.address}" in n for n in closed.notes
            )
            # mptop is gone from it; the cluster computes on for the client that uses it
            assert client.submit(sum, [1, 2]).result(timeout=20) == 3
            assert psutil.Process(leader).is_running()
    finally:
        source.close()
        seen |= session_pids(leader)
        with contextlib.suppress(ProcessLookupError):
            os.kill(leader, signal.SIGTERM)  # as the note says: kill PID closes it
        wait_for(lambda: not alive(seen) or None, timeout=15)
