"""``mptop serve``: mptop in a browser, one app and one run per tab, behind a token.

``mptop serve [--host H] [--port P] [--sessions N] [--token T | --no-token] [--] [ARGS]``
serves ``mptop ARGS`` (any kind of run: a scenario, ``run -- CMD``,
``attach PID``, ``dask``, ``replay FILE``) through textual-serve
(:mod:`mptop.tui.web_server`). ARGS are checked here, once, as ``mptop``
itself checks them: bad input is one line and exit status 2 before anything
listens.

Each tab is a run of its own. A run's processes belong to the one mptop that
started them (it reaps them and stops them at quit), and its keys act on
them: one tab's ``k`` would kill what another is watching, and one tab's
quit would have to decide for all. So a teacher projects one tab, and every
other tab of the URL starts its own run (``--sessions`` bounds how many);
two people who watch one program run it once, and serve ``attach PID`` or
``dask ADDRESS``: every tab then watches the same processes.
"""

from __future__ import annotations

import argparse
import contextlib
import ipaddress
import re
import secrets
import socket
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NoReturn

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
DEFAULT_SESSIONS = 4
MAX_SESSIONS = 64
TOKEN_CHARS = re.compile(r"[A-Za-z0-9._~-]{8,}")
"""A token given with --token: at least 8 characters that need no escaping in a URL."""

# serve's options that take a value, and those that take none (the rest of argv is mptop's)
_VALUED = ("--host", "--port", "--sessions", "--token")
_FLAGS = ("--no-token", "-h", "--help")


@dataclass(frozen=True)
class ServeOptions:
    """``mptop serve``'s checked options: where to listen, the token (None: --no-token on a
    loopback address), the most sessions at once, and mptop's arguments for every tab."""

    host: str
    port: int
    token: str | None
    sessions: int
    loopback: bool
    argv: tuple[str, ...]


def build_serve_parser() -> argparse.ArgumentParser:
    """The ``mptop serve`` argument parser (its own options only; the rest is mptop's)."""
    from mptop.tui.cli import _Parser, _whole

    p = _Parser(
        prog="mptop serve",
        usage="mptop serve [--host HOST] [--port PORT] [--sessions N] [--token TOKEN | --no-token] [--] [MPTOP ARGS]",
        description=(
            "Serve mptop in a browser through textual-serve. Every tab runs its own mptop with "
            "MPTOP ARGS (any of mptop's: a scenario, run -- COMMAND, attach PID, dask, replay "
            "FILE) and its own run: its keys act on its processes only, and closing the tab "
            "stops them. A token printed at start (like Jupyter's) is needed by every page and "
            "websocket; websockets from another site's page (their Origin) are refused."
        ),
        epilog=(
            "Examples: mptop serve; mptop serve -- --scenario daemons; mptop serve -- run -- "
            "python prog.py; mptop serve --host 0.0.0.0 -- attach 4242 (every tab watches the "
            "same tree). Stop it with Ctrl+C: every session quits and leaves no process. "
            "Exit status: 0 stopped; 1 the address, free when checked, could not be taken; "
            "2 bad input (a port in use too), nothing started."
        ),
    )
    p.add_argument(
        "--host",
        default=DEFAULT_HOST,
        help=f"the address to listen on (default: {DEFAULT_HOST}, this machine only)",
    )
    p.add_argument(
        "--port",
        type=_whole,
        default=DEFAULT_PORT,
        help=f"the port to listen on (default: {DEFAULT_PORT})",
    )
    p.add_argument(
        "--sessions",
        type=_whole,
        default=DEFAULT_SESSIONS,
        metavar="N",
        help=f"tabs (each its own mptop and run) open at once, 1 to {MAX_SESSIONS} (default: {DEFAULT_SESSIONS})",
    )
    p.add_argument(
        "--token",
        default=None,
        help="the token the URL must carry (default: a new random one; a --token shows in ps)",
    )
    p.add_argument(
        "--no-token",
        action="store_true",
        help="no token: only on a loopback address (anyone who can reach it could kill processes)",
    )
    return p


def split_argv(argv: Sequence[str]) -> tuple[list[str], list[str]]:
    """``serve``'s own leading options, and mptop's arguments after them (a ``--`` between
    the two is dropped)."""
    own: list[str] = []
    rest = list(argv)
    while rest:
        word = rest[0]
        name = word.split("=", 1)[0]
        if name in _VALUED:
            take = 1 if "=" in word else 2
            own += rest[:take]
            rest = rest[take:]
        elif word in _FLAGS:
            own.append(rest.pop(0))
        else:
            break
    if rest[:1] == ["--"]:
        rest = rest[1:]
    return own, rest


def is_loopback(host: str) -> bool:
    """Whether every address ``host`` names is a loopback one (``127.0.0.0/8``, ``::1``); a
    name that does not resolve is not."""
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        pass
    try:
        found = socket.getaddrinfo(host, None)
    except OSError:
        return False
    return bool(found) and all(
        ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]).is_loopback for info in found
    )


def _error(text: str) -> NoReturn:
    from mptop.tui.cli import EXIT_USAGE

    print(f"mptop serve: error: {text} (see mptop serve --help)", file=sys.stderr)
    raise SystemExit(EXIT_USAGE)


