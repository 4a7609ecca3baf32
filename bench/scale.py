"""Scale: starting, sampling and stopping hundreds of workers, each against a bare baseline.

``start N``: mptop's engine (a :class:`Supervisor`, the default start method,
``sleep`` workers, ``--ipc none``, no UI) from ``prepare()`` until every worker
has run its first line (its ``ready`` flag), against a bare ``multiprocessing``
loop of ``Process.start()`` with the same method and count, in the same run,
until each child has set its flag. Then ``shutdown()`` of them all, against a
bare ``terminate()`` + ``join()`` of the bare children.

``tick N``: one ``Sampler.sample()`` of N sleeping workers (threads off), in
interleaved rounds with a raw Python read of ``/proc/PID/stat`` and
``/proc/PID/statm`` for the same PIDs: the floor for reading a process's
state, CPU, core and RSS from Python.

    python -m bench.scale start [N ...]     # default 256 1024
    python -m bench.scale tick [N ...]      # default 256 1024
    python -m bench.scale all               # both, as `python -m bench` runs it

On a 2-core machine every worker's start costs CPU on the same two cores as
mptop and the forkserver, so the start figures shrink with more cores. The
tick is single-threaded and does not.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

from bench.table import ROWS_FLAG, Row, emit, render
from bench.timing import timed

# mptop's modules are imported inside the functions that use them: the bare baseline's
# children must not pay for them.
START_GOALS = {256: 3.0, 1024: 10.0}  # seconds until all run (issue "Scale and endurance")
TICK_GOALS = {256: 25.0, 1024: 100.0}  # ms per tick
SHUTDOWN_GOAL = 5.0  # seconds, at 1024
MAX_START_RATIO = 1.5
MAX_TICK_RATIO = 2.0


def _bare_child(flags: Any, i: int) -> None:
    flags[i] = 1
    time.sleep(3600)


def bare_start(n: int, method: str) -> tuple[float, float]:
    """Seconds until ``n`` bare children all ran their first line, then to stop them all."""
    ctx: Any = multiprocessing.get_context(method)
    flags = ctx.RawArray(ctypes.c_byte, n)
    warm = ctx.Process(target=_bare_child, args=(flags, 0))  # starts the forkserver
    warm.start()
    while not flags[0]:
        time.sleep(0.005)
    warm.kill()
    warm.join()
    flags[0] = 0
    t0 = time.perf_counter()
    procs = []
    for i in range(n):
        p = ctx.Process(target=_bare_child, args=(flags, i), daemon=True)
        p.start()
        procs.append(p)
    _wait(lambda: all(flags), 120)
    started = time.perf_counter() - t0
    t1 = time.perf_counter()
    for p in procs:
        p.terminate()
    for p in procs:
        p.join()
    stopped = time.perf_counter() - t1
    if method == "forkserver":
        from mptop.workers.cpython import stop_forkserver

        # else mptop's next run would find this server running, without mptop's preloads
        stop_forkserver()
    return started, stopped


def mptop_start(n: int) -> tuple[float, float, str]:
    """Seconds from ``prepare()`` until ``n`` workers all run, and for ``shutdown()``; the method."""
    from mptop.workers.spec import Scenario, WorkerSpec
    from mptop.workers.supervisor import Supervisor

    scenario = Scenario.simple(n, WorkerSpec(workload="sleep"), ipc="none")
    sup = Supervisor(scenario)
    try:
        t0 = time.perf_counter()
        sup.prepare()
        handles = sup.start()
        _wait(lambda: all(h.ready.value for h in handles), 120)
        started = time.perf_counter() - t0
        t1 = time.perf_counter()
        sup.shutdown()
        return started, time.perf_counter() - t1, scenario.start_method
    finally:
        sup.shutdown()


def _wait(cond: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise TimeoutError(f"not done within {timeout} s")
        time.sleep(0.005)


def start_rows(counts: list[int]) -> list[Row]:
    """Start and shutdown rows for each count (mptop first, then bare, per count)."""
    rows = []
    for n in counts:
        started, stopped, method = mptop_start(n)
        bare, bare_stop = bare_start(n, method)
        rows.append(
            Row(
                f"start {n} sleeping workers ({method}, --ipc none)",
                started,
                "s",
                bare,
                max_value=START_GOALS.get(n),
                max_ratio=MAX_START_RATIO,
                note="baseline: a bare multiprocessing start() loop, same method and count",
            )
        )
        rows.append(
            Row(
                f"shutdown of {n} sleeping workers",
                stopped,
                "s",
                bare_stop,
                max_value=SHUTDOWN_GOAL if n >= 1024 else None,
                note="baseline: terminate() then join() of the bare children",
            )
        )
    return rows


def raw_read(pids: list[int]) -> None:
    """Read ``/proc/PID/stat`` and ``/proc/PID/statm`` of each PID, and split the fields."""
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat", "rb") as f:
                stat = f.read()
            with open(f"/proc/{pid}/statm", "rb") as f:
                statm = f.read()
        except OSError:
            continue
        stat[stat.rfind(b")") + 2 :].split()
        statm.split()


def tick_rows(counts: list[int], rounds: int = 15) -> list[Row]:
    """One row per count: median ms of a Sampler tick, against the raw /proc read."""
    from mptop.workers.spawn_source import SpawnSource
    from mptop.workers.spec import Scenario, WorkerSpec

    rows = []
    for n in counts:
        scenario = Scenario.simple(n, WorkerSpec(workload="sleep"), ipc="none")
        source = SpawnSource(scenario, start_first=True)
        try:
            source.start(lambda snap: None, lambda line: None)
            source.sampling.stop()  # the bench takes the ticks itself
            _wait(lambda: len(source.supervisor.alive_pids()) >= n, 120)  # noqa: B023
            pids = source.supervisor.alive_pids()
            sampler = source.sampler
            sampler.sample()
            base, tick = [], []
            for _ in range(rounds):
                base.append(timed(lambda: raw_read(pids)))  # noqa: B023
                tick.append(timed(sampler.sample))
            b, t = statistics.median(base) * 1000, statistics.median(tick) * 1000
        finally:
            source.close()
        rows.append(
            Row(
                f"tick of {n} sleeping workers",
                t,
                "ms",
                b,
                max_value=TICK_GOALS.get(n),
                max_ratio=MAX_TICK_RATIO,
                note="baseline: a raw Python read of /proc/PID/stat and statm, same PIDs",
            )
        )
    return rows


def main(argv: list[str]) -> None:
    """``start``/``tick``/``all`` [N ...]; ``--rows`` prints the rows as JSON too."""
    json_rows = ROWS_FLAG in argv
    argv = [a for a in argv if a != ROWS_FLAG]
    what = argv[0] if argv else "all"
    counts = [int(a) for a in argv[1:]] or [256, 1024]
    rows: list[Row] = []
    if what in ("start", "all"):
        rows += start_rows(counts)
    if what in ("tick", "all"):
        rows += tick_rows(counts)
    if not rows:
        print(f"python -m bench.scale: unknown benchmark {what!r} (start, tick or all)")
        raise SystemExit(2)
    print(render(rows))
    if json_rows:
        emit(rows)


if __name__ == "__main__":
    main(sys.argv[1:])
