"""mptop's own end of the channels, on a thread of its own (never the UI loop).

The :class:`Dispatcher` hands Tasks out and takes Results (or echoes) back:

- ``queue`` and ``pipeline``: it keeps the ``tasks`` Queue topped up, at most
  :data:`BACKLOG_PER_WORKER` waiting per live, running consumer (more, up to
  :data:`MAX_PER_WORKER`, when tasks are so short that the workers empty it) (or, with a
  rate, one Task every ``1/rate`` s, however full the Queue gets, up to
  :data:`MAX_BACKLOG`), and drains ``results``.
- ``pipe``: it keeps at most a window of requests outstanding on each
  worker's Pipe (2, or 1 for payloads over the pipe buffer, so a send never
  waits on a busy worker) and takes the echoes.
- ``none``: nothing.

It blocks in ``multiprocessing.connection.wait`` on the channels it reads, so
an idle run costs no polling; puts go to the Queue's feeder thread. For
each channel it reads, it tallies messages per sending PID
(:attr:`Dispatcher.delivered`), which lets the sampler say how many of a dead
worker's messages never arrived.
"""

from __future__ import annotations

import contextlib
import queue
import threading
import time
from collections import defaultdict, deque
from multiprocessing.connection import wait

from mptop.workers.channels import RECEIVED, SENT, Channel, CountedPipeEnd, CountedQueue
from mptop.workers.supervisor import Supervisor
from mptop.workers.topology import MPTOP, Topology
from mptop.workers.workloads import Result, Task

# Tasks that may wait in the tasks Queue per live, running consumer, at first; doubled
# (up to MAX_PER_WORKER) each time a top-up finds the Queue empty, so workers with
# short tasks are never starved between two top-ups.
BACKLOG_PER_WORKER = 2
MAX_PER_WORKER = 64
# With a rate, the most messages mptop lets pile up in a channel.
MAX_BACKLOG = 10_000
# Longest the thread sleeps in wait() before it looks at its stop flag and new workers, seconds.
IDLE_SECONDS = 0.1
# Messages taken from one ready channel before the others get a turn.
DRAIN_BATCH = 256
# Shortest time between two top-ups, seconds: a top-up reads every consumer's counter
# block and live state, which with hundreds of workers is worth doing 100 times a second,
# not after every answer.
FILL_SECONDS = 0.01
# Requests kept outstanding on each Pipe (refilled as soon as echoes come back).
PIPE_WINDOW = 4
# Above this payload, a Pipe gets one request at a time (its buffer is 64 KiB on Linux).
PIPE_BUFFER = 32 * 1024


