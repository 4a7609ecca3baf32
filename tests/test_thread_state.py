"""A process whose main thread waits while its other threads compute reads running, not sleeping."""

from __future__ import annotations

import subprocess
import sys
import time

import psutil
import pytest

from mptop.workers.probe import ProcessProbe
from mptop.workers.snapshot import WorkerState

pytestmark = pytest.mark.timeout(30)

SPIN = """
import threading, time
def spin():
    while True:
        pass
for _ in range(2):
    threading.Thread(target=spin, daemon=True).start()
print("ready", flush=True)
time.sleep(60)  # the main thread sleeps
"""


def test_busy_threads_make_a_sleeping_main_thread_read_running() -> None:
    child = subprocess.Popen([sys.executable, "-c", SPIN], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "ready"
        ps = psutil.Process(child.pid)
        probe = ProcessProbe()

        def reads_running() -> bool:
            # /proc/PID/stat alone says "sleeping" (the main thread's state) most of the time
            return probe.read(ps, time.monotonic()).state is WorkerState.RUNNING

        # (without the per-thread look, 1 read in 20 said running here); on a loaded 2-core
        # machine a spinning thread may wait for a core now and then: most reads, not all
        probe.read(ps, time.monotonic())
        time.sleep(0.3)  # one CPU window: the probe looks at threads of a busy process only
        readings = []
        for _ in range(20):
            readings.append(reads_running())
            time.sleep(0.01)
        assert sum(readings) >= 10, readings
    finally:
        child.kill()
        child.wait(5)
