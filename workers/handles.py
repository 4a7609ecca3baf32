""":class:`WorkerHandle`: the supervisor's record of one worker it started (engine-internal)."""

from __future__ import annotations

from dataclasses import dataclass, field
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

import psutil

from mptop.workers.channels import Channel, Counters
from mptop.workers.commands import CommandError
from mptop.workers.spec import WorkerSpec


class NoSuchWorker(CommandError, LookupError):
    """The PID is not a live worker of this run (gone, reaped, or never ours)."""


@dataclass(eq=False)
class WorkerHandle:
    """mptop's record of one worker it started.

    ``ps`` is the identity anchor (``psutil.Process`` remembers the create
    time); ``None`` if the worker died before it could be looked at.
    ``exitcode`` is set once, by :meth:`Supervisor.poll`. ``start_seconds``
    is how long ``Process.start()`` took, in seconds; ``launched`` the
    ``time.time()`` just before it and ``ready`` the shared double the worker
    sets once it runs (its first lines: the guard against mptop's death), so
    :attr:`ready_seconds` is how long the start method really took (spawn
    returns from ``start()`` long before). ``stop_pending``: a SIGSTOP asked
    for before then, sent by :meth:`Supervisor.poll` once it is. ``pinned``
    is the one core its affinity allows, if it allows one. ``ppid`` is its
    parent's PID as last read (mptop, or the forkserver), kept after it exits.
    """

    name: str
    process: BaseProcess
    pid: int
    ps: psutil.Process | None
    daemon: bool
    workload: str
    spec: WorkerSpec
    blocks: list[tuple[Channel, Counters]]
    started: float
    exitcode: int | None = None
    suspended: bool = False
    pinned: int | None = None
    start_method: str = ""
    start_seconds: float = 0.0
    launched: float = 0.0
    ready: Any = None
    stop_pending: bool = False
    ppid: int | None = None
    tasks_done: int | None = None  # the last count read once it exited (see workers/tasks.py)
    log_paths: tuple[Path, Path, Path] = field(default=(Path(), Path(), Path()))

    @property
    def alive(self) -> bool:
        """True until reaped."""
        return self.exitcode is None

    @property
    def ready_seconds(self) -> float | None:
        """Seconds from ``Process.start()`` to the worker's first lines; None until it ran."""
        at = self.ready.value if self.ready is not None else 0.0
        return at - self.launched if at > 0 else None

    @property
    def guarded(self) -> bool:
        """True once the worker runs and will die with its parent (see ``child._guard_parent``)."""
        return self.ready is None or self.ready.value > 0
