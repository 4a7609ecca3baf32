"""The metrics sink: any run's figures at ``http://HOST:PORT/metrics`` for Prometheus (``--metrics``).

:class:`MetricsExporter` serves the latest snapshot through the official
``prometheus_client`` (its own registry and HTTP server thread), in the text
format Prometheus scrapes, or OpenMetrics when the scraper asks for it;
:class:`Metered` wraps any :class:`~mptop.workers.source.Source`, so every
snapshot the front end gets (the TUI's or headless's) also reaches the
exporter. The figures are the snapshot's, as it was delivered: a scrape
between two ticks sees the last one.

Names follow prometheus_client's conventions: the ``mptop_`` prefix, base
units (bytes; CPU in cores: 1.0 = one full core, where the screen says
100%), ``_total`` on counters. Labels: ``source`` (spawn, run, attach, dask,
replay), ``name`` and ``pid`` of a worker, ``channel`` and ``kind`` of a
channel. An exited worker's series stay :data:`EXITED_KEPT` seconds, then
go, so the label sets stay bounded under churn.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from mptop.workers.commands import Command
from mptop.workers.detail import OutputTail, WorkerDetail
from mptop.workers.snapshot import Snapshot, WorkerState
from mptop.workers.source import Closed, Deliver, Failed, Source, SourceInfo
from mptop.workers.stacks import StackDump

# Seconds an exited worker's series are still exposed (its exit code can be scraped), then dropped.
EXITED_KEPT = 60.0


class _Collector(Collector):
    """Builds the metric families from the exporter's latest snapshot at each scrape."""

    def __init__(self, exporter: MetricsExporter) -> None:
        self.exporter = exporter

    def collect(self) -> Iterator[Any]:
        snap, kind, exited = self.exporter.latest()
        src = [kind]
        up = GaugeMetricFamily(
            "mptop_up", "1 while mptop runs and has a snapshot", labels=["source"]
        )
        up.add_metric(src, 1.0 if snap is not None else 0.0)
        yield up
        if snap is None:
            return
        stamp = GaugeMetricFamily(
            "mptop_snapshot_timestamp_seconds",
            "when the snapshot served was taken (Unix time, seconds)",
            labels=["source"],
        )
        stamp.add_metric(src, snap.time)
        yield stamp
        labels = ["source", "name", "pid"]
        cpu = GaugeMetricFamily(
            "mptop_worker_cpu_cores",
            "CPU over the last tick, in cores (1 = one full core)",
            labels=labels,
        )
        rss = GaugeMetricFamily(
            "mptop_worker_resident_memory_bytes", "resident memory (RSS)", labels=labels
        )
        state = GaugeMetricFamily(
            "mptop_worker_state",
            "1 for the state the process is in (running, sleeping, stopped, zombie, exited)",
            labels=[*labels, "state"],
        )
        exit_code = GaugeMetricFamily(
            "mptop_worker_exit_code",
            "exit code of an exited process (negative: killed by that signal)",
            labels=labels,
        )
        now = time.monotonic()
        for w in snap.workers:
            if not w.alive and now - exited.get(w.pid, now) > EXITED_KEPT:
                continue  # gone long enough: its series go (bounded label sets)
            who = [kind, w.name, str(w.pid)]
            if w.cpu_percent is not None:
                cpu.add_metric(who, w.cpu_percent / 100)
            if w.rss is not None:
                rss.add_metric(who, float(w.rss))
            state.add_metric([*who, w.state.value], 1.0)
            if w.exitcode is not None:
                exit_code.add_metric(who, float(w.exitcode))
        yield from (cpu, rss, state, exit_code)
        labels = ["source", "channel", "kind"]
        counters = {
            "sent_messages": ("messages put into the channel, counted by the putters", "sent"),
            "sent_bytes": ("pickled payload bytes put", "sent_bytes"),
            "received_messages": ("messages taken, counted by the takers", "received"),
            "received_bytes": ("pickled payload bytes taken", "received_bytes"),
            "lost_messages": ("messages lost through processes that died", "lost"),
        }
        families = {
            key: CounterMetricFamily(f"mptop_channel_{key}", text, labels=labels)
            for key, (text, _) in counters.items()
        }
        backlog = GaugeMetricFamily(
            "mptop_channel_backlog_messages",
            "messages put and still waiting (sent - received - lost unsent)",
            labels=labels,
        )
        for c in snap.channels:
            if not c.counted:
                continue  # found, not counted (an attached tree's pipes): no figures to give
            which = [kind, c.name, c.kind]
            for key, (_, attr) in counters.items():
                families[key].add_metric(which, float(getattr(c, attr)))
            backlog.add_metric(which, float(c.backlog))
        yield from families.values()
        yield backlog
        cores = GaugeMetricFamily(
            "mptop_core_busy_ratio", "a core's busy time over the last tick (0-1)", labels=["core"]
        )
        for core in snap.cores:
            cores.add_metric([str(core.index)], core.percent / 100)
        yield cores


