"""Where mptop's own CPU goes, per thread: run mptop with a thread that measures it.

    python -m bench.thread_cpu OUT SECONDS -- MPTOP-ARGS...

Runs ``tui.cli.main(MPTOP-ARGS)`` in this process (start it in a terminal,
as ``python -m bench.ui cpu --threads`` does in tmux), waits 5 s for the
start-up to pass (as ``bench.ui cpu`` does), then reads every thread's CPU time (psutil thread times:
user + system) at the start and end of SECONDS and writes to OUT one line per
thread: its Python name and its CPU use in percent of one core (100 = one
full core). Threads are named by ``threading``'s names, matched on native IDs.
"""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path

import psutil

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


def main() -> int:
    """Parse ``OUT SECONDS -- ARGS``, start the measuring thread, run mptop."""
    args = sys.argv[1:]
    if len(args) < 3 or args[2] != "--":
        print("usage: python -m bench.thread_cpu OUT SECONDS -- MPTOP-ARGS...", file=sys.stderr)
        return 2
    out, seconds = Path(args[0]), float(args[1])
    threading.Thread(target=measure, args=(out, seconds), name="bench-measure", daemon=True).start()
    from mptop.tui.cli import main as mptop_main

    return mptop_main(args[3:])


if __name__ == "__main__":
    sys.exit(main())
