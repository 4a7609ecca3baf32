""":class:`SamplingThread`: takes a snapshot every interval and hands it over, one in flight at a time."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from mptop.workers.snapshot import Snapshot

Take = Callable[[], Snapshot]
Deliver = Callable[[Snapshot], None]
Failed = Callable[[str], None]


class SamplingThread:
    """Calls ``take()`` every ``interval`` seconds on one long-lived thread and passes the result on.

    The schedule is fixed, as htop's: tick N is due ``N * interval`` after
    the first, so a slow tick does not shift the later ones (a tick that is
    late is taken at once, and the schedule starts again from it). After each
    delivery the thread waits for :meth:`arm` (the consumer has applied the
    snapshot) before it takes another; :meth:`poke` takes one as soon as it
    is armed, without waiting for the tick. ``deliver`` runs on this thread
    and must not block.

    An exception from ``take()`` does not stop the thread: ``failed`` gets
    one line (``"taking a snapshot failed: KeyError: 4242"``), the same line
    only once until a snapshot succeeds again, and the next tick tries again.
    One long-lived thread, because psutil keeps its per-core baseline per thread.
    """

    def __init__(self, take: Take, interval: float, name: str = "mptop-sampler") -> None:
        self.take = take
        self.interval = interval
        self._deliver: Deliver = lambda snap: None
        self._failed: Failed = lambda line: None
        self._armed = threading.Event()
        self._armed.set()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._auto_arm = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self, deliver: Deliver, failed: Failed, auto_arm: bool = False) -> None:
        """Start sampling; the first snapshot is taken at once. ``auto_arm``: never wait for arm()."""
        self._deliver = deliver
        self._failed = failed
        self._auto_arm = auto_arm
        self._wake.set()
        self._thread.start()

    def arm(self) -> None:
        """Allow the next sample (call when the last snapshot has been applied)."""
        self._armed.set()

    def poke(self) -> None:
        """Take the next sample as soon as the last one has been applied."""
        self._wake.set()

    def stop(self, timeout: float = 2.0) -> None:
        """Stop and join the thread, waiting at most ``timeout`` seconds (idempotent)."""
        self._stop.set()
        self._armed.set()
        self._wake.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    def _run(self) -> None:
        due = time.monotonic()
        said = ""
        while not self._stop.is_set():
            self._wake.wait(max(0.0, due - time.monotonic()))
            self._wake.clear()
            self._armed.wait()
            if self._stop.is_set():
                return
            started = time.monotonic()
            if started >= due:  # the tick that was due (a poke comes early: the schedule stays)
                late = started - due >= self.interval
                due = started + self.interval if late else due + self.interval
            try:
                snap = self.take()
            except Exception as err:
                line = f"taking a snapshot failed: {type(err).__name__}: {err}"
                if line != said:
                    said = line
                    self._failed(line)
                continue
            said = ""
            self._armed.clear()
            self._deliver(snap)
            if self._auto_arm:
                self._armed.set()
