"""The engine on real processes: start, add, terminate, kill, suspend, shut down."""

from __future__ import annotations

import contextlib
import signal
import sys
import time
from pathlib import Path

import psutil
import pytest

from mptop.workers.snapshot import describe_exitcode
from mptop.workers.supervisor import NoSuchWorker, Supervisor
from tests.conftest import START_METHODS, SupervisorFactory
from tests.helpers import alive, wait_for

pytestmark = pytest.mark.timeout(60)


def exited(sup: object, pid: int) -> int | None:
    sup.poll()  # type: ignore[attr-defined]
    return sup.handle(pid).exitcode  # type: ignore[attr-defined,no-any-return]


@pytest.mark.parametrize("method", START_METHODS)
def test_start_add_terminate_kill_shutdown(make_supervisor: SupervisorFactory, method: str) -> None:
    sup = make_supervisor(count=2, start_method=method)
    first = sup.start()
    assert len({h.pid for h in first}) == 2
    added = sup.add()
    pids = sup.alive_pids()
    assert len(pids) == 3 and added.pid in pids
    for pid in pids:
        assert psutil.pid_exists(pid)

    sup.terminate(first[0].pid)
    assert wait_for(lambda: exited(sup, first[0].pid) is not None) and first[0].exitcode == -15
    sup.kill(first[1].pid)
    wait_for(lambda: exited(sup, first[1].pid) is not None)
    assert first[1].exitcode == -9

    sup.shutdown()
    assert alive(pids) == []
    texts = [e.text for e in sup.drain_events()]
    assert f"started {added.pid} (daemon, {method})" in texts
    assert f"sent SIGTERM to {first[0].pid}" in texts
    assert f"{first[0].pid} exited with -15 (SIGTERM)" in texts
    assert f"{first[1].pid} exited with -9 (SIGKILL)" in texts


def test_signals_refuse_dead_and_foreign_pids(make_supervisor: SupervisorFactory) -> None:
    sup = make_supervisor(count=1)
    (h,) = sup.start()
    sup.kill(h.pid)
    wait_for(lambda: exited(sup, h.pid) is not None)
    with pytest.raises(NoSuchWorker, match=r"has exited \(-9: SIGKILL\)"):
        sup.terminate(h.pid)
    with pytest.raises(NoSuchWorker, match="no such process"):
        sup.kill(1)  # never ours


def stopped(sup: Supervisor, pid: int) -> bool:
    sup.poll()  # sends a SIGSTOP held back while the worker was starting
    return psutil.Process(pid).status() == psutil.STATUS_STOPPED


def test_suspend_resume_and_terminate_while_stopped(make_supervisor: SupervisorFactory) -> None:
    sup = make_supervisor(count=1)
    (h,) = sup.start()
    assert sup.toggle_suspend(h.pid) is True
    wait_for(lambda: stopped(sup, h.pid))
    assert sup.toggle_suspend(h.pid) is False
    wait_for(lambda: psutil.Process(h.pid).status() != psutil.STATUS_STOPPED)
    sup.suspend(h.pid)
    wait_for(lambda: stopped(sup, h.pid))
    sup.terminate(h.pid)  # SIGCONT goes first, so SIGTERM acts at once
    wait_for(lambda: exited(sup, h.pid) is not None, timeout=5)
    assert h.exitcode == -signal.SIGTERM


def test_sigstop_waits_until_the_worker_runs(make_supervisor: SupervisorFactory) -> None:
    """Stopped before its parent-death guard, a worker would outlive a SIGKILLed mptop."""
    sup = make_supervisor(count=1, workload="sleep")
    (h,) = sup.start()
    wait_for(lambda: h.guarded)
    at = h.ready.value
    h.ready.value = 0.0  # as the worker looks before its first lines
    sup.suspend(h.pid)
    assert h.suspended and h.stop_pending
    assert any("still starting" in e.text for e in sup.drain_events())
    deadline = time.monotonic() + 0.3  # nothing may stop it meanwhile, whatever polls
    while time.monotonic() < deadline:
        assert not stopped(sup, h.pid)
    h.ready.value = at
    wait_for(lambda: stopped(sup, h.pid))
    assert not h.stop_pending
    sup.resume(h.pid)
    wait_for(lambda: psutil.Process(h.pid).status() != psutil.STATUS_STOPPED)
    # a resume (or any other signal) while the SIGSTOP waits cancels it
    h.ready.value = 0.0
    sup.suspend(h.pid)
    sup.resume(h.pid)
    h.ready.value = at
    sup.poll()
    assert not h.stop_pending and not h.suspended


def test_non_daemon_workers_finish_on_shutdown(make_supervisor: SupervisorFactory) -> None:
    sup = make_supervisor(count=2, daemon=False)
    handles = sup.start()
    sup.shutdown()
    assert [h.exitcode for h in handles] == [0, 0]
    assert alive(h.pid for h in handles) == []


def test_worker_output_goes_to_its_log(make_supervisor: SupervisorFactory) -> None:
    sup = make_supervisor(count=1)
    (h,) = sup.start()
    out = h.log_paths[0]
    wait_for(lambda: out.exists() and "worker-1 pid" in out.read_text())
    assert f"pid {h.pid} daemon=True" in out.read_text()


@pytest.mark.parametrize(
    ("code", "meaning"),
    [(None, ""), (0, "done"), (1, "error"), (3, "sys.exit(3)"), (-15, "SIGTERM"), (-9, "SIGKILL")],
)
def test_describe_exitcode(code: int | None, meaning: str) -> None:
    assert describe_exitcode(code) == meaning


