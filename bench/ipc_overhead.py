"""Counted channels against raw multiprocessing Queue and Pipe, one producer to one consumer.

For each payload (8 B, 64 B, 4 KiB, 1 MiB of bytes), ONE producer process (this
one) and ONE consumer process hold both a raw channel (``multiprocessing.Queue``
``put``/``get``, or a ``Pipe``'s ``send``/``recv``) and mptop's counted one
(:class:`CountedQueue`, :class:`CountedPipeEnd`, which also add every message
to a shared counter). They pass blocks of N messages through one, then the
other, in the order raw, counted, counted, raw, ... (ABBA, so a drift in the
machine's speed favours neither). A block's time runs from its first put to
the consumer's last take; its messages/s is N over that time.

Why blocks inside one process pair instead of a new pair per run: on a shared
2-core VM the same code measures 35k or 55k messages/s depending on the run
(scheduling, cache placement), which buried a 5% difference. Adjacent blocks
in the same processes share that state, so their ratio is steady.

Printed per payload: the median messages/s of the raw and counted blocks, the
median of the adjacent pairs' ratios (counted/raw; 1.00 = counting costs
nothing measurable) with the pairs' interquartile range, and the CPU time
both processes spent per message (microseconds). The producer is pinned to
one core and the consumer to another (with more than 2 cores, the first two
usable ones; on 1 core both share it).

With ``--control``, each payload also gets a row that pits the raw channel
against a second raw one in the same way: its ratio is the bench's noise
floor on this machine (it would be 1.00 on a quiet one).

    python bench/ipc_overhead.py [PAIRS] [--control] [--rows]

With ``--rows``, the figures follow as rows of bench/table.py on the last line
(JSON): per channel and payload, the median pair ratio counted/raw (goal: at
least 0.95), with the raw/raw ratio of ``--control`` as its baseline.
"""

from __future__ import annotations

import multiprocessing
import os
import statistics
import sys
import time
from collections.abc import Callable
from multiprocessing.connection import Connection
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bench.table import Row

# (payload bytes, messages per block): a block takes about 0.1-0.3 s here.
PAYLOADS = ((8, 10_000), (64, 10_000), (4096, 8_000), (1 << 20, 150))
# Both Queues are bounded, as mptop keeps its backlog bounded, to at most QUEUED_BYTES of
# payload: an unbounded one would let the producer run ahead and measure memory allocation
# instead of the channel. A bound of a few messages would make every put wait for a take:
# then context switches (about 10 us each on this VM) decide the figures, not the channel.
QUEUED_BYTES = 8 << 20
MIN_RATIO = 0.95  # counted/raw messages per second, at every payload (docs/PERFORMANCE.md)
ROWS_FLAG = "--rows"  # bench.table.ROWS_FLAG: bench.table is imported only when it is given


