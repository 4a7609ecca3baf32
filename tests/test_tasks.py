"""Tasks per worker (workers/tasks.py): counted from taken and answered messages, on real workers."""

from __future__ import annotations

from pathlib import Path

import pytest

from mptop.workers.tasks import TaskTracker
from tests.helpers import reap_recorded

pytestmark = pytest.mark.timeout(60)


def test_a_task_runs_from_the_tick_its_counts_changed() -> None:
    t = TaskTracker()
    assert t.read(1, 0, 0, 10.0, True).seconds is None  # idle: took nothing
    assert t.read(1, 1, 0, 11.0, True).seconds == 0.0  # took one since the last tick
    assert t.read(1, 1, 0, 14.5, True).seconds == 3.5  # still on it
    r = t.read(1, 2, 1, 15.0, True)  # answered it and took the next
    assert (r.done, r.seconds) == (1, 0.0)
    assert t.read(1, 2, 1, 16.0, False).seconds is None  # dead: no task in flight


def test_a_worker_in_a_long_task_shows_how_long_and_its_count(tmp_path: Path) -> None:
    from mptop.workers.headless import open_output, run_headless
    from mptop.workers.record import read_recording, scenario_record
    from mptop.workers.spawn_source import SpawnSource
    from mptop.workers.spec import Scenario, WorkerSpec

    scenario = Scenario.simple(2, WorkerSpec(workload="sleep", task_seconds=1.5), interval=0.25)
    path = tmp_path / "tasks.jsonl"
    run_headless(
        SpawnSource(scenario, start_first=True), open_output(path, scenario_record(scenario)), 4.0
    )
    rec = read_recording(path)
    reap_recorded(rec.snapshots)
    rows = [w for s in rec.snapshots for w in s.workers if w.alive]
    # inside a 1.5 s task for more than 1 s (ticks of 0.25 s: the start is known to a tick)
    longest = max(w.current_task_seconds or 0.0 for w in rows)
    assert 1.0 <= longest < 1.5 + 0.5, longest
    last = rec.snapshots[-1]
    done = sum(w.tasks_done or 0 for w in last.workers)
    results = next(c for c in last.channels if c.name == "results")
    assert done == results.sent >= 2  # each worker answered at least one task
