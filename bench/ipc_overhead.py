"""Counted channels against raw multiprocessing Queue and Pipe, one producer to one consumer.

For each payload (8 B, 64 B, 4 KiB, 1 MiB of bytes), a producer process puts
N messages and a consumer process takes them; the time from the first put to
the last take gives messages/s. The same run measures the raw
``multiprocessing.Queue``/``Pipe`` (``put``/``get``, ``send``/``recv``) and
mptop's counted ones (:class:`CountedQueue`, :class:`CountedPipeEnd`), which
also pickle once and add to a shared counter per message. Raw and counted
runs alternate, ROUNDS pairs; printed are the median messages/s of each and
the median of the pairs' ratios (adjacent runs share the machine's state, so
the ratio is steadier than either figure). On a busy 2-core machine the
figures move by 10-20% between runs; the ratio much less.

    python bench/ipc_overhead.py [ROUNDS]
"""

from __future__ import annotations

import multiprocessing
import statistics
import sys
import time
from multiprocessing.connection import Connection
from typing import Any

PAYLOADS = ((8, 20_000), (64, 20_000), (4096, 10_000), (1 << 20, 300))
# Both Queues are bounded, as mptop keeps its backlog bounded (2 per worker): an unbounded
# one would let the producer run ahead and measure memory allocation instead of the channel.
MAXSIZE = 8


def _raw_queue_consumer(q: Any, n: int, done: Connection) -> None:
    for _ in range(n):
        q.get()
    done.send(time.perf_counter())


def _counted_queue_consumer(q: Any, counters: Any, n: int, done: Connection) -> None:
    q.bind(counters)
    for _ in range(n):
        q.get()
    done.send(time.perf_counter())


def _raw_pipe_consumer(conn: Connection, n: int, done: Connection) -> None:
    for _ in range(n):
        conn.recv()
    done.send(time.perf_counter())


def _counted_pipe_consumer(end: Any, counters: Any, n: int, done: Connection) -> None:
    end.bind(counters)
    for _ in range(n):
        end.get()
    done.send(time.perf_counter())


def run(kind: str, counted: bool, size: int, n: int) -> float:
    """Messages per second for one producer (this process) and one consumer process."""
    from workers.channels import ChannelInfo, CountedPipeEnd, CountedQueue, Counters

    ctx: Any = multiprocessing.get_context("forkserver")
    done_r, done_w = ctx.Pipe(duplex=False)
    payload = b"\x00" * size
    info = ChannelInfo("bench", kind, "producer", "consumer")
    if kind == "Queue":
        if counted:
            q: Any = CountedQueue(ctx, info, maxsize=MAXSIZE)
            p = ctx.Process(target=_counted_queue_consumer, args=(q, Counters(ctx), n, done_w))
            q.bind(Counters(ctx))
            put = q.put
        else:
            q = ctx.Queue(MAXSIZE)
            p = ctx.Process(target=_raw_queue_consumer, args=(q, n, done_w))
            put = q.put
    else:
        a, b = ctx.Pipe()
        if counted:
            p = ctx.Process(
                target=_counted_pipe_consumer,
                args=(CountedPipeEnd(b, info), Counters(ctx), n, done_w),
            )
            put = CountedPipeEnd(a, info).bind(Counters(ctx)).put
        else:
            p = ctx.Process(target=_raw_pipe_consumer, args=(b, n, done_w))
            put = a.send
    p.start()
    time.sleep(0.3)  # let the consumer start and block in its first get
    t0 = time.perf_counter()
    for _ in range(n):
        put(payload)
    t1: float = done_r.recv()
    p.join()
    if kind == "Queue":
        q.close() if not counted else q.abandon()
    return n / (t1 - t0)


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    print(f"1 producer -> 1 consumer, forkserver, {rounds} alternating pairs; messages/s (median)")
    print(f"{'channel':<6} {'payload':>8} {'raw':>10} {'counted':>10} {'counted/raw':>12}")
    for kind in ("Queue", "Pipe"):
        for size, n in PAYLOADS:
            raws, counteds, ratios = [], [], []
            for _ in range(rounds):
                raw = run(kind, False, size, n)
                counted = run(kind, True, size, n)
                raws.append(raw)
                counteds.append(counted)
                ratios.append(counted / raw)
            label = (
                f"{size} B" if size < 1024 else (f"{size >> 10} KiB" if size < 1 << 20 else "1 MiB")
            )
            print(
                f"{kind:<6} {label:>8} {statistics.median(raws):10.0f} "
                f"{statistics.median(counteds):10.0f} {statistics.median(ratios):12.2f}"
            )


if __name__ == "__main__":
    main()