class Dispatcher:
    """Feeds Tasks of ``task_seconds`` with ``message_size`` payload bytes; takes the answers.

    ``rate`` is Tasks per second over all channels, or ``None`` for as fast
    as the workers take them. ``results_received`` counts answers taken;
    ``delivered[channel][pid]`` the answers taken from each sender. Start
    with :meth:`start`; :meth:`stop` joins the thread (within about
    :data:`IDLE_SECONDS`, unless a send to a Pipe is stuck; the thread is
    a daemon either way).
    """

    def __init__(
        self,
        supervisor: Supervisor,
        task_seconds: float,
        message_size: int = 0,
        rate: float | None = None,
    ) -> None:
        self.supervisor = supervisor
        self.task_seconds = task_seconds
        self.payload = b"\x00" * message_size
        self.rate = rate
        self.window = 1 if message_size > PIPE_BUFFER else PIPE_WINDOW
        self._per_worker = BACKLOG_PER_WORKER
        # big payloads stay at 2 per worker: 64 of them each would be memory, not speed
        self._max_per_worker = BACKLOG_PER_WORKER if message_size > PIPE_BUFFER else MAX_PER_WORKER
        self.results_received = 0
        self.delivered: dict[Channel, defaultdict[int, int]] = defaultdict(lambda: defaultdict(int))
        self.sending = True  # False: take answers, hand out nothing (drain)
        self._seq = 0
        self._tokens = 0.0
        self._last = time.monotonic()
        self._broken: set[Channel] = set()
        self._filled = 0.0
        self._queued: dict[Channel, int] = {}
        self._drop: deque[Channel] = deque()  # Pipes of forgotten workers, to close here
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="mptop-dispatcher", daemon=True)

    def start(self) -> None:
        """Start the dispatching thread."""
        self._thread.start()

    def stop(self) -> None:
        """Stop and join the thread (idempotent)."""
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=2.0)

    def drop(self, channel: Channel) -> None:
        """Close and forget ``channel`` (the Pipe of a worker that exited and was forgotten).

        Done on the dispatcher's thread, the only one that reads and writes the
        Pipes, once it has read the Pipe to its end. Thread-safe.
        """
        self._drop.append(channel)

    def _dropping(self, top: Topology) -> None:
        for _ in range(len(self._drop)):
            channel = self._drop.popleft()
            if channel not in self._broken and channel.endpoint is not None:
                self._take(channel)  # what is left in it, up to its EOF
                if channel not in self._broken:
                    self._drop.append(channel)  # not at its end yet: at the next round
                    continue
            with contextlib.suppress(ValueError):
                top.channels.remove(channel)
            if channel.endpoint is not None:
                with contextlib.suppress(OSError, ValueError):
                    channel.endpoint.abandon()
            self._broken.discard(channel)
            self.delivered.pop(channel, None)
            self._queued.pop(channel, None)

    # -- sending ----------------------------------------------------------------

    def _task(self) -> Task:
        self._seq += 1
        return Task(self._seq, self.task_seconds, self.payload)

    def _budget(self) -> float:
        """How many Tasks the rate allows now (infinite without a rate)."""
        if self.rate is None:
            return float("inf")
        now = time.monotonic()
        self._tokens = min(self._tokens + (now - self._last) * self.rate, max(1.0, self.rate))
        self._last = now
        return self._tokens

    def _spend(self, n: int) -> None:
        if self.rate is not None:
            self._tokens -= n

    def _send_queue(self, top: Topology) -> None:
        tasks = top.sends
        if tasks is None or tasks.endpoint is None:
            return
        # What mptop put, counted here: the Queue's own count lags by the feeder's buffer.
        _, _, taken, _ = tasks.totals()
        backlog = self._queued.get(tasks, 0) - taken
        if top.stage is not None:  # pipeline: back-pressure from the slower stage
            staged, _, unstaged, _ = top.stage.totals()
            backlog += staged - unstaged
        if self.rate is None:
            running = self.supervisor.count_running(tasks.consumers)
            if backlog <= 0 and running and self._per_worker < self._max_per_worker:
                self._per_worker *= 2  # the workers emptied it: they are faster than the top-ups
            want = self._per_worker * running - backlog
        else:
            want = min(int(self._budget()), MAX_BACKLOG - backlog)
        for _ in range(max(0, want)):
            tasks.endpoint.put(self._task())
        self._queued[tasks] = self._queued.get(tasks, 0) + max(0, want)
        self._spend(max(0, want))

    def _send_pipes(self, top: Topology) -> None:
        for channel in top.receives():
            self._fill_pipe(channel)

    def _fill_pipe(self, channel: Channel, running_checked: bool = False) -> None:
        """Top ``channel`` (a worker's Pipe) up to the window of outstanding requests."""
        end = channel.endpoint
        if channel in self._broken or not isinstance(end, CountedPipeEnd):
            return
        if not running_checked:
            (pid,) = [p for p in list(channel.consumers) if p != MPTOP] or [0]
            if not self.supervisor.count_running({pid}):
                return
        budget = self._budget()
        mine = channel.blocks[MPTOP].array
        outstanding = mine[SENT] - mine[RECEIVED]
        for _ in range(max(0, self.window - outstanding)):
            if budget < 1:
                return
            try:
                end.put(self._task())
            except (OSError, EOFError) as err:
                self._break(channel, err)  # the worker is gone
                return
            budget -= 1
            self._spend(1)

    def _break(self, channel: Channel, err: BaseException) -> None:
        """Stop using ``channel`` (its other end is gone), and say so once."""
        if channel in self._broken:
            return
        self._broken.add(channel)
        if isinstance(channel.endpoint, CountedPipeEnd):
            with contextlib.suppress(OSError, ValueError):
                channel.endpoint.abandon()  # its fd now: the counts stay in shared memory
        why = "the other end closed it" if isinstance(err, EOFError) else f"{err}"
        self.supervisor.note(
            f"channel {channel.info.name}: {why}; mptop sends and takes no more on it"
        )

    # -- receiving --------------------------------------------------------------

    def _take(self, channel: Channel) -> None:
        end = channel.endpoint
        assert end is not None
        tally = self.delivered[channel]
        if isinstance(end, CountedQueue):
            # mptop is the results Queue's only reader: whatever whole messages the pipe
            # holds, in one read (a writer killed mid-message cannot block it)
            msgs = end.take_ready()
            for msg in msgs:
                if isinstance(msg, Result):
                    tally[msg.pid] += 1
            self.results_received += len(msgs)
            return
        for _ in range(DRAIN_BATCH):
            try:
                msg = end.get(timeout=0)
            except queue.Empty:
                break
            except (EOFError, OSError) as err:
                self._break(channel, err)
                return
            if isinstance(msg, Result):
                tally[msg.pid] += 1
            self.results_received += 1
        if (
            self.sending
            and not self.supervisor.stop_event.is_set()
            and isinstance(end, CountedPipeEnd)
        ):
            # the worker answered, so it is running: send it the next request at once
            self._fill_pipe(channel, running_checked=True)

    def _receive(self, top: Topology, timeout: float) -> None:
        channels = [c for c in top.receives() if c not in self._broken]
        if not channels:
            self._stop.wait(timeout)
            return
        by_end = {c.endpoint.waitable(): c for c in channels if c.endpoint is not None}
        for ready in wait(list(by_end), timeout):
            self._take(by_end[ready])  # type: ignore[index]

    def _run(self) -> None:
        sup = self.supervisor
        while not self._stop.is_set():
            top = sup.topology
            try:
                if top.kind == "none":
                    self._stop.wait(IDLE_SECONDS * 5)
                    continue
                if self._drop:
                    self._dropping(top)
                now = time.monotonic()
                timeout = IDLE_SECONDS
                if self.sending and not sup.stop_event.is_set():
                    if now - self._filled >= FILL_SECONDS:
                        self._filled = now
                        if top.kind == "pipe":
                            self._send_pipes(top)
                        else:
                            self._send_queue(top)
                    else:
                        timeout = FILL_SECONDS - (now - self._filled)
                if self.rate is not None:
                    timeout = min(timeout, max(0.001, (1 - self._tokens) / self.rate))
                self._receive(top, timeout)
            except (ValueError, OSError) as err:
                if sup.topology is top:
                    # the supervisor closed the channels: nothing left to dispatch (at quit,
                    # as expected; otherwise it is worth a line)
                    if not sup.stop_event.is_set():
                        sup.note(
                            f"mptop stopped handing out tasks: its channels are closed ({err})",
                            level="warning",
                        )
                    return
                # else: rebuilt under us; go on with the new channels
