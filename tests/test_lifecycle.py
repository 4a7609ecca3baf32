"""Lifecycle on real processes: exit codes and their meaning, output capture, daemon rules,
pinning, identity-checked signals, reaping, and a bounded shutdown whatever the workers do."""

from __future__ import annotations

import os
import signal
import time

import psutil
import pytest

from mptop.workers.sampler import Sampler
from mptop.workers.supervisor import NoSuchWorker, Supervisor
from tests.conftest import START_METHODS, SupervisorFactory
from tests.helpers import alive, wait_for

pytestmark = pytest.mark.timeout(60)


def feed(sup: Supervisor, n: int = 4) -> None:
    """Hand ``n`` tasks to the workers by hand (no dispatcher)."""
    from mptop.workers.workloads import Task

    for i in range(n):
        sup.tasks.put(Task(i, 0.01))


def exit_of(sup: Supervisor, pid: int, timeout: float = 10) -> int:
    wait_for(lambda: sup.wait_exit(pid, 0.1) is not None, timeout)
    code = sup.handle(pid).exitcode
    assert code is not None
    return code


def ignores_sigterm(pid: int) -> bool:
    """Whether ``pid`` has SIGTERM set to SIG_IGN (Linux: the SigIgn mask in /proc)."""
    with open(f"/proc/{pid}/status") as f:
        mask = next(int(line.split()[1], 16) for line in f if line.startswith("SigIgn:"))
    return bool(mask & (1 << (signal.SIGTERM - 1)))


def events(sup: Supervisor) -> list[str]:
    return [e.text for e in sup.drain_events()]


@pytest.mark.parametrize("method", START_METHODS)
def test_exit_codes_with_meaning(make_supervisor: SupervisorFactory, method: str) -> None:
    # sys.exit(3) -> 3
    sup = make_supervisor(count=1, start_method=method, workload="tests.targets:exit_3")
    (h,) = sup.start()
    feed(sup, 1)
    assert exit_of(sup, h.pid) == 3
    assert f"{h.pid} exited with 3 (sys.exit(3))" in events(sup)
    # an uncaught exception -> 1, its traceback kept and named in the log
    sup = make_supervisor(count=1, start_method=method, workload="tests.targets:boom")
    (h,) = sup.start()
    feed(sup, 1)
    assert exit_of(sup, h.pid) == 1
    assert f"{h.pid} exited with 1 (error: ValueError: boom from a worker)" in events(sup)
    tb = sup.output(h.pid).traceback
    assert tb is not None and "Traceback" in tb and 'raise ValueError("boom from a worker")' in tb


def test_normal_finish_is_exit_0(make_supervisor: SupervisorFactory) -> None:
    sup = make_supervisor(count=1, daemon=False, workload="sleep")
    (h,) = sup.start()
    sup.shutdown()
    assert h.exitcode == 0
    assert f"{h.pid} exited with 0 (done)" in events(sup)


def test_daemon_worker_cannot_start_a_child(make_supervisor: SupervisorFactory) -> None:
    sup = make_supervisor(count=1, daemon=True, workload="tests.targets:start_child")
    (h,) = sup.start()
    feed(sup, 1)
    assert exit_of(sup, h.pid) == 1
    assert (
        f"{h.pid} exited with 1 (error: AssertionError: daemonic processes are not allowed to have children)"
        in events(sup)
    )


def test_stdout_and_stderr_are_captured_per_worker(
    make_supervisor: SupervisorFactory, capfd: pytest.CaptureFixture[str]
) -> None:
    sup = make_supervisor(count=2, workload="tests.targets:hello")
    a, b = sup.start()
    feed(sup, 6)
    for h in (a, b):
        wait_for(lambda h=h: f"hello from {h.pid}" in sup.output(h.pid).stdout)  # type: ignore[misc]
        out = sup.output(h.pid)
        assert out.stdout[0].startswith(f"{h.name} pid {h.pid} daemon=True")
        assert set(out.stdout[1:]) == {f"hello from {h.pid}"}  # only its own lines
        assert f"warning from {h.pid}" in out.stderr and out.traceback is None
    captured = capfd.readouterr()
    assert "hello from" not in captured.out + captured.err  # never on mptop's own output


def test_worker_stdin_is_not_the_terminal(make_supervisor: SupervisorFactory) -> None:
    sup = make_supervisor(count=1, workload="sleep")
    (h,) = sup.start()
    wait_for(lambda: os.readlink(f"/proc/{h.pid}/fd/0") == os.devnull)


@pytest.mark.parametrize("method", START_METHODS)
def test_pin_and_unpin(make_supervisor: SupervisorFactory, method: str) -> None:
    sup = make_supervisor(count=1, start_method=method)
    (h,) = sup.start()
    everything = psutil.Process(h.pid).cpu_affinity()
    last = len(everything) - 1
    assert sup.pin(h.pid, (last,)) == (last,)
    assert psutil.Process(h.pid).cpu_affinity() == [last]
    assert f"pinned {h.pid} to core {last}" in events(sup)
    sampler = Sampler(sup)
    feed(sup, 50)
    wait_for(lambda: [w.core for w in sampler.sample().workers] == [last])
    assert sampler.sample().workers[0].pinned == last
    assert sup.toggle_pin(h.pid) is None  # unpin
    assert psutil.Process(h.pid).cpu_affinity() == everything
    with pytest.raises(ValueError, match="does not exist"):
        sup.pin(h.pid, (4096,))


