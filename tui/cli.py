"""The ``mptop`` command: argparse (+ a scenario file) -> a Source -> the app or a headless sink.

Kinds of run, as subcommands: ``mptop [FILE.toml | --scenario NAME]`` (the
spawned run, the default), ``mptop replay FILE.jsonl`` (``--replay FILE`` is
an alias). Any kind runs in the TUI, or with ``--headless --output FILE``
into a recording. Bad input gets one line on stderr naming the option, or the
file, line and key, exit status 2, no traceback, and no process started:
argparse only parses, the spec checks every range (one place, one wording),
and all of it happens before a source exists.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import os
import shutil
import signal
import sys
import threading
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any, NoReturn

from mptop.workers import __version__
from mptop.workers.record import OUTPUT_SUFFIXES
from mptop.workers.scenario_file import (
    ScenarioFile,
    bundled_names,
    load_bundled,
    load_scenario,
    parse_size,
)
from mptop.workers.spec import (
    DEFAULT_NICE,
    IPC_TOPOLOGIES,
    MAX_INTERVAL,
    MAX_NICE,
    MIN_INTERVAL,
    START_METHODS,
    WORKLOAD_SYNTAX,
    ConfigError,
    Scenario,
    check_duration,
    check_interval,
    default_start_method,
)

if TYPE_CHECKING:
    from mptop.workers.run_source import RunSource
    from mptop.workers.source import Closed, Fate, Source

# The kinds of run besides the default one, with a line for --help.
SUBCOMMANDS = {
    "run": "run your own program and watch its processes and their Queues and Pipes",
    "replay": "play a recording back in the TUI at its real pace",
    "attach": "watch a running process and its children, of any program, without stopping it",
    "dask": "watch a Dask cluster: a local one mptop starts, or the scheduler at an address",
    "serve": "serve mptop in a browser through textual-serve, every tab its own run, behind a token",
}

EXIT_USAGE = 2
# What each exit status means, for the --help epilogs (the values: mptop.workers.headless).
HEADLESS_STATUSES = (
    "Exit status with --headless: 0 recorded, and not every worker failed (workers mptop "
    "stops at the end do not count as failed); 1 mptop saw an error (a snapshot it could not "
    "take, a worker it could not start, a write that failed, a run it could not start); 2 bad "
    "input, nothing started; 3 every worker failed (each ended with an exception, sys.exit(N) "
    "or a signal mptop did not send, before the end; 1 where both hold). The summary on "
    "stderr says how each worker ended."
)
RUN_STATUSES = (
    "Exit status: the program's own (128 + N if it died of signal N, as a shell says), also "
    "with --headless; 1 if the program exited 0 but mptop saw an error while recording; 2 bad "
    "input, nothing started."
)
# Seconds Textual gets to restore the terminal once the workers are stopped.
EXIT_WATCHDOG = 1.0


def usable_cores() -> int:
    """Cores this process may run on (its affinity mask where the OS has one), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


class _Parser(argparse.ArgumentParser):
    """argparse with a one-line error: ``mptop: error: -n/--workers: ...``, exit 2 (argparse's
    "argument " before the option dropped: the form of mptop's own checks)."""

    def error(self, message: str) -> NoReturn:
        message = message.removeprefix("argument ")
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _whole(text: str) -> int:
    """A whole number; its range is the spec's to check."""
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number, got {text!r}") from None


def _number(what: str) -> Callable[[str], float]:
    """A parser of floats whose one-line argparse error says ``what`` was expected."""

    def parse(text: str) -> float:
        try:
            return float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be {what}, got {text!r}") from None

    return parse


def _size(text: str) -> int:
    try:
        return parse_size(text)  # the scenario files' parser: 4096, 4K, 1M, 1MiB
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"must be a size in bytes like 4096 or 1M, got {text!r}"
        ) from None


