"""What to run: :class:`WorkerSpec` and :class:`Scenario`, validated once.

The command line (and, later, TOML scenario files) produce these frozen
dataclasses; everything downstream trusts them. Invalid input raises
:class:`ConfigError`, whose ``str()`` is one line naming the option or key.
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import sys
from dataclasses import dataclass, field

import psutil

from mptop.workers.workloads import SYNTAX as WORKLOAD_SYNTAX
from mptop.workers.workloads import Workload, parse_workload

__all__ = ["WORKLOAD_SYNTAX", "ConfigError", "Scenario", "WorkerSpec"]

START_METHODS: tuple[str, ...] = ("fork", "forkserver", "spawn")
IPC_TOPOLOGIES: tuple[str, ...] = ("queue", "pipe", "pipeline", "none")

MAX_MESSAGE_SIZE = 64 << 20  # bytes
MIN_INTERVAL = 0.1
MAX_INTERVAL = 10.0
# Most workers one group may start: a typo like count = 10000 should not fork-bomb the machine.
MAX_COUNT = 1024
# Longest group name, characters.
MAX_NAME = 60
# Most tasks per second mptop hands out.
MAX_RATE = 1e6
# Longest headless run, seconds (a week).
MAX_DURATION = 7 * 86400


class ConfigError(ValueError):
    """A bad option or key. ``str(err)`` is one line that names where and what.

    ``where`` is the option (``--interval``) or key (``workers[1].count``);
    ``source`` the file, if the value came from one; ``line`` its 1-based line
    there, where known. ``str()`` is ``FILE:LINE: KEY: message`` (the parts
    that are known).
    """

    def __init__(
        self, where: str, message: str, source: str | None = None, line: int | None = None
    ) -> None:
        self.where = where
        self.message = message
        self.source = source
        self.line = line
        prefix = ""
        if source:
            prefix = f"{source}:{line}: " if line is not None else f"{source}: "
        head = f"{where}: " if where else ""
        super().__init__(" ".join(f"{prefix}{head}{message}".split()))

    def __reduce__(self) -> tuple[object, ...]:
        return (ConfigError, (self.where, self.message, self.source, self.line))


def default_start_method() -> str:
    """``forkserver`` on Linux (fast ``a`` once the server runs), ``spawn`` elsewhere.

    fork is never the default: mptop's parent has threads (Textual's, the
    queue feeder threads, the sampler), and forking a threaded process can
    deadlock the child (CPython 3.12+ warns about it).
    """
    if sys.platform.startswith("linux") and "forkserver" in multiprocessing.get_all_start_methods():
        return "forkserver"
    return "spawn"


def _check_start_method(method: str, where: str) -> None:
    if method not in START_METHODS:
        raise ConfigError(
            where, f"unknown start method {method!r} (choose from {', '.join(START_METHODS)})"
        )
    if method not in multiprocessing.get_all_start_methods():
        raise ConfigError(where, f"{method} is not available on {sys.platform}")


# Workers' nice value unless a scenario sets one; 19 is the lowest priority (Linux, macOS).
DEFAULT_NICE = 19
MAX_NICE = 19


@dataclass(frozen=True, slots=True)
class WorkerSpec:
    """How to start one group of ``count`` alike workers.

    ``workload`` is workload text (``cpu``, ``duty:30``, ``sleep``,
    ``memory:MB``, ``threads:N``, ``package.module:function``; see
    :mod:`mptop.workers.workloads`), parsed once into :attr:`parsed`;
    ``task_seconds`` the length of one task in seconds; ``daemon`` sets
    ``Process.daemon``; ``start_method`` overrides the scenario's (``None``:
    the scenario's); ``affinity`` is the cores the workers may run on
    (``None``: all); ``name`` prefixes the workers' names (``worker-3``);
    ``nice`` is the workers' nice value, 0 (normal) to 19 (lowest priority),
    :data:`DEFAULT_NICE` unless set: with hundreds of busy workers on a few
    cores, Linux's fair scheduler gives every runnable process an equal share,
    and mptop's own threads (one process among hundreds) would answer a key in
    seconds; niced workers still use every idle cycle, and all of them are
    niced alike, so they compare fairly with one another.

    Raises:
        ConfigError: an unknown workload, a bad parameter, or a custom target
            that cannot be imported (checked here, before anything starts); a
            count below 1; an unknown start method; a core that does not exist.
    """

    workload: str = "cpu"
    daemon: bool = True
    count: int = 1
    start_method: str | None = None
    affinity: tuple[int, ...] | None = None
    task_seconds: float = 0.05
    name: str = "worker"
    nice: int = DEFAULT_NICE
    parsed: Workload = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        try:
            object.__setattr__(self, "parsed", parse_workload(self.workload))
        except ValueError as err:
            raise ConfigError("--workload", str(err)) from None
        if self.count < 1:
            raise ConfigError("-n/--workers", f"must be at least 1, got {self.count}")
        if self.count > MAX_COUNT:
            raise ConfigError("-n/--workers", f"must be at most {MAX_COUNT}, got {self.count}")
        if not 0 < self.task_seconds <= 60:
            raise ConfigError("task_seconds", f"must be in (0, 60], got {self.task_seconds}")
        if self.start_method is not None:
            _check_start_method(self.start_method, "--start-method")
        if self.affinity is not None:
            cores = psutil.cpu_count() or 1
            if not self.affinity:
                raise ConfigError("affinity", "must name at least one core")
            bad = [c for c in self.affinity if not 0 <= c < cores]
            if bad:
                raise ConfigError(
                    "affinity",
                    f"core {bad[0]} does not exist (this machine has cores 0-{cores - 1})",
                )
        if not 0 <= self.nice <= MAX_NICE:
            raise ConfigError("--nice", f"must be between 0 and {MAX_NICE}, got {self.nice}")
        if not self.name.isidentifier() or len(self.name) > MAX_NAME:
            raise ConfigError(
                "name", f"must be a plain word of at most {MAX_NAME} letters, got {self.name!r}"
            )


@dataclass(frozen=True, slots=True)
class Scenario:
    """A whole run: groups of workers, how they start, their IPC, how often to sample.

    ``groups`` holds at least one :class:`WorkerSpec`; the first is the kind
    that `a` adds. ``interval`` is the refresh period in seconds, within
    [:data:`MIN_INTERVAL`, :data:`MAX_INTERVAL`]. ``ipc`` is one of
    :data:`IPC_TOPOLOGIES`; ``message_size`` the bytes of payload padding per
    task (0: just the task); ``rate`` the tasks per second mptop hands out
    (``None``: as fast as the workers take them).

    Raises:
        ConfigError: a value out of range, naming the command-line option.
    """

    groups: tuple[WorkerSpec, ...] = (WorkerSpec(),)
    start_method: str = field(default_factory=default_start_method)
    interval: float = 1.0
    ipc: str = "queue"
    message_size: int = 0
    rate: float | None = None
    name: str = ""

    def __post_init__(self) -> None:
        if not self.groups:
            raise ConfigError("workers", "at least one group of workers is needed")
        _check_start_method(self.start_method, "--start-method")
        check_interval(self.interval)
        if self.ipc not in IPC_TOPOLOGIES:
            raise ConfigError(
                "--ipc", f"unknown topology {self.ipc!r} (choose from {', '.join(IPC_TOPOLOGIES)})"
            )
        if not 0 <= self.message_size <= MAX_MESSAGE_SIZE:
            raise ConfigError(
                "--message-size",
                f"must be between 0 and {MAX_MESSAGE_SIZE} bytes, got {self.message_size}",
            )
        if self.rate is not None and not 0 < self.rate <= MAX_RATE:
            raise ConfigError(
                "--rate", f"must be above 0 and at most {MAX_RATE:g} messages/s, got {self.rate:g}"
            )

    @classmethod
    def simple(
        cls,
        count: int,
        worker: WorkerSpec | None = None,
        *,
        start_method: str | None = None,
        interval: float = 1.0,
        ipc: str = "queue",
        message_size: int = 0,
        rate: float | None = None,
    ) -> Scenario:
        """One group of ``count`` workers like ``worker`` (default :class:`WorkerSpec`)."""
        group = dataclasses.replace(worker or WorkerSpec(), count=count)
        return cls(
            groups=(group,),
            start_method=start_method or default_start_method(),
            interval=interval,
            ipc=ipc,
            message_size=message_size,
            rate=rate,
        )

    @property
    def count(self) -> int:
        """Workers started at launch, over all groups."""
        return sum(g.count for g in self.groups)

    @property
    def worker(self) -> WorkerSpec:
        """The spec of workers added with `a`: the first group's."""
        return self.groups[0]

    def start_methods(self) -> set[str]:
        """Every start method this scenario uses."""
        return {g.start_method or self.start_method for g in self.groups}


def check_duration(seconds: float) -> float:
    """A headless run's length: above 0 and at most :data:`MAX_DURATION` seconds. Returns it.

    Raises:
        ConfigError: out of range, naming ``--duration``.
    """
    if not 0 < seconds <= MAX_DURATION:
        raise ConfigError("--duration", f"must be above 0 and at most a week, got {seconds:g}")
    return seconds


def check_interval(seconds: float) -> float:
    """A refresh interval: :data:`MIN_INTERVAL` to :data:`MAX_INTERVAL` seconds. Returns it.

    Raises:
        ConfigError: out of range, naming ``--interval``.
    """
    if not MIN_INTERVAL <= seconds <= MAX_INTERVAL:
        raise ConfigError(
            "--interval",
            f"must be between {MIN_INTERVAL:g} and {MAX_INTERVAL:g} seconds, got {seconds:g}",
        )
    return seconds
