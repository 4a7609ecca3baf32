"""Workloads: parsing, and what each one does to a real process (CPU%, RSS, GIL)."""

from __future__ import annotations

import re
import time

import psutil
import pytest

from mptop.workers.dispatcher import Dispatcher
from mptop.workers.sampler import Sampler
from mptop.workers.spec import ConfigError, WorkerSpec
from mptop.workers.workloads import Workload, parse_workload
from tests.conftest import SupervisorFactory
from tests.helpers import wait_for

pytestmark = pytest.mark.timeout(60)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("cpu", Workload("cpu")),
        ("sleep", Workload("sleep")),
        ("duty:30", Workload("duty", 30)),
        ("memory:64", Workload("memory", 64)),
        ("threads:4", Workload("threads", 4)),
        ("tests.targets:hello", Workload("custom", target="tests.targets:hello")),
    ],
)
def test_parse_good(text: str, expected: Workload) -> None:
    assert parse_workload(text) == expected
    assert str(expected) == text


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("gpu", "unknown workload 'gpu'"),
        ("cpu:3", "cpu takes no parameter"),
        ("duty", "duty needs a parameter"),
        ("duty:abc", "must be a whole number"),
        ("duty:150", "between 0 and 100"),
        ("memory:0", "between 1 and"),
        ("threads:0", "between 1 and 1024"),
        ("no_such_module_xyz:f", "cannot import 'no_such_module_xyz': ModuleNotFoundError"),
        ("tests.targets:nope", "has no attribute 'nope'"),
        ("tests.targets:NOT_CALLABLE", "is not callable"),
    ],
)
def test_parse_bad(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        parse_workload(text)
    with pytest.raises(ConfigError, match=r"^--workload: "):
        WorkerSpec(workload=text)


def measure(sampler: Sampler, pid: int, window: float = 0.6) -> tuple[float, int]:
    """CPU% over ``window`` seconds and RSS in bytes of worker ``pid``."""
    sampler.sample()
    time.sleep(window)  # CPU% is a rate: it needs a measured window, not a condition
    (w,) = [w for w in sampler.sample().workers if w.pid == pid]
    return w.cpu_percent or 0.0, w.rss or 0


def run_one(make_supervisor: SupervisorFactory, workload: str) -> tuple[Sampler, int, Dispatcher]:
    sup = make_supervisor(count=1, workload=workload)
    (h,) = sup.start()
    dispatcher = Dispatcher(sup, task_seconds=0.05)
    dispatcher.start()
    return Sampler(sup), h.pid, dispatcher


def test_duty_cycle_shows_about_its_percent(make_supervisor: SupervisorFactory) -> None:
    sampler, pid, dispatcher = run_one(make_supervisor, "duty:40")
    try:
        wait_for(lambda: 20 < measure(sampler, pid)[0] < 60, timeout=20, interval=0)
    finally:
        dispatcher.stop()


def test_sleep_stays_near_zero_and_cpu_near_one_core(make_supervisor: SupervisorFactory) -> None:
    sampler, pid, dispatcher = run_one(make_supervisor, "sleep")
    try:
        wait_for(lambda: measure(sampler, pid)[0] < 10, timeout=20, interval=0)
    finally:
        dispatcher.stop()
    sampler, pid, dispatcher = run_one(make_supervisor, "cpu")
    try:
        wait_for(lambda: measure(sampler, pid)[0] > 70, timeout=20, interval=0)
    finally:
        dispatcher.stop()


def test_memory_shows_in_rss(make_supervisor: SupervisorFactory) -> None:
    sampler, pid, dispatcher = run_one(make_supervisor, "memory:96")
    try:
        wait_for(lambda: psutil.Process(pid).memory_info().rss > 96 << 20, timeout=20)
        assert measure(sampler, pid, 0.3)[1] > 96 << 20
    finally:
        dispatcher.stop()


def test_threads_stay_near_one_core_the_gil(make_supervisor: SupervisorFactory) -> None:
    """4 busy threads in one process: one runs at a time, so about 100%, never 4 x 100%."""
    sampler, pid, dispatcher = run_one(make_supervisor, "threads:4")
    try:
        wait_for(lambda: psutil.Process(pid).num_threads() >= 4, timeout=20)
        readings = [measure(sampler, pid)[0] for _ in range(3)]
        assert max(readings) < 130, readings
        assert max(readings) > 60, readings
    finally:
        dispatcher.stop()
