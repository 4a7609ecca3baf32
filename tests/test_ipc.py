"""IPC on real processes: every topology flows, the accounting is exact and conserved,
stalls are marked and cleared, a broken Queue is rebuilt, large messages flow."""

from __future__ import annotations

import pickle
import signal
import time
from collections.abc import Callable

import psutil
import pytest

from mptop.workers.dispatcher import Dispatcher
from mptop.workers.sampler import Sampler
from mptop.workers.snapshot import ChannelSample, Snapshot
from mptop.workers.spec import Scenario, WorkerSpec
from mptop.workers.supervisor import Supervisor
from mptop.workers.workloads import Result, Task
from tests.conftest import SupervisorFactory
from tests.helpers import alive, wait_for

pytestmark = pytest.mark.timeout(90)

TOPOLOGIES = ["queue", "pipe", "pipeline"]


def running(
    ipc: str,
    count: int = 3,
    workload: str = "sleep",
    message_size: int = 0,
    rate: float | None = None,
    task_seconds: float = 0.02,
) -> tuple[Supervisor, Dispatcher, Sampler]:
    scenario = Scenario.simple(
        count,
        WorkerSpec(workload=workload, task_seconds=task_seconds),
        ipc=ipc,
        message_size=message_size,
        rate=rate,
    )
    sup = Supervisor(scenario)
    sup.prepare()
    sup.start()
    dispatcher = Dispatcher(sup, task_seconds, message_size, rate)
    dispatcher.start()
    return sup, dispatcher, Sampler(sup, dispatcher.delivered)


def stop(sup: Supervisor, dispatcher: Dispatcher) -> None:
    pids = [h.pid for h in sup.handles()]
    sup.shutdown()
    dispatcher.stop()
    sup.remove_log_dir()
    assert alive(pids) == []


def channel(snap: Snapshot, name: str) -> ChannelSample:
    (c,) = [c for c in snap.channels if c.name == name]
    return c


def ticker(sampler: Sampler, texts: list[str], pause: float) -> Callable[[], ChannelSample]:
    """A sampler tick every ``pause`` seconds: the tasks channel, its events appended to ``texts``."""

    def tick() -> ChannelSample:
        time.sleep(pause)
        snap = sampler.sample()
        texts.extend(e.text for e in snap.events)
        return channel(snap, "tasks")

    return tick


def kill_one_and_go_on(ipc: str) -> tuple[Supervisor, Dispatcher, Sampler] | None:
    """A run of 4 workers that lost one (a stage-2 one in a pipeline) and still flows.

    None if the victim died holding a Queue's lock: then nothing flows again
    (the stall tests cover that case) and the caller tries once more.
    """
    sup, dispatcher, sampler = running(ipc, count=4, task_seconds=0.05)
    wait_for(lambda: dispatcher.results_received >= 20, timeout=20)
    attached = sup.topology.attached
    victim = [h for h in sup.handles() if attached[h.pid].stage in (0, 2)][-1]
    sup.kill(victim.pid)
    sup.wait_exit(victim.pid, 5)
    seen = dispatcher.results_received
    try:
        wait_for(lambda: dispatcher.results_received >= seen + 20, timeout=10)
    except AssertionError:
        stop(sup, dispatcher)
        return None
    return sup, dispatcher, sampler


@pytest.mark.parametrize("ipc", TOPOLOGIES)
def test_conservation_after_a_worker_dies(ipc: str) -> None:
    """sent = delivered + backlog + lost on every channel, once traffic is stopped and drained."""
    run = None
    for _ in range(4):
        run = kill_one_and_go_on(ipc)
        if run is not None:
            break
    assert run is not None, "every try killed a worker holding a Queue lock"
    sup, dispatcher, sampler = run
    try:
        dispatcher.sending = False  # stop the traffic; the workers and mptop drain the rest

        def drained() -> Snapshot | None:
            snap = sampler.sample()
            return snap if all(c.backlog == 0 for c in snap.channels) else None

        snap = wait_for(drained, timeout=20, interval=0.1)
        time.sleep(0.3)  # nothing may move once drained
        snap = sampler.sample()
        assert snap.channels
        for c in snap.channels:
            assert c.sent == c.delivered + c.backlog + c.lost, c
            assert c.backlog == 0 and c.received <= c.sent, c
        assert sum(c.sent for c in snap.channels) > 0
        lost = sum(c.lost for c in snap.channels)
        assert lost <= 4, snap.channels  # what the victim held
    finally:
        stop(sup, dispatcher)


