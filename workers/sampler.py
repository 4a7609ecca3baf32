"""One tick of measurement: psutil readings and traffic counters -> :class:`Snapshot`.

:class:`Sampler` turns the supervisor's state into a frozen snapshot;
:class:`SamplingThread` calls it every interval on one long-lived thread
(psutil keeps its per-core baseline per thread) and hands each snapshot to a
callback. The next sample is armed only when the consumer says the last one
was applied, so samples never pile up behind a slow UI.
"""

from __future__ import annotations

import os
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import psutil

from mptop.workers.channels import Channel
from mptop.workers.snapshot import ChannelSample, CoreSample, Snapshot, WorkerSample, WorkerState
from mptop.workers.supervisor import Supervisor, WorkerHandle
from mptop.workers.topology import MPTOP

# The shortest window a CPU% is measured over, seconds: /proc/stat ticks every
# 10 ms, so a shorter window is mostly noise. A sample taken sooner (a poke after
# a key) carries the last core loads and worker CPU% over; each worker keeps its
# own window, so a new worker gets its first figure this long after it appears.
MIN_CPU_WINDOW = 0.25

_STATES = {
    psutil.STATUS_RUNNING: WorkerState.RUNNING,
    psutil.STATUS_SLEEPING: WorkerState.SLEEPING,
    psutil.STATUS_DISK_SLEEP: WorkerState.SLEEPING,
    psutil.STATUS_IDLE: WorkerState.SLEEPING,
    psutil.STATUS_STOPPED: WorkerState.STOPPED,
    psutil.STATUS_TRACING_STOP: WorkerState.STOPPED,
    psutil.STATUS_ZOMBIE: WorkerState.ZOMBIE,
    psutil.STATUS_DEAD: WorkerState.ZOMBIE,
}


def _load_avg() -> tuple[float, float, float] | None:
    try:
        return os.getloadavg()
    except (AttributeError, OSError):
        return None


# A channel with a backlog, live consumers and nothing taken for this many ticks is stalled.
STALL_TICKS = 3
# Ticks of messages/s history kept per channel.
HISTORY = 30


@dataclass(eq=False)
class _Flow:
    """What the sampler remembers of one channel between ticks."""

    received: int | None = None
    received_bytes: int = 0
    idle_ticks: int = 0
    stalled: bool = False
    history: deque[float] = field(default_factory=lambda: deque(maxlen=HISTORY))


