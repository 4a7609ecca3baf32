"""Output flood: what a worker printing 10,000 lines a second to stdout and stderr costs a tick.

A real :class:`SpawnSource` runs WORKERS ``sleep`` workers and one
``tests.targets:flood`` worker (10,000 lines a second on each of its stdout
and stderr, into the files mptop keeps for it: never the screen). In
interleaved rounds the flooding worker is suspended (SIGSTOP: the baseline)
and resumed (SIGCONT: the flood), and ``Sampler.sample()`` is timed in both.
The ratio flood/baseline is the tick's slowdown; the goal is at most 1.10.
Also printed: how much the worker wrote (its files grow, on disk, by that
much a second; mptop keeps at most the last 500 lines of each in memory,
read from the last 64 KiB, while the output view is open).

    python -m bench.flood [WORKERS] [ROUNDS]      # default 64 workers, 10 rounds

On 2 cores the flooding worker takes part of one core; with more cores it
competes less with mptop, and the ratio can only shrink.
"""

from __future__ import annotations

import os
import signal
import statistics
import sys
import time
from pathlib import Path

from bench.table import ROWS_FLAG, Row, emit, render

ROOT = Path(__file__).resolve().parent.parent
MAX_RATIO = 1.10


def main(argv: list[str]) -> None:
    """Run the benchmark (see the module's text); ``--rows`` prints the rows as JSON too."""
    json_rows = ROWS_FLAG in argv
    args = [a for a in argv if a != ROWS_FLAG]
    workers = int(args[0]) if args else 64
    rounds = int(args[1]) if len(args) > 1 else 10
    # the workers import tests.targets: the forkserver and its children inherit this path
    os.environ["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p
    )
    sys.path.insert(0, str(ROOT))
    from mptop.workers.spawn_source import SpawnSource
    from mptop.workers.spec import Scenario, WorkerSpec

    scenario = Scenario(
        groups=(
            WorkerSpec(name="sleeper", count=workers, workload="sleep"),
            WorkerSpec(name="flood", count=1, workload="tests.targets:flood"),
        ),
        ipc="none",
    )
    source = SpawnSource(scenario, start_first=True)
    try:
        source.start(lambda snap: None, lambda line: None)
        source.sampling.stop()  # the bench takes the ticks itself
        sup = source.supervisor
        deadline = time.monotonic() + 60
        while len(sup.alive_pids()) < workers + 1 and time.monotonic() < deadline:
            time.sleep(0.1)
        (flood,) = [h for h in sup.handles() if h.name.startswith("flood")]
        out = flood.log_paths[0]
        while not (out.exists() and out.stat().st_size) and time.monotonic() < deadline:
            time.sleep(0.1)  # it runs, and floods
        if not flood.alive or not out.exists():
            raise SystemExit(f"bench.flood: the flooding worker did not run: {sup.handles()[-1]}")
        sampler = source.sampler
        quiet: list[float] = []
        loud: list[float] = []
        written = 0
        for _ in range(rounds):
            os.kill(flood.pid, signal.SIGSTOP)
            time.sleep(0.3)
            quiet += _ticks(sampler.sample)
            os.kill(flood.pid, signal.SIGCONT)
            size0, t0 = out.stat().st_size, time.monotonic()
            time.sleep(0.3)
            loud += _ticks(sampler.sample)
            written += out.stat().st_size - size0
            elapsed = time.monotonic() - t0
        rate = written / (rounds * elapsed) if elapsed else 0.0
    finally:
        source.close()
    q, f = statistics.median(quiet) * 1000, statistics.median(loud) * 1000
    print(f"{workers} sleeping workers and one printing 10,000 lines/s to stdout and stderr")
    print(f"stdout file grew {rate / 2**20:.2f} MiB/s while flooding (stderr as much)")
    rows = [
        Row(
            f"tick of {workers} workers, one flooding its stdout/stderr",
            f,
            "ms",
            q,
            max_ratio=MAX_RATIO,
            note="baseline: the same ticks with the flooding worker suspended",
        )
    ]
    print(render(rows))
    if json_rows:
        emit(rows)


def _ticks(sample: object, n: int = 5) -> list[float]:
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        sample()  # type: ignore[operator]
        out.append(time.perf_counter() - t0)
        time.sleep(0.05)
    return out


if __name__ == "__main__":
    main(sys.argv[1:])
