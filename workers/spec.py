"""What to run: :class:`WorkerSpec` and :class:`Scenario`, validated once.

The command line (and, later, TOML scenario files) produce these frozen
dataclasses; everything downstream trusts them. Invalid input raises
:class:`ConfigError`, whose ``str()`` is one line naming the option or key.
"""

from __future__ import annotations

import multiprocessing
import sys
from dataclasses import dataclass, field

from workers.workloads import SYNTAX as WORKLOAD_SYNTAX
from workers.workloads import Workload, parse_workload

__all__ = ["WORKLOAD_SYNTAX", "ConfigError", "Scenario", "WorkerSpec"]

START_METHODS: tuple[str, ...] = ("fork", "forkserver", "spawn")
IPC_TOPOLOGIES: tuple[str, ...] = ("queue",)

MIN_INTERVAL = 0.1
MAX_INTERVAL = 10.0


class ConfigError(ValueError):
    """A bad option or key. ``str(err)`` is one line that names where and what.

    ``where`` is the option (``--interval``) or key (``workers.count``);
    ``source`` the file, if the value came from one.
    """

    def __init__(self, where: str, message: str, source: str | None = None) -> None:
        self.where = where
        self.message = message
        self.source = source
        prefix = f"{source}: " if source else ""
        super().__init__(f"{prefix}{where}: {message}")


def default_start_method() -> str:
    """``forkserver`` on Linux (fast ``a`` once the server runs), ``spawn`` elsewhere.

    fork is never the default: mptop's parent has threads (Textual's, the
    queue feeder threads, the sampler), and forking a threaded process can
    deadlock the child (CPython 3.12+ warns about it).
    """
    if sys.platform.startswith("linux") and "forkserver" in multiprocessing.get_all_start_methods():
        return "forkserver"
    return "spawn"


@dataclass(frozen=True, slots=True)
class WorkerSpec:
    """How to start one kind of worker.

    ``workload`` is workload text (``cpu``, ``duty:30``, ``sleep``,
    ``memory:MB``, ``threads:N``, ``package.module:function``; see
    :mod:`workers.workloads`), parsed once into :attr:`parsed`;
    ``task_seconds`` the length of one task in seconds; ``daemon`` sets
    ``Process.daemon``.

    Raises:
        ConfigError: an unknown workload, a bad parameter, or a custom target
            that cannot be imported (checked here, before anything starts).
    """

    workload: str = "cpu"
    daemon: bool = True
    task_seconds: float = 0.05
    parsed: Workload = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        try:
            object.__setattr__(self, "parsed", parse_workload(self.workload))
        except ValueError as err:
            raise ConfigError("--workload", str(err)) from None
        if not 0 < self.task_seconds <= 60:
            raise ConfigError("task_seconds", f"must be in (0, 60], got {self.task_seconds}")


@dataclass(frozen=True, slots=True)
class Scenario:
    """A whole run: ``count`` workers of ``worker`` kind, how they start, how often to sample.

    ``interval`` is the refresh period in seconds, within
    [:data:`MIN_INTERVAL`, :data:`MAX_INTERVAL`].

    Raises:
        ConfigError: a value out of range, naming the command-line option.
    """

    count: int
    worker: WorkerSpec = field(default_factory=WorkerSpec)
    start_method: str = field(default_factory=default_start_method)
    interval: float = 1.0
    ipc: str = "queue"

    def __post_init__(self) -> None:
        if self.count < 1:
            raise ConfigError("-n/--workers", f"must be at least 1, got {self.count}")
        if self.start_method not in START_METHODS:
            raise ConfigError(
                "--start-method",
                f"unknown start method {self.start_method!r} (choose from {', '.join(START_METHODS)})",
            )
        if self.start_method not in multiprocessing.get_all_start_methods():
            raise ConfigError(
                "--start-method", f"{self.start_method} is not available on {sys.platform}"
            )
        if not MIN_INTERVAL <= self.interval <= MAX_INTERVAL:
            raise ConfigError(
                "--interval",
                f"must be between {MIN_INTERVAL} and {MAX_INTERVAL} seconds, got {self.interval:g}",
            )
        if self.ipc not in IPC_TOPOLOGIES:
            raise ConfigError("--ipc", f"unknown topology {self.ipc!r}")
