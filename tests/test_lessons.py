"""Each bundled scenario, run headless for a few seconds on real processes, shows its lesson in numbers.

Figures are for this 2-core machine; each test says what changes with more cores.
CPU% is per process, 100 = one full core.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path

import psutil
import pytest

from mptop.tui.widgets.lesson import group_of
from mptop.workers.channels import RECEIVED
from mptop.workers.dispatcher import Dispatcher
from mptop.workers.headless import open_output, run_headless
from mptop.workers.record import Recording, read_recording, scenario_record
from mptop.workers.sampler import Sampler
from mptop.workers.scenario_file import load_bundled
from mptop.workers.snapshot import Snapshot
from mptop.workers.spawn_source import SpawnSource
from mptop.workers.supervisor import Supervisor, WorkerHandle
from tests.helpers import alive, kill_all, reap_recorded, wait_for

pytestmark = pytest.mark.timeout(60)


def record(name: str, seconds: float, tmp_path: Path, **overrides: object) -> Recording:
    """Run bundled scenario ``name`` headless for ``seconds`` and load the recording."""
    import dataclasses

    loaded = load_bundled(name)
    scenario = dataclasses.replace(loaded.scenario, **overrides)  # type: ignore[arg-type]
    path = tmp_path / f"{name}.jsonl"
    writer = open_output(path, scenario_record(scenario, loaded.description, loaded.lesson))
    result = run_headless(SpawnSource(scenario, start_first=True), writer, seconds)
    rec = read_recording(path)
    assert len(rec.snapshots) == result.snapshots
    reap_recorded(rec.snapshots)
    return rec


def measured(rec: Recording) -> list[Snapshot]:
    """The ticks that have a CPU window: not the first, not the one after shutdown."""
    return [s for s in rec.snapshots[1:-1] if any(w.cpu_percent is not None for w in s.workers)]


def group_cpu(snap: Snapshot, group: str) -> float:
    return sum(w.cpu_percent or 0.0 for w in snap.workers if group_of(w.name) == group and w.alive)


def test_processes_vs_threads(tmp_path: Path) -> None:
    # Five busy processes share the cores fairly, so each gets about a fifth of the machine:
    # the 4-thread process gets ONE share (the GIL runs one thread at a time), the 4
    # processes four shares. On this 2-core VM the cores deliver about 160% in all to busy
    # processes (two plain busy loops measure 78% each here), so: threads about 40%, the 4
    # processes about 120%. The "4 processes above 150%" is out of reach here with a
    # fifth busy process beside them; what holds on any machine is asserted instead: the
    # threads process stays under 130% and gets at most ~1.5 shares, and 4 processes get
    # >= 2.5x the 4-thread process. With N >= 5 cores: threads near 100%, processes near 400%.
    rec = record("processes-vs-threads", 4.0, tmp_path)
    ticks = measured(rec)
    assert len(ticks) >= 2
    threads = statistics.mean(group_cpu(s, "threads") for s in ticks)
    procs = statistics.mean(group_cpu(s, "procs") for s in ticks)
    print(f"threads process {threads:.0f}%, 4 processes {procs:.0f}%")
    assert threads < 130, f"4 threads in one process used {threads:.0f}% (GIL: about one core)"
    # (no absolute floor for the processes: on a 2-core CI machine shared with other jobs the
    # shares shrink together, and the lesson is in the ratio)
    assert procs > 2.5 * threads, f"4 processes {procs:.0f}% vs 4 threads {threads:.0f}%"


def test_pool_spreads_tasks_over_pids_and_results_come_back(tmp_path: Path) -> None:
    rec = record("pool", 3.0, tmp_path)
    ticks = measured(rec)
    per_pid: dict[int, float] = {}
    for s in ticks:
        for w in s.workers:
            per_pid[w.pid] = per_pid.get(w.pid, 0.0) + (w.msgs_in_per_s or 0.0)
    total = sum(per_pid.values())
    assert len(per_pid) == 4 and total > 0
    shares = sorted(v / total for v in per_pid.values())
    print("task shares per PID:", [f"{x:.0%}" for x in shares])
    # one shared queue: every worker takes work, none starves (a fair share is 25%)
    assert shares[0] > 0.10
    last = rec.snapshots[-2]
    tasks, results = last.channels[0], last.channels[1]
    assert tasks.received > 20
    # every task taken comes back as a result, but for those still in a worker's hands
    assert tasks.received - results.sent <= 4


def test_daemons_terminated_keepers_finish_on_parent_exit(tmp_path: Path) -> None:
    rec = record("daemons", 1.5, tmp_path)
    final = rec.snapshots[-1]
    codes = {w.name: w.exitcode for w in final.workers}
    print(codes)
    daemons = [c for n, c in codes.items() if group_of(n) == "daemon"]
    keepers = [c for n, c in codes.items() if group_of(n) == "keeper"]
    assert daemons == [-15, -15], "the parent terminates its daemon children at exit"
    events = [e.text for s in rec.snapshots for e in s.events]
    assert keepers == [0, 0], f"non-daemon children finish by themselves and are joined: {events}"
    assert all(w.daemon for w in final.workers if group_of(w.name) == "daemon")
    assert not alive(w.pid for w in final.workers)


def test_pipes_vs_queues(tmp_path: Path) -> None:
    pipe = record("pipes-vs-queues", 2.5, tmp_path)
    queue = record("pipes-vs-queues", 2.5, tmp_path, ipc="queue")
    kinds = {c.kind for c in pipe.snapshots[-2].channels}
    assert "Pipe" in kinds, kinds

    def rate(rec: Recording) -> float:
        return max(
            sum(c.msgs_per_s or 0.0 for c in s.channels if c.producer == "mptop")
            for s in measured(rec)
        )

    # one Pipe per worker, no shared lock: more messages per second than one shared Queue
    assert rate(pipe) > rate(queue)


@pytest.mark.timeout(120)
def test_terminate_danger_stalls_the_queue_and_rebuild_fixes_it() -> None:
    loaded = load_bundled("terminate-danger")
    sup = Supervisor(loaded.scenario)
    sup.prepare()
    scenario = loaded.scenario
    dispatcher = Dispatcher(sup, scenario.worker.task_seconds, scenario.message_size, scenario.rate)
    sampler = Sampler(sup, dispatcher.delivered)
    try:
        dispatcher.start()
        sup.start()
        stalled = None
        deadline = time.monotonic() + 60
        while stalled is None and time.monotonic() < deadline:
            live = sup.alive_pids()
            sup.terminate(live[0])
            sup.wait_exit(live[0], 1.0)
            sup.add()  # keep consumers alive: a stall needs someone waiting
            time.sleep(0.3)
            before = sampler.sample().channels[0]
            time.sleep(1.0)
            after = sampler.sample()
            tasks = after.channels[0]
            if tasks.received == before.received and tasks.backlog > 0:
                stalled = after
        assert stalled is not None, "no stall after terminating workers for 60 s"
        wait_for(lambda: getattr(sampler.sample().channels[0], "stalled", False), timeout=5)
        sup.rebuild_channels()
        taken = sampler.sample().channels[0].received
        wait_for(lambda: sampler.sample().channels[0].received > taken, timeout=5)
    finally:
        sup.shutdown()
        dispatcher.stop()
        pids = [h.pid for h in sup.handles()]
        kill_all(pids)
        sup.remove_log_dir()


def test_start_methods_spawn_is_slowest_to_its_first_task(tmp_path: Path) -> None:
    # The recording holds each worker's start method and Process.start() time.
    rec = record("start-methods", 1.0, tmp_path)
    workers = rec.snapshots[-1].workers
    assert sorted({w.start_method for w in workers}) == ["fork", "forkserver", "spawn"]
    assert all(w.start_seconds is not None and w.start_seconds > 0 for w in workers)
    first_line = {w.start_method: w.ready_seconds or 0.0 for w in workers}
    assert all(v > 0 for v in first_line.values()), first_line
    assert first_line["spawn"] > first_line["fork"]  # a fresh interpreter against a copy
    # Time to the first task, measured directly: spawn boots a new interpreter.
    loaded = load_bundled("start-methods")
    sup = Supervisor(loaded.scenario)
    sup.prepare()
    dispatcher = Dispatcher(sup, 0.2)
    ready: dict[str, list[float]] = {}
    try:
        dispatcher.start()
        for group in loaded.scenario.groups:
            for _ in range(3):
                t0 = time.perf_counter()
                h = sup.add(group)
                wait_for(lambda h=h: tasks_taken(h) > 0, 10, 0.001)  # type: ignore[misc]
                ready.setdefault(group.name, []).append(time.perf_counter() - t0)
    finally:
        sup.shutdown()
        dispatcher.stop()
        kill_all(h.pid for h in sup.handles())
        sup.remove_log_dir()
    med = {k: statistics.median(v) * 1000 for k, v in ready.items()}
    print("ms to first task:", {k: f"{v:.0f}" for k, v in med.items()})
    assert med["spawn"] > med["fork"]
    assert med["spawn"] > 40  # a fresh interpreter: tens of ms at least, on any machine


def tasks_taken(h: WorkerHandle) -> int:
    """Tasks worker ``h`` has taken (its own counter block on the tasks channel)."""
    return sum(block.read()[RECEIVED] for c, block in h.blocks if c.info.name == "tasks")


def test_no_worker_outlives_a_headless_run(tmp_path: Path) -> None:
    before = {p.pid for p in psutil.Process().children(recursive=True)}
    rec = record("pool", 1.0, tmp_path)
    assert all(w.exitcode is not None for w in rec.snapshots[-1].workers)
    left = {p.pid for p in psutil.Process().children(recursive=True)} - before
    assert not alive(left)