def test_signals_are_identity_checked(make_supervisor: SupervisorFactory) -> None:
    """A handle whose PID now names another process (PID reuse) is never signalled."""
    sup = make_supervisor(count=1, workload="sleep")
    (h,) = sup.start()
    assert h.ps is not None
    h.ps._ident = (h.pid, h.ps.create_time() - 1000)  # type: ignore[attr-defined]  # as after PID reuse
    with pytest.raises(NoSuchWorker, match="no such process"):
        sup.kill(h.pid)
    assert psutil.Process(h.pid).status() != psutil.STATUS_ZOMBIE  # untouched


@pytest.mark.parametrize(
    "method", ["fork", "spawn"]
)  # forkserver children are reaped by the server
def test_no_zombie_after_one_refresh(make_supervisor: SupervisorFactory, method: str) -> None:
    sup = make_supervisor(count=2, workload="sleep", start_method=method)
    a, _ = sup.start()
    sampler = Sampler(sup)
    sup.kill(a.pid)
    # a zombie: dead and waitable (peeked with WNOWAIT, which leaves it unreaped). /proc shows
    # "Z" a little earlier, while the rest of its thread group is still exiting.
    wait_for(lambda: os.waitid(os.P_PID, a.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT))
    assert psutil.Process(a.pid).status() == psutil.STATUS_ZOMBIE
    snap = sampler.sample()  # one refresh reaps
    assert [w.exitcode for w in snap.workers] == [-9, None]
    assert not psutil.pid_exists(a.pid)


@pytest.mark.parametrize("method", START_METHODS)
def test_suspended_worker_is_shown_stopped_and_killed_at_once(
    make_supervisor: SupervisorFactory, method: str
) -> None:
    sup = make_supervisor(count=1, start_method=method, workload="sleep")
    (h,) = sup.start()
    sup.suspend(h.pid)
    sampler = Sampler(sup)
    wait_for(lambda: sampler.sample().workers[0].state.value == "stopped")
    sup.kill(h.pid)
    assert exit_of(sup, h.pid, timeout=2) == -9


def test_daemon_terminated_non_daemon_asked_to_finish(make_supervisor: SupervisorFactory) -> None:
    sup = make_supervisor(count=1, daemon=True, workload="sleep")
    d = sup.start()[0]
    n = sup.add(daemon=False)
    sup.shutdown()
    assert d.exitcode == -signal.SIGTERM  # as multiprocessing does with daemonic children
    assert n.exitcode == 0  # finished its loop when asked


def test_shutdown_is_bounded_whatever_the_workers_do(make_supervisor: SupervisorFactory) -> None:
    """Suspended, ignoring SIGTERM, mid long task, blocked on a full queue: under 3 s, all gone."""
    stuck: list[Supervisor] = []
    for workload in (
        "tests.targets:ignore_sigterm",
        "tests.targets:long_task",
        "tests.targets:big_result",
        "sleep",
    ):
        sup = make_supervisor(count=1, daemon=False, workload=workload)
        sup.start()
        feed(sup, 8)
        stuck.append(sup)
    suspended = stuck[-1].handles()[0]
    stuck[-1].suspend(suspended.pid)
    # let the big results fill the pipe and the SIGTERM handler be set
    big = stuck[2].handles()[0]
    # one 1 MiB result is in the pipe (nobody reads it), the next waits in the feeder
    wait_for(
        lambda: (
            sum(b.read()[0] for _, b in big.blocks) >= 1
            and sum(b.read()[2] for _, b in big.blocks) >= 2
        ),
        timeout=10,
    )
    wait_for(lambda: ignores_sigterm(stuck[0].handles()[0].pid), timeout=10)
    for sup in stuck:
        pids = [h.pid for h in sup.handles()]
        t0 = time.monotonic()
        sup.shutdown()
        elapsed = time.monotonic() - t0
        assert elapsed < 3.0, (sup.handles()[0].workload, elapsed)
        assert alive(pids) == []
    ignorer = stuck[0].handles()[0]
    assert ignorer.exitcode == -signal.SIGKILL
    assert f"{ignorer.pid} ignored SIGTERM: SIGKILL" in events(stuck[0])


def test_supervisors_share_one_forkserver_and_a_second_one_does_not_wait_for_it(
    make_supervisor: SupervisorFactory,
) -> None:
    """The forkserver preloads mptop and the main script once; the next Supervisor of the same
    process finds it running and starts at once (it once waited 10 s for a 'ready' file that only
    a new server writes)."""
    from mptop.workers import cpython, helper_processes

    first = make_supervisor(count=1)
    first.start()
    server = cpython.forkserver_pid()
    assert server is not None
    t0 = time.monotonic()
    second = make_supervisor(count=1)
    prepared = time.monotonic() - t0
    (h,) = second.start()
    wait_for(lambda: h.guarded, timeout=10)
    assert cpython.forkserver_pid() == server
    assert psutil.Process(h.pid).ppid() == server
    assert prepared < helper_processes.READY_TIMEOUT / 2, prepared
