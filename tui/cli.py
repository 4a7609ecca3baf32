"""The ``mptop`` command: argparse -> :class:`Scenario` -> :class:`MptopApp`.

Bad input gets one line on stderr naming the option, exit status 2, no
traceback, and no process started: everything is validated before the
supervisor exists.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import NoReturn

from workers import __version__
from workers.spec import (
    IPC_TOPOLOGIES,
    MAX_INTERVAL,
    MAX_MESSAGE_SIZE,
    MIN_INTERVAL,
    START_METHODS,
    WORKLOAD_SYNTAX,
    ConfigError,
    Scenario,
    WorkerSpec,
    default_start_method,
)

EXIT_USAGE = 2
# Seconds Textual gets to restore the terminal once the workers are stopped.
EXIT_WATCHDOG = 1.0


def usable_cores() -> int:
    """Cores this process may run on (its affinity mask where the OS has one), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


class _Parser(argparse.ArgumentParser):
    """argparse with a one-line error: ``mptop: error: argument -n: ...``, exit 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _interval(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number of seconds, got {text!r}") from None
    if not MIN_INTERVAL <= value <= MAX_INTERVAL:
        raise argparse.ArgumentTypeError(
            f"must be between {MIN_INTERVAL:g} and {MAX_INTERVAL:g} seconds, got {text}"
        )
    return value


def _size(text: str) -> int:
    units = {"": 1, "K": 1 << 10, "M": 1 << 20}
    t = text.strip().upper().removesuffix("B").removesuffix("I")
    unit = t[-1:] if t[-1:] in ("K", "M") else ""
    try:
        value = int(float(t[: len(t) - len(unit)]) * units[unit])
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"must be a size in bytes like 4096 or 1M, got {text!r}"
        ) from None
    if not 0 <= value <= MAX_MESSAGE_SIZE:
        raise argparse.ArgumentTypeError(
            f"must be between 0 and {MAX_MESSAGE_SIZE} bytes, got {text}"
        )
    return value


def _rate(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"must be a number of messages per second, got {text!r}"
        ) from None
    if not 0 < value <= 1e6:
        raise argparse.ArgumentTypeError(f"must be above 0 and at most 1e6, got {text}")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The ``mptop`` argument parser."""
    cores = usable_cores()
    p = _Parser(
        prog="mptop",
        description=(
            "Start worker processes with Python's multiprocessing and watch them live: "
            "PIDs, states, exit codes, the load of every core, and the messages flowing "
            "through their Queues. Keys add, terminate (SIGTERM), kill (SIGKILL) and "
            "suspend workers; press ? inside for help."
        ),
        epilog=(
            "CPU% is per process with 100 = one full core, as in htop. "
            f"This machine has {cores} usable core(s): with the cpu workload, more "
            "workers than cores only share them."
        ),
    )
    p.add_argument(
        "-n",
        "--workers",
        type=_positive_int,
        default=cores,
        metavar="N",
        help=f"workers to start (default: one per core, here {cores})",
    )
    p.add_argument(
        "--workload",
        default="cpu",
        metavar="WORKLOAD",
        help=(
            f"what each task costs a worker: {WORKLOAD_SYNTAX}. cpu burns a core in pure "
            "Python; duty:30 keeps a worker near 30%% of a core; sleep waits like I/O; "
            "memory:200 holds 200 MiB; threads:4 runs 4 busy threads in one process (the "
            "GIL keeps it near 100%%); a custom function (importable from the current "
            "directory too) is called once per task (default: cpu)"
        ),
    )
    p.add_argument(
        "--daemon",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="start workers as daemon processes, which die with mptop (default: --daemon)",
    )
    p.add_argument(
        "--start-method",
        choices=START_METHODS,
        default=default_start_method(),
        help=f"how multiprocessing starts workers (default here: {default_start_method()})",
    )
    p.add_argument(
        "--ipc",
        choices=IPC_TOPOLOGIES,
        default="queue",
        help=(
            "channel topology: queue = a task Queue to the workers and a result Queue back "
            "(the Pool pattern); pipe = one duplex Pipe per worker, requests out and echoes "
            "back; pipeline = stage-1 workers feed a Queue that stage-2 workers drain; "
            "none = no messages (default: queue)"
        ),
    )
    p.add_argument(
        "--message-size",
        type=_size,
        default=0,
        metavar="BYTES",
        help="payload bytes added to every task, e.g. 4096 or 1M (default: 0, a small task)",
    )
    p.add_argument(
        "--rate",
        type=_rate,
        default=None,
        metavar="MESSAGES_PER_S",
        help="tasks per second that mptop hands out (default: as fast as the workers go)",
    )
    p.add_argument(
        "--interval",
        type=_interval,
        default=1.0,
        metavar="SECONDS",
        help=f"refresh interval, {MIN_INTERVAL:g} to {MAX_INTERVAL:g} (default: 1)",
    )
    p.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    return p


def parse_scenario(argv: Sequence[str] | None = None) -> Scenario:
    """Parse ``argv`` into a Scenario. Exits with status 2 and one line on bad input."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if ":" in args.workload and os.getcwd() not in sys.path:
        # a custom workload may live in the current directory, as with python -m;
        # appended, so it never shadows mptop's own packages
        sys.path.append(os.getcwd())
    try:
        return Scenario.simple(
            args.workers,
            WorkerSpec(workload=args.workload, daemon=args.daemon),
            start_method=args.start_method,
            interval=args.interval,
            ipc=args.ipc,
            message_size=args.message_size,
            rate=args.rate,
        )
    except ConfigError as err:
        parser.error(str(err))


def main(argv: Sequence[str] | None = None) -> int:
    """Run mptop; returns the process exit status."""
    scenario = parse_scenario(argv)
    from tui.app import MptopApp
    from workers.supervisor import Supervisor

    supervisor = Supervisor(scenario)
    app: MptopApp | None = None
    try:
        app = MptopApp(supervisor, exit_watchdog=EXIT_WATCHDOG)
        app.run()
    finally:
        if app is not None:
            app.cancel_watchdog()
            app.stop_threads()
        supervisor.shutdown()
        supervisor.remove_log_dir()
    return app.return_code or 0 if app is not None else 1


if __name__ == "__main__":
    sys.exit(main())
