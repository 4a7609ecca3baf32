"""Pool: multiprocessing.Pool(4).map over one batch, then imap_unordered over a second.

--items N is split between the two batches: the first half goes to map(), the rest to
imap_unordered(). Run: python examples/pool_map.py --items 200 --start-method spawn
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
import time

SLOW = 0.0  # set in each worker by init_worker()


def announce() -> None:
    # One write() for the whole line (under python -u, print() writes its text and its "\n"
    # apart, so lines of processes sharing stdout could mix), flushed at once (a forked
    # child would print again whatever its parent had left in the buffer).
    me = multiprocessing.current_process()
    line = f"PROC {os.getpid()} {me.name} parent {os.getppid()}\n"
    print(line, end="", flush=True)


def init_worker(slow: float) -> None:
    # The initializer runs once in every worker process as it starts.
    global SLOW
    SLOW = slow
    announce()


def work(item: tuple[int, bytes]) -> tuple[int, int]:
    # returns the worker's PID with the result, so the parent can tell who did what
    seq, payload = item
    time.sleep(SLOW)
    sum(i * i for i in range(100 + len(payload) % 100))
    return seq, os.getpid()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--items", type=int, default=200, help="items in total (default 200)")
    parser.add_argument("--size", type=int, default=64, help="payload bytes per item (default 64)")
    parser.add_argument("--start-method", choices=["fork", "forkserver", "spawn"], default=None)
    parser.add_argument("--exit", type=int, default=0, help="exit status at the end (default 0)")
    parser.add_argument("--slow", type=float, default=0.0, help="seconds of sleep per item")
    args = parser.parse_args()
    announce()

    items = [(seq, bytes([seq % 256]) * args.size) for seq in range(args.items)]
    half = (len(items) + 1) // 2
    first, second = items[:half], items[half:]
    submitted = received = 0
    by_worker: dict[int, int] = {}  # PID -> tasks it did

    ctx = multiprocessing.get_context(args.start_method)
    with ctx.Pool(4, initializer=init_worker, initargs=(args.slow,)) as pool:
        # map() blocks until every result is back, and keeps the input order. chunksize=1
        # sends one item per message (the default groups items into fewer, larger messages).
        submitted += len(first)
        results = pool.map(work, first, chunksize=1)
        received += len(results)
        for _seq, pid in results:
            by_worker[pid] = by_worker.get(pid, 0) + 1

        # imap_unordered() yields each result as soon as a worker finishes it.
        submitted += len(second)
        for _seq, pid in pool.imap_unordered(work, second):
            received += 1
            by_worker[pid] = by_worker.get(pid, 0) + 1

        # Leaving a `with Pool` block calls terminate(), which kills the workers.
        # close() + join() lets them finish and exit on their own instead.
        pool.close()
        pool.join()

    print(f"COUNT tasks {submitted}", flush=True)
    print(f"COUNT results {received}", flush=True)
    for pid, n in sorted(by_worker.items()):
        print(f"TASKS {pid} {n}", flush=True)
    print("DONE", flush=True)
    return args.exit


# The guard: under spawn and forkserver each worker imports this file afresh; without the
# guard, every worker would run main() again and try to start a pool of its own.
if __name__ == "__main__":
    sys.exit(main())
