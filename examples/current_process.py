"""The current process: what each process of a program says about itself.

The main process starts one child per start method (child-fork, child-forkserver,
child-spawn), and child-fork starts a child of its own (grandchild). Every process
prints one line: its multiprocessing name, os.getpid(), os.getppid() and the PID of
multiprocessing.parent_process():

    current_process().name, os.getpid(), os.getppid(), parent_process().pid:
    MainProcess          4600      4590  None
    child-fork           4601      4600  4600
    child-forkserver     4603      4602  4600  (forked by the fork server)

os.getppid() is the process that forked this one (for child-forkserver, the fork
server); parent_process() is the process whose start() made it. The children stay up
for --hold seconds (default 2), then exit with 0.
Run: python examples/current_process.py [--hold 30]. Under mptop:
mptop --scenario current-process (with its lesson).
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
import time

COLUMNS = "current_process().name, os.getpid(), os.getppid(), parent_process().pid:"


def tell(method: str = "") -> None:
    """Print what this process says about itself: one line, one write(), flushed at once."""
    me = multiprocessing.current_process()
    parent = multiprocessing.parent_process()  # None in the main process
    parent_pid = "None" if parent is None else str(parent.pid)
    note = ""
    if parent is not None and parent.pid != os.getppid():
        note = "  (forked by the fork server)" if method == "forkserver" else "  (not its parent)"
    # at most 74 characters: the lesson panel shows it whole at 80 columns
    # its "\n" in the same write: under python -u (or PYTHONUNBUFFERED) print() writes the
    # text and its end apart, and the lines of processes sharing stdout could mix
    line = f"{me.name:<16} {os.getpid():>8} {os.getppid():>9}  {parent_pid}{note}\n"
    print(line, end="", flush=True)


def child(method: str, hold: float) -> None:
    """A child: say who it is; child-fork also starts a grandchild; stay up ``hold`` seconds."""
    tell(method)
    kids = []
    if method == "fork":
        kid = multiprocessing.get_context("fork").Process(
            target=grandchild, args=(hold,), name="grandchild"
        )
        kid.start()
        kids.append(kid)
    time.sleep(hold)
    for kid in kids:
        kid.join()


def grandchild(hold: float) -> None:
    tell("fork")
    time.sleep(hold)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--hold", type=float, default=2.0, help="seconds the children stay up (default 2)"
    )
    args = parser.parse_args()
    if not 0 <= args.hold <= 3600:
        parser.error("--hold must be between 0 and 3600 seconds")
    print(COLUMNS, flush=True)
    tell()
    methods = [
        m for m in ("fork", "forkserver", "spawn") if m in multiprocessing.get_all_start_methods()
    ]
    children = []
    for method in methods:
        ctx = multiprocessing.get_context(method)
        p = ctx.Process(target=child, args=(method, args.hold), name=f"child-{method}")
        p.start()  # p.pid is known from here on: the parent's view of the child's os.getpid()
        children.append(p)
    for p in children:
        p.join()  # each exits with 0 once its --hold is over
    return 0


# The guard: under spawn and forkserver each child imports this file afresh; without it,
# every child would run main() again.
if __name__ == "__main__":
    sys.exit(main())
