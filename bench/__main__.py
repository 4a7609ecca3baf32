"""Run every benchmark of bench/ and print one table of their figures.

    python -m bench                   # all of them, about 9-10 minutes on 2 cores
    python -m bench --json            # the same rows as one JSON list on stdout
    python -m bench --only ui.keys    # a subset (repeatable; a prefix such as "ui" works)
    python -m bench --list            # the benchmarks and the commands they run

Each benchmark runs in a process of its own (``python -m bench.NAME ARGS
--rows``, which prints its usual output and then its rows as one JSON line),
with a timeout. A benchmark that fails, times out or prints no rows gives a
row saying so (met: NO) and the others still run. Whatever a benchmark leaves
running after it ends (this process is the child subreaper of everything it
starts, so even daemonised processes such as a tmux server come back to it) is
stopped before the next one starts. Progress goes to stderr; with
``--verbose`` the benchmarks' own output too.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import os
import platform
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import IO

import psutil

from bench.table import ROWS_FLAG, Row, failure, from_dict, render, to_json

PR_SET_CHILD_SUBREAPER = 36  # linux/prctl.h
GRACE = 20.0  # seconds between SIGINT and SIGKILL for a benchmark that timed out
SETTLE = 10.0  # seconds to let a finished benchmark's leftovers exit by themselves


@dataclass(frozen=True)
class Bench:
    """One benchmark command: ``python -m MODULE ARGS --rows``, stopped after ``timeout`` s."""

    name: str
    module: str
    args: tuple[str, ...]
    timeout: float

    def argv(self) -> list[str]:
        """The command line this benchmark runs as."""
        return [sys.executable, "-m", self.module, *self.args, ROWS_FLAG]

    def label(self) -> str:
        """``python -m bench.ui keys ...``, as a person would type it."""
        return " ".join(["python -m", self.module, *self.args])


# In the order they run: the light, load-sensitive ones first, the 1024-worker ones and the
# soak (memory and fds, not times) last. The arguments keep the whole run near 9 minutes on
# a quiet 2-core machine (the figure beside each is what it took there, with the machine
# shared it took up to a third longer); the timeouts are about three times that.
BENCHES = (
    Bench("record_cost", "bench.record_cost", ("256", "64", "7"), 90),  # 5-10 s
    Bench("tick_cost", "bench.tick_cost", ("64", "20"), 90),  # 6-12 s
    Bench("flood", "bench.flood", ("64", "10"), 120),
    Bench("start_latency", "bench.start_latency", ("10",), 120),  # 25 s
    Bench("ipc_overhead", "bench.ipc_overhead", ("6", "--control"), 150),  # 40 s
    Bench("probe_overhead", "bench.probe_overhead", ("4",), 150),  # 31 s
    Bench("ui.apply", "bench.ui", ("apply", "--rounds", "10"), 120),  # 15 s
    Bench("ui.cpu", "bench.ui", ("cpu", "--seconds", "30", "--threads"), 150),  # 45 s
    Bench("ui.keys", "bench.ui", ("keys", "--presses", "10"), 240),  # 37-50 s
    Bench(
        "ui.keys-1024",
        "bench.ui",
        ("keys", "-n", "1024", "--workload", "sleep", "--presses", "10"),
        300,
    ),  # 48-60 s
    Bench("dask_tick", "bench.dask_tick", ("2", "8", "--rounds", "10"), 150),  # 25 s
    Bench("scale", "bench.scale", ("all",), 400),  # 126-170 s
    Bench("soak", "bench.soak", ("2",), 300),  # 2 minutes of churn, as bench/soak.py says
)


def become_subreaper() -> bool:
    """Make orphaned descendants come back to this process (Linux); ``False`` where it cannot."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return int(libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)) == 0
    except (OSError, AttributeError):
        return False


def leftovers() -> list[psutil.Process]:
    """This process's living descendants; zombie children are reaped on the way."""
    alive = []
    for p in psutil.Process().children(recursive=True):
        try:
            if p.status() != psutil.STATUS_ZOMBIE:
                alive.append(p)
            elif p.ppid() == os.getpid():
                with contextlib.suppress(ChildProcessError):
                    os.waitpid(p.pid, os.WNOHANG)
        except psutil.NoSuchProcess:
            continue
    return alive


def stop_leftovers(settle: float = SETTLE) -> int:
    """Wait up to ``settle`` s for descendants to exit, then SIGTERM, then SIGKILL them.

    Returns how many had to be signalled.
    """
    deadline = time.monotonic() + settle
    while (left := leftovers()) and time.monotonic() < deadline:
        time.sleep(0.2)
    signalled = len(left)
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for p in left:
            with contextlib.suppress(psutil.Error):
                p.send_signal(sig)
        psutil.wait_procs(left, timeout=5.0)
        if not (left := leftovers()):
            break
    return signalled


def _pump(stream: IO[str], into: list[str], echo: bool) -> None:
    for line in stream:
        into.append(line)
        if echo:
            sys.stderr.write(line)
            sys.stderr.flush()


@dataclass
class Outcome:
    """What one benchmark process did: exit code (``None``: timed out), its output, seconds."""

    code: int | None
    stdout: list[str]
    stderr: list[str]
    seconds: float