@pytest.mark.parametrize("ipc", ["queue", "pipe"])
def test_byte_counts_equal_pickled_sizes(make_supervisor: SupervisorFactory, ipc: str) -> None:
    sup, dispatcher, sampler = running(ipc, count=2, message_size=1000)
    try:
        wait_for(lambda: dispatcher.results_received >= 20, timeout=20)
        dispatcher.stop()
        time.sleep(0.3)  # answers in flight land; the dispatcher no longer takes them
        snap = sampler.sample()
        task = len(pickle.dumps(Task(1, 0.02, b"\x00" * 1000), pickle.HIGHEST_PROTOCOL))
        for c in snap.channels:
            if ipc == "queue" and c.name == "tasks":
                # every Task differs only in seq: sizes match Task(seq) for small seqs
                assert c.sent_bytes == sum(
                    len(pickle.dumps(Task(i, 0.02, b"\x00" * 1000), pickle.HIGHEST_PROTOCOL))
                    for i in range(1, c.sent + 1)
                )
            assert c.received_bytes <= c.sent_bytes
        assert task > 1000
    finally:
        stop(sup, dispatcher)


def test_sigstop_the_only_consumer_marks_stalled_and_sigcont_clears() -> None:
    sup, dispatcher, sampler = running("queue", count=1, rate=40)
    try:
        (h,) = sup.handles()
        wait_for(lambda: dispatcher.results_received >= 5, timeout=20)
        sup.suspend(h.pid)
        texts: list[str] = []
        tick = ticker(sampler, texts, 0.15)  # ticks are the sampler's: a stall needs several

        before = tick().backlog
        wait_for(lambda: tick().stalled, timeout=20, interval=0)
        assert tick().backlog > before  # it grows: nobody takes
        assert any(t.startswith("channel tasks stalled") for t in texts)
        sup.resume(h.pid)
        wait_for(lambda: not tick().stalled, timeout=20, interval=0)
        assert "channel tasks flows again" in texts
    finally:
        stop(sup, dispatcher)


def test_no_stall_while_no_consumer_lives_nor_right_after_one_is_added() -> None:
    # all consumers dead with a backlog: idle, not stalled; a new consumer gets fresh ticks
    sup, dispatcher, sampler = running("queue", count=1, rate=40)
    try:
        (h,) = sup.handles()
        wait_for(lambda: dispatcher.results_received >= 5, timeout=20)
        sup.kill(h.pid)
        sup.wait_exit(h.pid, 5)
        texts: list[str] = []
        tick = ticker(sampler, texts, 0.1)
        for _ in range(6):  # twice STALL_TICKS with nobody alive to take
            c = tick()
            assert not c.stalled
        assert c.backlog > 0, "the dispatcher kept a backlog for the dead consumer"
        assert not any("stalled" in t for t in texts), texts
        new = sup.add()
        # sampled at once, before the new worker can take anything: not blamed yet (these
        # ticks are 0.1 s; a slow start on a loaded machine may still earn a stall later,
        # as it would after 3 real ticks)
        first = channel(sampler.sample(), "tasks")
        assert not first.stalled
        wait_for(lambda: tick().msgs_per_s, timeout=20, interval=0)
        assert new.pid in sup.alive_pids()
    finally:
        stop(sup, dispatcher)