class Sampler:
    """Builds one :class:`Snapshot` per call from a :class:`Supervisor`.

    Worker CPU% = delta(user + system CPU seconds) / delta(wall seconds) * 100,
    the formula of psutil's ``Process.cpu_percent`` (100 = one full core; a
    process with N busy threads can show up to N * 100). Core load is psutil
    ``cpu_percent(percpu=True)`` (0-100 per core). Rates are deltas of the
    traffic counters over the seconds between two snapshots.

    Not thread-safe: call :meth:`sample` from one thread only.
    """

    def __init__(
        self,
        supervisor: Supervisor,
        delivered: Mapping[Channel, Mapping[int, int]] | None = None,
    ) -> None:
        self.supervisor = supervisor
        # Messages mptop took per channel and sending PID (the Dispatcher's tally):
        # what a dead worker sent minus this is what it never delivered.
        self.delivered = delivered if delivered is not None else {}
        self._flow: dict[Channel, _Flow] = {}
        self._last: float | None = None
        self._last_cpu: float | None = None
        self._cores: list[float] = []
        self._cpu_base: dict[int, tuple[float, float]] = {}
        self._cpu_pct: dict[int, float] = {}
        self._counts: dict[int, tuple[int, ...]] = {}

    def _worker(self, h: WorkerHandle, now: float, dt: float | None) -> WorkerSample:
        m_in = b_in = m_out = b_out = 0
        for _, block in h.blocks:
            sent, sent_bytes, received, received_bytes = block.read()
            m_in += received
            b_in += received_bytes
            m_out += sent
            b_out += sent_bytes
        prev = self._counts.get(h.pid)
        self._counts[h.pid] = (m_in, b_in, m_out, b_out)
        rates: list[float | None] = [None] * 4
        if prev is not None and dt:
            rates = [
                (new - old) / dt for new, old in zip((m_in, b_in, m_out, b_out), prev, strict=True)
            ]

        state = WorkerState.EXITED
        core: int | None = None
        rss: int | None = None
        cpu: float | None = None
        if h.alive and h.ps is not None:
            try:
                with h.ps.oneshot():
                    state = _STATES.get(h.ps.status(), WorkerState.RUNNING)
                    times = h.ps.cpu_times()
                    core = h.ps.cpu_num()
                    rss = h.ps.memory_info().rss
            except psutil.Error:
                state = WorkerState.ZOMBIE
            else:
                # Each worker keeps its own window: a new one gets its first figure as soon
                # as MIN_CPU_WINDOW has passed since it was first seen, whatever the tick.
                used = times.user + times.system
                base = self._cpu_base.get(h.pid)
                if base is None:
                    self._cpu_base[h.pid] = (now, used)
                elif now - base[0] >= MIN_CPU_WINDOW:
                    self._cpu_base[h.pid] = (now, used)
                    self._cpu_pct[h.pid] = max(0.0, (used - base[1]) / (now - base[0]) * 100.0)
                cpu = self._cpu_pct.get(h.pid)
        if not h.alive:
            rates = [None] * 4
            self._cpu_base.pop(h.pid, None)
            self._cpu_pct.pop(h.pid, None)
        return WorkerSample(
            pid=h.pid,
            name=h.name,
            daemon=h.daemon,
            state=state,
            core=core,
            cpu_percent=cpu,
            rss=rss,
            msgs_in_per_s=rates[0],
            bytes_in_per_s=rates[1],
            msgs_out_per_s=rates[2],
            bytes_out_per_s=rates[3],
            exitcode=h.exitcode,
            workload=h.workload,
            pinned=h.pinned if h.alive else None,
            start_method=h.start_method,
            start_seconds=h.start_seconds,
            ready_seconds=h.ready_seconds,
        )

    def _lost(self, c: Channel, alive: set[int]) -> tuple[int, int]:
        """``(lost_taken, lost_unsent)`` of channel ``c`` through workers that died.

        lost_taken: messages a dead consumer took and never answered (its
        takes on ``c`` minus its sends on its outbox). lost_unsent: messages a
        dead producer counted as sent that never reached mptop (measured only
        where mptop is the reader), plus, for a dead worker's Pipe, the
        requests it never took.
        """
        top = self.supervisor.topology
        taken_lost = unsent_lost = 0
        tally = self.delivered.get(c, {})
        consumers = list(c.consumers)
        for pid, block in list(c.blocks.items()):
            if pid == MPTOP or pid in alive:
                continue
            att = top.attached.get(pid)
            sent, _, received, _ = block.read()
            if att is not None and att.inbox is c:
                out = att.outbox.blocks.get(pid) if att.outbox is not None else None
                answered = out.read()[0] if out is not None else 0
                taken_lost += max(0, received - answered)
            if pid in c.producers and MPTOP in consumers:
                unsent_lost += max(0, sent - tally.get(pid, 0))
            if c.info.kind == "Pipe":
                mptop_sent = c.blocks[MPTOP].read()[0]
                unsent_lost += max(0, mptop_sent - received)
        return taken_lost, unsent_lost

    def _channels(self, dt: float | None) -> tuple[ChannelSample, ...]:
        sup = self.supervisor
        alive = set(sup.alive_pids())
        out = []
        for c in list(sup.topology.channels):
            sent, sent_bytes, received, received_bytes = c.totals()
            lost_taken, lost_unsent = self._lost(c, alive)
            flow = self._flow.setdefault(c, _Flow())
            mps = bps = None
            if flow.received is not None and dt:
                mps = (received - flow.received) / dt
                bps = (received_bytes - flow.received_bytes) / dt
                flow.history.append(mps)
            consumers = list(c.consumers)  # a copy: the supervisor may add to it meanwhile
            consumers_alive = MPTOP in consumers or any(p in alive for p in consumers)
            # ticks without progress count only while someone alive could take: a channel
            # whose consumers are all gone is idle, not stalled, and a consumer started
            # after that gets STALL_TICKS fresh ticks before it is blamed
            still = flow.received == received and consumers_alive
            flow.idle_ticks = flow.idle_ticks + 1 if still else 0
            flow.received, flow.received_bytes = received, received_bytes
            backlog = sent - received - lost_unsent
            stalled = backlog > 0 and consumers_alive and flow.idle_ticks >= STALL_TICKS
            if stalled != flow.stalled:
                flow.stalled = stalled
                if stalled:
                    sup.note(
                        f"channel {c.info.name} stalled: {backlog} waiting, nothing taken for "
                        f"{flow.idle_ticks} ticks",
                        level="warning",
                    )
                else:
                    sup.note(f"channel {c.info.name} flows again")
            out.append(
                ChannelSample(
                    name=c.info.name,
                    kind=c.info.kind,
                    producer=c.info.producer,
                    consumer=c.info.consumer,
                    sent=sent,
                    sent_bytes=sent_bytes,
                    received=received,
                    received_bytes=received_bytes,
                    msgs_per_s=mps,
                    bytes_per_s=bps,
                    lost_taken=lost_taken,
                    lost_unsent=lost_unsent,
                    stalled=stalled,
                    history=tuple(flow.history),
                    generation=sup.topology.generation,
                )
            )
        return tuple(out)

    def sample(self) -> Snapshot:
        """Reap, read psutil and the counters, and return the snapshot of now.

        Blocks for the psutil reads (about 0.1 ms per worker here). Never
        raises for a worker that vanished mid-read: it shows as a zombie until
        the next :meth:`Supervisor.poll` reaps it.
        """
        sup = self.supervisor
        sup.poll()
        now = time.monotonic()
        dt = None if self._last is None else now - self._last
        self._last = now
        full = self._last_cpu is None or now - self._last_cpu >= MIN_CPU_WINDOW
        if full:
            self._last_cpu = now
            self._cores = psutil.cpu_percent(percpu=True)
        handles = sup.handles()
        workers = tuple(self._worker(h, now, dt) for h in handles)
        on_core: dict[int, list[int]] = {}
        for w in workers:
            if w.core is not None and w.alive:
                on_core.setdefault(w.core, []).append(w.pid)
        cores = tuple(
            CoreSample(i, pct, tuple(sorted(on_core.get(i, ()))))
            for i, pct in enumerate(self._cores)
        )
        channels = self._channels(dt)
        events = tuple(sup.drain_events())
        return Snapshot(
            time=time.time(),
            interval=dt or 0.0,
            start_method=sup.start_method,
            cores=cores,
            workers=workers,
            channels=channels,
            events=events,
            load_avg=_load_avg(),
        )


