"""Signals and CPU affinity for a process, after an identity check (PID plus create time)."""

from __future__ import annotations

import signal

import psutil

from mptop.workers.commands import CommandError
from mptop.workers.handles import NoSuchWorker, WorkerHandle
from mptop.workers.snapshot import describe_exitcode


def check_live(h: WorkerHandle) -> psutil.Process:
    """``h``'s psutil handle if it is alive and still the process mptop started, else NoSuchWorker.

    psutil's ``is_running()`` compares the create time, so a PID reused by
    another process fails the check (psutil's identity rule).
    """
    if h.exitcode is not None:
        raise NoSuchWorker(h.pid, f"has exited ({h.exitcode}: {describe_exitcode(h.exitcode)})")
    if h.ps is None or not h.ps.is_running():
        raise NoSuchWorker(h.pid, "no such process")
    return h.ps


def deliver(h: WorkerHandle, sig: signal.Signals) -> None:
    """Send ``sig`` to ``h`` (psutil re-checks the create time first).

    Raises NoSuchWorker if it is gone, :class:`~mptop.workers.commands.CommandError`
    if the OS refuses (AccessDenied).
    """
    send_signal(check_live(h), sig, gone=NoSuchWorker)


def send_signal(
    ps: psutil.Process, sig: signal.Signals, gone: type[CommandError] = CommandError
) -> None:
    """``sig`` to ``ps``, identity-checked: psutil compares the create time first, so a reused
    PID is never hit. Any source's way to signal a process, started by mptop or not.

    Raises ``gone`` ("no such process") if it has ended, :class:`CommandError` if the OS
    refuses (AccessDenied).
    """
    try:
        ps.send_signal(sig)
    except psutil.NoSuchProcess:
        raise gone(ps.pid, "no such process") from None
    except psutil.AccessDenied:
        raise CommandError(ps.pid, f"{sig.name}: permission denied") from None


def is_stopped(h: WorkerHandle) -> bool:
    """Suspended by mptop, or stopped by anyone else (``kill -STOP`` from a shell)."""
    if h.suspended:
        return True
    try:
        return h.ps is not None and h.ps.status() in (
            psutil.STATUS_STOPPED,
            psutil.STATUS_TRACING_STOP,
        )
    except psutil.Error:
        return False


def set_affinity(h: WorkerHandle, cores: tuple[int, ...] | None) -> tuple[int, ...]:
    """Let ``h`` run only on ``cores`` (``None``: the core it runs on now; ``()``: every core).

    Returns the cores set (``()`` for all). Raises NoSuchWorker; ``ValueError``
    for a core this machine does not have; ``NotImplementedError`` where the OS
    has no affinity (macOS).
    """
    ps = check_live(h)
    if not hasattr(ps, "cpu_affinity"):
        raise NotImplementedError("CPU affinity is not supported on this platform")
    try:
        if cores is None:
            cores = (ps.cpu_num(),)
        total = psutil.cpu_count() or 1
        bad = [c for c in cores if not 0 <= c < total]
        if bad:
            raise ValueError(f"core {bad[0]} does not exist (this machine has cores 0-{total - 1})")
        ps.cpu_affinity(list(cores))  # psutil: an empty list means all eligible cores
    except psutil.NoSuchProcess:
        raise NoSuchWorker(h.pid, "no such process") from None
    except psutil.AccessDenied:
        raise CommandError(h.pid, "affinity: permission denied") from None
    return cores


def pin_tree_process(
    pid: int, ps: psutil.Process, cores: tuple[int, ...] | None
) -> tuple[int, ...]:
    """Let a process of a program's or an attached tree run only on ``cores``.

    ``None``: the core it runs on now. Returns the cores set. Raises
    CommandError(pid, reason) for a psutil error (the process gone, permission
    denied) or a core this machine does not have (psutil's ``ValueError``).
    """
    try:
        chosen = cores if cores is not None else (ps.cpu_num(),)
        ps.cpu_affinity(list(chosen))
    except psutil.Error as err:
        raise CommandError(pid, f"affinity: {type(err).__name__}") from None
    except ValueError as err:  # a core this machine does not have
        raise CommandError(pid, str(err)) from None
    return chosen
