""":class:`ClusterModel`: a Dask cluster's tallies, tick by tick, as worker rows, channels and events.

Pure bookkeeping: no client, no event loop, no ``distributed`` import. Each
tick :class:`~mptop.workers.dask_source.DaskSource` hands it what the
scheduler and each worker said (:mod:`mptop.workers.dask_tally`), and it
keeps what must outlive one process:

- **Rows are keyed by the worker's name.** A nanny restarts a killed worker
  under the same name with a new PID and port: the new process takes the
  old one's row (``WorkerSample.replaces``, ``restarts``), and the channels,
  keyed by names too, keep counting across it (the old process's totals
  are folded into a base, as mptop's own channels fold a forgotten worker's).
- **Channels** (every figure counted by the process that moved the bytes):
  ``A → B`` (kind ``transfer``): data worker B fetched from worker A,
  counted by B (transfers, and bytes as Dask's ``nbytes`` of the keys);
  sent = received + what is in flight from A now, so sent = delivered +
  backlog holds. ``A → clients``: the results clients fetched from A,
  counted by A. ``scheduler → A`` and ``A → scheduler`` (kind ``stream``):
  the batched stream each way, counted by its sender: messages queued
  (sent), written to the socket (received), bytes written; backlog is what
  waits to be written.
- **Events**: workers added, removed (retired, or gone), restarted, paused;
  tasks erred; a worker that does not answer.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from mptop.workers.events import EventLog
from mptop.workers.snapshot import ChannelSample, WorkerState
from mptop.workers.traffic import Flow

SCHEDULER = "scheduler"
CLIENTS = "clients"  # the end of a worker's transfers to clients (results they fetched)
# Dask's worker status -> the State column, for a worker whose process mptop cannot read.
_STATES = {
    "init": WorkerState.STARTING,
    "running": WorkerState.RUNNING,
    "paused": WorkerState.RUNNING,
    "closing_gracefully": WorkerState.RUNNING,
    "closing": WorkerState.EXITED,
    "closed": WorkerState.EXITED,
}


def worker_label(name: object) -> str:
    """A worker's row name: Dask's name as given (``"gpu-1"``), ``worker-0`` for LocalCluster's
    whole-number names (0, 1, ...)."""
    if isinstance(name, int) and not isinstance(name, bool):
        return f"worker-{name}"
    return str(name)


@dataclass(eq=False)
class Member:
    """What mptop knows of one worker name (its current process, and the ones before)."""

    name: str
    address: str = ""
    host: str = ""
    nanny: str | None = None  # the nanny's address (None: a worker started without one)
    pid: int | None = None
    status: str = ""
    restarts: int = 0
    replaces: int | None = None
    gone: bool = False
    retired: bool = False
    tally: dict[str, Any] = field(default_factory=dict)
    # the last tally's rates' baseline: (received transfers, bytes, sent transfers, bytes)
    counts_at: tuple[int, int, int, int] | None = None
    # seconds between the worker's last two tallies (its heartbeats); None: no new one this tick
    fresh: float | None = None
    rates_at: tuple[float | None, ...] = (None, None, None, None)


@dataclass(eq=False)
class _Line:
    """One channel's totals: a base folded from processes that ended, and the live part."""

    kind: str
    producer: str
    consumer: str
    base: list[int] = field(default_factory=lambda: [0, 0, 0, 0])  # sent, bytes, received, bytes
    live: list[int] = field(default_factory=lambda: [0, 0, 0, 0])
    flow: Flow = field(default_factory=Flow)
    rates: tuple[float | None, float | None] = (None, None)

    def fold(self) -> None:
        """The live process ended: its totals join the base (in flight counts as never sent)."""
        received, received_bytes = self.live[2], self.live[3]
        self.base[0] += received
        self.base[1] += received_bytes
        self.base[2] += received
        self.base[3] += received_bytes
        self.live = [0, 0, 0, 0]

    def totals(self) -> tuple[int, int, int, int]:
        return tuple(b + v for b, v in zip(self.base, self.live, strict=True))  # type: ignore[return-value]


