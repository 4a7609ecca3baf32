"""What a process is: its own PID and its own memory; threads share the process's.

The main process starts 2 child processes (proc-1, proc-2) and 2 threads (thread-1,
thread-2). All four run the same function, add(): counter += 1, N times (default
100000), on the module-level ``counter``. Each prints who it is and what it reads in
``counter`` after its adds, then stays up --hold seconds (default 2):

    name     PID     PPID    TID     counter after its 100000 adds
    main     4600    4590    4600    0 at the start
    proc-1   4601    4600    4601    100000 (its own copy)
    proc-2   4602    4600    4602    100000 (its own copy)
    thread-1 4600    4590    4603    131072 (the process's counter)
    thread-2 4600    4590    4604    200000 (the process's counter)
    main sees counter = 200000: the threads' 200000 + the processes' 0

A child process has a PID of its own and a copy of the parent's memory (fork) or a fresh
interpreter that imports this file again (spawn, forkserver): its adds change its copy
only. The threads have the main process's PID and one TID each (threading.get_native_id();
a process's first thread has TID = PID), and add to the one counter they share, so they
take a lock to do it; the parent sees their adds, never the processes'.

Run: python examples/process_vs_thread.py [--adds N] [--hold 30]. Under mptop:
mptop --scenario process-vs-thread (with its lesson); H there shows the threads' TIDs.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
import threading
import time

# The memory the lesson is about: one per process. Each child process has its own copy
# of both; the threads of a process share the one their process has.
counter = 0
lock = threading.Lock()  # threads share counter: one add at a time (counter += 1 is 3 steps)

COLUMNS = "name     PID     PPID    TID     counter after its {n} adds"


def tell(name: str, what: str) -> None:
    """One line: name, os.getpid(), os.getppid(), threading.get_native_id(), ``what``.

    One write() with its "\n" (under python -u, or PYTHONUNBUFFERED, print() writes its
    text and its end apart, and lines of 3 processes could mix), flushed at once; at most
    74 characters (7-digit PIDs included): the lesson panel shows it whole at 80 columns.
    """
    ids = f"{os.getpid():<7} {os.getppid():<7} {threading.get_native_id():<7}"
    print(f"{name:<8} {ids} {what}\n", end="", flush=True)


def add(n: int) -> int:
    """counter += 1, ``n`` times, each under the lock; returns the adds made (``n``)."""
    global counter
    for _ in range(n):
        with lock:
            counter += 1
    return n


def in_process(n: int, hold: float) -> None:
    """A child process's target: add to this process's counter, say what it reads, stay up."""
    add(n)
    tell(multiprocessing.current_process().name, f"{counter} (its own copy)")
    time.sleep(hold)


def in_thread(n: int, hold: float, done: list[int]) -> None:
    """A thread's target: add to the process's counter, say what it reads, stay up."""
    done.append(add(n))  # list.append: one step, safe from several threads
    with lock:
        now = counter
    tell(threading.current_thread().name, f"{now} (the process's counter)")
    time.sleep(hold)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--adds", type=int, default=100_000, help="adds per thread and process (default 100000)"
    )
    parser.add_argument(
        "--hold", type=float, default=2.0, help="seconds each stays up after (default 2)"
    )
    parser.add_argument("--start-method", choices=["fork", "forkserver", "spawn"], default=None)
    args = parser.parse_args()
    if not 1 <= args.adds <= 10_000_000 or not 0 <= args.hold <= 3600:
        parser.error("--adds must be 1 to 10000000 and --hold 0 to 3600 seconds")

    ctx = multiprocessing.get_context(args.start_method)
    print(COLUMNS.format(n=args.adds), flush=True)
    tell("main", f"{counter} at the start")
    # The processes first: a fork child copies the parent's memory as it is at start()
    # (counter = 0, the lock free); a spawn or forkserver child imports this file afresh.
    procs = [
        ctx.Process(target=in_process, args=(args.adds, args.hold), name=f"proc-{i}")
        for i in (1, 2)
    ]
    for p in procs:
        p.start()
    done: list[int] = []  # each thread's count of its own adds
    threads = [
        threading.Thread(target=in_thread, args=(args.adds, args.hold, done), name=f"thread-{i}")
        for i in (1, 2)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for p in procs:
        p.join()  # every add of every process is done here
    by_threads = sum(done)
    print(
        f"main sees counter = {counter}: the threads' {by_threads} + the processes' "
        f"{counter - by_threads}",
        flush=True,
    )
    return 0 if all(p.exitcode == 0 for p in procs) else 1


# The guard: under spawn and forkserver each child imports this file afresh; without it,
# every child would run main() again.
if __name__ == "__main__":
    sys.exit(main())
