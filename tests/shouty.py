"""A workload module that writes to fd 1 at import and in every task (``tests.shouty:shout``).

For ``mptop serve``'s fd 1 test: a served app imports it while it checks its
arguments (before Textual runs), the forkserver or a spawn child imports it
again, before a worker's output is redirected, and every task writes through Python, through
``os.write(1, ...)`` and from an exec'd child that inherits fd 1.
"""

from __future__ import annotations

import os
import subprocess

MARK = "SHOUT"
# more lines than textual-serve skips before the app's first frame (10)
for n in range(12):
    print(f"{MARK} {n} at import in {os.getpid()}", flush=True)
os.write(1, f"{MARK} raw at import in {os.getpid()}\n".encode())


def shout() -> None:
    """Write a line to fd 1 three ways, then sleep a little (a task of a few ms)."""
    print(f"{MARK} print from {os.getpid()}", flush=True)
    os.write(1, f"{MARK} os.write from {os.getpid()}\n".encode())
    subprocess.run(["sh", "-c", f"echo {MARK} from a child of $PPID"], check=False)