class ClusterModel:
    """The rows, channels and events of one cluster, updated once per tick from its tallies.

    Not thread-safe: the sampling thread calls it.
    """

    def __init__(self, events: EventLog) -> None:
        self.events = events
        self.members: dict[str, Member] = {}
        self._by_address: dict[str, str] = {}  # every address seen -> its worker's name
        self._lines: dict[tuple[str, str, str], _Line] = {}  # (kind, producer, consumer)
        self._silent: set[str] = set()  # names whose tally failed (said once)

    # -- membership ---------------------------------------------------------------------

    def update_members(self, workers: dict[str, dict[str, Any]]) -> list[str]:
        """Take the scheduler's worker list (address -> name, host, nanny, status, ...).

        Returns the addresses that are new (their nanny's PID is to be asked).
        Events: a name seen first is *added*; a name whose address changed
        was *restarted* (its process and port are new); a name gone from the
        list is *removed* (or *retired*, if mptop asked).
        """
        new: list[str] = []
        seen: set[str] = set()
        for address, ws in workers.items():
            name = worker_label(ws["name"])
            seen.add(name)
            self._by_address[address] = name
            m = self.members.get(name)
            if m is None:
                m = self.members[name] = Member(name)
                self.events.add(f"{name} added at {address}")
            elif m.address != address:
                if not m.gone:
                    self._fold(name)
                m.gone = m.retired = False
            elif m.gone:  # the same address again (a worker that came back)
                m.gone = False
            if m.address != address:
                new.append(address)
                m.address = address
            status = str(ws.get("status", ""))
            if m.status and status != m.status and status in ("paused", "running"):
                self.events.add(f"{name} is {status} (Dask's worker status)", m.pid)
            m.status = status
            m.host = str(ws.get("host", ""))
            m.nanny = ws.get("nanny")
        for name, m in self.members.items():
            if name not in seen and not m.gone:
                m.gone = True
                self._fold(name)
                how = "retired (its data moved to the others first)" if m.retired else "removed"
                self.events.add(f"{name} (PID {m.pid}) {how}", m.pid)
        return new

    def take_tally(self, address: str, tally: dict[str, Any]) -> None:
        """A worker's tally (:func:`~mptop.workers.dask_tally.worker_tally`). A new PID under a
        name mptop knows is a restart: the row stays, ``restarts`` counts it."""
        name = self._by_address.get(address)
        if name is None:
            return
        m = self.members[name]
        pid = int(tally["pid"])
        before = m.tally.get("time")
        if m.pid is not None and pid != m.pid:
            m.restarts += 1
            m.replaces = m.pid
            m.counts_at = None
            before = None
            self.events.add(f"{name} restarted by its nanny: PID {m.pid} → {pid}", pid)
        m.pid = pid
        at = tally.get("time")
        if before is not None and at is not None and at <= before:
            m.fresh = None  # the same heartbeat as last tick: nothing new to count
            return
        m.fresh = at - before if before is not None and at is not None else 0.0
        m.tally = tally
        self._silent.discard(name)
        if tally.get("missed"):
            self.events.add(
                f"{name}: more transfers in one tick than its transfer log holds: some were"
                " not counted",
                pid,
                level="warning",
            )

    def silent(self, address: str, why: str) -> None:
        """A worker's tally did not come (``why``: a timeout, an error): said once, until it answers."""
        name = self._by_address.get(address)
        if name is None or name in self._silent:
            return
        self._silent.add(name)
        m = self.members[name]
        self.events.add(f"{name} does not answer mptop's tally: {why}", m.pid, level="warning")

    def heard(self, address: str) -> None:
        """A worker's heartbeat came in time again: its next silence is said again."""
        name = self._by_address.get(address)
        if name is not None and name in self._silent:
            self._silent.discard(name)
            self.events.add(f"{name} answers again", self.members[name].pid)

    def address_of(self, pid: int) -> Member | None:
        """The live member whose process is ``pid``, or None."""
        for m in self.members.values():
            if m.pid == pid and not m.gone:
                return m
        return None

    def erred(self, tasks: list[list[Any]], before: float | None = None) -> None:
        """Tasks that erred since the last tick: ``[time, key, workers, exception text]`` each.

        Level ``warning``: the program's error, not mptop's (``error`` is for what mptop could
        not do, and makes a headless run exit 1). Those that erred before ``before`` (the
        scheduler's time mptop connected) say when.
        """
        for at, key, where, text in tasks:
            names = ", ".join(self._by_address.get(a, a) for a in where) or "?"
            when = ""
            if before is not None and at < before:
                when = (
                    f" at {time.strftime('%H:%M:%S', time.localtime(at))}, before mptop connected"
                )
            self.events.add(f"task {key} erred on {names}{when}: {text}", level="warning")

    # -- rows ---------------------------------------------------------------------------

    def rates(self, m: Member) -> tuple[float | None, ...]:
        """``(msgs_in, bytes_in, msgs_out, bytes_out)`` per second: transfers with the other
        workers (not the clients'), over the time between the worker's last two tallies."""
        t = m.tally
        if not t:
            return (None, None, None, None)
        if m.fresh is None:
            return m.rates_at  # no new heartbeat this tick: the last rates stand
        workers = set(self._by_address)

        def summed(peers: dict[str, list[int]]) -> tuple[int, int]:
            own = [c for peer, c in peers.items() if peer in workers]
            return sum(c[0] for c in own), sum(c[1] for c in own)

        now = (*summed(t.get("incoming", {})), *summed(t.get("outgoing", {})))
        before, m.counts_at = m.counts_at, now
        if before is None or not m.fresh:
            m.rates_at = (None, None, None, None)
        else:
            m.rates_at = tuple((a - b) / m.fresh for a, b in zip(now, before, strict=True))
        return m.rates_at

    @staticmethod
    def remote_state(m: Member) -> WorkerState:
        """The State column of a worker whose process mptop cannot read: from Dask's status."""
        return WorkerState.EXITED if m.gone else _STATES.get(m.status, WorkerState.RUNNING)

    @staticmethod
    def dask_figures(m: Member) -> dict[str, Any]:
        """The WorkerSample fields that come from the worker's own tally."""
        t = {} if m.gone else m.tally  # a retired or removed worker holds nothing now
        counts = t.get("counts", {})
        return {
            "host": m.host,
            "managed_bytes": t.get("managed"),
            "spilled_bytes": t.get("spilled"),
            "tasks_executing": (counts.get("executing", 0) + counts.get("long-running", 0))
            if t
            else None,
            "tasks_ready": counts.get("ready", 0) + counts.get("constrained", 0) if t else None,
            "tasks_in_memory": counts.get("memory", 0) if t else None,
            "restarts": m.restarts,
            "replaces": m.replaces,
        }

    # -- channels -----------------------------------------------------------------------

    def _line(self, kind: str, producer: str, consumer: str) -> _Line:
        key = (kind, producer, consumer)
        line = self._lines.get(key)
        if line is None:
            line = self._lines[key] = _Line(kind, producer, consumer)
        return line

    def _fold(self, name: str) -> None:
        """Worker ``name``'s process ended: the channels it counted keep its totals in their base."""
        for (kind, producer, consumer), line in self._lines.items():
            counter = consumer if kind == "transfer" else producer
            if counter == name or (kind == "stream" and consumer == name and producer == SCHEDULER):
                line.fold()

    def channels(
        self, streams: dict[str, list[int]], dt: float | None
    ) -> tuple[ChannelSample, ...]:
        """Every channel with traffic so far: transfers between workers, streams with the scheduler.

        ``streams``: the scheduler's side (worker address -> [queued, bytes
        written, waiting]).
        """
        counted_by: dict[tuple[str, str, str], float | None] = {}  # line -> its counter's dt
        workers = set(self._by_address)
        for m in self.members.values():
            if m.gone or not m.tally:
                continue
            t = m.tally
            flight = t.get("in_flight", {})
            incoming = t.get("incoming", {})
            for peer in set(incoming) | set(flight):
                if peer not in workers:
                    continue  # a client's data sent to a worker (scatter): not a transfer
                key = ("transfer", self._by_address[peer], m.name)
                count, size = incoming.get(peer, [0, 0])
                waiting = flight.get(peer, [0, 0])
                self._line(*key).live = [count + waiting[0], size + waiting[1], count, size]
                counted_by[key] = m.fresh
            to_clients = [c for peer, c in t.get("outgoing", {}).items() if peer not in workers]
            if to_clients:  # results a client fetched from the worker, counted by the worker
                key = ("transfer", m.name, CLIENTS)
                count, size = sum(c[0] for c in to_clients), sum(c[1] for c in to_clients)
                self._line(*key).live = [count, size, count, size]
                counted_by[key] = m.fresh
            queued, written, backlog = t.get("stream", [0, 0, 0])
            key = ("stream", m.name, SCHEDULER)
            self._line(*key).live = [queued, written, queued - backlog, written]
            counted_by[key] = m.fresh
            s = streams.get(m.address)
            if s is not None:
                queued, written, backlog = s
                key = ("stream", SCHEDULER, m.name)
                self._line(*key).live = [queued, written, queued - backlog, written]
                counted_by[key] = dt  # the scheduler answers fresh each tick
        out = []
        for (kind, producer, consumer), line in sorted(self._lines.items(), key=_order):
            sent, sent_bytes, received, received_bytes = line.totals()
            step = counted_by.get((kind, producer, consumer))
            if step is not None:  # a new reading from its counter (a heartbeat, or this tick)
                line.rates = line.flow.update(received, received_bytes, step or None)
            mps, bps = line.rates
            out.append(
                ChannelSample(
                    name="transfers" if kind == "transfer" else "stream",
                    kind=kind,
                    producer=producer,
                    consumer=consumer,
                    sent=sent,
                    sent_bytes=sent_bytes,
                    received=received,
                    received_bytes=received_bytes,
                    msgs_per_s=mps,
                    bytes_per_s=bps,
                    history=tuple(line.flow.history),
                )
            )
        return tuple(out)


def _order(item: tuple[tuple[str, str, str], _Line]) -> tuple[int, str, str]:
    """Transfers first, then the scheduler's streams; each by producer, then consumer."""
    (kind, producer, consumer), _ = item
    return (0 if kind == "transfer" else 1, producer, consumer)


__all__ = ["CLIENTS", "SCHEDULER", "ClusterModel", "Member", "worker_label"]
