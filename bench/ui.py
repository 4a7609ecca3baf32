"""UI benchmarks for mptop, each printed with a baseline measured in the same run.

    python -m bench.ui apply    # one snapshot of 16/256/1024 workers: apply + redraw, ms
    python -m bench.ui keys     # key press -> answered, ms, while 256 real workers run (a pty)
    python -m bench.ui cpu      # mptop's own CPU at a 1 s refresh vs htop -d 10, same terminal size
    python -m bench.ui cpu --threads   # the same, and mptop's CPU per thread

``apply`` compares the worker table with the DataTable it replaced
(bench/baseline_datatable.py); ``cpu`` compares with htop running at the
same time in a tmux terminal of the same size (needs tmux and htop); ``keys``
runs mptop in a pseudo-terminal of its own (bench/pty_term.py) and compares
with idle workers and no messages. Results vary with the machine; the README
has this machine's.

Each takes ``--rows``: then its figures follow as rows of bench/table.py on the
last line (JSON). Goals (docs/PERFORMANCE.md): apply + redraw of the app within
50 ms at 256 workers; a key answered within 100 ms (the rows judge the p95);
mptop's own CPU below htop's (ratio at most 1). Without htop, ``cpu --rows``
measures mptop alone and says so in the row's note (not judged).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil
from textual.app import App, ComposeResult

from bench.baseline_datatable import WorkerTable as OldTable
from bench.pty_term import PtyProgram
from bench.table import ROWS_FLAG, Row, emit
from bench.thread_cpu import read_shares, thread_rows
from mptop.tui.widgets.workers_table import WorkerTable
from mptop.workers.snapshot import Snapshot
from tests.ui import samples

SIZE = (160, 48)
APPLY_GOALS = {256: 50.0}  # ms per snapshot applied + redrawn, whole app, by worker count
KEY_GOAL = 100.0  # ms from a key press to mptop's answer
MAX_CPU_RATIO = 1.0  # mptop's own CPU over htop -d 10's, same run


class _TableApp(App[None]):
    """One table alone, to compare the widgets."""

    def __init__(self, table: Callable[[], WorkerTable | OldTable]) -> None:
        super().__init__()
        self._make = table

    def compose(self) -> ComposeResult:
        yield self._make()


def _snaps(n: int, rounds: int) -> list[Snapshot]:
    # every running worker's CPU% changes every tick: the worst case for the table
    return [samples.snapshot(cores=2, workers=n, tick=t) for t in range(1, rounds + 1)]


async def _time_applies(
    app: App[Any], apply: Callable[[Snapshot], None], snaps: list[Snapshot]
) -> list[float]:
    times = []
    async with app.run_test(size=SIZE) as pilot:
        apply(samples.snapshot(cores=2, workers=len(snaps[0].workers), tick=0))
        await pilot.pause()
        idle = []  # what pilot.pause() costs with nothing to draw: subtracted below
        for _ in range(len(snaps)):
            t0 = time.perf_counter()
            await pilot.pause()
            idle.append((time.perf_counter() - t0) * 1000)
        overhead = statistics.median(idle)
        for snap in snaps:
            t0 = time.perf_counter()
            apply(snap)
            await pilot.pause()  # includes the screen update (compositor and render)
            times.append((time.perf_counter() - t0) * 1000 - overhead)
    return times


def apply_rows(n: int, rounds: int, m_full: float, m_new: float, m_old: float) -> list[Row]:
    """The apply + redraw rows of ``n`` workers (medians in ms): the table, then the app."""
    what = f"median of {rounds} ticks, {SIZE[0]}x{SIZE[1]}"
    return [
        Row(
            f"ui apply: worker table, {n} workers",
            m_new,
            "ms",
            m_old,
            note=f"{what}; baseline: the old DataTable, same snapshots",
        ),
        Row(
            f"ui apply: mptop app, {n} workers",
            m_full,
            "ms",
            max_value=APPLY_GOALS.get(n),
            note=f"{what}; one snapshot applied and the screen redrawn",
        ),
    ]


def bench_apply(rounds: int) -> list[Row]:
    """Print apply + redraw times at 16, 256 and 1024 workers; returns them as rows (ms)."""
    rows: list[Row] = []
    print(
        f"apply one snapshot + redraw, {SIZE[0]}x{SIZE[1]}, median of {rounds} ticks, ms "
        "(an idle pilot.pause(), measured alongside, subtracted)"
    )
    print(f"{'workers':>8} {'mptop app':>10} {'table':>8} {'old DataTable':>14} {'old/new':>8}")
    for n in (16, 256, 1024):
        snaps = _snaps(n, rounds)
        full = samples.view_only_app()
        t_full = asyncio.run(_time_applies(full, full.apply, snaps))
        new = _TableApp(WorkerTable)

        def apply_new(s: Snapshot, a: _TableApp = new) -> None:
            a.query_one(WorkerTable).update_workers(s.workers)

        t_new = asyncio.run(_time_applies(new, apply_new, snaps))
        old = _TableApp(OldTable)

        def apply_old(s: Snapshot, a: _TableApp = old) -> None:
            a.query_one(OldTable).update_workers(s.workers)

        t_old = asyncio.run(_time_applies(old, apply_old, snaps))
        m_full, m_new, m_old = (statistics.median(t) for t in (t_full, t_new, t_old))
        print(f"{n:>8} {m_full:>10.1f} {m_new:>8.1f} {m_old:>14.1f} {m_old / m_new:>7.1f}x")
        rows += apply_rows(n, rounds, m_full, m_new, m_old)
    return rows


def bench_keys(n: int, workloads: list[str], presses: int, ipc: str, nice: int | None) -> list[Row]:
    """Key latency for each workload with ``--ipc ipc``, then ``sleep`` with ``--ipc none``.

    The baseline (idle workers, no messages) is measured in the same run; each
    printed line's ratio is its median over the baseline's. Returns one row per
    run: its p95 in ms against the baseline's p95.
    """
    runs = [(w, ipc) for w in workloads]
    if ipc != "none":
        runs.append(("sleep", "none"))
    measured = [(w, i, *_key_times(n, w, presses, i, nice)) for w, i in runs]
    results = [(w, i, times) for w, i, times, _ in measured]
    base = statistics.median(results[-1][2])
    niced = "" if nice is None else f", --nice {nice}"
    for w, i, times in results:
        print(
            f"key press -> answered, {n} workers ({w}, --ipc {i}{niced}), {SIZE[0]}x{SIZE[1]}, "
            f"{len(times)} presses: median {statistics.median(times):.0f} ms, "
            f"p95 {_p95(times):.0f} ms, max {max(times):.0f} ms (goal: 100 ms); "
            f"median / baseline median {statistics.median(times) / base:.1f}"
        )
    for w, i, _, rss in measured:
        print(f"mptop's RSS after the presses, {n} workers ({w}, --ipc {i}): {rss:.1f} MiB")
    base_rss = measured[-1][3]
    return [
        key_row(n, w, i, niced, times, None if k == len(results) - 1 else results[-1][2])
        for k, (w, i, times) in enumerate(results)
    ] + [
        Row(
            f"ui memory: mptop's RSS, {n} workers ({w}, --ipc {i}{niced})",
            rss,
            "MiB",
            None if k == len(measured) - 1 else base_rss,
            max_value=MAX_RSS_MIB,
            note="after the key presses; baseline: the same with idle workers and no messages",
        )
        for k, (w, i, _, rss) in enumerate(measured)
    ]


MAX_RSS_MIB = 150.0  # mptop's RSS with 1024 workers in the TUI (issue "Scale and endurance")


def key_row(
    n: int, workload: str, ipc: str, niced: str, times: list[float], base: list[float] | None
) -> Row:
    """One keys run as a row: p95 ms from a key to mptop's answer, against the baseline's p95."""
    med = statistics.median
    note = f"{len(times)} presses, {SIZE[0]}x{SIZE[1]}: median {med(times):.0f} ms, max {max(times):.0f} ms"
    if base is None:
        note += "; this run is the others' baseline (idle workers, no messages)"
    else:
        note += (
            f"; baseline (sleep, --ipc none): median {med(base):.0f} ms, p95 {_p95(base):.0f} ms"
        )
    return Row(
        f"ui keys: p95, {n} workers ({workload}, --ipc {ipc}{niced})",
        _p95(times),
        "ms",
        None if base is None else _p95(base),
        max_value=KEY_GOAL,
        note=note,
    )


def _p95(times: list[float]) -> float:
    ordered = sorted(times)
    return ordered[max(0, int(len(ordered) * 0.95) - 1)]


def _key_times(
    n: int, workload: str, presses: int, ipc: str, nice: int | None
) -> tuple[list[float], float]:
    """Real mptop in a pseudo-terminal with ``n`` workers: ms per key press until answered,
    and mptop's RSS (MiB) after the presses.

    Space until mptop has written "FROZEN", space again until it has written
    the header without it ("processes:" comes back: nothing redraws the
    header while frozen). Timed from the write of the key into the terminal to the
    arrival of the answer on the terminal's other end (bench/pty_term.py).
    """
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    env["TERM"] = "xterm-256color"
    cmd = [
        sys.executable,
        "-m",
        "mptop.tui",
        "-n",
        str(n),
        "--workload",
        workload,
        "--interval",
        "1",
    ]
    cmd += ["--ipc", ipc] + ([] if nice is None else ["--nice", str(nice)])
    times: list[float] = []
    with PtyProgram(cmd, *SIZE, env=env) as term:
        # all started: the header's counts name no "starting" (states in htop's order)
        all_up = rf"^{n} processes: (\d+ running, )?(\d+ sleeping)?( │|\x1b)"
        term.wait_for(f"{n} processes: ", after=0.0, timeout=240, pattern=all_up)
        time.sleep(2)
        for _ in range(presses):
            times.append(term.wait_for("FROZEN", term.press(b" "), timeout=60) * 1000)
            time.sleep(0.2)
            times.append(term.wait_for("processes:", term.press(b" "), timeout=60) * 1000)
            time.sleep(0.23)  # spread the presses over the ticks
        rss = psutil.Process(term.proc.pid).memory_info().rss / 2**20
    return times, rss


def _tmux(socket: str, *args: str) -> str:
    return subprocess.run(
        ["tmux", "-L", socket, *args], capture_output=True, text=True, check=False
    ).stdout


def _pane_process(socket: str, session: str, name: str) -> psutil.Process:
    pid = int(_tmux(socket, "list-panes", "-t", session, "-F", "#{pane_pid}").split()[0])
    p = psutil.Process(pid)
    for c in [p, *p.children(recursive=True)]:
        if name in " ".join(c.cmdline()):
            return c
    return p


def _cpu(p: psutil.Process) -> float:
    t = p.cpu_times()
    return t.user + t.system


def cpu_row(workers: int, window: float, mptop: float, htop: float | None) -> Row:
    """mptop's own CPU, % of one core, against htop's (``None``: htop is not installed)."""
    what = f"% of one core over {window:.0f} s, {SIZE[0]}x{SIZE[1]} in tmux"
    if htop is None:
        what += (
            f"; htop not installed (apt-get install htop): mptop measured alone, its goal "
            f"(mptop/htop -d 10 at most {MAX_CPU_RATIO:g}) not judged"
        )
    else:
        what += "; baseline: htop -d 10 in the same run, at the same size"
    return Row(
        f"ui cpu: mptop {'alone (htop not installed)' if htop is None else 'vs htop -d 10'}, "
        f"{workers} busy workers, 1 s refresh",
        mptop,
        "%",
        htop,
        max_ratio=None if htop is None else MAX_CPU_RATIO,
        note=what,
    )


def bench_cpu(seconds: float, workers: int, threads: bool = False, rows: bool = False) -> list[Row]:
    """mptop's and htop's own CPU over ``seconds``, both in tmux at the same size, same run.

    With ``threads``, mptop runs under :mod:`bench.thread_cpu`, which also
    prints mptop's CPU per thread over the same window. Returns the figures as
    rows (% of one core). With ``rows`` and no htop installed, mptop is measured
    alone (without ``rows``, a missing htop or tmux ends the program).
    """
    for tool in ("tmux", "htop"):
        if shutil.which(tool) is None and not (rows and tool == "htop"):
            raise SystemExit(f"bench.ui cpu: needs {tool} (apt-get install {tool})")
    with_htop = shutil.which("htop") is not None
    if not with_htop:
        print("bench.ui cpu: htop is not installed (apt-get install htop): mptop alone")
    socket = f"mptop-bench-{uuid.uuid4().hex[:8]}"
    env = ["env", "-u", "COLUMNS", "-u", "LINES", "TERM=xterm-256color"]
    w, h = str(SIZE[0]), str(SIZE[1])
    out = Path(tempfile.mkdtemp(prefix="mptop-bench-")) / "threads.txt"
    runner = ["bench.thread_cpu", str(out), str(seconds), "--"] if threads else ["tui"]
    mptop_cmd = [
        sys.executable,
        "-m",
        *runner,
        "-n",
        str(workers),
        "--workload",
        "cpu",
        "--ipc",
        "none",
        "--interval",
        "1",
    ]
    _tmux(socket, "new-session", "-d", "-s", "mptop", "-x", w, "-y", h, *env, *mptop_cmd)
    if with_htop:
        _tmux(socket, "new-session", "-d", "-s", "htop", "-x", w, "-y", h, *env, "htop", "-d", "10")
    try:
        time.sleep(5)  # start-up and first samples
        mptop = _pane_process(socket, "mptop", runner[0])
        htop = _pane_process(socket, "htop", "htop") if with_htop else None
        m0, h0, t0 = _cpu(mptop), _cpu(htop) if htop else 0.0, time.monotonic()
        time.sleep(seconds)
        m1, h1, t1 = _cpu(mptop), _cpu(htop) if htop else 0.0, time.monotonic()
        pm, ph = (m1 - m0) / (t1 - t0) * 100, (h1 - h0) / (t1 - t0) * 100
        common = (
            f"own CPU over {t1 - t0:.0f} s, {w}x{h}, {workers} busy workers (--workload cpu, "
            f"--ipc none), 1 s refresh: mptop {pm:.2f}% of one core"
        )
        if htop:
            print(
                f"{common}, htop -d 10 {ph:.2f}%, "
                f"ratio mptop/htop {pm / ph if ph else float('inf'):.2f}"
            )
        else:
            print(f"{common} (htop not installed: no baseline)")
        found = [cpu_row(workers, t1 - t0, pm, ph if htop else None)]
        if threads:
            deadline = time.monotonic() + 10
            while not out.exists() and time.monotonic() < deadline:
                time.sleep(0.2)
            print("mptop per thread, % of one core, same window:")
            print(out.read_text() if out.exists() else "(no figures written)", end="")
            found += thread_rows(read_shares(out)) if out.exists() else []
        return found
    finally:
        _tmux(socket, "send-keys", "-t", "mptop", "q")
        with contextlib.suppress(Exception):
            psutil.wait_procs([mptop], timeout=10)
        _tmux(socket, "kill-server")


def main() -> None:
    """Run the benchmark named on the command line."""
    p = argparse.ArgumentParser(prog="python -m bench.ui", description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="what", required=True)
    rows = argparse.ArgumentParser(add_help=False)
    rows.add_argument(
        ROWS_FLAG, action="store_true", help="then print the figures as JSON rows (last line)"
    )
    a = sub.add_parser("apply", parents=[rows])
    a.add_argument("--rounds", type=int, default=20)
    k = sub.add_parser("keys", parents=[rows])
    k.add_argument("-n", type=int, default=256)
    k.add_argument(
        "--workload",
        action="append",
        choices=("sleep", "cpu"),
        help="repeatable (default: sleep, then cpu)",
    )
    k.add_argument("--nice", type=int, default=None, help="passed to mptop (default: its own)")
    k.add_argument("--presses", type=int, default=15)
    k.add_argument("--ipc", default="queue", choices=("queue", "pipe", "pipeline", "none"))
    c = sub.add_parser("cpu", parents=[rows])
    c.add_argument("--seconds", type=float, default=60)
    c.add_argument("-n", type=int, default=16)
    c.add_argument("--threads", action="store_true", help="also mptop's CPU per thread")
    args = p.parse_args()
    if args.what == "apply":
        found = bench_apply(args.rounds)
    elif args.what == "keys":
        workloads = args.workload or ["sleep", "cpu"]
        found = bench_keys(args.n, workloads, args.presses, args.ipc, args.nice)
    else:
        found = bench_cpu(args.seconds, args.n, args.threads, args.rows)
    if args.rows:
        emit(found)


if __name__ == "__main__":
    main()
