"""What one tick of the spawned run costs mptop, with threads (key H) off and on.

N ``sleep`` workers are started by a real :class:`SpawnSource` (not sampling by
itself: its sampling thread is not started); then, in interleaved rounds,
``Sampler.sample()`` is timed with threads off and on, against a baseline
measured in the same run: a bare psutil loop reading what a tick reads of each
process (``oneshot``: status, cpu_times, cpu_num, memory_info). Printed:
median milliseconds per tick and each ratio to the baseline.

    python -m bench.tick_cost [WORKERS] [ROUNDS] [--rows]

``--rows``: then the figures as rows of bench/table.py on the last line
(JSON). No goal is stated for these figures: they are reported, not judged.
"""

from __future__ import annotations

import statistics
import sys
import time

import psutil

from bench.table import ROWS_FLAG, Row, emit
from bench.timing import timed
from mptop.workers.spawn_source import SpawnSource
from mptop.workers.spec import Scenario, WorkerSpec


def tick_rows(workers: int, base: float, off: float, on: float | None) -> list[Row]:
    """Rows for the medians in seconds given: a tick with threads off (and on), in ms."""
    note = "baseline: a bare psutil oneshot loop (status, cpu_times, cpu_num, memory_info)"
    ticks = {"threads off": off} | ({} if on is None else {"threads on (H)": on})
    return [
        Row(f"tick cost: {workers} sleep workers, {what}", t * 1000, "ms", base * 1000, note=note)
        for what, t in ticks.items()
    ]


def main() -> None:
    """Print the medians for ``[WORKERS] [ROUNDS]``; ``--rows``: then the rows as JSON."""
    json_rows = ROWS_FLAG in sys.argv[1:]
    args = [a for a in sys.argv[1:] if a != ROWS_FLAG]
    workers = int(args[0]) if args else 64
    rounds = int(args[1]) if len(args) > 1 else 20
    scenario = Scenario.simple(workers, WorkerSpec(workload="sleep", task_seconds=0.5), interval=1)
    source = SpawnSource(scenario, start_first=True)
    try:
        source.start(lambda snap: None, lambda line: None)
        source.sampling.stop()  # the bench takes the ticks itself
        deadline = time.monotonic() + 60
        while len(source.supervisor.alive_pids()) < workers and time.monotonic() < deadline:
            time.sleep(0.1)
        procs = [psutil.Process(pid) for pid in source.supervisor.alive_pids()]

        def baseline() -> None:
            for p in procs:
                with p.oneshot():
                    p.status()
                    p.cpu_times()
                    p.cpu_num()
                    p.memory_info()

        sampler = source.sampler
        has_threads = hasattr(sampler, "threads_on")

        def tick(threads: bool) -> None:
            if has_threads:
                sampler.threads_on = threads
            sampler.sample()

        base, off, on = [], [], []
        for _ in range(rounds):
            base.append(timed(baseline))
            off.append(timed(lambda: tick(False)))
            if has_threads:
                on.append(timed(lambda: tick(True)))
        b, o = statistics.median(base), statistics.median(off)
        print(f"{len(procs)} sleep workers, {rounds} rounds, medians")
        print(f"baseline psutil loop: {b * 1000:.2f} ms")
        print(f"tick, threads off:    {o * 1000:.2f} ms  ratio {o / b:.2f}")
        if on:
            n = statistics.median(on)
            print(f"tick, threads on (H): {n * 1000:.2f} ms  ratio {n / b:.2f}")
        if json_rows:
            emit(tick_rows(len(procs), b, o, statistics.median(on) if on else None))
    finally:
        source.close()


if __name__ == "__main__":
    main()
