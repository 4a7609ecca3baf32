"""Counted channels against raw multiprocessing Queue and Pipe, one producer to one consumer.

For each payload (8 B, 64 B, 4 KiB, 1 MiB of bytes), a producer process puts
N messages and a consumer process takes them; the time from the first put to
the last take gives messages/s. The same run measures the raw
``multiprocessing.Queue``/``Pipe`` (``put``/``get``, ``send``/``recv``) and
mptop's counted ones (:class:`CountedQueue`, :class:`CountedPipeEnd`), which
also pickle once and add to a shared counter per message. Raw and counted
runs alternate, ROUNDS pairs; printed are the median messages/s of each and
the median of the pairs' ratios (adjacent runs share the machine's state, so
the ratio is steadier than either figure), and the CPU time both processes
spent per message (raw/counted: above 1 means counting cost nothing
measurable; CPU time is much steadier than wall time on a shared VM). The producer is pinned to one core
and the consumer to another, so the scheduler's placement does not decide the
figures (with more than 2 cores, the first two usable ones are used). On a busy 2-core machine the
figures move by 10-20% between runs; the ratio much less.

    python bench/ipc_overhead.py [ROUNDS]
"""

from __future__ import annotations

import multiprocessing
import os
import statistics
import sys
import time
from multiprocessing.connection import Connection
from typing import Any

# Messages per run: about a second each here, so that scheduling noise averages out.
PAYLOADS = ((8, 100_000), (64, 100_000), (4096, 50_000), (1 << 20, 1_000))
# Both Queues are bounded, as mptop keeps its backlog bounded (2 per worker): an unbounded
# one would let the producer run ahead and measure memory allocation instead of the channel.
MAXSIZE = 8


def _pin(core: int) -> None:
    """Keep this process on one core (producer and consumer on different ones), where the OS can."""
    cores = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    if len(cores) >= 2:
        os.sched_setaffinity(0, {cores[core % len(cores)]})


def _raw_queue_consumer(q: Any, n: int, done: Connection) -> None:
    _pin(1)
    cpu0 = time.process_time()
    for _ in range(n):
        q.get()
    done.send((time.perf_counter(), time.process_time() - cpu0))


def _counted_queue_consumer(q: Any, counters: Any, n: int, done: Connection) -> None:
    _pin(1)
    cpu0 = time.process_time()
    q.bind(counters)
    for _ in range(n):
        q.get()
    done.send((time.perf_counter(), time.process_time() - cpu0))


def _raw_pipe_consumer(conn: Connection, n: int, done: Connection) -> None:
    _pin(1)
    cpu0 = time.process_time()
    for _ in range(n):
        conn.recv()
    done.send((time.perf_counter(), time.process_time() - cpu0))


def _counted_pipe_consumer(end: Any, counters: Any, n: int, done: Connection) -> None:
    _pin(1)
    cpu0 = time.process_time()
    end.bind(counters)
    for _ in range(n):
        end.get()
    done.send((time.perf_counter(), time.process_time() - cpu0))


def run(kind: str, counted: bool, size: int, n: int) -> tuple[float, float]:
    """Messages per second, and CPU microseconds per message (producer + consumer processes)."""
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
    c0 = time.process_time()
    for _ in range(n):
        put(payload)
    t1, consumer_cpu = done_r.recv()
    producer_cpu = time.process_time() - c0
    p.join()
    if kind == "Queue":
        q.close() if not counted else q.abandon()
    return n / (t1 - t0), (producer_cpu + consumer_cpu) / n * 1e6


def main() -> None:
    _pin(0)  # the producer (and its Queue's feeder thread) on one core, the consumer on another
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    print(f"1 producer -> 1 consumer, forkserver, {rounds} alternating pairs, medians")
    print(
        f"{'channel':<6} {'payload':>8} {'raw msg/s':>10} {'counted':>10} {'ratio':>6}"
        f" {'raw CPU us/msg':>15} {'counted':>8} {'ratio':>6}"
    )
    for kind in ("Queue", "Pipe"):
        for size, n in PAYLOADS:
            rates: list[tuple[float, float]] = []
            cpus: list[tuple[float, float]] = []
            for i in range(rounds):
                # which goes first alternates, so neither always inherits the other's aftermath
                if i % 2:
                    counted, counted_cpu = run(kind, True, size, n)
                    raw, raw_cpu = run(kind, False, size, n)
                else:
                    raw, raw_cpu = run(kind, False, size, n)
                    counted, counted_cpu = run(kind, True, size, n)
                rates.append((raw, counted))
                cpus.append((raw_cpu, counted_cpu))
            label = (
                f"{size} B" if size < 1024 else (f"{size >> 10} KiB" if size < 1 << 20 else "1 MiB")
            )
            med = statistics.median
            print(
                f"{kind:<6} {label:>8} {med(r for r, _ in rates):10.0f} {med(c for _, c in rates):10.0f}"
                f" {med(c / r for r, c in rates):6.2f}"
                f" {med(r for r, _ in cpus):15.1f} {med(c for _, c in cpus):8.1f}"
                f" {med(r / c for r, c in cpus):6.2f}"
            )


if __name__ == "__main__":
    main()
