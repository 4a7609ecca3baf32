"""StopFlag: set in mptop, seen by a real worker process under every start method."""

from __future__ import annotations

import multiprocessing
import time
from typing import Any

import pytest

from mptop.workers.flag import StopFlag

pytestmark = pytest.mark.timeout(30)


def wait_until_set(flag: StopFlag, started: object) -> None:
    started.value = 1  # type: ignore[attr-defined]
    while not flag.is_set():
        time.sleep(0.005)


@pytest.mark.parametrize("method", ["fork", "forkserver", "spawn"])
def test_a_worker_sees_the_flag_and_returns(method: str) -> None:
    ctx: Any = multiprocessing.get_context(method)
    flag = StopFlag(ctx)
    started = ctx.RawValue("b", 0)
    p = ctx.Process(target=wait_until_set, args=(flag, started), daemon=True)
    p.start()
    try:
        deadline = time.monotonic() + 20
        while not started.value and time.monotonic() < deadline:
            time.sleep(0.01)
        assert started.value, "the child never ran"
        p.join(0.2)
        assert p.exitcode is None, "the child returned before the flag was set"
        assert not flag.is_set()
        flag.set()
        p.join(10)
        assert p.exitcode == 0
        assert flag.is_set()
    finally:
        if p.is_alive():
            p.kill()
            p.join(5)