def build_parser() -> argparse.ArgumentParser:
    """The ``mptop`` argument parser.

    Options that a scenario file also sets default to ``None`` here, so that
    only the ones given on the command line override the file.
    """
    cores = usable_cores()
    commands = "; ".join(f"mptop {name} ({what})" for name, what in SUBCOMMANDS.items())
    p = _Parser(
        prog="mptop",
        usage=(
            "mptop [FILE.toml | --scenario NAME] [options]\n"
            + "".join(f"       mptop {name} ...\n" for name in SUBCOMMANDS)
        ),
        description=(
            "Start worker processes with Python's multiprocessing and watch them live: "
            "PIDs, states, exit codes, the load of every core, and the messages flowing "
            "through their Queues and Pipes. Keys add, terminate (SIGTERM), kill (SIGKILL), "
            "suspend and pin workers; press ? inside for help, L for the scenario's lesson. "
            f"Other kinds of run: {commands}; each has its own --help."
        ),
        epilog=(
            "CPU% is per process with 100 = one full core, as in htop. "
            f"This machine has {cores} usable core(s): with the cpu workload, more "
            "workers than cores only share them. Options given here override the scenario "
            "file's keys; -n, --workload, --daemon and --nice apply to every group of workers. "
            "Examples: mptop --list-scenarios; mptop --scenario processes-vs-threads; "
            "mptop my.toml -n 8; mptop --scenario pool --headless --duration 10 --output "
            "run.jsonl; mptop replay run.jsonl. " + HEADLESS_STATUSES
        ),
    )
    p.add_argument(
        "file",
        nargs="?",
        metavar="FILE.toml",
        help="a scenario file to run (see README: Scenarios)",
    )
    p.add_argument(
        "--scenario",
        metavar="NAME",
        help="run a bundled scenario (--list-scenarios shows them)",
    )
    p.add_argument(
        "--list-scenarios",
        action="store_true",
        help="list the bundled scenarios, one line each, and exit",
    )
    p.add_argument(
        "-n",
        "--workers",
        type=_whole,
        default=None,
        metavar="N",
        help=f"workers to start, per group (default: one per core, here {cores})",
    )
    p.add_argument(
        "--workload",
        default=None,
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
        default=None,
        help="start workers as daemon processes, which die with mptop (default: --daemon)",
    )
    p.add_argument(
        "--nice",
        type=_whole,
        default=None,
        metavar="N",
        help=(
            f"the workers' nice value, 0 (normal) to {MAX_NICE} (lowest priority), as in "
            f"htop's NI column (default: {DEFAULT_NICE}: hundreds of busy workers at 0 "
            "would slow mptop's own answers to seconds; niced, they still use every idle "
            "cycle)"
        ),
    )
    p.add_argument(
        "--start-method",
        choices=START_METHODS,
        default=None,
        help=f"how multiprocessing starts workers (default here: {default_start_method()})",
    )
    p.add_argument(
        "--ipc",
        choices=IPC_TOPOLOGIES,
        default=None,
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
        default=None,
        metavar="BYTES",
        help="payload bytes added to every task, e.g. 4096 or 1M (default: 0, a small task)",
    )
    p.add_argument(
        "--rate",
        type=_number("a number of messages per second"),
        default=None,
        metavar="MESSAGES_PER_S",
        help="tasks per second that mptop hands out (default: as fast as the workers go)",
    )
    _add_interval_option(p, None)  # None: the scenario file's, else 1
    rec = p.add_argument_group("recording and replay")
    _add_headless_options(rec, "", "at Ctrl+C")
    rec.add_argument(
        "--replay",
        metavar="FILE.jsonl",
        help="the same as: mptop replay FILE.jsonl",
    )
    p.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    return p


# The options of a spawned run, which a scenario that runs a program does not take.
_SPAWN_OPTIONS = (
    ("workers", "--workers"),
    ("workload", "--workload"),
    ("daemon", "--daemon"),
    ("nice", "--nice"),
    ("start_method", "--start-method"),
    ("ipc", "--ipc"),
    ("message_size", "--message-size"),
    ("rate", "--rate"),
)

# Options that make a new run; --replay conflicts with every one of them.
_RUN_OPTIONS = (
    ("file", "FILE.toml"),
    ("scenario", "--scenario"),
    ("headless", "--headless"),
    *_SPAWN_OPTIONS,
    ("interval", "--interval"),
    ("duration", "--duration"),
    ("output", "--output"),
)


