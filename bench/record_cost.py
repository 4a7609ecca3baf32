"""What writing a recording costs per tick: the CSV tables against JSON Lines, same snapshots.

Writes the deterministic snapshots of ``tests/ui/samples.py`` (WORKERS workers on CORES
cores, 3 channels, 30 ticks) with :class:`~mptop.workers.record.JsonlWriter` (the baseline)
and :class:`~mptop.workers.record.CsvWriter`, in interleaved rounds, each write flushed as in
a headless run. Printed: median milliseconds per tick, KiB per tick on disk, and the CSV/JSONL
ratios.

    python -m bench.record_cost [WORKERS] [CORES] [ROUNDS] [--rows]

``--rows``: then the figures as rows of bench/table.py on the last line (JSON),
JSON Lines as the baseline. No goal is stated: they are reported, not judged.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

from bench.table import ROWS_FLAG, Row, emit
from mptop.workers.record import CsvWriter, JsonlWriter, SnapshotWriter
from mptop.workers.snapshot import Snapshot
from tests.ui import samples

TICKS = 30


def write_all(writer: SnapshotWriter, snaps: list[Snapshot]) -> tuple[float, int]:
    """Milliseconds per tick to write ``snaps``, and the bytes written, all files."""
    t0 = time.perf_counter()
    for snap in snaps:
        writer.write(snap)
    ms = (time.perf_counter() - t0) / len(snaps) * 1000
    writer.close()
    return ms, sum(p.stat().st_size for p in writer.files)


def record_rows(workers: int, cores: int, ms: dict[str, float], size: dict[str, int]) -> list[Row]:
    """CSV against JSONL: ms per tick written (median), and MiB for all :data:`TICKS` ticks."""
    what = f"{workers} workers, {cores} cores"
    note = "baseline: JSON Lines, the same snapshots"
    return [
        Row(f"record: CSV write per tick, {what}", ms["csv"], "ms", ms["jsonl"], note=note),
        Row(
            f"record: CSV size of {TICKS} ticks, {what}",
            size["csv"] / (1 << 20),
            "MiB",
            size["jsonl"] / (1 << 20),
            note=note,
        ),
    ]


def main(argv: list[str]) -> None:
    """Print the figures for ``[WORKERS] [CORES] [ROUNDS]``; ``--rows``: then the rows as JSON."""
    json_rows = ROWS_FLAG in argv
    argv = [a for a in argv if a != ROWS_FLAG]
    workers = int(argv[0]) if argv else 256
    cores = int(argv[1]) if len(argv) > 1 else 64
    rounds = int(argv[2]) if len(argv) > 2 else 7
    snaps = [samples.snapshot(cores, workers, t) for t in range(TICKS)]
    results: dict[str, list[tuple[float, int]]] = {"jsonl": [], "csv": []}
    with tempfile.TemporaryDirectory() as folder:
        where = Path(folder)
        for _ in range(rounds):
            results["jsonl"].append(write_all(JsonlWriter(where / "r.jsonl", {}), snaps))
            results["csv"].append(write_all(CsvWriter(where / "r.csv"), snaps))
    ms = {k: statistics.median(m for m, _ in v) for k, v in results.items()}
    kib = {k: v[0][1] / TICKS / 1024 for k, v in results.items()}
    print(f"{workers} workers, {cores} cores, {TICKS} ticks, {rounds} rounds")
    for kind in ("jsonl", "csv"):
        print(f"  {kind:<6} {ms[kind]:6.2f} ms/tick  {kib[kind]:7.1f} KiB/tick")
    print(f"  csv/jsonl: time {ms['csv'] / ms['jsonl']:.2f}, size {kib['csv'] / kib['jsonl']:.2f}")
    if json_rows:
        emit(record_rows(workers, cores, ms, {k: v[0][1] for k, v in results.items()}))


if __name__ == "__main__":
    main(sys.argv[1:])