class MetricsExporter:
    """Serves the latest snapshot at ``http://host:port/metrics`` (a daemon thread of
    prometheus_client's). Raises ``OSError`` if the address cannot be bound."""

    def __init__(self, host: str, port: int, kind: str) -> None:
        self.kind = kind
        self._snap: Snapshot | None = None
        self._exited: dict[int, float] = {}  # PID -> monotonic time first seen exited
        self._lock = threading.Lock()
        self.registry = CollectorRegistry()
        self.registry.register(_Collector(self))
        self._server, self._thread = start_http_server(port, host, registry=self.registry)
        self.port = self._server.server_port

    def update(self, snap: Snapshot) -> None:
        """Serve ``snap`` from now on (any thread; never blocks on a scrape for long)."""
        now = time.monotonic()
        with self._lock:
            live = {w.pid for w in snap.workers}
            for w in snap.workers:
                if w.state is WorkerState.EXITED:
                    self._exited.setdefault(w.pid, now)
            for pid in [p for p in self._exited if p not in live]:
                del self._exited[pid]
            self._snap = snap

    def latest(self) -> tuple[Snapshot | None, str, dict[int, float]]:
        """The snapshot served, the source's kind, and when each exited PID was first seen so."""
        with self._lock:
            return self._snap, self.kind, dict(self._exited)

    def stop(self) -> None:
        """Stop serving (idempotent)."""
        self._server.shutdown()
        self._server.server_close()


class Metered:
    """``source``, with every snapshot it delivers also given to ``exporter`` (the Source API
    unchanged; see :class:`~mptop.workers.source.Source`)."""

    def __init__(self, source: Source, exporter: MetricsExporter) -> None:
        self.source = source
        self.exporter = exporter
        self.caps = source.caps

    def info(self) -> SourceInfo:
        """The source's."""
        return self.source.info()

    def start(self, deliver: Deliver, failed: Failed) -> None:
        """Start the source; each snapshot goes to the exporter, then to ``deliver``."""

        def both(snap: Snapshot) -> None:
            self.exporter.update(snap)
            deliver(snap)

        self.source.start(both, failed)

    def arm(self) -> None:
        """The source's."""
        self.source.arm()

    def poke(self) -> None:
        """The source's."""
        self.source.poke()

    def send(self, command: Command) -> str | None:
        """The source's (raises what it raises)."""
        return self.source.send(command)

    def detail(self, pid: int) -> WorkerDetail:
        """The source's (raises what it raises)."""
        return self.source.detail(pid)

    def output(self, pid: int) -> tuple[OutputTail, ...]:
        """The source's (raises what it raises)."""
        return self.source.output(pid)

    def stacks(self, pid: int) -> StackDump:
        """The source's (raises what it raises)."""
        return self.source.stacks(pid)

    def close(self) -> Closed:
        """Close the source; its last snapshot is served until the exporter stops, here."""
        closed = self.source.close()
        if closed.last is not None:
            self.exporter.update(closed.last)
        self.exporter.stop()
        return closed

    def __getattr__(self, name: str) -> Any:
        return getattr(self.source, name)  # what a source has beyond the API (tests use it)


__all__ = ["EXITED_KEPT", "Metered", "MetricsExporter"]
