"""Write the small committed recordings the UI snapshot tests replay: ``python -m tests.ui.make_recordings``.

They hold the deterministic samples of :mod:`tests.ui.samples` (fixed PIDs,
times and loads), 8 ticks each, for 2 and 64 cores, written with
:mod:`mptop.workers.record` exactly as ``mptop --headless`` writes them.
"""

from __future__ import annotations

from pathlib import Path

from mptop.workers.record import header_record, scenario_record, write_recording
from mptop.workers.spec import Scenario
from tests.ui import samples

HERE = Path(__file__).with_name("recordings")
TICKS = 8


def path(cores: int) -> Path:
    """The recording of ``cores`` cores."""
    return HERE / f"{cores}cores.jsonl"


def main() -> None:
    HERE.mkdir(exist_ok=True)
    for cores in (2, 64):
        workers = 20 if cores > 2 else 6
        snaps = [samples.snapshot(cores, workers, t) for t in range(TICKS)]
        info = scenario_record(
            Scenario.simple(workers, start_method="forkserver"),
            "deterministic samples for the UI tests",
            "A short lesson for the replay test.\nSecond line.",
        )
        info["name"] = f"samples-{cores}"
        write_recording(path(cores), snaps, header_record(info, samples.T0 - 1))


if __name__ == "__main__":
    main()
