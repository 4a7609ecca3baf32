"""What the detail keeps of a worker that exits while it is open (psutil then finds nothing)."""

from __future__ import annotations

import dataclasses

from mptop.tui.screens.detail import keep_last_seen
from tests.ui import samples

LIVE = samples.snapshot(2, 6, 4).workers[0]


def test_facts_of_a_worker_that_died_are_kept_and_marked() -> None:
    old = samples.detail(LIVE)
    gone = dataclasses.replace(
        samples.detail(LIVE), ppid=None, cmdline=(), affinity=None, threads=None, nice=None
    )
    kept = keep_last_seen(gone, old)
    assert kept.last_seen
    assert (kept.ppid, kept.cmdline, kept.affinity, kept.threads, kept.nice) == (
        old.ppid,
        old.cmdline,
        old.affinity,
        old.threads,
        old.nice,
    )
    # and again at the next tick: the kept facts carry on
    assert keep_last_seen(gone, kept) == kept


def test_a_read_that_raced_with_the_exit_keeps_them_too() -> None:
    """The snapshot still says alive, but psutil already found nothing (CI saw this)."""
    old = samples.detail(LIVE)
    raced = dataclasses.replace(old, ppid=None, cmdline=(), affinity=None, threads=None)
    kept = keep_last_seen(raced, old)
    assert kept.last_seen and kept.ppid == old.ppid and kept.affinity == old.affinity


def test_a_live_read_or_another_pid_is_left_alone() -> None:
    old = samples.detail(LIVE)
    assert keep_last_seen(old, old) is old
    other = samples.detail(samples.snapshot(2, 6, 4).workers[1])
    gone = dataclasses.replace(other, ppid=None)
    assert keep_last_seen(gone, old) is gone
    assert keep_last_seen(gone, None) is gone
