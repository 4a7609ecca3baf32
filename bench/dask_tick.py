"""What one tick of ``mptop dask`` costs, at 2 and 8 workers of a local cluster.

A real :class:`~mptop.workers.dask_source.DaskSource` starts a local cluster
(its sampling thread not started: the bench takes the ticks), and in
interleaved rounds times:

- **tick**: ``DaskSource._sample()``, all of it: one RPC to the scheduler's
  ``mptop_tally`` handler (its own figures, and each worker's tally as of its
  last heartbeat), psutil's readings of this host's workers, the rows,
  channels and events;
- **baseline**, measured in the same run: the cheapest question to the
  scheduler, ``client.scheduler.ncores()`` (one RPC, a dict of the workers'
  threads back): what asking the cluster at all costs.

The ratio says what mptop's tally and bookkeeping add to one Dask RPC.
Printed: medians in milliseconds, wall time of the tick (it waits on the
cluster's processes) and mptop's own CPU time per tick (what the tick takes
from the machine in mptop's process).

    python -m bench.dask_tick [WORKERS ...] [--rounds N] [--rows]

Default workers: 2 8. ``--rows``: the figures as rows of bench/table.py on the
last line (JSON). Reported, not judged: the issue asks for the figures.
"""

from __future__ import annotations

import argparse
import statistics
import time

from bench.table import ROWS_FLAG, Row, emit
from mptop.workers.dask_source import DaskSource


def _bare(source: DaskSource) -> None:
    """One RPC with next to nothing in it (the baseline)."""

    async def trip() -> None:
        await source._client.scheduler.ncores()

    source._call(trip(), 30)


def measure(workers: int, rounds: int) -> dict[str, float]:
    """Medians of the tick and the baseline at ``workers`` workers: wall ms, and mptop's CPU ms."""
    source = DaskSource(workers=workers, threads=1, interval=1.0)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            snap = source._sample()
            if sum(1 for w in snap.workers if w.name.startswith("worker-") and w.rss) == workers:
                break
            time.sleep(0.2)
        wall: dict[str, list[float]] = {"tick": [], "bare": []}
        cpu: dict[str, list[float]] = {"tick": [], "bare": []}
        for _ in range(rounds):
            for what, f in (("bare", lambda: _bare(source)), ("tick", source._sample)):
                c0, t0 = time.process_time(), time.perf_counter()
                f()
                wall[what].append(time.perf_counter() - t0)
                cpu[what].append(time.process_time() - c0)
                time.sleep(0.05)
        return {
            f"{kind}_{what}": statistics.median(values) * 1000
            for kind, series in (("wall", wall), ("cpu", cpu))
            for what, values in series.items()
        }
    finally:
        source.close()


def main() -> None:
    """Print the medians per worker count; ``--rows``: then the rows as JSON."""
    p = argparse.ArgumentParser(prog="python -m bench.dask_tick")
    p.add_argument("workers", nargs="*", type=int, default=[2, 8])
    p.add_argument("--rounds", type=int, default=15)
    p.add_argument(ROWS_FLAG, action="store_true")
    args = p.parse_args()
    rows: list[Row] = []
    note = "baseline: one RPC to the scheduler (client.scheduler.ncores)"
    for n in args.workers:
        m = measure(n, args.rounds)
        print(
            f"{n} workers, {args.rounds} rounds, medians: tick {m['wall_tick']:.1f} ms"
            f" (mptop CPU {m['cpu_tick']:.1f} ms), bare RPC {m['wall_bare']:.1f} ms"
            f" (CPU {m['cpu_bare']:.1f} ms), ratio {m['wall_tick'] / m['wall_bare']:.2f}"
        )
        rows.append(
            Row(f"dask tick: {n} workers, wall", m["wall_tick"], "ms", m["wall_bare"], note=note)
        )
        rows.append(
            Row(f"dask tick: {n} workers, mptop CPU", m["cpu_tick"], "ms", m["cpu_bare"], note=note)
        )
    if args.rows:
        emit(rows)


if __name__ == "__main__":
    main()