def run_process(bench: Bench, verbose: bool) -> Outcome:
    """Run ``bench`` in a session of its own; past its timeout, SIGINT, then SIGKILL."""
    t0 = time.monotonic()
    out: list[str] = []
    err: list[str] = []
    proc = subprocess.Popen(
        bench.argv(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    )
    assert proc.stdout is not None and proc.stderr is not None
    pumps = [
        threading.Thread(target=_pump, args=(s, into, verbose), daemon=True)
        for s, into in ((proc.stdout, out), (proc.stderr, err))
    ]
    for t in pumps:
        t.start()
    code: int | None
    try:
        code = proc.wait(bench.timeout)
    except subprocess.TimeoutExpired:
        code = None
        interrupt(proc)
    except BaseException:  # Ctrl-C: stop the benchmark and its children before leaving
        interrupt(proc)
        raise
    finally:
        for t in pumps:
            t.join(5)
    return Outcome(code, out, err, time.monotonic() - t0)


def interrupt(proc: subprocess.Popen[str]) -> None:
    """SIGINT ``proc`` (its own clean-up runs), then SIGKILL its process group after GRACE s."""
    with contextlib.suppress(ProcessLookupError):
        proc.send_signal(signal.SIGINT)
    try:
        proc.wait(GRACE)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def parse_rows(lines: Sequence[str]) -> list[Row] | None:
    """The rows on the last non-empty line of a benchmark's output; ``None`` if there are none."""
    import json

    last = next((line for line in reversed(lines) if line.strip()), "")
    try:
        data = json.loads(last)
    except ValueError:
        return None
    if not isinstance(data, list):
        return None
    try:
        return [from_dict(d) for d in data]
    except (TypeError, ValueError):
        return None


def _tail(lines: Sequence[str]) -> str:
    last = [line.strip() for line in lines if line.strip()]
    return last[-1][:200] if last else "no output"


def outcome_rows(bench: Bench, out: Outcome) -> list[Row]:
    """The benchmark's rows, with a failure row if it timed out, failed or gave none."""
    if out.code is None:
        return [failure(bench.label(), f"timed out after {bench.timeout:.0f} s")]
    rows = parse_rows(out.stdout)
    if out.code != 0:
        return [*(rows or []), failure(bench.label(), f"exit code {out.code}: {_tail(out.stderr)}")]
    if rows is None:
        return [failure(bench.label(), f"no rows on its last line: {_tail(out.stdout)}")]
    return rows


def run_one(bench: Bench, verbose: bool) -> list[Row]:
    """Run one benchmark and stop what it left behind; its rows (or a row saying what failed)."""
    try:
        out = run_process(bench, verbose)
    finally:  # also on Ctrl-C
        left = stop_leftovers()
    rows = outcome_rows(bench, out)
    if left:
        rows.append(failure(bench.label(), f"left {left} processes running (stopped)"))
    status = "timed out" if out.code is None else f"exit {out.code}"
    _say(f"{bench.name}: {status}, {len(rows)} rows, {out.seconds:.0f} s")
    return rows


def _say(text: str) -> None:
    print(f"bench: {text}", file=sys.stderr, flush=True)


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (or what platform knows)."""
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown CPU"


def machine(loads: Sequence[float], seconds: float) -> str:
    """Lines: CPU count and model, Python, the loads seen before the benchmarks; total time (s)."""
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    seen = f"{min(loads):.1f}-{max(loads):.1f}" if loads else "-"
    return (
        f"machine: {os.cpu_count()} CPUs ({usable} usable), {cpu_model()}; "
        f"Python {platform.python_version()} ({platform.python_implementation()})\n"
        f"load average (1 min) before each benchmark: {seen} (it includes the previous "
        "benchmark's tail and any other work on the machine)\n"
        f"total: {seconds:.0f} s ({seconds / 60:.1f} min)"
    )


def notes(rows: Sequence[Row]) -> str:
    """The notes of the rows that failed or missed their goal, one line each (``--json`` has all)."""
    lines = [f"  {r.benchmark}: {r.note}" for r in rows if r.met is False and r.note]
    return "\n".join(["", "not met or failed:", *lines, ""]) if lines else ""


def select(only: Sequence[str] | None) -> list[Bench]:
    """The benchmarks named by ``--only`` (exactly, or by a prefix before a dot); all without.

    Raises:
        SystemExit: a name matches no benchmark.
    """
    if not only:
        return list(BENCHES)
    chosen = [b for b in BENCHES if any(b.name == n or b.name.startswith(n + ".") for n in only)]
    unknown = [
        n for n in only if not any(b.name == n or b.name.startswith(n + ".") for b in BENCHES)
    ]
    if unknown:
        names = ", ".join(b.name for b in BENCHES)
        raise SystemExit(
            f"python -m bench: unknown benchmark {', '.join(unknown)} (known: {names})"
        )
    return chosen


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """The command line: ``--json``, ``--only NAME``, ``--list``, ``--verbose``."""
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    p.add_argument("--json", action="store_true", help="print the rows as a JSON list instead")
    p.add_argument(
        "--only", action="append", metavar="NAME", help="run only this benchmark (repeatable)"
    )
    p.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    p.add_argument("-v", "--verbose", action="store_true", help="echo each benchmark's output")
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the chosen benchmarks one after the other; print their table (or JSON). Exit 0."""
    args = parse_args(argv)
    benches = select(args.only)
    if args.list:
        for b in benches:
            print(f"{b.name:<15} {b.label()}  (timeout {b.timeout:.0f} s)")
        return 0
    if not become_subreaper():
        _say("cannot become a child subreaper: daemonised leftovers may go unnoticed")
    t0 = time.monotonic()
    rows: list[Row] = []
    loads: list[float] = []
    for i, bench in enumerate(benches, 1):
        loads.append(os.getloadavg()[0])
        _say(f"[{i}/{len(benches)}] {bench.label()} (load average {loads[-1]:.1f})")
        rows += run_one(bench, args.verbose)
    about = machine(loads, time.monotonic() - t0)
    if args.json:
        print(to_json(rows))
        print(about, file=sys.stderr)
    else:
        print(render(rows))
        print(notes(rows))
        print(about)
    return 0


if __name__ == "__main__":
    sys.exit(main())
