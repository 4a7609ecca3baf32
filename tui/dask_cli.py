"""``mptop dask [ADDRESS]``: its argument parser, and the run (the TUI or headless) on a DaskSource.

Bad input (an option, an address that is not ``tcp://HOST:PORT``, a
scheduler that does not answer, ``distributed`` not installed) gets one line
on stderr and exit status 2, with no process left behind.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Sequence

# Bounds of -n and --threads (a laptop's cluster, not a data centre's: mptop dask ADDRESS
# watches any size).
MAX_WORKERS = 64
MAX_THREADS = 64


def build_dask_parser() -> argparse.ArgumentParser:
    """The ``mptop dask`` argument parser."""
    from mptop.tui.cli import (
        _add_headless_options,
        _add_interval_option,
        _Parser,
        _whole,
        usable_cores,
    )

    cores = usable_cores()
    p = _Parser(
        prog="mptop dask",
        usage="mptop dask [options] [ADDRESS]",
        description=(
            "Watch a Dask cluster with mptop's screen: one row per worker (name, host, PID, its "
            "nanny's PID, state, CPU% where 100 = one core, core, RSS, threads, and the worker's "
            "own figures: managed and spilled bytes, tasks executing, ready and held), the "
            "transfers between workers and the scheduler's streams as channels, and the "
            "scheduler's events. Without ADDRESS, mptop starts a local cluster of worker "
            "processes and closes it at quit; with ADDRESS it connects to that scheduler and "
            "leaves the cluster running. Keys: a adds a worker (local cluster), t retires the "
            "selected one (its data moves first), r restarts it through its nanny, k sends "
            "SIGKILL (a worker on this host: its nanny starts it again). "
            "Needs pip install 'mptop[dask]'."
        ),
        epilog=(
            "Examples: mptop dask; mptop dask -n 4; mptop dask tcp://127.0.0.1:8786; "
            "mptop dask --headless --duration 10 --output cluster.jsonl. Exit status: 0 "
            "recorded or quit; 1 mptop saw an error (a tick it could not take, a cluster that "
            "could not start); 2 bad input, nothing started."
        ),
    )
    p.add_argument(
        "-n",
        "--workers",
        type=_whole,
        default=None,
        metavar="N",
        help=f"workers of the local cluster, 1 to {MAX_WORKERS} (default: one per core, {cores})",
    )
    p.add_argument(
        "--threads",
        type=_whole,
        default=None,
        metavar="N",
        help=f"threads per worker of the local cluster, 1 to {MAX_THREADS} (default: cores / workers, at least 1)",
    )
    p.add_argument(
        "--port",
        type=_whole,
        default=None,
        metavar="PORT",
        help="the local cluster's scheduler port, for your program's Client (default: any free port; the header shows it)",
    )
    _add_interval_option(p, 1.0)
    _add_headless_options(p, " until --duration or Ctrl+C", "until Ctrl+C")
    p.add_argument(
        "address",
        nargs="?",
        default=None,
        metavar="ADDRESS",
        help="a running scheduler, tcp://HOST:PORT (default: start a local cluster)",
    )
    return p


def parse_dask(argv: Sequence[str]) -> object:
    """``mptop dask`` arguments -> an Invocation; exits with status 2 and one line on bad input."""
    from mptop.tui.cli import bind_error, checked_headless, subcommand_invocation, usable_cores
    from mptop.workers.dask_source import check_address, distributed_missing

    parser = build_dask_parser()
    args = parser.parse_args(argv)
    interval, duration = checked_headless(parser, args)
    if args.address is not None:
        if why := check_address(args.address):
            parser.error(f"ADDRESS: {why}")
        for option, given in (
            ("-n", args.workers),
            ("--threads", args.threads),
            ("--port", args.port),
        ):
            if given is not None:
                parser.error(f"{option}: only for the local cluster (no ADDRESS)")
    workers = usable_cores() if args.workers is None else args.workers
    if not 1 <= workers <= MAX_WORKERS:
        parser.error(f"argument -n/--workers: must be 1 to {MAX_WORKERS}, got {workers}")
    threads = args.threads if args.threads is not None else max(1, usable_cores() // workers)
    if not 1 <= threads <= MAX_THREADS:
        parser.error(f"argument --threads: must be 1 to {MAX_THREADS}, got {threads}")
    if args.port is not None:
        if not 1 <= args.port <= 65535:
            parser.error(f"argument --port: must be 1 to 65535, got {args.port}")
        if why := bind_error("127.0.0.1", args.port):
            parser.error(f"argument --port: 127.0.0.1:{args.port} is in use ({why})")
    if missing := distributed_missing():
        parser.exit(2, f"mptop dask: error: {missing}\n")
    return subcommand_invocation(
        "dask",
        args,
        interval,
        duration,
        address=args.address,
        workers=workers,
        threads=threads,
        port=args.port or 0,
    )


def run_dask(inv: object) -> int:
    """Run ``mptop dask`` (mode ``dask`` or ``dask-headless``); returns the exit status."""
    from mptop.tui.cli import EXIT_USAGE, Invocation, run_headless_cli, run_tui
    from mptop.workers.dask_source import ConnectError, DaskSource

    assert isinstance(inv, Invocation)
    if inv.address is None:
        with contextlib.suppress(OSError):
            print(
                f"mptop: starting a local Dask cluster of {inv.workers}"
                f" worker{'s' if inv.workers != 1 else ''}"
                f" ({inv.threads} thread{'s' if inv.threads > 1 else ''} each)...",
                file=sys.stderr,
            )

    def make() -> DaskSource:
        return DaskSource(
            inv.address,
            workers=inv.workers,
            threads=inv.threads,
            port=inv.port,
            interval=inv.interval,
        )

    if inv.mode == "dask-headless":
        header = {
            "name": "dask",
            "description": f"mptop dask {inv.address or '(a local cluster)'}",
            "dask": inv.address or "local",
            "interval": inv.interval,
            "columns": "dask",  # a replay shows the cluster's columns
        }
        try:
            return run_headless_cli(inv, make, header)
        except ConnectError as err:
            print(f"mptop dask: error: ADDRESS: {err}", file=sys.stderr)
            return EXIT_USAGE
    try:
        source = make()
    except ConnectError as err:
        print(f"mptop dask: error: ADDRESS: {err}", file=sys.stderr)
        return EXIT_USAGE
    except (OSError, RuntimeError) as err:
        print(f"mptop: cannot start the run: {err}", file=sys.stderr)
        return 1
    return run_tui(lambda: source, inv.metrics)
