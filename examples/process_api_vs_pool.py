"""The Process API vs the Pool API: the same 16 tasks, done both ways.

Process API: one new Process per task (named task-0 ... task-15), 4 at a time, each
putting its result on one Queue that the main process reads. Pool API: Pool(4) does
the same 16 tasks on 4 processes that stay up and take task after task.

Each side prints how many PIDs it started, what starting them cost (from the moment
it starts a batch of 4, by 4 start() calls or by Pool(4), to each new process running
our code: with spawn, a fresh interpreter that imports this file) and how long the
whole side took. Each task is the same pure-Python loop
(about 40 ms on one idle core). Run: python examples/process_api_vs_pool.py
[--start-method fork]. Under mptop: mptop --scenario process-api-vs-pool.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import sys
import time
from multiprocessing.queues import Queue

TASKS = 16
AT_ONCE = 4  # processes at a time on both sides: 4 Process objects, Pool(4)
LOOP = 1_000_000  # one task: sum(i * i for i in range(LOOP))

STARTED_AT = 0.0  # a Pool worker: seconds from Pool() to its initializer (set there)


def compute() -> float:
    """The task itself; returns the seconds it took."""
    t = time.monotonic()
    sum(i * i for i in range(LOOP))
    return time.monotonic() - t


def one_task(seq: int, asked: float, results: Queue[tuple[int, int, float, float]]) -> None:
    """The Process API's target: one task in a process of its own, then the process ends.

    ``asked`` is when the parent began to start this batch of 4 (time.monotonic() is one
    clock for every process on Linux), so ``running - asked`` is this process's start cost,
    measured as for a Pool worker (from the Pool() call that starts all 4).
    """
    running = time.monotonic()
    seconds = compute()
    results.put((seq, os.getpid(), running - asked, seconds))


def pool_start(asked: float) -> None:
    """The Pool's initializer: runs once in each worker process as it starts."""
    global STARTED_AT
    STARTED_AT = time.monotonic() - asked


def pool_task(seq: int) -> tuple[int, int, float, float]:
    """The same task in a Pool worker, which stays up for the next one."""
    return seq, os.getpid(), STARTED_AT, compute()


def report(side: str, results: list[tuple[int, int, float, float]], wall: float) -> None:
    starts = {pid: start for _, pid, start, _ in results}  # one start per PID
    per_pid: dict[int, int] = {}
    for _, pid, _, _ in results:
        per_pid[pid] = per_pid.get(pid, 0) + 1
    counts = " ".join(str(per_pid[pid]) for pid in sorted(per_pid))
    # at most 74 characters a line: the lesson panel shows them whole at 80 columns
    print(f"{side + ':':<12} {len(starts)} PIDs, tasks per PID: {counts}", flush=True)
    print(
        f"{'':<12} start cost: median {statistics.median(starts.values()) * 1000:.0f} ms, "
        f"{sum(starts.values()):.2f} s in all; done in {wall:.2f} s",
        flush=True,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--start-method",
        choices=["fork", "forkserver", "spawn"],
        default="spawn",
        help="how both sides start processes (default: spawn, as on macOS and Windows)",
    )
    args = parser.parse_args()
    ctx = multiprocessing.get_context(args.start_method)
    print(
        f"{TASKS} tasks, {AT_ONCE} processes at a time, start method {args.start_method}",
        flush=True,
    )

    # The Process API: a Process per task, 4 at a time; results come back on a Queue.
    results_queue: Queue[tuple[int, int, float, float]] = ctx.Queue()
    begun = time.monotonic()
    by_hand: list[tuple[int, int, float, float]] = []
    for first in range(0, TASKS, AT_ONCE):
        batch = []
        asked = time.monotonic()  # as Pool() below: one moment for the 4 starts
        for seq in range(first, min(first + AT_ONCE, TASKS)):
            p = ctx.Process(target=one_task, args=(seq, asked, results_queue), name=f"task-{seq}")
            p.start()
            batch.append(p)
        # Take the results before join(): a process that has put on a Queue exits only
        # once its data is in the pipe (multiprocessing's "joining processes that use queues").
        by_hand += [results_queue.get() for _ in batch]
        for p in batch:
            p.join()
    report("Process API", by_hand, time.monotonic() - begun)

    # The Pool API: the same tasks on Pool(4); its 4 workers take task after task.
    begun = time.monotonic()
    with ctx.Pool(AT_ONCE, initializer=pool_start, initargs=(begun,)) as pool:
        pooled = pool.map(pool_task, range(TASKS), chunksize=1)
        # close() + join(): the workers finish and exit with 0 (leaving `with` would
        # terminate() them).
        pool.close()
        pool.join()
    report("Pool API", pooled, time.monotonic() - begun)
    return 0


# The guard: under spawn and forkserver each new process imports this file afresh;
# without it, every one of them would run main() again.
if __name__ == "__main__":
    sys.exit(main())
