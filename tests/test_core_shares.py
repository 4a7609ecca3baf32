"""Who uses each core: this run's processes, mptop itself, or other processes."""

from __future__ import annotations

import subprocess
import sys
import time

import psutil
import pytest

from mptop.tui.widgets.cores import shares
from mptop.workers.probe import ProcessProbe
from mptop.workers.snapshot import CoreSample, WorkerSample, WorkerState
from tests.helpers import wait_for

pytestmark = pytest.mark.timeout(30)

SPIN = "import os\nos.sched_setaffinity(0, {0})\nprint('ready', flush=True)\nwhile True: pass\n"


def sample(pid: int, core: int | None, cpu: float | None) -> WorkerSample:
    return WorkerSample(
        pid, "w", False, WorkerState.RUNNING, core, cpu, None, None, None, None, None, None
    )


def test_a_busy_process_outside_the_run_is_others_and_the_runs_own_is_its_share() -> None:
    other = subprocess.Popen([sys.executable, "-c", SPIN], stdout=subprocess.PIPE, text=True)
    mine = subprocess.Popen([sys.executable, "-c", SPIN], stdout=subprocess.PIPE, text=True)
    try:
        assert other.stdout is not None and other.stdout.readline().strip() == "ready"
        assert mine.stdout is not None and mine.stdout.readline().strip() == "ready"
        probe = ProcessProbe()
        ps = psutil.Process(mine.pid)

        def core0() -> CoreSample | None:
            now = time.monotonic()
            loads = probe.core_loads(now)
            r = probe.read(ps, now)
            c = probe.cores(loads, [sample(mine.pid, r.core, r.cpu_percent)], now)[0]
            # two spinners share core 0: about half is the run's, half another program's
            return c if c.run_percent >= 25 and c.others_percent >= 25 else None

        got = wait_for(core0, timeout=15, interval=0.3)
        assert got is not None and mine.pid in got.worker_pids
        assert got.run_percent + got.mptop_percent + got.others_percent == pytest.approx(
            got.percent
        )
    finally:
        for p in (other, mine):
            p.kill()
            p.wait(5)


def test_the_meter_splits_its_cells_by_share() -> None:
    core = CoreSample(0, 80.0, (1,), run_percent=40.0, mptop_percent=10.0)
    assert core.others_percent == pytest.approx(30.0)
    assert shares(core, 10) == (4, 1, 3)  # 8 of 10 cells busy: run, mptop, others
    assert shares(CoreSample(1, 100.0, (), run_percent=150.0), 10) == (10, 0, 0)
