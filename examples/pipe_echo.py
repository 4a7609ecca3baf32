"""Pipe echo: main sends N messages on a duplex Pipe, a child echoes each back, then the
child sends a final summary on a one-way Pipe.

Run: python examples/pipe_echo.py --items 200 --size 64 --start-method spawn
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
import time


def announce() -> None:
    # One write() for the whole line (under python -u, print() writes its text and its "\n"
    # apart, so lines of processes sharing stdout could mix), flushed at once (a forked
    # child would print again whatever its parent had left in the buffer).
    me = multiprocessing.current_process()
    line = f"PROC {os.getpid()} {me.name} parent {os.getppid()}\n"
    print(line, end="", flush=True)


def echo(conn, summary_conn, items: int, slow: float) -> None:
    announce()
    echoed = 0
    nbytes = 0
    # The child knows how many messages come, so it needs no "stop" message.
    for _ in range(items):
        message = conn.recv()
        time.sleep(slow)
        conn.send(message)
        echoed += 1
        nbytes += len(message[1])
    # The one-way pipe: this end can only send, the main process's end can only receive.
    summary_conn.send({"echoed": echoed, "bytes": nbytes})
    conn.close()
    summary_conn.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--items", type=int, default=200, help="messages to echo (default 200)")
    parser.add_argument("--size", type=int, default=64, help="payload bytes per item (default 64)")
    parser.add_argument("--start-method", choices=["fork", "forkserver", "spawn"], default=None)
    parser.add_argument("--exit", type=int, default=0, help="exit status at the end (default 0)")
    parser.add_argument("--slow", type=float, default=0.0, help="seconds of sleep per item")
    args = parser.parse_args()
    announce()

    ctx = multiprocessing.get_context(args.start_method)
    # Pipe() gives two connected ends; each end can both send and receive.
    main_end, child_end = ctx.Pipe()
    # Pipe(duplex=False) gives (receive-only end, send-only end).
    summary_recv, summary_send = ctx.Pipe(duplex=False)
    child = ctx.Process(
        target=echo, args=(child_end, summary_send, args.items, args.slow), name="echo-child"
    )
    child.start()
    # The child has its own copies of its ends now; close ours so that only it holds them.
    child_end.close()
    summary_send.close()

    requests = echoes = 0
    for seq in range(args.items):
        # One message at a time, waiting for each echo: sending everything first could fill
        # the pipe's buffer in both directions and leave both processes waiting forever.
        main_end.send((seq, bytes([seq % 256]) * args.size))
        requests += 1
        reply = main_end.recv()
        assert reply[0] == seq
        echoes += 1
    summary = summary_recv.recv()
    assert summary["echoed"] == echoes
    child.join()  # wait for the child to end, and reap it

    print(f"COUNT pipe-requests {requests}", flush=True)
    print(f"COUNT pipe-echoes {echoes}", flush=True)
    print("COUNT summary 1", flush=True)
    print("DONE", flush=True)
    return args.exit


# The guard: under spawn and forkserver the child imports this file afresh; without the
# guard, it would run main() again and start a child of its own.
if __name__ == "__main__":
    sys.exit(main())
