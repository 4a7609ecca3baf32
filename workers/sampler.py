"""One tick of the spawned run: the supervisor's workers, read and counted -> :class:`Snapshot`.

:class:`Sampler` composes the parts that any source may reuse: the process
probe (psutil: state, CPU%, core, RSS, core loads), the traffic counters
(rates per worker, samples per channel) and the stall detector.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, MutableMapping

from mptop.workers.channels import Channel
from mptop.workers.handles import WorkerHandle
from mptop.workers.probe import MIN_CPU_WINDOW, ProcessProbe, ProcessReading, load_avg
from mptop.workers.snapshot import Snapshot, WorkerSample, WorkerState
from mptop.workers.stall import STALL_TICKS, StallDetector
from mptop.workers.supervisor import Supervisor
from mptop.workers.tasks import TaskReading, TaskTracker
from mptop.workers.traffic import HISTORY, NO_RATES, Traffic

__all__ = ["HISTORY", "MIN_CPU_WINDOW", "STALL_TICKS", "Sampler", "load_avg"]

_EXITED = ProcessReading(WorkerState.EXITED)
TRIM_EVERY = 5.0  # seconds between looks at the size of the workers' output files


class Sampler:
    """Builds one :class:`Snapshot` per call from a :class:`Supervisor`.

    Worker figures come from :class:`~mptop.workers.probe.ProcessProbe`
    (CPU% where 100 = one full core), rates and channels from
    :class:`~mptop.workers.traffic.Traffic` (deltas of the counters over the
    seconds between two snapshots), stall marks from
    :class:`~mptop.workers.stall.StallDetector`. ``delivered`` is the
    dispatcher's per-sender tally of what mptop took. Not thread-safe: call
    :meth:`sample` from one thread only.
    """

    def __init__(
        self,
        supervisor: Supervisor,
        delivered: Mapping[Channel, MutableMapping[int, int]] | None = None,
        drop_pipe: Callable[[Channel], None] | None = None,
    ) -> None:
        self.supervisor = supervisor
        self.drop_pipe = drop_pipe  # closes a forgotten worker's Pipe (the dispatcher's drop)
        self._trimmed_at = 0.0  # when the workers' output files were last looked at
        self.probe = ProcessProbe()
        self.traffic = Traffic(delivered)
        self.stalls = StallDetector(lambda text, level: supervisor.note(text, level=level))
        self.tasks = TaskTracker()
        self.threads_on = False  # read each worker's threads too (key H; set by the source)
        self._last: float | None = None

    def _tasks(self, h: WorkerHandle, now: float) -> TaskReading | None:
        """Tasks taken from the worker's inbox and answered to its outbox (None: no task loop)."""
        att = self.supervisor.topology.attached.get(h.pid)
        if att is None or att.inbox is None or att.outbox is None:
            return None
        inbox, outbox = att.inbox.blocks.get(h.pid), att.outbox.blocks.get(h.pid)
        if inbox is None or outbox is None:
            return None
        reading = self.tasks.read(h.pid, inbox.read()[2], outbox.read()[0], now, h.alive)
        if not h.alive:
            self.tasks.forget(h.pid)  # its last reading stays in the handle's row
            h.tasks_done = reading.done
        return reading

    def _worker(self, h: WorkerHandle, now: float, dt: float | None) -> WorkerSample:
        rates = self.traffic.worker_rates(h.pid, h.blocks, dt)
        r = self.probe.read(h.ps, now) if h.alive and h.ps is not None else _EXITED
        if not h.alive:
            rates = NO_RATES
            self.probe.forget(h.pid)
        elif r.ppid is not None:
            h.ppid = r.ppid
        tasks = self._tasks(h, now) if h.alive or h.tasks_done is None else None
        return WorkerSample(
            pid=h.pid,
            name=h.name,
            daemon=h.daemon,
            state=r.state,
            core=r.core,
            cpu_percent=r.cpu_percent,
            rss=r.rss,
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
            ppid=h.ppid,
            threads=self.probe.threads(h.pid, now) if self.threads_on and h.alive else (),
            tasks_done=tasks.done if tasks is not None else h.tasks_done,
            current_task_seconds=tasks.seconds if tasks is not None else None,
        )

    def _forget(self, pids: list[int]) -> None:
        """Drop what is kept of forgotten workers, and fold their counts into their channels'."""
        top = self.supervisor.topology
        for pid in pids:
            self.probe.forget(pid)
            self.tasks.forget(pid)
            for channel in self.traffic.fold(top, pid):
                if self.drop_pipe is not None:
                    self.drop_pipe(channel)

    def sample(self) -> Snapshot:
        """Reap, read psutil and the counters, and return the snapshot of now.

        Blocks for the reads (about 50 µs per worker here, bench/scale.py tick). Never
        raises for a worker that vanished mid-read: it shows as a zombie until
        the next :meth:`Supervisor.poll` reaps it.
        """
        sup = self.supervisor
        sup.poll()
        self._forget(sup.drain_forgotten())
        now = time.monotonic()
        if now - self._trimmed_at >= TRIM_EVERY:
            self._trimmed_at = now
            sup.trim_logs()
        dt = None if self._last is None else now - self._last
        self._last = now
        loads = self.probe.core_loads(now)
        workers = tuple(self._worker(h, now, dt) for h in sup.handles())
        cores = self.probe.cores(loads, workers, now)
        alive = set(sup.alive_pids())
        channels = self.traffic.channels(sup.topology, alive, dt, self.stalls.check)
        return Snapshot(
            time=time.time(),
            interval=dt or 0.0,
            start_method=sup.start_method,
            cores=cores,
            workers=workers,
            channels=channels,
            events=tuple(sup.drain_events()),
            load_avg=load_avg(),
            mptop=self.probe.own_sample(),
        )