def test_kill_mid_transfer_stalls_the_queue_rebuild_restores_and_quit_is_bounded() -> None:
    """1 MiB tasks: a worker killed while it holds the Queue's read lock leaves it stuck for good."""
    sup, dispatcher, sampler = running(
        "queue", count=2, workload="sleep", message_size=1 << 20, task_seconds=0.001
    )
    try:
        wait_for(lambda: dispatcher.results_received >= 10, timeout=20)

        def stalled_after_a_kill() -> bool:
            live = sup.alive_pids()
            sup.kill(live[0])
            sup.wait_exit(live[0], 5)
            deadline = time.monotonic() + 2.0
            while time.monotonic() < deadline:
                time.sleep(0.15)
                if channel(sampler.sample(), "tasks").stalled:
                    return True
            sup.add()  # the lock was free this time: try again with a fresh worker
            return False

        wait_for(stalled_after_a_kill, timeout=60, interval=0)
        t0 = time.monotonic()
        new = sup.rebuild_channels()
        assert time.monotonic() - t0 < 5 and len(new) == len(sup.alive_pids())
        seen = dispatcher.results_received
        wait_for(lambda: dispatcher.results_received >= seen + 10, timeout=20)
        snap = sampler.sample()
        assert channel(snap, "tasks").generation == 2
        t0 = time.monotonic()
        sup.shutdown()
        assert time.monotonic() - t0 < 3.0
    finally:
        stop(sup, dispatcher)


@pytest.mark.parametrize("ipc", TOPOLOGIES)
def test_large_messages_flow_and_a_killed_sender_is_detected(ipc: str) -> None:
    sup, dispatcher, sampler = running(ipc, count=2, message_size=2 << 20, task_seconds=0.005)
    try:
        wait_for(lambda: dispatcher.results_received >= 8, timeout=30)
        big = max(c.sent_bytes for c in sampler.sample().channels)
        assert big >= 8 * (2 << 20)
        victim = sup.handles()[0]
        sup.kill(victim.pid)
        assert sup.wait_exit(victim.pid, 5) == -signal.SIGKILL  # its death is seen at once
        snap = sampler.sample()
        assert [w.exitcode for w in snap.workers if w.pid == victim.pid] == [-9]
    finally:
        stop(sup, dispatcher)


def test_none_topology_has_no_channels_and_burns_cpu() -> None:
    sup, dispatcher, sampler = running("none", count=1, workload="cpu")
    try:
        sampler.sample()
        time.sleep(0.5)  # a CPU% needs a measured window
        snap = sampler.sample()
        assert snap.channels == ()
        assert (snap.workers[0].cpu_percent or 0) > 50
        assert snap.workers[0].msgs_in_per_s == 0
    finally:
        stop(sup, dispatcher)


def test_pipe_echoes_carry_the_payload_back() -> None:
    sup, dispatcher, sampler = running("pipe", count=2, message_size=500)
    try:
        wait_for(lambda: dispatcher.results_received >= 10, timeout=20)
        snap = sampler.sample()
        pipes = [c for c in snap.channels if c.kind == "Pipe"]
        assert len(pipes) == 2 and all(c.name.startswith("pipe:worker-") for c in pipes)
        for c in pipes:
            # both directions carry the 500 bytes: each echo is about as large as its request
            assert c.sent_bytes > c.sent * 500
        assert isinstance(Result(1, 2, 3, b"x"), Result)
        assert all(psutil.pid_exists(h.pid) for h in sup.handles())
    finally:
        stop(sup, dispatcher)


def test_a_pipe_end_closed_by_another_thread_raises_oserror_not_typeerror() -> None:
    # mptop's shutdown closes its ends while the dispatcher thread may be about to read
    import multiprocessing

    from mptop.workers.channels import ChannelInfo, CountedPipeEnd, Counters

    ctx = multiprocessing.get_context("fork")
    a, b = ctx.Pipe()
    end = CountedPipeEnd(a, ChannelInfo("pipe-1", "Pipe", "mptop", "worker-1")).bind(Counters(ctx))
    a.close()
    with pytest.raises(OSError):
        end.get()
    b.close()