class SamplingThread:
    """Calls ``sampler.sample()`` every ``interval`` seconds and passes the result to ``deliver``.

    After each delivery the thread waits for :meth:`arm` (the consumer has
    applied the snapshot) before it samples again; :meth:`poke` samples at
    once (after a key press) without waiting for the interval. ``deliver``
    runs on this thread and must not block.
    """

    def __init__(
        self,
        sampler: Sampler,
        interval: float,
        deliver: Callable[[Snapshot], None],
        auto_arm: bool = False,
    ) -> None:
        self.sampler = sampler
        self.interval = interval
        self._deliver = deliver
        self._auto_arm = auto_arm
        self._armed = threading.Event()
        self._armed.set()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="mptop-sampler", daemon=True)

    def start(self) -> None:
        """Start sampling; the first snapshot is taken at once."""
        self._wake.set()
        self._thread.start()

    def arm(self) -> None:
        """Allow the next sample (call when the last snapshot has been applied)."""
        self._armed.set()

    def poke(self) -> None:
        """Take the next sample as soon as the last one has been applied."""
        self._wake.set()

    def stop(self) -> None:
        """Stop and join the thread (idempotent)."""
        self._stop.set()
        self._armed.set()
        self._wake.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=2.0)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.interval)
            self._wake.clear()
            self._armed.wait()
            if self._stop.is_set():
                return
            self._armed.clear()
            self._deliver(self.sampler.sample())
            if self._auto_arm:
                self._armed.set()