def maxsize(size: int) -> int:
    """The Queues' bound for ``size``-byte payloads: 1024 messages, or QUEUED_BYTES, whichever is fewer."""
    return max(2, min(1024, QUEUED_BYTES // size))


RAW, COUNTED = 0, 1


def _pin(core: int) -> None:
    """Keep this process on one core (producer and consumer on different ones), where the OS can."""
    cores = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    if len(cores) >= 2:
        os.sched_setaffinity(0, {cores[core % len(cores)]})


def schedule(pairs: int) -> list[int]:
    """Which channel each block uses: one warm-up of each, then ABBA pairs (raw, counted, counted, raw, ...)."""
    order = [RAW, COUNTED]
    for i in range(pairs):
        order += [RAW, COUNTED] if i % 2 == 0 else [COUNTED, RAW]
    return order


def _getter(end: Any, counters: Any) -> Callable[[], Any]:
    """The take function of a raw Queue or Pipe end, or of a counted one (bound to ``counters``)."""
    if hasattr(end, "bind"):
        return end.bind(counters).get  # type: ignore[no-any-return]
    return end.recv if isinstance(end, Connection) else end.get


def _consumer(raw: Any, counted: Any, counters: Any, n: int, pairs: int, done: Connection) -> None:
    """Take N messages per block from the channel the schedule names; report each block's end."""
    _pin(1)
    gets = [_getter(raw, counters), _getter(counted, counters)]
    for which in schedule(pairs):
        get = gets[which]
        c0 = time.process_time()
        for _ in range(n):
            get()
        done.send((time.perf_counter(), time.process_time() - c0))


def measure(
    kind: str, size: int, n: int, pairs: int, control: bool = False
) -> tuple[list[tuple[float, float]], list[tuple[float, float]]]:
    """Run every block; returns per-pair (raw, counted) messages/s and CPU microseconds per message.

    With ``control``, the "counted" channel is a second raw one: the ratio
    then shows the bench's own noise (1.00 if it had none).
    """
    from mptop.workers.channels import ChannelInfo, CountedPipeEnd, CountedQueue, Counters

    ctx: Any = multiprocessing.get_context("forkserver")
    done_r, done_w = ctx.Pipe(duplex=False)
    info = ChannelInfo("bench", kind, "producer", "consumer")
    if kind == "Queue":
        raw_q = ctx.Queue(maxsize(size))
        if control:
            counted_q: Any = ctx.Queue(maxsize(size))
            put_b = counted_q.put
        else:
            counted_q = CountedQueue(ctx, info, maxsize=maxsize(size))
            put_b = counted_q.bind(Counters(ctx)).put
        args: tuple[Any, ...] = (raw_q, counted_q)
        puts = [raw_q.put, put_b]
    else:
        raw_a, raw_b = ctx.Pipe()
        c_a, c_b = ctx.Pipe()
        if control:
            args = (raw_b, c_b)
            puts = [raw_a.send, c_a.send]
        else:
            args = (raw_b, CountedPipeEnd(c_b, info))
            puts = [raw_a.send, CountedPipeEnd(c_a, info).bind(Counters(ctx)).put]
    p = ctx.Process(target=_consumer, args=(*args, Counters(ctx), n, pairs, done_w))
    p.start()
    payload = b"\x00" * size
    blocks: list[tuple[int, float, float]] = []  # (which, msg/s, CPU us/msg)
    for which in schedule(pairs):
        put = puts[which]
        t0 = time.perf_counter()
        c0 = time.process_time()
        for _ in range(n):
            put(payload)
        t1, consumer_cpu = done_r.recv()
        producer_cpu = time.process_time() - c0
        blocks.append((which, n / (t1 - t0), (producer_cpu + consumer_cpu) / n * 1e6))
    p.join(30)
    if kind == "Queue":
        raw_q.close()
        counted_q.close() if control else counted_q.abandon()
    timed = blocks[2:]  # without the warm-up
    rates: list[tuple[float, float]] = []
    cpus: list[tuple[float, float]] = []
    for i in range(0, len(timed), 2):
        a, b = timed[i], timed[i + 1]
        raw, counted = (a, b) if a[0] == RAW else (b, a)
        rates.append((raw[1], counted[1]))
        cpus.append((raw[2], counted[2]))
    return rates, cpus


def label(size: int) -> str:
    return f"{size} B" if size < 1024 else (f"{size >> 10} KiB" if size < 1 << 20 else "1 MiB")


def channel_row(
    kind: str, size: int, pairs: int, ratio: float, iqr: tuple[float, float], floor: float | None
) -> Row:
    """The row of one channel and payload: the median pair ratio counted/raw, in x."""
    from bench.table import Row

    base = "; baseline: raw vs a second raw channel (noise floor)" if floor is not None else ""
    return Row(
        f"ipc: counted/raw {kind} msg/s, {label(size)}",
        ratio,
        "x",
        floor,
        min_value=MIN_RATIO,
        note=f"median of {pairs} ABBA pair ratios, IQR {iqr[0]:.2f}-{iqr[1]:.2f}{base}",
    )


def _import_bench() -> None:
    """Make ``bench.table`` importable when this file runs as ``python bench/ipc_overhead.py``."""
    if not __package__:
        sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> None:
    """Print the table for ``[PAIRS] [--control]``; ``--rows``: then the rows as JSON."""
    _pin(0)  # the producer (and its Queue's feeder thread) on one core, the consumer on another
    json_rows = ROWS_FLAG in sys.argv[1:]
    args = [a for a in sys.argv[1:] if a not in ("--control", ROWS_FLAG)]
    control = "--control" in sys.argv[1:]
    if json_rows:
        _import_bench()
    rows: list[Row] = []
    pairs = int(args[0]) if args else 16
    print(
        f"1 producer -> 1 consumer, forkserver, {pairs} ABBA pairs of blocks in one process pair, medians"
    )
    print(
        f"{'channel':<6} {'payload':>8} {'raw msg/s':>10} {'counted':>10} {'ratio':>6} {'ratio IQR':>11}"
        f" {'raw CPU us/msg':>15} {'counted':>8}"
    )
    med = statistics.median
    for kind in ("Queue", "Pipe"):
        for size, n in PAYLOADS:
            got: dict[bool, tuple[float, tuple[float, float]]] = {}
            for is_control in (False, True) if control else (False,):
                rates, cpus = measure(kind, size, n, pairs, is_control)
                ratios = sorted(c / r for r, c in rates)
                q1, _, q3 = (
                    statistics.quantiles(ratios, n=4) if len(ratios) > 1 else (ratios[0],) * 3
                )
                name = "raw/raw" if is_control else kind
                print(
                    f"{name:<7} {label(size):>7} {med(r for r, _ in rates):10.0f}"
                    f" {med(c for _, c in rates):10.0f} {med(ratios):6.2f} {q1:5.2f}-{q3:4.2f}"
                    f" {med(r for r, _ in cpus):15.1f} {med(c for _, c in cpus):8.1f}",
                    flush=True,
                )
                got[is_control] = (med(ratios), (q1, q3))
            if json_rows:
                floor = got[True][0] if True in got else None
                rows.append(channel_row(kind, size, pairs, *got[False], floor))
    if json_rows:
        from bench.table import emit

        emit(rows)


if __name__ == "__main__":
    main()
