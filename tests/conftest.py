"""Fixtures: supervisors on real processes that are always shut down, with a leftover check."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from mptop.workers.spawn_source import SpawnSource
from mptop.workers.spec import Scenario, WorkerSpec
from mptop.workers.supervisor import Supervisor
from tests.helpers import alive, kill_all, wait_for
from tests.terminal import Terminal

START_METHODS = ["forkserver", "spawn", "fork"]

SupervisorFactory = Callable[..., Supervisor]
SourceFactory = Callable[..., SpawnSource]


def simple(count: int, start_method: str, workload: str, daemon: bool, interval: float) -> Scenario:
    """One group of ``count`` workers, as the fixtures build them."""
    return Scenario.simple(
        count,
        WorkerSpec(workload=workload, daemon=daemon),
        start_method=start_method,
        interval=interval,
    )


@pytest.fixture
def make_supervisor() -> Iterator[SupervisorFactory]:
    """Build prepared Supervisors; after the test, shut them down and assert no worker is left."""
    made: list[Supervisor] = []

    def make(
        count: int = 1,
        start_method: str = "forkserver",
        workload: str = "cpu",
        daemon: bool = True,
        interval: float = 0.2,
    ) -> Supervisor:
        sup = Supervisor(simple(count, start_method, workload, daemon, interval))
        sup.prepare()
        made.append(sup)
        return sup

    yield make
    for sup in made:
        sup.shutdown()
        pids = [h.pid for h in sup.handles()]
        try:
            wait_for(lambda pids=pids: not alive(pids), timeout=5)  # type: ignore[misc]
        finally:
            kill_all(pids)
            sup.remove_log_dir()


@pytest.fixture
def make_source() -> Iterator[SourceFactory]:
    """Build spawned-run Sources (prepared, not started); after the test, close them and assert
    no worker is left. Give ``scenario=`` for a whole scenario, or the simple one's fields."""
    made: list[SpawnSource] = []

    def make(
        count: int = 1,
        start_method: str = "forkserver",
        workload: str = "cpu",
        daemon: bool = True,
        interval: float = 0.2,
        scenario: Scenario | None = None,
    ) -> SpawnSource:
        source = SpawnSource(scenario or simple(count, start_method, workload, daemon, interval))
        made.append(source)
        return source

    yield make
    for source in made:
        source.close()
        pids = [h.pid for h in source.supervisor.handles()]
        try:
            wait_for(lambda pids=pids: not alive(pids), timeout=5)  # type: ignore[misc]
        finally:
            kill_all(pids)


@pytest.fixture
def terminal() -> Iterator[list[Terminal]]:
    """Terminals a test opens (append them); their tmux servers are killed afterwards."""
    made: list[Terminal] = []
    yield made
    for t in made:
        t.close()
