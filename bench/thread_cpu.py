"""Where mptop's own CPU goes, per thread: run mptop with a thread that measures it.

    python -m bench.thread_cpu OUT SECONDS [--rows] -- MPTOP-ARGS...

Runs ``tui.cli.main(MPTOP-ARGS)`` in this process (start it in a terminal,
as ``python -m bench.ui cpu --threads`` does in tmux), waits 5 s for the
start-up to pass (as ``bench.ui cpu`` does), then reads every thread's CPU time (psutil thread times:
user + system) at the start and end of SECONDS and writes to OUT one line per
thread: its Python name and its CPU use in percent of one core (100 = one
full core). Threads are named by ``threading``'s names, matched on native IDs.

``--rows``: once mptop has quit, print the figures as rows of bench/table.py
(JSON, one line; ``python -m bench.ui cpu --threads`` reads OUT instead with
:func:`read_shares`). No goal is stated per thread: reported, not judged.
"""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path

import psutil

from bench.table import ROWS_FLAG, Row, emit

WARM_UP = 5.0
"""Seconds to let mptop start its workers and settle before measuring."""


def measure(out: Path, seconds: float) -> None:
    """Measure this process's threads for ``seconds`` (after :data:`WARM_UP`) and write ``out``."""
    me = psutil.Process()
    time.sleep(WARM_UP)
    before = {t.id: t.user_time + t.system_time for t in me.threads()}
    t0 = time.monotonic()
    time.sleep(seconds)
    after = {t.id: t.user_time + t.system_time for t in me.threads()}
    wall = time.monotonic() - t0
    names = {t.native_id: t.name for t in threading.enumerate()}
    lines = []
    total = 0.0
    for tid, used in sorted(after.items()):
        share = (used - before.get(tid, 0.0)) / wall * 100
        total += share
        lines.append(f"{names.get(tid, f'thread {tid}'):24} {share:6.2f}%")
    lines.append(f"{'total':24} {total:6.2f}%")
    out.write_text("\n".join(lines) + "\n")


def read_shares(out: Path) -> dict[str, float]:
    """The figures :func:`measure` wrote to ``out``: thread name -> % of one core (and ``total``)."""
    shares = {}
    for line in out.read_text().splitlines():
        name, _, share = line.rstrip().rpartition(" ")
        if name.strip() and share.endswith("%"):
            shares[name.strip()] = float(share[:-1])
    return shares


def thread_rows(shares: dict[str, float], min_share: float = 0.01) -> list[Row]:
    """One row per thread that used at least ``min_share`` % of one core, then the total."""
    note = "mptop's own CPU per thread, psutil thread times over the bench.ui cpu window"
    rows = [
        Row(f"mptop CPU: thread {name}", share, "%", note=note)
        for name, share in shares.items()
        if name != "total" and share >= min_share
    ]
    if "total" in shares:
        rows.append(Row("mptop CPU: all threads", shares["total"], "%", note=note))
    return rows


def main() -> int:
    """Parse ``OUT SECONDS [--rows] -- ARGS``, start the measuring thread, run mptop."""
    args = sys.argv[1:]
    json_rows = len(args) > 2 and args[2] == ROWS_FLAG
    if json_rows:
        del args[2]
    if len(args) < 3 or args[2] != "--":
        print(
            "usage: python -m bench.thread_cpu OUT SECONDS [--rows] -- MPTOP-ARGS...",
            file=sys.stderr,
        )
        return 2
    out, seconds = Path(args[0]), float(args[1])
    threading.Thread(target=measure, args=(out, seconds), name="bench-measure", daemon=True).start()
    from mptop.tui.cli import main as mptop_main

    code = mptop_main(args[3:])
    if json_rows:
        emit(thread_rows(read_shares(out)) if out.exists() else [])
    return code


if __name__ == "__main__":
    sys.exit(main())
