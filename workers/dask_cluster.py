"""The local Dask cluster of ``mptop dask``, as a process of its own: ``python -m mptop.workers.dask_cluster``.

Why a process apart from mptop: a ``distributed.LocalCluster`` runs its
scheduler and its nannies in the process that makes it, and its workers
(spawned by the nannies) inherit that process's stdout and stderr. Inside
mptop, the scheduler would compete with the screen for mptop's GIL, its
CPU would count as mptop's, and every worker's log line would land on the
terminal, which Textual draws on (fd 2). Here the cluster has its own
process, whose stdout and stderr mptop points at a log file (the workers
inherit it), and mptop is one more client of it, over TCP on loopback.

The process:

- starts ``LocalCluster(n_workers, threads_per_worker, processes=True,
  asynchronous=True, dashboard_address=None)`` on 127.0.0.1, its scheduler
  on ``--port`` (0: any free port; no bokeh needed, no dashboard port to
  clash);
- adds two handlers to its scheduler, which mptop's client calls as
  ``client.scheduler.mptop_add()`` and ``client.scheduler.mptop_retire(name=...)``:
  add one worker (``LocalCluster.scale``), and retire one gracefully and
  drop it from the cluster's spec (else the next ``scale`` would start it
  again);
- writes the scheduler's address to the file given, then waits;
- closes the cluster (workers, nannies, scheduler) when its stdin reaches
  end of file (mptop closes it at quit, and the kernel does when mptop dies),
  or on SIGTERM or SIGINT, and exits; after mptop wrote ``leave`` on its
  stdin (the user chose to leave the cluster running), only SIGTERM or
  SIGINT close it.

Exit status: 0 after a clean close, 1 if the cluster could not start (the
reason is the last line of the log).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sys
from pathlib import Path
from typing import Any

# Seconds the cluster gets to close its workers, nannies and scheduler.
CLOSE_TIMEOUT = 10.0


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m mptop.workers.dask_cluster")
    p.add_argument("--workers", type=int, required=True)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--port", type=int, default=0)  # the scheduler's; 0: any free port
    p.add_argument("--address-file", type=Path, required=True)
    return p


async def _serve(workers: int, threads: int, port: int, address_file: Path) -> int:
    import distributed

    local_cluster: Any = distributed.LocalCluster  # distributed is untyped: Any
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    loop.add_reader(sys.stdin.fileno(), lambda: _on_stdin(stop))
    cluster: Any = await local_cluster(
        n_workers=workers,
        threads_per_worker=threads,
        processes=True,
        asynchronous=True,
        dashboard_address=None,
        host="127.0.0.1",
        scheduler_port=port,
    )
    try:

        def add_worker() -> int:
            """Scale up by one; returns the number of workers asked for."""
            n = len(cluster.worker_spec) + 1
            cluster.scale(n)
            return n

        async def retire(name: Any = None) -> list[str]:
            """Retire worker ``name`` (its data moves first); returns the addresses retired."""
            retired = await cluster.scheduler.retire_workers(
                names=[name], close_workers=True, remove=True
            )
            cluster.worker_spec.pop(name, None)
            return list(retired)

        cluster.scheduler.handlers["mptop_add"] = add_worker
        cluster.scheduler.handlers["mptop_retire"] = retire
        partial = address_file.with_name(address_file.name + ".part")
        partial.write_text(cluster.scheduler_address)
        partial.replace(address_file)  # whole, or not there
        await stop.wait()
    finally:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(cluster.close(), CLOSE_TIMEOUT)
    return 0


_LEAVE = {"asked": False}


def _on_stdin(stop: asyncio.Event) -> None:
    """End of file (mptop closed it, or died): close the cluster, unless mptop wrote ``leave``
    first (the user chose to leave it running: then it runs until SIGTERM or SIGINT)."""
    try:
        data = os.read(sys.stdin.fileno(), 4096)
    except OSError:
        data = b""
    if b"leave" in data:
        _LEAVE["asked"] = True
    if not data:
        asyncio.get_running_loop().remove_reader(sys.stdin.fileno())
        if not _LEAVE["asked"]:
            stop.set()


def main(argv: list[str] | None = None) -> int:
    """Run the cluster until stdin closes or a SIGTERM/SIGINT; returns the exit status."""
    args = _parser().parse_args(argv)
    try:
        return asyncio.run(_serve(args.workers, args.threads, args.port, args.address_file))
    except Exception as err:
        print(f"mptop dask: the local cluster failed: {type(err).__name__}: {err}", flush=True)
        return 1


if __name__ == "__main__":
    sys.exit(main())
