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
from mptop.tui.widgets.workers_table import WorkerTable
from mptop.workers.snapshot import Snapshot
from tests.ui import samples

SIZE = (160, 48)


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


def bench_apply(rounds: int) -> None:
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


def bench_keys(n: int, workloads: list[str], presses: int, ipc: str, nice: int | None) -> None:
    """Key latency for each workload with ``--ipc ipc``, then ``sleep`` with ``--ipc none``.

    The baseline (idle workers, no messages) is measured in the same run; each
    row's ratio is its median over the baseline's.
    """
    runs = [(w, ipc) for w in workloads]
    if ipc != "none":
        runs.append(("sleep", "none"))
    results = [(w, i, _key_times(n, w, presses, i, nice)) for w, i in runs]
    base = statistics.median(results[-1][2])
    niced = "" if nice is None else f", --nice {nice}"
    for w, i, times in results:
        print(
            f"key press -> answered, {n} workers ({w}, --ipc {i}{niced}), {SIZE[0]}x{SIZE[1]}, "
            f"{len(times)} presses: median {statistics.median(times):.0f} ms, "
            f"p95 {_p95(times):.0f} ms, max {max(times):.0f} ms (goal: 100 ms); "
            f"median / baseline median {statistics.median(times) / base:.1f}"
        )


def _p95(times: list[float]) -> float:
    ordered = sorted(times)
    return ordered[max(0, int(len(ordered) * 0.95) - 1)]


def _key_times(n: int, workload: str, presses: int, ipc: str, nice: int | None) -> list[float]:
    """Real mptop in a pseudo-terminal with ``n`` workers: ms per key press until answered.

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
    return times


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


def bench_cpu(seconds: float, workers: int, threads: bool = False) -> None:
    """mptop's and htop's own CPU over ``seconds``, both in tmux at the same size, same run.

    With ``threads``, mptop runs under :mod:`bench.thread_cpu`, which also
    prints mptop's CPU per thread over the same window.
    """
    for tool in ("tmux", "htop"):
        if shutil.which(tool) is None:
            raise SystemExit(f"bench.ui cpu: needs {tool} (apt-get install {tool})")
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
    _tmux(socket, "new-session", "-d", "-s", "htop", "-x", w, "-y", h, *env, "htop", "-d", "10")
    try:
        time.sleep(5)  # start-up and first samples
        mptop = _pane_process(socket, "mptop", runner[0])
        htop = _pane_process(socket, "htop", "htop")
        m0, h0, t0 = _cpu(mptop), _cpu(htop), time.monotonic()
        time.sleep(seconds)
        m1, h1, t1 = _cpu(mptop), _cpu(htop), time.monotonic()
        pm, ph = (m1 - m0) / (t1 - t0) * 100, (h1 - h0) / (t1 - t0) * 100
        print(
            f"own CPU over {t1 - t0:.0f} s, {w}x{h}, {workers} busy workers (--workload cpu, "
            f"--ipc none), 1 s refresh: mptop {pm:.2f}% of one core, htop -d 10 {ph:.2f}%, "
            f"ratio mptop/htop {pm / ph if ph else float('inf'):.2f}"
        )
        if threads:
            deadline = time.monotonic() + 10
            while not out.exists() and time.monotonic() < deadline:
                time.sleep(0.2)
            print("mptop per thread, % of one core, same window:")
            print(out.read_text() if out.exists() else "(no figures written)", end="")
    finally:
        _tmux(socket, "send-keys", "-t", "mptop", "q")
        with contextlib.suppress(Exception):
            psutil.wait_procs([mptop], timeout=10)
        _tmux(socket, "kill-server")


def main() -> None:
    """Run the benchmark named on the command line."""
    p = argparse.ArgumentParser(prog="python -m bench.ui", description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="what", required=True)
    a = sub.add_parser("apply")
    a.add_argument("--rounds", type=int, default=20)
    k = sub.add_parser("keys")
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
    c = sub.add_parser("cpu")
    c.add_argument("--seconds", type=float, default=60)
    c.add_argument("-n", type=int, default=16)
    c.add_argument("--threads", action="store_true", help="also mptop's CPU per thread")
    args = p.parse_args()
    if args.what == "apply":
        bench_apply(args.rounds)
    elif args.what == "keys":
        bench_keys(args.n, args.workload or ["sleep", "cpu"], args.presses, args.ipc, args.nice)
    else:
        bench_cpu(args.seconds, args.n, args.threads)


if __name__ == "__main__":
    main()
