"""Pool's ordered results: the same 12 tasks through map(), imap() and imap_unordered().

Every task sleeps for its own time (50 to 300 ms), so the 4 workers finish them in
another order than they were given. Each call prints the order its results came back
in, and when the first one came:

    round 1 finished:     1 3 5 2 0 4 ...   (the order the workers put them on the result queue)
    map order:            0 1 2 3 4 5 ...   (one list, once the last task is done)
    imap order:           0 1 2 3 4 5 ...   (each as soon as it AND all before it are done)
    imap_unordered order: 1 3 5 2 0 4 ...   (each as soon as it is done)

The tasks sleep (they wait, as for I/O), so the order depends on their times, not on
the number of cores. Run: python examples/pool_order.py [--rounds 3]
Under mptop: mptop --scenario pool-order (with its lesson), or
mptop run -- python examples/pool_order.py (the same run).
"""

from __future__ import annotations

import argparse
import multiprocessing
import random
import sys
import time

WORKERS = 4
# Round 1's task times, in 25 ms steps: task 0 is the slowest of the first four handed out,
# so under imap every other result waits for it.
STEPS = [12, 2, 8, 4, 10, 2, 6, 9, 4, 11, 3, 6]
STEP = 0.025  # seconds


def work(task: tuple[int, float]) -> tuple[int, float]:
    """Sleep for the task's time; return its number and when it finished.

    time.monotonic() is one clock for every process on Linux (CLOCK_MONOTONIC), so
    the parent can sort the finishing times of all workers.
    """
    seq, seconds = task
    time.sleep(seconds)
    return seq, time.monotonic()


def show(label: str, seqs: list[int], note: str) -> None:
    # One write() per line, flushed at once: the line shows under mptop as it is printed.
    # At most 74 characters: the lesson panel shows it whole at 80 columns.
    numbers = " ".join(str(s) for s in seqs)
    print(f"{label + ':':<21} {numbers:<25}  {note}\n", end="", flush=True)


def one_round(pool: multiprocessing.pool.Pool, number: int, scale: float) -> None:
    """map, imap and imap_unordered over the same tasks: 4 lines, the orders they got."""
    steps = list(STEPS)
    if number > 1:  # other times each round: the unordered order changes, map's never does
        random.Random(number).shuffle(steps)
    tasks = [(seq, s * STEP * scale) for seq, s in enumerate(steps)]

    # map() blocks until every task is done and returns one list, in the input order.
    # chunksize=1: one task per message (the default groups several into one).
    start = time.monotonic()
    results = pool.map(work, tasks, chunksize=1)
    got = time.monotonic() - start
    finished = [seq for seq, _ in sorted(results, key=lambda r: r[1])]
    show(f"round {number} finished", finished, "(result queue order)")
    show("map order", [seq for seq, _ in results], f"(one list, after {got:.2f} s)")

    # imap() yields the results in the input order too: result 3 waits until 0, 1 and 2
    # are done, even if it finished first (the parent holds it back).
    start = time.monotonic()
    seqs, first = [], 0.0
    for seq, _ in pool.imap(work, tasks, chunksize=1):
        first = first or time.monotonic() - start
        seqs.append(seq)
    show("imap order", seqs, f"(first after {first:.2f} s)")

    # imap_unordered() yields each result as soon as a worker has finished it.
    start = time.monotonic()
    seqs, first = [], 0.0
    for seq, _ in pool.imap_unordered(work, tasks, chunksize=1):
        first = first or time.monotonic() - start
        seqs.append(seq)
    show("imap_unordered order", seqs, f"(first after {first:.2f} s)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--rounds", type=int, default=2, help="rounds of the three calls (default 2)"
    )
    parser.add_argument(
        "--scale", type=float, default=1.0, help="multiply every task's sleep (default 1.0)"
    )
    parser.add_argument("--start-method", choices=["fork", "forkserver", "spawn"], default=None)
    args = parser.parse_args()
    if args.rounds < 1 or not 0 < args.scale <= 100:
        parser.error("--rounds must be at least 1 and --scale in (0, 100]")

    ctx = multiprocessing.get_context(args.start_method)
    low, high = (f(STEPS) * STEP * args.scale * 1000 for f in (min, max))
    print(
        f"Pool({WORKERS}), {ctx.get_start_method()}: {len(STEPS)} tasks, each sleeps "
        f"{low:.0f}-{high:.0f} ms; {args.rounds} round(s)",
        flush=True,
    )
    with ctx.Pool(WORKERS) as pool:
        for number in range(1, args.rounds + 1):
            one_round(pool, number, args.scale)
        # Leaving a `with Pool` block calls terminate(); close() + join() lets the workers
        # finish and exit by themselves (exit code 0) instead.
        pool.close()
        pool.join()
    return 0


# The guard: under spawn and forkserver each worker imports this file afresh; without it,
# every worker would run main() again and try to start a pool of its own.
if __name__ == "__main__":
    sys.exit(main())
