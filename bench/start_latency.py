"""Start latency: from pressing `a` to the new PID in the table, and to its first CPU%.

For each start method, mptop runs headless (Textual's ``run_test``) with one
worker; `a` is pressed ROUNDS times and the time until the new row is in the
worker table, and until its CPU% cell shows a number, is taken (the screen is
drawn on the next frame, within 1/60 s). The baseline, measured in the
same run: a bare ``multiprocessing`` start with the same start method, from
``Process.start()`` until the child has run its first line (it writes to a
pipe). Prints median and p95 in milliseconds and the ratio mptop/bare.

    python bench/start_latency.py [ROUNDS] [--rows]

``--rows``: then the figures as rows of bench/table.py on the last line (JSON;
goal: `a` -> PID row within 100 ms, the median, for every method).
"""

from __future__ import annotations

import asyncio
import multiprocessing
import statistics
import sys
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bench.table import Row
    from mptop.tui.app import MptopApp

# mptop's modules are imported inside the functions that use them: under spawn and
# forkserver every child re-imports this __main__ module, and the bare baseline must
# not pay for Textual.
METHODS = ("forkserver", "spawn", "fork")
ROW_GOAL_MS = 100.0  # from `a` to the new PID in the worker table (docs/PERFORMANCE.md)
ROWS_FLAG = "--rows"  # bench.table.ROWS_FLAG: bench.table is imported only when it is given


def _hello(conn: Connection) -> None:
    conn.send_bytes(b"up")


def bare_start(method: str, rounds: int) -> list[float]:
    """Seconds from ``Process.start()`` to the child's first line, ``rounds`` times."""
    ctx: Any = multiprocessing.get_context(method)
    out = []
    for _ in range(rounds + 1):
        r, w = ctx.Pipe(duplex=False)
        p = ctx.Process(target=_hello, args=(w,))
        t0 = time.perf_counter()
        p.start()
        r.recv_bytes()
        out.append(time.perf_counter() - t0)
        p.join()
    return out[1:]  # the first round starts the forkserver / warms caches


def _cell(app: MptopApp, pid: int, column: str) -> str:
    from mptop.tui.widgets.workers_table import WorkerTable

    return app.query_one(WorkerTable).texts(pid)[column].strip()


async def mptop_start(method: str, rounds: int) -> tuple[list[float], list[float]]:
    """Seconds from `a` to the new row, and to its first CPU% figure, ``rounds`` times."""
    from mptop.tui.app import MptopApp
    from mptop.tui.widgets.workers_table import WorkerTable
    from mptop.workers.spawn_source import SpawnSource
    from mptop.workers.spec import Scenario, WorkerSpec

    scenario = Scenario.simple(1, WorkerSpec(workload="cpu"), start_method=method, interval=1.0)
    source = SpawnSource(scenario)
    sup = source.supervisor
    app = MptopApp(source)
    to_row: list[float] = []
    to_cpu: list[float] = []
    try:
        async with app.run_test(size=(160, 48)) as pilot:
            table = app.query_one(WorkerTable)
            while len(table.order) < 1:
                await asyncio.sleep(0.005)
            for _ in range(rounds):
                before = set(table.order)
                t0 = time.perf_counter()
                # pilot.press() returns only once the app is idle again (100+ ms here), so it
                # runs as a task while the table is watched
                press = asyncio.create_task(pilot.press("a"))
                while len(table.order) == len(before):
                    await asyncio.sleep(0.002)
                to_row.append(time.perf_counter() - t0)
                (new,) = set(table.order) - before
                while _cell(app, new, "cpu").startswith("–"):
                    await asyncio.sleep(0.005)
                to_cpu.append(time.perf_counter() - t0)
                await press
                sup.kill(new)  # keep the machine from filling up with busy workers
            await pilot.press("q")
            while app.is_running:
                await asyncio.sleep(0.01)
    finally:
        source.close()
    return to_row, to_cpu


def p95(xs: list[float]) -> float:
    return statistics.quantiles(xs, n=20)[-1] if len(xs) > 1 else xs[0]


def method_rows(
    method: str, rounds: int, bare: list[float], row: list[float], cpu: list[float]
) -> list[Row]:
    """Two rows for one start method, in ms: `a` -> PID row (against the bare start), -> CPU%."""
    from bench.table import Row

    ms = 1000.0
    med = statistics.median
    return [
        Row(
            f"start latency: a -> PID row ({method})",
            med(row) * ms,
            "ms",
            med(bare) * ms,
            max_value=ROW_GOAL_MS,
            note=f"median of {rounds}, p95 {p95(row) * ms:.1f} ms; baseline: a bare "
            "Process.start() to the child's first line, same method",
        ),
        Row(
            f"start latency: a -> first CPU% ({method})",
            med(cpu) * ms,
            "ms",
            note=f"median of {rounds}, p95 {p95(cpu) * ms:.1f} ms; needs a 0.25 s measuring window",
        ),
    ]


def _import_bench() -> None:
    """Make ``bench.table`` importable when this file runs as ``python bench/start_latency.py``."""
    if not __package__:
        sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> None:
    """Print the table for ``[ROUNDS]`` (default 15); ``--rows``: then the rows as JSON."""
    json_rows = ROWS_FLAG in sys.argv[1:]
    args = [a for a in sys.argv[1:] if a != ROWS_FLAG]
    rounds = int(args[0]) if args else 15
    if json_rows:
        _import_bench()
    rows: list[Row] = []
    print(f"start latency, {rounds} rounds each, ms (median / p95); ratio = mptop / bare median")
    print(
        f"{'method':<11} {'bare start':>14} {'a -> PID row':>14} {'ratio':>6} {'a -> first CPU%':>16}"
    )
    for method in METHODS:
        bare = bare_start(method, rounds)
        row, cpu = asyncio.run(mptop_start(method, rounds))
        b, r, c = (statistics.median(x) * 1000 for x in (bare, row, cpu))
        print(
            f"{method:<11} {b:6.1f} / {p95(bare) * 1000:5.1f} {r:6.1f} / {p95(row) * 1000:5.1f} "
            f"{r / b:6.2f} {c:7.1f} / {p95(cpu) * 1000:6.1f}"
        )
        if json_rows:
            rows += method_rows(method, rounds, bare, row, cpu)
    if json_rows:
        from bench.table import emit

        emit(rows)


if __name__ == "__main__":
    main()
