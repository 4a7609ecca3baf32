"""Traffic accounting on real processes: message counts and pickled byte counts are exact."""

from __future__ import annotations

import pickle
import time

import pytest

from mptop.workers.dispatcher import Dispatcher
from mptop.workers.sampler import Sampler
from mptop.workers.workloads import Task
from tests.conftest import START_METHODS, SupervisorFactory
from tests.helpers import wait_for

pytestmark = pytest.mark.timeout(60)


@pytest.mark.parametrize("method", START_METHODS)
def test_k_tasks_out_k_results_in_with_exact_bytes(
    make_supervisor: SupervisorFactory, method: str
) -> None:
    k = 25
    sup = make_supervisor(count=2, start_method=method, workload="sleep")
    sup.start()
    sent_bytes = 0
    for seq in range(k):
        task = Task(seq, 0.001)
        sup.tasks.put(task)
        sent_bytes += len(pickle.dumps(task, pickle.HIGHEST_PROTOCOL))
    results = [sup.results.get(timeout=10) for _ in range(k)]
    result_bytes = sum(len(pickle.dumps(r, pickle.HIGHEST_PROTOCOL)) for r in results)
    assert sorted(r.seq for r in results) == list(range(k))

    snap = Sampler(sup).sample()
    tasks, res = snap.channels
    assert (tasks.name, tasks.sent, tasks.received, tasks.backlog) == ("tasks", k, k, 0)
    assert tasks.sent_bytes == tasks.received_bytes == sent_bytes
    assert (res.name, res.sent, res.received, res.backlog) == ("results", k, k, 0)
    assert res.sent_bytes == res.received_bytes == result_bytes
    # every task was taken by one of the workers, and each answered what it took
    tasks_taken = sum(
        b.read()[2] for h in sup.handles() for c, b in h.blocks if c.info.name == "tasks"
    )
    results_sent = sum(
        b.read()[0] for h in sup.handles() for c, b in h.blocks if c.info.name == "results"
    )
    assert tasks_taken == k and results_sent == k
    assert {r.pid for r in results} <= {h.pid for h in sup.handles()}


def test_dispatcher_keeps_workers_busy_and_rates_show(make_supervisor: SupervisorFactory) -> None:
    sup = make_supervisor(count=2, workload="sleep")
    sup.start()
    dispatcher = Dispatcher(sup, task_seconds=0.01)
    dispatcher.start()
    try:
        sampler = Sampler(sup)
        first = sampler.sample()
        assert all(w.cpu_percent is None for w in first.workers)  # no fake 0.0 on a first sample
        wait_for(lambda: dispatcher.results_received >= 20)
        snap = sampler.sample()
        tasks, results = snap.channels
        assert tasks.sent > 0 and results.received == dispatcher.results_received
        assert tasks.msgs_per_s is not None and tasks.msgs_per_s > 0
        assert all(w.msgs_in_per_s is not None for w in snap.workers)
        assert sum(w.msgs_out_per_s or 0 for w in snap.workers) > 0
    finally:
        sup.shutdown()
        dispatcher.stop()


def test_cores_fill_up_with_cpu_workers(make_supervisor: SupervisorFactory) -> None:
    """Two cpu workers on this 2-core machine: each near one full core, and both cores marked."""
    sup = make_supervisor(count=2, workload="cpu")
    sup.start()
    dispatcher = Dispatcher(sup, task_seconds=0.05)
    dispatcher.start()
    try:
        sampler = Sampler(sup)
        sampler.sample()

        def busy() -> bool:
            time.sleep(0.3)
            snap = sampler.sample()
            return all((w.cpu_percent or 0) > 50 for w in snap.workers) and all(
                w.core is not None for w in snap.workers
            )

        wait_for(busy, timeout=15)
        snap = sampler.sample()
        marked = {pid for c in snap.cores for pid in c.worker_pids}
        assert marked == {w.pid for w in snap.workers}
    finally:
        sup.shutdown()
        dispatcher.stop()
