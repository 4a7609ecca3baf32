"""What ``mptop dask`` runs inside a Dask cluster each tick: one function in each worker, one in the scheduler.

:class:`~mptop.workers.dask_source.DaskSource` sends them with
``client.run(worker_tally)`` (one call per worker, each with its own
timeout, so a suspended worker cannot hold up the tick) and
``client.run_on_scheduler(scheduler_tally)``. Each reads the figures where
they are made, by the process that moves the bytes, and returns plain
dicts of numbers and strings.

They run on a cluster that may not have mptop installed (``mptop dask
tcp://...``), so they are pickled by value (cloudpickle's
``register_pickle_by_value``) and import only what a Dask process has
(the standard library, psutil). They read distributed's own attributes,
as of distributed 2026.8:

- a worker's ``transfer_incoming_log`` (a bounded deque, one entry per
  transfer received from another worker: ``who`` sent it, ``total`` bytes
  as Dask's ``nbytes`` of the keys) is read incrementally: the entries new
  since the last one seen are added to per-peer totals kept on the worker
  object (``_mptop_tally``), so a total counts every transfer, not only
  those still in the log; ``missed`` says the log turned over between two
  reads (more than ``distributed.admin.low-level-log-length`` transfers in
  one tick: some were not counted);
- ``state.in_flight_workers`` (peer -> keys being fetched now) gives the
  transfers in flight, per peer;
- ``transfer_outgoing_count_total`` and ``transfer_outgoing_bytes_total``
  count what it sent to other workers (bytes: ``nbytes`` again);
- ``batched_stream`` (worker -> scheduler) and the scheduler's
  ``stream_comms[address]`` (scheduler -> worker) are
  ``distributed.batched.BatchedSend``: ``message_count`` counts messages
  queued, ``byte_count`` bytes written to the socket, ``buffer`` the
  messages queued and not yet written;
- the scheduler's ``erred_tasks`` (a bounded deque, newest first) names
  each task that erred, where, and its exception.
"""

from __future__ import annotations

from typing import Any


def worker_tally(dask_worker: Any) -> dict[str, Any]:
    """One worker's figures now (run inside the worker by ``client.run``).

    Returns ``pid``, ``ppid``, ``created`` (its process's start,
    ``time.time()`` seconds, to check its identity), ``hostname``; the
    worker's ``managed`` bytes, ``spilled`` bytes (``sizeof`` of the keys
    on disk), task ``counts`` by state; ``incoming`` (peer address ->
    [transfers, bytes] received since mptop first asked), ``missed`` (True if
    some were not seen), ``in_flight`` (peer -> [transfers, bytes] being
    received now); ``out_count``/``out_bytes`` sent to other workers;
    ``stream`` ([messages queued, bytes written, messages waiting]) to
    the scheduler; ``cpu`` (percent, 100 = one core) and ``memory`` (RSS
    bytes) from the worker's own system monitor, for a host mptop cannot
    read. Raises nothing of its own; an attribute distributed renamed
    raises ``AttributeError`` (the source shows it once).
    """
    import os
    import socket

    import psutil

    w = dask_worker
    tally = w.__dict__.setdefault("_mptop_tally", {"last": None, "peers": {}})
    log = w.transfer_incoming_log
    new = []
    missed = False
    last = tally["last"]
    for entry in reversed(log):
        if entry is last:
            break
        new.append(entry)
    else:
        missed = last is not None and len(log) == log.maxlen
    if log:
        tally["last"] = log[-1]
    peers = tally["peers"]
    for entry in reversed(new):
        counts = peers.setdefault(entry["who"], [0, 0])
        counts[0] += 1
        counts[1] += int(entry["total"])
    state = w.state
    in_flight = {}
    for peer, keys in state.in_flight_workers.items():
        size = 0
        for key in keys:
            ts = state.tasks.get(key)
            if ts is not None and ts.nbytes is not None:
                size += ts.nbytes
        in_flight[peer] = [1, size]
    try:
        spilled = int(w.data.spilled_total.memory)
    except AttributeError:  # spilling is off
        spilled = 0
    recent = w.monitor.recent()
    stream = w.batched_stream
    me = psutil.Process()
    return {
        "pid": os.getpid(),
        "ppid": os.getppid(),
        "created": me.create_time(),
        "hostname": socket.gethostname(),
        "threads": me.num_threads(),
        "managed": int(state.nbytes),
        "spilled": spilled,
        "counts": dict(state.task_counter.current_count(by_prefix=False)),
        "incoming": {peer: list(c) for peer, c in peers.items()},
        "missed": missed,
        "in_flight": in_flight,
        "out_count": int(w.transfer_outgoing_count_total),
        "out_bytes": int(w.transfer_outgoing_bytes_total),
        "stream": [stream.message_count, stream.byte_count, len(stream.buffer)],
        "cpu": recent.get("cpu"),
        "memory": recent.get("memory"),
    }


def scheduler_tally(dask_scheduler: Any, since: float = 0.0) -> dict[str, Any]:
    """The scheduler's figures now (run inside it by ``client.run_on_scheduler``).

    Returns ``pid``, ``created``, ``hostname`` of the scheduler's process;
    ``workers`` (address -> name, host, nanny address, status, nthreads,
    memory_limit); ``streams`` (worker address -> [messages queued, bytes
    written, messages waiting] from the scheduler to it); ``erred``: the
    tasks that erred after ``since`` (the scheduler's ``time.time()``),
    oldest first, each [time, key, workers, exception text]; ``now``: the
    scheduler's clock, for the next ``since``.
    """
    import os
    import socket
    import time

    import psutil

    s = dask_scheduler
    workers = {
        address: {
            "name": ws.name,
            "host": ws.host,
            "nanny": ws.nanny,
            "status": ws.status.name,
            "nthreads": ws.nthreads,
            "memory_limit": ws.memory_limit,
        }
        for address, ws in s.workers.items()
    }
    streams = {
        address: [bs.message_count, bs.byte_count, len(bs.buffer)]
        for address, bs in s.stream_comms.items()
    }
    erred = []
    for e in s.erred_tasks:  # newest first
        if e.timestamp <= since:
            break
        erred.append([e.timestamp, str(e.key), sorted(e.erred_on), e.exception_text])
    erred.reverse()
    return {
        "pid": os.getpid(),
        "created": psutil.Process().create_time(),
        "hostname": socket.gethostname(),
        "workers": workers,
        "streams": streams,
        "erred": erred,
        "now": time.time(),
    }


def worker_stacks(dask_worker: Any = None) -> str:
    """Every thread's Python stack in this process now, in faulthandler's text format (most
    recent call first; :func:`mptop.workers.stacks.parse` reads it), from
    ``sys._current_frames()``. The thread that runs this (the worker's event loop) is the
    ``Current thread``; a task's thread shows the task's code."""
    import sys
    import threading
    import traceback

    me = threading.get_ident()
    out = []
    for ident, frame in sys._current_frames().items():
        head = "Current thread" if ident == me else "Thread"
        out.append(f"{head} 0x{ident:016x} (most recent call first):")
        for f in reversed(traceback.extract_stack(frame)):
            out.append(f'  File "{f.filename}", line {f.lineno} in {f.name}')
        out.append("")
    return "\n".join(out)


def process_id() -> dict[str, Any]:
    """This process's ``pid`` and start time ``created`` (run in each nanny: ``client.run(..., nanny=True)``)."""
    import os

    import psutil

    return {"pid": os.getpid(), "created": psutil.Process().create_time()}
