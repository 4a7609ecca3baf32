""":func:`launch`: start one worker process and make its :class:`WorkerHandle` (engine-internal)."""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import time
from dataclasses import dataclass
from multiprocessing.context import BaseContext
from multiprocessing.process import BaseProcess

import psutil

from mptop.workers import child, cpython
from mptop.workers.flag import StopFlag
from mptop.workers.handles import WorkerHandle
from mptop.workers.spec import WorkerSpec
from mptop.workers.starter import StarterThread
from mptop.workers.topology import Topology


@dataclass(frozen=True, slots=True)
class RunContext:
    """What every worker of one run shares: its log folder, stop flag, forking thread, calibration.

    ``ctx`` is the context the run's shared memory comes from (its ``RawValue``
    can travel to a child of any start method the run uses).
    """

    ctx: BaseContext
    log_dir: str
    stop: StopFlag
    starter: StarterThread
    loops_per_second: float | None


def expected_ppid(method: str) -> int:
    """The PID a new worker's parent will have: the forkserver's, or this process's.

    Never restarts the forkserver here: that would swap fds 1 and 2 under a
    running UI, which writes to them.
    """
    if method == "forkserver" and (pid := cpython.forkserver_pid()):
        return pid
    return os.getpid()


def launch(
    run: RunContext,
    topology: Topology,
    spec: WorkerSpec,
    *,
    name: str,
    daemon: bool,
    method: str,
    live: set[int],
) -> WorkerHandle:
    """Start worker ``name`` of ``spec`` with ``method`` on ``topology``'s channels.

    ``live`` holds the PIDs alive now (pipeline stages are balanced over
    them). The fork happens on the run's starter thread (PR_SET_PDEATHSIG
    fires when the forking thread ends). Sets the spec's affinity, if any.
    Blocks for ``Process.start()`` (a fork under forkserver, 1-20 ms here;
    spawn returns in a few ms and its interpreter needs 50-150 ms more to
    run). Raises ``OSError`` if the fork fails (EAGAIN, EMFILE, ENOMEM); the
    topology is then left as it was.
    """
    ctx = multiprocessing.get_context(method)
    role, register = topology.attach(name, live)
    args = child.ChildArgs(
        name=name,
        workload=spec.parsed,
        log_dir=run.log_dir,
        start_method=method,
        expected_ppid=expected_ppid(method),
        role=role,
        stop=run.stop,
        ready=run.ctx.RawValue("d", 0.0),
        loops_per_second=run.loops_per_second,
        nice=spec.nice,
    )
    process_cls = ctx.Process  # type: ignore[attr-defined]
    proc: BaseProcess = process_cls(target=child.main, args=(args,), name=name, daemon=daemon)
    launched = time.time()
    t0 = time.perf_counter()
    run.starter.call(proc.start)
    start_seconds = time.perf_counter() - t0
    cpython.forget_child(proc)  # else every later start polls it (see there)
    pid = proc.pid
    assert pid is not None
    register(pid)
    try:
        ps: psutil.Process | None = psutil.Process(pid)
    except psutil.Error:
        ps = None
    handle = WorkerHandle(
        name=name,
        process=proc,
        pid=pid,
        ps=ps,
        daemon=daemon,
        workload=str(spec.parsed),
        spec=spec,
        blocks=[(c, c.blocks[pid]) for c in topology.channels if pid in c.blocks],
        started=time.time(),
        start_method=method,
        start_seconds=start_seconds,
        launched=launched,
        ready=args.ready,
        log_paths=child.log_paths(run.log_dir, name),
    )
    if spec.affinity is not None and ps is not None:
        with contextlib.suppress(psutil.Error, AttributeError):
            ps.cpu_affinity(list(spec.affinity))
            if len(spec.affinity) == 1:
                handle.pinned = spec.affinity[0]
    return handle
