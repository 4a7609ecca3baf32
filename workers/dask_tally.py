"""What ``mptop dask`` runs inside a Dask cluster: a tally in each worker, and one in the scheduler.

Installed once, when mptop connects, and read with one RPC per tick, so a
cluster's logs get no line per tick (``client.run`` logs "Run out-of-band
function" at INFO on every call):

- :class:`TallyPlugin`, a ``WorkerPlugin``, puts :func:`worker_tally` into
  each worker's ``metrics`` (also in workers that join or restart later):
  the worker runs it at every heartbeat (every 0.5 s below 10 workers,
  ``distributed.scheduler.heartbeat_interval``) and sends the result to the
  scheduler with the heartbeat; :meth:`TallyPlugin.teardown` takes it out.
- :func:`install` (one ``run_on_scheduler``) adds the scheduler handler
  ``mptop_tally``, which :class:`~mptop.workers.dask_source.DaskSource`
  calls each tick as ``client.scheduler.mptop_tally(since=...)``: the
  scheduler's own figures (:func:`scheduler_tally`) and each worker's last
  tally with the time of its last heartbeat; :func:`uninstall` removes it.

Each tally reads the figures where they are made, by the process that moves
the bytes, and returns plain dicts of numbers and strings (what a heartbeat
carries). They run on a cluster that may not have mptop installed (``mptop
dask tcp://...``), so this module is pickled by value (cloudpickle's
``register_pickle_by_value``) and imports only what a Dask process has (the
standard library, psutil, distributed). They read distributed's own
attributes, as of distributed 2026.8:

- a worker's ``transfer_incoming_log`` and ``transfer_outgoing_log`` (bounded
  deques, one entry per transfer received from, or sent to, another worker
  or a client: ``who``, and ``total`` bytes as Dask's ``nbytes`` of the keys)
  are read incrementally: the entries new since the last one seen are added
  to per-peer totals kept on the worker object (``_mptop_tally``), so a
  total counts every transfer, not only those still in the log; ``missed``
  says a log turned over between two reads (more than
  ``distributed.admin.low-level-log-length`` transfers in one heartbeat);
- ``state.in_flight_workers`` (peer -> keys being fetched now) gives the
  transfers in flight, per peer;
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

from distributed.diagnostics.plugin import WorkerPlugin


def worker_tally(dask_worker: Any) -> dict[str, Any]:
    """One worker's figures now (run inside the worker at each heartbeat: :class:`TallyPlugin`).

    Returns ``pid``, ``ppid`` (its nanny's PID, where it has one: the nanny
    starts it), ``created`` (its process's start, ``time.time()`` seconds, to
    check its identity), ``hostname``; the worker's ``managed`` bytes,
    ``spilled`` bytes (``sizeof`` of the keys on disk), task ``counts`` by
    state; ``incoming`` and ``outgoing`` (peer address, another worker's or a
    client's -> [transfers, bytes] since the plugin came), ``missed`` (True if
    some were not seen), ``in_flight`` (peer -> [transfers, bytes] being
    received now); ``time`` (``time.time()`` of this reading);
    ``stream`` ([messages queued, bytes written, messages waiting]) to
    the scheduler; ``cpu`` (percent, 100 = one core) and ``memory`` (RSS
    bytes) from the worker's own system monitor, for a host mptop cannot
    read. Raises nothing of its own; an attribute distributed renamed
    raises ``AttributeError`` (the source shows it once).
    """
    import os
    import socket
    import time

    import psutil

    w = dask_worker
    tally = w.__dict__.setdefault("_mptop_tally", {})
    missed = False
    totals = {}
    for direction, log in (
        ("incoming", w.transfer_incoming_log),
        ("outgoing", w.transfer_outgoing_log),
    ):
        seen = tally.setdefault(direction, {"last": None, "peers": {}})
        new = []
        last = seen["last"]
        for entry in reversed(log):
            if entry is last:
                break
            new.append(entry)
        else:
            missed = missed or (last is not None and len(log) == log.maxlen)
        if log:
            seen["last"] = log[-1]
        for entry in reversed(new):
            counts = seen["peers"].setdefault(entry["who"], [0, 0])
            counts[0] += 1
            counts[1] += int(entry["total"])
        totals[direction] = {peer: list(c) for peer, c in seen["peers"].items()}
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
        "incoming": totals["incoming"],
        "outgoing": totals["outgoing"],
        "missed": missed,
        "in_flight": in_flight,
        "stream": [stream.message_count, stream.byte_count, len(stream.buffer)],
        "cpu": recent.get("cpu"),
        "memory": recent.get("memory"),
        "time": time.time(),
    }


def scheduler_tally(dask_scheduler: Any, since: float = 0.0) -> dict[str, Any]:
    """The scheduler's figures now (run inside it by ``client.run_on_scheduler``).

    Returns ``pid``, ``created``, ``hostname`` of the scheduler's process;
    ``workers`` (address -> name, host, nanny address, status, nthreads,
    memory_limit, ``tally``: its last :func:`worker_tally` or None before its
    first heartbeat with one, ``last_seen``: the scheduler's time of its last
    heartbeat); ``clients``: the IDs of the clients connected; ``streams`` (worker address -> [messages queued, bytes
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
            "tally": ws.metrics.get(METRIC),
            "last_seen": ws.last_seen,
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
        "clients": [c for c in s.clients if c != "fire-and-forget"],
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


METRIC = "mptop"  # the key of the worker's tally in its heartbeat metrics
HANDLER = "mptop_tally"  # the scheduler handler mptop calls each tick


class TallyPlugin(WorkerPlugin):
    """Adds :func:`worker_tally` to each worker's heartbeat metrics, and takes it out again."""

    name = "mptop-tally"
    idempotent = True  # a second mptop on the same cluster shares it

    def setup(self, worker: Any) -> None:
        worker.metrics[METRIC] = worker_tally

    def teardown(self, worker: Any) -> None:
        worker.metrics.pop(METRIC, None)


def install(dask_scheduler: Any) -> None:
    """Add the ``mptop_tally`` handler to the scheduler (run there by ``run_on_scheduler``)."""

    def mptop_tally(since: float = 0.0) -> dict[str, Any]:  # a handler needs a __name__
        return scheduler_tally(dask_scheduler, since)

    dask_scheduler.handlers[HANDLER] = mptop_tally


def uninstall(dask_scheduler: Any) -> None:
    """Remove the ``mptop_tally`` handler (a cluster mptop leaves running is left as it was)."""
    dask_scheduler.handlers.pop(HANDLER, None)
