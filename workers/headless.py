"""Run a scenario without a UI and record one snapshot per tick (``mptop --headless``).

The run: open the output (so a bad path fails before any process starts),
start the workers and the dispatcher, sample every ``interval`` seconds on
this thread and write each snapshot, until ``duration`` has passed or
``stop`` is set (the CLI sets it on Ctrl+C, SIGTERM and SIGHUP). Then the
supervisor shuts down (bounded, about 2.5 s) and one last snapshot is
written, holding the workers' exit codes and exit events. Every line or CSV
tick is written and flushed whole, so the file is valid at any moment.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path

from mptop.workers.dispatcher import Dispatcher
from mptop.workers.record import SnapshotWriter, header_record, open_writer, scenario_record
from mptop.workers.sampler import Sampler
from mptop.workers.spec import Scenario
from mptop.workers.supervisor import Supervisor


@dataclass(frozen=True, slots=True)
class HeadlessResult:
    """What a headless run did: snapshots written, seconds it ran, whether it was stopped early."""

    snapshots: int
    seconds: float
    interrupted: bool
    path: Path


def open_output(
    path: Path, scenario: Scenario, description: str = "", lesson: str = ""
) -> SnapshotWriter:
    """Create the recording file (JSONL with its header, or CSV).

    Raises ``ValueError`` (bad suffix) or ``OSError`` (cannot create), before
    any process exists.
    """
    header = header_record(scenario_record(scenario, description, lesson), time.time())
    return open_writer(path, header)


def run_headless(
    scenario: Scenario,
    writer: SnapshotWriter,
    duration: float | None,
    stop: threading.Event | None = None,
) -> HeadlessResult:
    """Run ``scenario`` for ``duration`` seconds (``None``: until ``stop``), writing to ``writer``.

    Ticks every ``scenario.interval`` seconds on a fixed schedule (a slow
    tick does not shift the later ones). Always shuts the workers down and
    closes ``writer``, also when interrupted or on an error.
    """
    stop = stop or threading.Event()
    supervisor = Supervisor(scenario)
    dispatcher: Dispatcher | None = None
    written = 0
    t0 = time.monotonic()
    try:
        supervisor.prepare()
        # the same traffic as the TUI: message size and rate from the scenario, and the
        # per-sender tally that lets the sampler count a dead worker's undelivered messages
        dispatcher = Dispatcher(
            supervisor, scenario.worker.task_seconds, scenario.message_size, scenario.rate
        )
        sampler = Sampler(supervisor, dispatcher.delivered)
        dispatcher.start()
        supervisor.start()
        end = None if duration is None else t0 + duration
        tick = 0
        while True:
            writer.write(sampler.sample())
            written += 1
            tick += 1
            next_at = t0 + tick * scenario.interval
            if end is not None and next_at > end + 1e-9:
                break
            if stop.wait(max(0.0, next_at - time.monotonic())):
                break
    finally:
        supervisor.shutdown()
        if dispatcher is not None:
            dispatcher.stop()
        try:
            if supervisor.handles():
                # After shutdown: the exit codes and the exit events, as the parent saw them.
                tally = dispatcher.delivered if dispatcher is not None else None
                writer.write(
                    Sampler(supervisor, tally).sample() if written == 0 else sampler.sample()
                )
                written += 1
        finally:
            writer.close()
            supervisor.remove_log_dir()
    return HeadlessResult(written, time.monotonic() - t0, stop.is_set(), writer.path)
