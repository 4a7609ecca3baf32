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
  backlog holds. ``scheduler → A`` and ``A → scheduler`` (kind ``stream``):
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
    pid: int | None = None
    nanny_pid: int | None = None
    status: str = ""
    restarts: int = 0
    replaces: int | None = None
    gone: bool = False
    retired: bool = False
    tally: dict[str, Any] = field(default_factory=dict)
    # the last tally's rates' baseline: (received transfers, bytes, sent transfers, bytes)
    counts_at: tuple[int, int, int, int] | None = None


@dataclass(eq=False)
class _Line:
    """One channel's totals: a base folded from processes that ended, and the live part."""

    kind: str
    producer: str
    consumer: str
    base: list[int] = field(default_factory=lambda: [0, 0, 0, 0])  # sent, bytes, received, bytes
    live: list[int] = field(default_factory=lambda: [0, 0, 0, 0])
    flow: Flow = field(default_factory=Flow)

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
        if m.pid is not None and pid != m.pid:
            m.restarts += 1
            m.replaces = m.pid
            m.counts_at = None
            self.events.add(f"{name} restarted by its nanny: PID {m.pid} → {pid}", pid)
        m.pid = pid
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

    def rates(self, m: Member, dt: float | None) -> tuple[float | None, ...]:
        """``(msgs_in, bytes_in, msgs_out, bytes_out)`` per second: transfers with other workers."""
        t = m.tally
        if not t:
            return (None, None, None, None)
        incoming = t.get("incoming", {})
        now = (
            sum(c[0] for c in incoming.values()),
            sum(c[1] for c in incoming.values()),
            int(t.get("out_count", 0)),
            int(t.get("out_bytes", 0)),
        )
        before, m.counts_at = m.counts_at, now
        if before is None or not dt:
            return (None, None, None, None)
        return tuple((a - b) / dt for a, b in zip(now, before, strict=True))

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
        for m in self.members.values():
            if m.gone or not m.tally:
                continue
            t = m.tally
            flight = t.get("in_flight", {})
            for peer, (count, size) in t.get("incoming", {}).items():
                line = self._line("transfer", self._by_address.get(peer, peer), m.name)
                waiting = flight.get(peer, [0, 0])
                line.live = [count + waiting[0], size + waiting[1], count, size]
            for peer, waiting in flight.items():
                if peer not in t.get("incoming", {}):
                    line = self._line("transfer", self._by_address.get(peer, peer), m.name)
                    line.live = [waiting[0], waiting[1], 0, 0]
            queued, written, backlog = t.get("stream", [0, 0, 0])
            self._line("stream", m.name, SCHEDULER).live = [
                queued,
                written,
                queued - backlog,
                written,
            ]
            s = streams.get(m.address)
            if s is not None:
                queued, written, backlog = s
                self._line("stream", SCHEDULER, m.name).live = [
                    queued,
                    written,
                    queued - backlog,
                    written,
                ]
        out = []
        for (kind, producer, consumer), line in sorted(self._lines.items(), key=_order):
            sent, sent_bytes, received, received_bytes = line.totals()
            mps, bps = line.flow.update(received, received_bytes, dt)
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


__all__ = ["SCHEDULER", "ClusterModel", "Member", "worker_label"]