def _check_option(word: str) -> None:
    """An option right after serve's own (no ``--`` between) must be mptop's: else it is a
    mistyped serve option, named as one."""
    from mptop.tui.cli import build_parser

    if word.split("=", 1)[0] not in build_parser()._option_string_actions:
        _error(f"unrecognized argument: {word} (mptop's own arguments go after --)")


def _check_served(argv: list[str]) -> None:
    """mptop's arguments for each tab, checked as ``mptop ARGS`` would be (one line, exit 2),
    and refused where a browser tab cannot use them."""
    from mptop.tui.cli import parse_invocation

    if argv[:1] == ["serve"]:
        _error("serve: mptop serve cannot serve itself")
    own = argv[: argv.index("--")] if "--" in argv else argv  # not a run's program's own
    if "--headless" in own:  # before the parse, which would ask for --output first
        _error("--headless: a served mptop has the browser as its screen; drop --headless")
    inv = parse_invocation(argv)
    if inv.mode == "list":
        _error("--list-scenarios: prints a list; there is nothing to serve")
    if inv.mode.endswith("headless"):
        _error("--headless: a served mptop has the browser as its screen; drop --headless")
    if inv.metrics is not None:
        _error(
            "--metrics: every tab is a run of its own and would bind the same address; "
            "run mptop --metrics in a terminal instead"
        )
    if inv.mode == "replay":  # each tab reads it; a bad one would leave the tab on its splash
        from mptop.workers.record import RecordingError, read_recording

        assert inv.replay is not None
        try:
            read_recording(inv.replay, partial=True)
        except RecordingError as err:
            _error(f"{inv.named}: {err}")


def parse_serve(argv: Sequence[str]) -> ServeOptions:
    """``mptop serve`` arguments -> ServeOptions; exits with status 2 and one line on bad input
    (nothing listens, nothing starts)."""
    from mptop.tui.cli import bind_error

    own, rest = split_argv(argv)
    args = build_serve_parser().parse_args(own)
    if rest and rest[0].startswith("-") and argv[len(own) : len(own) + 1] != ["--"]:
        _check_option(rest[0])
    if not 1 <= args.port <= 65535:
        _error(f"--port: must be 1 to 65535, got {args.port}")
    if not 1 <= args.sessions <= MAX_SESSIONS:
        _error(f"--sessions: must be 1 to {MAX_SESSIONS}, got {args.sessions}")
    if args.token is not None and args.no_token:
        _error("--token: conflicts with --no-token")
    if args.token is not None and not TOKEN_CHARS.fullmatch(args.token):
        _error("--token: must be 8 or more of A-Z a-z 0-9 . _ ~ -")
    host = args.host.strip("[]")
    loopback = is_loopback(host)
    if args.no_token and not loopback:
        _error(
            f"--no-token: refused on {host}, which is not a loopback address: anyone who can "
            "reach it could kill processes here (keep the token)"
        )
    _check_served(rest)
    if why := bind_error(host, args.port):
        _error(f"--host/--port: cannot listen on {_netloc(host, args.port)}: {why}")
    token = None if args.no_token else (args.token or secrets.token_urlsafe(24))
    return ServeOptions(host, args.port, token, args.sessions, loopback, tuple(rest))


def _netloc(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def outward_address() -> str | None:
    """The IPv4 address this machine's default route leaves from (what another machine on its
    network reaches it by), or None without one. A UDP socket's connect() picks the route and
    sends nothing."""
    with contextlib.suppress(OSError), socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.connect(("192.0.2.1", 9))  # TEST-NET-1 (RFC 5737): never a real peer
        address = str(s.getsockname()[0])
        return None if ipaddress.ip_address(address).is_loopback else address
    return None


def urls(options: ServeOptions) -> list[str]:
    """The URLs to open, with the token: the address given, or for a wildcard address
    (``0.0.0.0``, ``::``) this machine's name, its outward address and 127.0.0.1."""
    query = "" if options.token is None else f"?token={options.token}"
    hosts = [options.host]
    if options.host in ("0.0.0.0", "::", ""):
        outward = outward_address()
        hosts = [socket.gethostname(), *([outward] if outward else []), "127.0.0.1"]
    return [f"http://{_netloc(host, options.port)}/{query}" for host in hosts]


def serve_main(argv: Sequence[str]) -> int:
    """``mptop serve``: listen until Ctrl+C (or SIGTERM, SIGHUP); returns the exit status."""
    options = parse_serve(argv)
    from mptop.tui.web_server import MptopServer

    def ready() -> None:
        what = " ".join(["mptop", *options.argv]) if options.argv else "mptop"
        lines = [
            f"mptop serve: serving {what}: every tab its own run, at most {options.sessions} at once",
            *(f"    {url}" for url in urls(options)),
        ]
        if not options.loopback:
            lines.append(
                f"{options.host} is reachable from the network: anyone with the URL (its "
                "token) can press kill keys here."
            )
        lines.append("Ctrl+C stops the server and every session.")
        print("\n".join(lines), flush=True)

    server = MptopServer(
        options.argv,
        host=options.host,
        port=options.port,
        token=options.token,
        max_sessions=options.sessions,
        loopback=options.loopback,
        on_ready=ready,
    )
    try:
        server.serve()
    except OSError as err:
        print(f"mptop serve: cannot listen: {err.strerror or err}", file=sys.stderr)
        return 1
    with contextlib.suppress(OSError):  # a terminal that hung up (SIGHUP) takes no more lines
        print("mptop serve: stopped; every session has ended", file=sys.stderr, flush=True)
    return 0