@dataclass(frozen=True, slots=True)
class Invocation:
    """What the command line asked for, validated.

    ``mode`` is ``tui``, ``headless``, ``replay`` or ``list``; ``loaded`` the
    scenario with its words (``None`` for replay and list); ``output`` and
    ``duration`` (seconds, ``None`` = until Ctrl+C) for headless; ``replay``
    the recording path.
    """

    mode: str
    loaded: ScenarioFile | None = None
    output: Path | None = None
    duration: float | None = None
    replay: Path | None = None
    named: str = "replay"  # how the recording was given: the subcommand, or --replay
    command: tuple[str, ...] = ()  # mptop run: the program's command line
    interval: float = 1.0  # mptop run: seconds between snapshots
    pid: int = 0  # mptop attach: the process to watch
    address: str | None = None  # mptop dask: the scheduler (None: a local cluster)
    workers: int = 0  # mptop dask: the local cluster's workers
    threads: int = 1  # mptop dask: threads per worker
    port: int = 0  # mptop dask: the local cluster's scheduler port (0: any free one)
    metrics: tuple[str, int] | None = None  # --metrics: where to serve /metrics


def _given(args: argparse.Namespace, options: Sequence[tuple[str, str]]) -> list[str]:
    """The names of the ``(attribute, option)`` pairs the command line set (not None/False)."""
    return [option for attr, option in options if getattr(args, attr) not in (None, False)]


