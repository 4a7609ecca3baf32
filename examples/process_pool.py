"""ProcessPoolExecutor(max_workers=4): submit() + as_completed(), then executor.map().

--items N is split between the two: the first half goes through submit(), the rest
through map(). Run: python examples/process_pool.py --items 200 --start-method spawn
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed

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


def work(seq: int, payload: bytes) -> tuple[int, int]:
    # returns the worker's PID with the result, so the parent can tell who did what
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

    payloads = [bytes([seq % 256]) * args.size for seq in range(args.items)]
    half = (args.items + 1) // 2
    submitted = received = 0
    by_worker: dict[int, int] = {}  # PID -> tasks it did

    ctx = multiprocessing.get_context(args.start_method)
    # mp_context= makes the executor start its workers with our start method.
    with ProcessPoolExecutor(
        max_workers=4, mp_context=ctx, initializer=init_worker, initargs=(args.slow,)
    ) as executor:
        # submit() returns a Future at once; as_completed() yields each one as it finishes.
        futures = [executor.submit(work, seq, payloads[seq]) for seq in range(half)]
        submitted += len(futures)
        for future in as_completed(futures):
            _seq, pid = future.result()  # re-raises here any exception the worker raised
            received += 1
            by_worker[pid] = by_worker.get(pid, 0) + 1

        # map() is the one-liner for the same thing; its results come back in input order.
        rest = range(half, args.items)
        submitted += len(rest)
        for _seq, pid in executor.map(work, rest, [payloads[seq] for seq in rest]):
            received += 1
            by_worker[pid] = by_worker.get(pid, 0) + 1
    # Leaving the `with` block calls shutdown(wait=True): the workers exit and are joined.

    print(f"COUNT tasks {submitted}", flush=True)
    print(f"COUNT results {received}", flush=True)
    for pid, n in sorted(by_worker.items()):
        print(f"TASKS {pid} {n}", flush=True)
    print("DONE", flush=True)
    return args.exit


# The guard: under spawn and forkserver each worker imports this file afresh; without the
# guard, every worker would run main() again and try to start an executor of its own.
if __name__ == "__main__":
    sys.exit(main())