def test_workers_run_at_the_specs_nice_value() -> None:
    from mptop.workers.spec import DEFAULT_NICE, Scenario, WorkerSpec
    from mptop.workers.supervisor import Supervisor

    own = psutil.Process().nice()
    scenario = Scenario(
        groups=(
            WorkerSpec(workload="sleep", name="niced"),
            WorkerSpec(workload="sleep", name="normal", nice=0),
        ),
    )
    sup = Supervisor(scenario)
    sup.prepare()
    try:
        niced, normal = sup.start()
        # the worker renices itself on its first lines
        assert wait_for(lambda: psutil.Process(niced.pid).nice() == max(own, DEFAULT_NICE))
        assert psutil.Process(normal.pid).nice() == own  # never below mptop's own
    finally:
        sup.shutdown()
        sup.remove_log_dir()
    assert alive([niced.pid, normal.pid]) == []


def thread_nices(pid: int) -> dict[int, int]:
    """Each thread's nice value (Linux keeps one per thread): field 19 of /proc/PID/task/TID/stat."""
    out = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(FileNotFoundError):
            fields = (task / "stat").read_text().rpartition(")")[2].split()
            out[int(task.name)] = int(fields[16])
    return out


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/PID/task")
def test_every_thread_of_a_worker_runs_at_its_nice_value(
    make_supervisor: SupervisorFactory,
) -> None:
    """A thread made before the renice keeps nice 0: 256 of them took mptop's CPU."""
    from mptop.workers.spec import DEFAULT_NICE

    own = psutil.Process().nice()
    sup = make_supervisor(count=1, workload="threads:3")
    (h,) = sup.start()
    wait_for(lambda: psutil.Process(h.pid).num_threads() >= 3)  # threads:3 = 3 busy threads
    nices = thread_nices(h.pid)
    assert len(nices) >= 3
    assert set(nices.values()) == {max(own, DEFAULT_NICE)}, nices


def test_a_niced_mptop_keeps_its_workers_at_its_own_nice_and_says_so() -> None:
    import subprocess
    import sys

    code = """
import os, psutil
from mptop.workers.spec import Scenario, WorkerSpec
from mptop.workers.supervisor import Supervisor
os.nice(5)
sup = Supervisor(Scenario(groups=(WorkerSpec(workload="sleep", nice=3, count=2),)))
sup.prepare()
try:
    handles = sup.start()
    import time
    deadline = time.monotonic() + 30
    while any(h.ready_seconds is None for h in handles) and time.monotonic() < deadline:
        time.sleep(0.01)  # until the workers ran their first lines (where nice is set)
    print([psutil.Process(h.pid).nice() for h in handles])
    print([e.text for e in sup.drain_events() if "nice" in e.text])
finally:
    sup.shutdown()
    sup.remove_log_dir()
"""
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=50)
    assert run.returncode == 0, run.stderr
    nices, said = run.stdout.strip().splitlines()
    own = max(5, psutil.Process().nice())
    assert nices == f"[{own}, {own}]"
    assert said.count("not 3") == 1  # said once, not per worker


def test_toggle_pin_sets_and_restores_affinity(make_supervisor: SupervisorFactory) -> None:
    sup = make_supervisor(count=1)
    pid = sup.add().pid
    ps = psutil.Process(pid)
    everything = ps.cpu_affinity()
    core = sup.toggle_pin(pid)
    assert core is not None and ps.cpu_affinity() == [core]
    assert sup.handle(pid).pinned == core
    assert sup.toggle_pin(pid) is None
    assert ps.cpu_affinity() == everything
    texts = [e.text for e in sup.drain_events()]
    assert f"pinned {pid} to core {core}" in texts
    sup.kill(pid)
    sup.wait_exit(pid, 5)
    with pytest.raises(NoSuchWorker):
        sup.toggle_pin(pid)


def test_groups_with_their_own_start_method_and_affinity_share_the_channels() -> None:
    from mptop.workers.sampler import Sampler
    from mptop.workers.spec import Scenario, WorkerSpec
    from mptop.workers.supervisor import Supervisor
    from mptop.workers.workloads import Task

    last = (psutil.cpu_count() or 1) - 1
    scenario = Scenario(
        groups=(
            WorkerSpec(workload="sleep", start_method="fork", name="forked"),
            WorkerSpec(workload="sleep", start_method="forkserver", name="served"),
            WorkerSpec(workload="sleep", start_method="spawn", name="spawned", affinity=(last,)),
        ),
        start_method="forkserver",
    )
    sup = Supervisor(scenario)
    sup.prepare()
    try:
        handles = sup.start()
        assert [h.name.split("-")[0] for h in handles] == ["forked", "served", "spawned"]
        assert [h.start_method for h in handles] == ["fork", "forkserver", "spawn"]
        assert psutil.Process(handles[2].pid).cpu_affinity() == [last]
        assert handles[2].pinned == last
        for i in range(30):
            sup.tasks.put(Task(i, 0.001))
        results = [sup.results.get(timeout=20) for _ in range(30)]
        assert {r.pid for r in results} <= {h.pid for h in handles}
        snap = Sampler(sup).sample()
        assert [w.start_method for w in snap.workers] == ["fork", "forkserver", "spawn"]
    finally:
        sup.shutdown()
        sup.remove_log_dir()
    assert alive(h.pid for h in handles) == []