def _check_conflicts(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    if args.replay is not None:
        for option in _given(args, _RUN_OPTIONS):
            parser.error(f"--replay: conflicts with {option} (a replay starts no process)")
    if args.file is not None and args.scenario is not None:
        parser.error(f"--scenario: conflicts with the scenario file {args.file} (give one)")
    _check_conflicts_headless(parser, args)


def _overridden(loaded: ScenarioFile, args: argparse.Namespace) -> Scenario:
    """The file's scenario with the options given on the command line applied."""
    scenario = loaded.scenario
    group_changes: dict[str, object] = {}
    if args.workers is not None:
        group_changes["count"] = args.workers
    if args.workload is not None:
        group_changes["workload"] = args.workload
    if args.daemon is not None:
        group_changes["daemon"] = args.daemon
    if args.nice is not None:
        group_changes["nice"] = args.nice
    if args.start_method is not None:
        group_changes["start_method"] = None  # the scenario's, set below
    if group_changes:
        groups = tuple(dataclasses.replace(g, **group_changes) for g in scenario.groups)  # type: ignore[arg-type]
        scenario = dataclasses.replace(scenario, groups=groups)
    changes: dict[str, object] = {}
    for attr in ("start_method", "ipc", "message_size", "rate", "interval"):
        value = getattr(args, attr)
        if value is not None:
            changes[attr] = value
    if changes:
        scenario = dataclasses.replace(scenario, **changes)  # type: ignore[arg-type]
    return scenario


def parse_invocation(argv: Sequence[str] | None = None) -> Invocation:
    """Parse and validate ``argv`` completely. Exits with status 2 and one line on bad input.

    Reads the scenario file (or the bundled scenario) and imports a custom
    workload, but starts no process.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "replay":
        replay = build_replay_parser().parse_args(argv[1:])
        return Invocation("replay", replay=Path(replay.file))
    if argv and argv[0] == "run":
        return parse_run(argv[1:])
    if argv and argv[0] == "attach":
        return parse_attach(argv[1:])
    if argv and argv[0] == "dask":
        from mptop.tui.dask_cli import parse_dask

        inv = parse_dask(argv[1:])
        assert isinstance(inv, Invocation)
        return inv
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.list_scenarios:
        for option in _given(args, (*_RUN_OPTIONS, ("replay", "--replay"))):
            parser.error(f"--list-scenarios: conflicts with {option} (it only lists)")
        return Invocation("list")
    _check_conflicts(parser, args)
    if args.replay is not None:
        return Invocation("replay", replay=Path(args.replay), named="--replay")
    if os.getcwd() not in sys.path:
        # a custom workload (given here or in a scenario file) may live in the current
        # directory, as with python -m; appended, so it never shadows mptop's packages
        sys.path.append(os.getcwd())
    try:
        if args.file is not None:
            try:
                loaded = load_scenario(args.file)
            except ConfigError as err:
                stem = Path(args.file).stem
                if err.message == "no such file" and stem in bundled_names():
                    raise ConfigError(
                        "", f"no such file (did you mean --scenario {stem}?)", err.source
                    ) from None
                raise
        elif args.scenario is not None:
            loaded = load_bundled(args.scenario)
        else:
            loaded = ScenarioFile(Scenario.simple(usable_cores()))
        if loaded.program:
            return _program_run(parser, args, loaded)
        scenario = _overridden(loaded, args)
        duration = None if args.duration is None else check_duration(args.duration)
    except ConfigError as err:
        parser.error(str(err))
    loaded = dataclasses.replace(loaded, scenario=scenario).counted()
    if args.headless:
        return Invocation(
            "headless", loaded, output=Path(args.output), duration=duration, metrics=args.metrics
        )
    return Invocation("tui", loaded, metrics=args.metrics)


def _program_run(
    parser: argparse.ArgumentParser, args: argparse.Namespace, loaded: ScenarioFile
) -> Invocation:
    """A scenario that runs a program (``program = "pool_order.py"``): ``mptop run`` of its
    command with the Python mptop runs on, its lesson beside it. Exits with status 2 for an
    option of a spawned run; raises ConfigError for a bad --interval or --duration."""
    for attr, option in _SPAWN_OPTIONS:
        if getattr(args, attr) is not None:
            parser.error(
                f"{option}: conflicts with scenario {loaded.scenario.name} (it runs "
                f"{Path(loaded.program).name}, which starts its own processes; its own options: "
                f"python {loaded.program} --help, then mptop run -- python {loaded.program} "
                "OPTIONS)"
            )
    interval = loaded.scenario.interval if args.interval is None else check_interval(args.interval)
    duration = None if args.duration is None else check_duration(args.duration)
    return Invocation(
        "run-headless" if args.headless else "run",
        loaded,
        output=None if args.output is None else Path(args.output),
        duration=duration,
        command=loaded.command(sys.executable),
        interval=interval,
        metrics=args.metrics,
    )


def parse_scenario(argv: Sequence[str] | None = None) -> Scenario:
    """Parse ``argv`` into a Scenario. Exits with status 2 and one line on bad input."""
    loaded = parse_invocation(argv).loaded
    if loaded is None:
        build_parser().error("no scenario to run here")
    return loaded.scenario


def list_scenarios() -> str:
    """The bundled scenarios, one line each: name and description."""
    rows = [(name, load_bundled(name).counted().description) for name in bundled_names()]
    width = max(len(name) for name, _ in rows)
    lines = [f"{name:<{width}}  {text}" for name, text in rows]
    lines.append("")
    lines.append("run one: mptop --scenario NAME   (press L inside for its lesson)")
    return "\n".join(lines)


def _usage_error(text: str) -> int:
    print(f"mptop: error: {text}", file=sys.stderr)
    return EXIT_USAGE


def _cannot_start(err: BaseException) -> int:
    """One line for a run that could not be prepared (not bad input: exit status 1)."""
    reason = err.strerror if isinstance(err, OSError) and err.strerror else str(err)
    with contextlib.suppress(OSError):
        print(f"mptop: cannot start the run: {reason}", file=sys.stderr)
    return 1


def run_headless_cli(
    inv: Invocation, make_source: Callable[[], Source], record: dict[str, Any]
) -> int:
    """``--headless``: record any source until ``--duration`` or Ctrl+C/SIGTERM/SIGHUP.

    The output file is created first (a bad path fails before any process
    starts), with ``record`` as its header's run description. At the end it
    prints :func:`~mptop.workers.headless.summary` to stderr and returns
    :func:`~mptop.workers.headless.exit_status` (:data:`HEADLESS_STATUSES`).
    """
    from mptop.workers.headless import exit_status as headless_status
    from mptop.workers.headless import open_output, run_headless, summary

    assert inv.output is not None
    try:
        writer = open_output(inv.output, record)
    except (OSError, ValueError) as err:
        reason = err.strerror if isinstance(err, OSError) and err.strerror else str(err)
        # a CSV recording creates a file per table: name the one that failed
        where = err.filename if isinstance(err, OSError) and err.filename else inv.output
        return _usage_error(f"--output: cannot create {where}: {reason}")
    try:
        source = metered(make_source(), inv.metrics)
    except (OSError, RuntimeError) as err:
        writer.close()
        return _cannot_start(err)
    stop = threading.Event()
    got: list[str] = []

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        got.append(signal.Signals(signum).name)
        stop.set()

    previous = {
        sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    }
    try:
        result = run_headless(source, writer, inv.duration, stop)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    how = f"stopped by {got[0]}" if got else "done"
    with contextlib.suppress(OSError):
        print("\n".join(summary(result, how)), file=sys.stderr)
    return headless_status(result)


def exit_status(status: int | None) -> int:
    """mptop's exit status for a program's: the same, 128 + N for death by signal N, 0 for none."""
    from mptop.workers.headless import program_status

    return 0 if status is None else program_status(status)


def metered(source: Source, metrics: tuple[str, int] | None) -> Source:
    """``source``, its snapshots also served at ``http://HOST:PORT/metrics`` where ``metrics``
    gives the address (:mod:`mptop.workers.metrics`). Raises ``OSError`` if it cannot be bound
    (the source is closed first)."""
    if metrics is None:
        return source
    from mptop.workers.metrics import Metered, MetricsExporter

    try:
        exporter = MetricsExporter(*metrics, kind=source.info().kind)
    except OSError:
        source.close()
        raise
    return Metered(source, exporter)


def run_tui(make_source: Callable[[], Source], metrics: tuple[str, int] | None = None) -> int:
    """The live TUI on a new source (its figures also at ``metrics``' /metrics); prints how each
    process ended; returns the exit status: a program's own where the source ran one (128 + N
    if it died of signal N), else 0."""
    from mptop.tui.app import MptopApp

    try:
        source = metered(make_source(), metrics)
    except (OSError, RuntimeError) as err:
        return _cannot_start(err)
    app: MptopApp | None = None
    closed: Closed | None = None
    try:
        app = MptopApp(source, exit_watchdog=EXIT_WATCHDOG)
        app.run()
    finally:
        if app is not None:
            app.cancel_watchdog()
        closed = source.close()
        print_fates(closed.fates, "process(es)" if closed.status is not None else "worker(s)")
        with contextlib.suppress(OSError):
            for line in closed.notes:
                print(line, file=sys.stderr)
    if closed.status is not None:  # a program run: its status, as headless (strace's habit)
        return exit_status(closed.status)
    return app.return_code or 0 if app is not None else 1


# Processes listed by name in the summary printed after quit; the rest are counted.
FATES_SHOWN = 12
FATE_NAME_WIDTH = 28  # characters of a name in that summary; a longer one is cut with "…"


def print_fates(fates: Sequence[Fate], word: str = "worker(s)") -> None:
    """After the screen is gone, say how each process of the run ended (the daemons lesson needs
    it), one line each, names in one column; ``word`` names them ("process(es)" for a program's,
    which are not all workers)."""
    if not fates:
        return
    lines = [f"mptop: {len(fates)} {word} this run; how each ended:"]
    shown = fates[:FATES_SHOWN]
    width = min(max(12, *(len(f.name) for f in shown)), FATE_NAME_WIDTH)
    for f in shown:
        kind = "daemon" if f.daemon else "non-daemon"
        name = f.name if len(f.name) <= width else f.name[: width - 1] + "…"
        lines.append(f"  {name:<{width}} {f.pid:>7}  {kind:<10}  {f.describe()}")
    rest = fates[FATES_SHOWN:]
    if rest:
        tally = Counter(("daemon" if f.daemon else "non-daemon", f.describe()) for f in rest)
        counts = ", ".join(f"{n} {kind} {what}" for (kind, what), n in sorted(tally.items()))
        lines.append(f"  ... and {len(rest)} more: {counts}")
    with contextlib.suppress(OSError):
        print("\n".join(lines), file=sys.stderr)


def _add_interval_option(p: argparse.ArgumentParser, default: float | None) -> None:
    """``--interval SECONDS``, the same for every kind of run (its range is checked in spec)."""
    p.add_argument(
        "--interval",
        type=_number("a number of seconds"),
        default=default,
        metavar="SECONDS",
        help=f"refresh interval, {MIN_INTERVAL:g} to {MAX_INTERVAL:g} (default: 1)",
    )


def bind_error(host: str, port: int) -> str:
    """Why nothing can listen on ``host``:``port`` now ("" if it can): a port in use, an address
    this machine does not have."""
    import socket

    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        try:
            probe.bind((host, port))
        except OSError as err:
            return str(err.strerror or err)
    return ""


def _metrics_address(text: str) -> tuple[str, int]:
    """``HOST:PORT`` for --metrics: a whole port 1-65535 that is free on HOST."""
    host, sep, port_text = text.rpartition(":")
    if not sep or not host or not port_text.isdigit():
        raise argparse.ArgumentTypeError(f"must be HOST:PORT (e.g. 127.0.0.1:9464), got {text!r}")
    port = int(port_text)
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"port must be 1 to 65535, got {port}")
    host = host.strip("[]")
    if why := bind_error(host, port):
        raise argparse.ArgumentTypeError(f"cannot serve on {text}: {why}")
    return host, port


def _add_headless_options(
    p: argparse.ArgumentParser | argparse._ArgumentGroup, until: str, by_default: str
) -> None:
    """``--headless``, ``--duration``, ``--output`` and ``--metrics``, the same for every kind of
    run."""
    p.add_argument(
        "--headless",
        action="store_true",
        help=f"run without the TUI and record one snapshot per tick to --output{until}",
    )
    p.add_argument(
        "--duration",
        type=_number("a number of seconds"),
        default=None,
        metavar="SECONDS",
        help=f"with --headless: stop after this many seconds (default: {by_default})",
    )
    p.add_argument(
        "--metrics",
        type=_metrics_address,
        default=None,
        metavar="HOST:PORT",
        help=(
            "serve this run's figures for Prometheus at http://HOST:PORT/metrics, in the TUI "
            "or headless (e.g. 127.0.0.1:9464)"
        ),
    )
    p.add_argument(
        "--output",
        "-o",
        metavar="FILE",
        help=(
            "with --headless: the recording, FILE.jsonl (JSON Lines, replays) or FILE.csv "
            "(tables for pandas: FILE.csv one row per worker per tick, beside it "
            "FILE.cores.csv, FILE.channels.csv, FILE.events.csv, FILE.ticks.csv)"
        ),
    )


def build_run_parser() -> argparse.ArgumentParser:
    """The ``mptop run`` argument parser."""
    p = _Parser(
        prog="mptop run",
        usage="mptop run [options] -- COMMAND [ARGS...]",
        description=(
            "Run your own program and watch it: its whole process tree (PID, name, daemon flag, "
            "start method, state, CPU% where 100 = one core, core, RSS, exit code) and every "
            "multiprocessing Queue, SimpleQueue, JoinableQueue and Pipe it uses (also inside Pool "
            "and ProcessPoolExecutor): messages and bytes sent and received, rates and backlog. "
            "Any CPython 3.9-3.13 works: mptop puts a small probe first on the program's "
            "PYTHONPATH. stdin is /dev/null; the TUI keeps the program's output in a file."
        ),
        epilog=(
            "Examples: mptop run -- python prog.py; mptop run -- python -m mypkg.main --flag; "
            "mptop run --headless --output run.jsonl -- python prog.py (the program's output "
            "passes through and mptop exits with its status). " + RUN_STATUSES
        ),
    )
    _add_interval_option(p, 1.0)
    _add_headless_options(p, " until the program ends", "when the program ends")
    p.add_argument(
        "command",
        nargs=argparse.REMAINDER,
        metavar="-- COMMAND [ARGS...]",
        help="the program to run, after --",
    )
    return p


def parse_run(argv: Sequence[str]) -> Invocation:
    """``mptop run`` arguments -> an Invocation; exits with status 2 and one line on bad input."""
    parser = build_run_parser()
    args = parser.parse_args(argv)
    command = list(args.command)
    if command[:1] == ["--"]:
        command = command[1:]
    if not command:
        parser.error("give the program to run after --, e.g. mptop run -- python prog.py")
    if shutil.which(command[0]) is None:
        where = Path(command[0])
        if "/" in command[0] and where.is_file():
            parser.error(
                f"{command[0]}: not executable (run it as: mptop run -- python {command[0]})"
            )
        parser.error(f"{command[0]}: no such command")
    interval, duration = checked_headless(parser, args)
    return subcommand_invocation("run", args, interval, duration, command=tuple(command))


def subcommand_invocation(
    kind: str, args: argparse.Namespace, interval: float, duration: float | None, **fields: Any
) -> Invocation:
    """The Invocation of subcommand ``kind`` (``run``, ``attach``, ``dask``) from its checked
    options: mode ``KIND`` or ``KIND-headless``, the output path, --metrics, and ``fields``."""
    return Invocation(
        f"{kind}-headless" if args.headless else kind,
        output=Path(args.output) if args.output is not None else None,
        duration=duration,
        interval=interval,
        metrics=args.metrics,
        **fields,
    )


def checked_headless(
    parser: argparse.ArgumentParser, args: argparse.Namespace
) -> tuple[float, float | None]:
    """``--interval`` and ``--headless --duration --output`` of a subcommand, checked (one line
    and exit status 2 otherwise): the interval and the duration in seconds (None: no end)."""
    _check_conflicts_headless(parser, args)
    try:
        interval = check_interval(args.interval)
        duration = None if args.duration is None else check_duration(args.duration)
    except ConfigError as err:
        parser.error(str(err))
    return interval, duration


def _check_conflicts_headless(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """--output and --duration go with --headless, which needs --output of a known kind."""
    if args.headless and args.output is None:
        parser.error("--headless: needs --output FILE.jsonl or --output FILE.csv")
    if not args.headless:
        for attr, option in (("output", "--output"), ("duration", "--duration")):
            if getattr(args, attr) is not None:
                parser.error(f"{option}: only with --headless")
    if args.output is not None and Path(args.output).suffix.lower() not in OUTPUT_SUFFIXES:
        parser.error(f"--output: must end in .jsonl or .csv, got {args.output!r}")


def build_attach_parser() -> argparse.ArgumentParser:
    """The ``mptop attach`` argument parser."""
    p = _Parser(
        prog="mptop attach",
        usage="mptop attach [options] PID",
        description=(
            "Watch a process that mptop did not start, of any program, and its children: PID, "
            "name, state, CPU% where 100 = one core, core, RSS, PPID, all its I/O in bytes/s, "
            "and the pipes and sockets its processes share (who holds which end; message counts "
            "need mptop run). t, k and s act only on processes of that tree; q leaves it running."
        ),
        epilog=(
            "Examples: mptop attach 4242; mptop attach --interval 0.5 $(pgrep -of prog.py); "
            "mptop attach --headless --duration 10 --output tree.jsonl 4242. Exit status: 0 "
            "recorded; 1 mptop saw an error while recording; 2 bad input, nothing started (the "
            "tree is not mptop's: its exit codes do not count)."
        ),
    )
    _add_interval_option(p, 1.0)
    _add_headless_options(p, " until the tree exits", "when the tree has exited")
    p.add_argument(
        "pid", type=_whole, metavar="PID", help="the process to watch, with its children"
    )
    return p


def parse_attach(argv: Sequence[str]) -> Invocation:
    """``mptop attach`` arguments -> an Invocation; exits with status 2 and one line on bad input."""
    from mptop.workers.attach_source import check_pid

    parser = build_attach_parser()
    args = parser.parse_args(argv)
    interval, duration = checked_headless(parser, args)
    if why := check_pid(args.pid):
        parser.error(why)
    return subcommand_invocation("attach", args, interval, duration, pid=args.pid)


def build_replay_parser() -> argparse.ArgumentParser:
    """The ``mptop replay`` argument parser."""
    p = _Parser(
        prog="mptop replay",
        description=(
            "Play a recording (mptop ... --headless --output run.jsonl) back in the TUI at the "
            "pace it was recorded: space pauses and plays, left/right step one tick back or "
            "forward, Home/End go to the first/last, - and = play slower/faster (0.25x-16x), "
            "q quits. A last line cut off (a run killed mid-write) is left out, and the header "
            "says so. The keys that act on processes are hidden: a replay starts no process."
        ),
    )
    p.add_argument("file", metavar="FILE.jsonl", help="a JSON Lines recording")
    return p


def _program_words(inv: Invocation) -> dict[str, str]:
    """A program scenario's name, description and lesson (ending with where its program is);
    nothing for a plain ``mptop run``."""
    if inv.loaded is None:
        return {}
    return {
        "name": inv.loaded.scenario.name,
        "description": inv.loaded.description,
        "lesson": inv.loaded.program_lesson(),
    }


def program_source(inv: Invocation) -> RunSource:
    """The source of an ``mptop run`` invocation (mode ``run`` or ``run-headless``): the command,
    and for a program scenario (``mptop --scenario pool-order``) its lesson beside it.
    Raises ``FileNotFoundError`` if the command does not exist."""
    from mptop.workers.run_source import RunSource

    return RunSource(
        list(inv.command),
        interval=inv.interval,
        capture=inv.mode != "run-headless",  # headless, the output passes through
        output_lines=inv.loaded.output_lines if inv.loaded is not None else 0,
        **_program_words(inv),
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run mptop; returns the process exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["serve"]:
        from mptop.tui.serve_cli import serve_main

        return serve_main(argv[1:])
    inv = parse_invocation(argv)
    if inv.mode == "list":
        print(list_scenarios())
        return 0
    if inv.mode == "replay":
        from mptop.workers.record import RecordingError, read_recording
        from mptop.workers.replay_source import ReplaySource

        assert inv.replay is not None
        try:
            recording = read_recording(inv.replay, partial=True)
        except RecordingError as err:
            return _usage_error(f"{inv.named}: {err}")
        return run_tui(lambda: ReplaySource(recording))
    if inv.mode in ("run", "run-headless"):
        if inv.mode == "run-headless":
            record = {
                "name": Path(inv.command[0]).name,
                **_program_words(inv),
                "command": list(inv.command),
                "interval": inv.interval,
            }
            return run_headless_cli(inv, lambda: program_source(inv), record)
        return run_tui(lambda: program_source(inv), inv.metrics)
    if inv.mode in ("dask", "dask-headless"):
        from mptop.tui.dask_cli import run_dask

        return run_dask(inv)
    if inv.mode in ("attach", "attach-headless"):
        from mptop.workers.attach_source import AttachSource

        def attached() -> AttachSource:
            try:
                return AttachSource(inv.pid, interval=inv.interval)
            except Exception as err:  # psutil.NoSuchProcess: gone since the check
                raise RuntimeError(f"PID {inv.pid}: {type(err).__name__}") from None

        if inv.mode == "attach-headless":
            header = {"name": f"PID {inv.pid}", "attached": inv.pid, "interval": inv.interval}
            return run_headless_cli(inv, attached, header)
        return run_tui(attached, inv.metrics)
    from mptop.workers.record import scenario_record
    from mptop.workers.spawn_source import SpawnSource

    assert inv.loaded is not None
    loaded = inv.loaded

    def spawned(start_first: bool = False) -> SpawnSource:
        return SpawnSource(
            loaded.scenario,
            description=loaded.description,
            lesson=loaded.lesson,
            start_first=start_first,
        )

    if inv.mode == "headless":
        record = scenario_record(loaded.scenario, loaded.description, loaded.lesson)
        return run_headless_cli(inv, lambda: spawned(start_first=True), record)
    return run_tui(spawned, inv.metrics)


if __name__ == "__main__":
    sys.exit(main())
