"""CountedQueue.take_ready: mptop's one-read drain of its results Queue, on real pipes and processes."""

from __future__ import annotations

import multiprocessing
import os
import pickle
import signal
import struct
import time
from typing import Any

import pytest

from mptop.workers.channels import READ_CHUNK, ChannelInfo, CountedQueue, Counters
from tests.helpers import wait_for

pytestmark = pytest.mark.timeout(30)

INFO = ChannelInfo("results", "Queue", "workers", "mptop")


def _queue() -> tuple[Any, CountedQueue, Counters]:
    ctx: Any = multiprocessing.get_context("fork")
    q = CountedQueue(ctx, INFO)
    mine = Counters(ctx)
    q.bind(mine)
    return ctx, q, mine


def _put_many(q: CountedQueue, counters: Counters, items: list[object]) -> None:
    q.bind(counters)
    for item in items:
        q.put(item)


def _raw_write_then_hang(q: CountedQueue, data: bytes) -> None:
    """Write ``data`` into the Queue's pipe as it is (a half-written frame), then sleep."""
    os.write(q.queue._writer.fileno(), data)  # type: ignore[attr-defined]
    time.sleep(60)


def test_messages_from_another_process_arrive_whole_and_counted() -> None:
    ctx, q, mine = _queue()
    theirs = Counters(ctx)
    items: list[object] = [("result", i, b"x" * (i * 37)) for i in range(200)]
    p = ctx.Process(target=_put_many, args=(q, theirs, items))
    p.start()
    got: list[object] = []
    deadline = time.monotonic() + 20
    while len(got) < len(items) and time.monotonic() < deadline:
        got += q.take_ready()
        time.sleep(0.001)
    p.join(10)
    assert got == items
    sent, sent_bytes, _, _ = theirs.read()
    _, _, received, received_bytes = mine.read()
    assert received == sent == len(items)
    assert (
        received_bytes
        == sent_bytes
        == sum(len(pickle.dumps(i, pickle.HIGHEST_PROTOCOL)) for i in items)
    )
    q.abandon()


def test_a_half_written_frame_never_blocks_and_completes_later() -> None:
    ctx, q, mine = _queue()
    whole = pickle.dumps({"seq": 7}, pickle.HIGHEST_PROTOCOL)
    frame = struct.pack("!i", len(whole)) + whole
    q.queue._sem.acquire()  # type: ignore[attr-defined]  # as the put of this message would have
    p = ctx.Process(target=_raw_write_then_hang, args=(q, frame[:6]), daemon=True)
    p.start()
    try:
        wait_for(lambda: q.take_ready() == [] and len(q._pending) == 6, timeout=10)
        os.kill(p.pid, signal.SIGKILL)  # the writer dies in the middle of the message
        p.join(5)
        t0 = time.monotonic()
        assert q.take_ready() == []  # returns at once: nothing whole, nothing to wait for
        assert time.monotonic() - t0 < 0.5
        assert mine.read()[2] == 0
        os.write(q.queue._writer.fileno(), frame[6:])  # type: ignore[attr-defined]
        assert q.take_ready() == [{"seq": 7}]
        assert mine.read()[2:] == (1, len(whole))
    finally:
        if p.is_alive():
            p.kill()
        q.abandon()


def test_a_message_bigger_than_one_read_is_assembled() -> None:
    ctx, q, _ = _queue()
    big = b"\x01" * (READ_CHUNK * 2 + 123)
    p = ctx.Process(target=_put_many, args=(q, Counters(ctx), [big]))
    p.start()
    got: list[object] = []
    deadline = time.monotonic() + 20
    while not got and time.monotonic() < deadline:
        got = q.take_ready()
        time.sleep(0.001)
    p.join(10)
    assert got == [big]
    q.abandon()


def test_a_message_that_cannot_be_unpickled_is_counted_and_skipped() -> None:
    _, q, mine = _queue()
    bad = b"\x80\x05\x95garbage that is no pickle"
    good = pickle.dumps(("result", 1), pickle.HIGHEST_PROTOCOL)
    for data in (bad, good):
        q.queue._sem.acquire()  # type: ignore[attr-defined]  # as each put would have
        os.write(q.queue._writer.fileno(), struct.pack("!i", len(data)) + data)  # type: ignore[attr-defined]
    assert q.take_ready() == [("result", 1)]
    assert mine.read()[2:] == (2, len(bad) + len(good))
    q.abandon()
