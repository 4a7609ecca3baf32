""":class:`StarterThread`: the one long-lived thread that forks every worker."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable


class StarterThread:
    """One long-lived daemon thread that runs ``Process.start`` calls, one at a time.

    Why: PR_SET_PDEATHSIG (child.py) fires when the *thread* that forked the
    child ends, so children must be forked by a thread that lives as long as
    mptop. A plain ``threading.Thread``, not a ``ThreadPoolExecutor``: a child
    forked from an executor thread runs the executor's atexit hook, which
    joins its own thread and turns every exit code into 1 (CPython 3.11).
    """

    def __init__(self) -> None:
        self._jobs: queue.SimpleQueue[
            tuple[Callable[[], None], threading.Event, list[BaseException]] | None
        ] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="mptop-starter", daemon=True)
        self._thread.start()

    def call(self, fn: Callable[[], None]) -> None:
        """Run ``fn`` on the starter thread and wait; re-raises what it raised."""
        done = threading.Event()
        errors: list[BaseException] = []
        self._jobs.put((fn, done, errors))
        done.wait()
        if errors:
            raise errors[0]

    def stop(self) -> None:
        """Let the thread end once queued calls are done."""
        self._jobs.put(None)

    def _run(self) -> None:
        while (job := self._jobs.get()) is not None:
            fn, done, errors = job
            try:
                fn()
            except BaseException as err:
                errors.append(err)
            finally:
                done.set()
