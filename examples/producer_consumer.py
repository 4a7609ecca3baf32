"""Producer/consumer: 2 producers -> tasks Queue -> 2 consumers -> results Queue -> main."""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
import time

PRODUCERS = 2
CONSUMERS = 2


def announce() -> None:
    # One write() for the whole line (under python -u, print() writes its text and its "\n"
    # apart, so lines of processes sharing stdout could mix), flushed at once (a forked
    # child would print again whatever its parent had left in the buffer).
    me = multiprocessing.current_process()
    line = f"PROC {os.getpid()} {me.name} parent {os.getppid()}\n"
    print(line, end="", flush=True)


def produce(index: int, items: int, size: int, tasks) -> None:
    announce()
    # Producer `index` makes items index, index+PRODUCERS, ... so together they make `items`.
    for seq in range(index, items, PRODUCERS):
        tasks.put((seq, bytes([seq % 256]) * size))


def consume(tasks, results, slow: float) -> None:
    announce()
    while True:
        item = tasks.get()
        # A sentinel is an agreed "no more work" value. There is one per consumer,
        # because each consumer stops at the first one it takes.
        if item is None:
            break
        seq, payload = item
        time.sleep(slow)
        results.put((seq, len(payload), sum(payload)))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--items", type=int, default=200, help="items in total (default 200)")
    parser.add_argument("--size", type=int, default=64, help="payload bytes per item (default 64)")
    parser.add_argument("--start-method", choices=["fork", "forkserver", "spawn"], default=None)
    parser.add_argument("--exit", type=int, default=0, help="exit status at the end (default 0)")
    parser.add_argument("--slow", type=float, default=0.0, help="seconds of sleep per item")
    args = parser.parse_args()
    announce()

    # A context applies the start method to every Process and Queue made from it.
    ctx = multiprocessing.get_context(args.start_method)
    tasks, results = ctx.Queue(), ctx.Queue()
    producers = [
        ctx.Process(
            target=produce, args=(i, args.items, args.size, tasks), name=f"producer-{i + 1}"
        )
        for i in range(PRODUCERS)
    ]
    consumers = [
        ctx.Process(target=consume, args=(tasks, results, args.slow), name=f"consumer-{i + 1}")
        for i in range(CONSUMERS)
    ]
    for p in producers + consumers:
        p.start()

    # join() waits for a process to end (and reaps it, so it leaves no zombie). Once the
    # producers have ended, all their items are in the queue, so the sentinels come last.
    for p in producers:
        p.join()
    sent = sum(len(range(i, args.items, PRODUCERS)) for i in range(PRODUCERS))
    sentinels = 0
    for _ in consumers:
        tasks.put(None)
        sentinels += 1

    # Drain the results BEFORE joining the consumers: a process that put data on a Queue
    # does not end until that data has been read, so joining first could hang forever.
    received = 0
    for _ in range(sent):
        results.get()
        received += 1
    for p in consumers:
        p.join()

    print(f"COUNT tasks {sent}", flush=True)
    print(f"COUNT results {received}", flush=True)
    print(f"COUNT sentinels {sentinels}", flush=True)
    print("DONE", flush=True)
    return args.exit


# The guard: under spawn and forkserver each child imports this file afresh; without the
# guard, every child would run main() again and start processes of its own.
if __name__ == "__main__":
    sys.exit(main())
