"""The /proc fast path of the probe agrees with psutil on real processes, and knows a reused PID."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator

import psutil
import pytest

from mptop.workers import proc_stat
from mptop.workers.probe import GONE, ProcessProbe, ProcessReading
from mptop.workers.snapshot import WorkerState
from tests.helpers import wait_for

pytestmark = [
    pytest.mark.timeout(30),
    pytest.mark.skipif(not proc_stat.AVAILABLE, reason="/proc/PID/stat is Linux's"),
]

# a child that names itself with the characters that break a naive split of the stat line,
# then burns CPU for a moment and sleeps
CHILD = """\
import sys, time
with open("/proc/self/comm", "w") as f:
    f.write("a) b (c")
t = time.process_time()
while time.process_time() - t < 0.3:
    pass
data = bytearray(20 << 20)  # 20 MiB, touched
print("up", flush=True)
time.sleep(60)
"""


@pytest.fixture
def child() -> Iterator[psutil.Popen]:
    proc = psutil.Popen([sys.executable, "-c", CHILD], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline() == "up\n"
        wait_for(lambda: proc.status() == psutil.STATUS_SLEEPING)
        yield proc
    finally:
        proc.kill()
        proc.wait(10)


def test_read_stat_agrees_with_psutil(child: psutil.Popen) -> None:
    assert child.name() == "a) b (c"  # the command has ") " in it: fields split after the last
    stat = proc_stat.read_stat(child.pid)
    assert stat is not None
    times = child.cpu_times()
    assert stat.state == "S"
    assert stat.ppid == child.ppid()
    assert stat.cpu_seconds == pytest.approx(times.user + times.system, abs=0.02)
    assert stat.cpu_seconds >= 0.3
    assert stat.core == child.cpu_num()
    rss = child.memory_info().rss
    assert stat.rss > 20 << 20
    assert abs(stat.rss - rss) < 1 << 20  # the same counter, read a moment apart
    created = psutil.boot_time() + stat.start_ticks / proc_stat.CLOCK_TICKS
    assert created == pytest.approx(child.create_time(), abs=1.0)


def test_read_stat_of_a_gone_process_is_none() -> None:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait(10)
    assert proc_stat.read_stat(proc.pid) is None


def test_the_probe_reads_state_cpu_and_rss_and_a_stopped_process(child: psutil.Popen) -> None:
    probe = ProcessProbe()
    first = probe.read(child, time.monotonic())
    assert first.state is WorkerState.SLEEPING and first.rss and first.rss > 20 << 20
    assert first.ppid == child.ppid() and first.core is not None
    child.suspend()
    try:

        def stopped_with_a_figure() -> ProcessReading | None:
            r = probe.read(child, time.monotonic())
            return r if r.state is WorkerState.STOPPED and r.cpu_percent is not None else None

        reading = wait_for(stopped_with_a_figure)
        assert reading is not None and reading.cpu_percent is not None
        assert reading.cpu_percent < 5  # it is stopped
    finally:
        child.resume()


def test_a_reused_pid_reads_as_gone(child: psutil.Popen) -> None:
    probe = ProcessProbe()
    assert probe.read(child, time.monotonic()).state is WorkerState.SLEEPING
    # the PID now names a process that started at another time (what reuse looks like)
    probe._start_ticks[child.pid] -= 100
    assert probe.read(child, time.monotonic()) is GONE
    probe.forget(child.pid)  # a new handle of the same PID is read afresh
    assert probe.read(child, time.monotonic()).state is WorkerState.SLEEPING


def test_an_exited_process_reads_as_gone() -> None:
    proc = psutil.Popen([sys.executable, "-c", "pass"])
    probe = ProcessProbe()
    proc.wait(10)
    assert probe.read(proc, time.monotonic()) is GONE
