"""Baseline for bench/ui.py: the worker table as it was before issue 5 (a DataTable, cell by cell)."""

from __future__ import annotations

from rich.text import Text
from textual.coordinate import Coordinate
from textual.widgets import DataTable

from mptop.tui import format as fmt
from mptop.workers.snapshot import WorkerSample, WorkerState, describe_exitcode

# (key, label, width in cells) in display order; fixed widths, so no update re-measures a column.
COLUMNS: tuple[tuple[str, str, int], ...] = (
    ("pid", "PID", 7),
    ("name", "Name", 10),
    ("state", "State", 8),
    ("exit", "Exit", 11),
    ("daemon", "Daemon", 6),
    ("core", "Core", 4),
    ("cpu", "CPU%", 6),
    ("rss", "RSS", 7),
    ("in_msgs", "In msg/s", 8),
    ("in_bytes", "In B/s", 7),
    ("out_msgs", "Out msg/s", 9),
    ("out_bytes", "Out B/s", 7),
)

_STATE_STYLE = {
    WorkerState.RUNNING: "green",
    WorkerState.SLEEPING: "",
    WorkerState.STOPPED: "bold yellow",
    WorkerState.ZOMBIE: "bold magenta",
    WorkerState.EXITED: "dim",
}


def worker_cells(w: WorkerSample) -> tuple[str | Text, ...]:
    """The row of ``w`` in :data:`COLUMNS` order; exited rows are dimmed."""
    exit_text = "" if w.exitcode is None else f"{w.exitcode} {describe_exitcode(w.exitcode)}"
    exit_cell = Text(exit_text, style="bold red" if w.exitcode not in (None, 0) else "")
    cells: tuple[str | Text, ...] = (
        Text(str(w.pid), justify="right"),
        w.name,
        Text(w.state.value, style=_STATE_STYLE.get(w.state, "")),
        exit_cell,
        "yes" if w.daemon else "no",
        Text(fmt.DASH if w.core is None else str(w.core), justify="right"),
        Text(fmt.percent(w.cpu_percent), justify="right"),
        Text(fmt.size(w.rss), justify="right"),
        Text(fmt.count(w.msgs_in_per_s), justify="right"),
        Text(fmt.size(w.bytes_in_per_s), justify="right"),
        Text(fmt.count(w.msgs_out_per_s), justify="right"),
        Text(fmt.size(w.bytes_out_per_s), justify="right"),
    )
    if not w.alive:  # dim the row, but keep the exit code readable
        cells = tuple(c if c is exit_cell else _dim(c) for c in cells)
    return cells


def _dim(cell: str | Text) -> Text:
    if isinstance(cell, Text):
        return Text(cell.plain, style="dim", justify=cell.justify)
    return Text(cell, style="dim")


class WorkerTable(DataTable[str | Text]):
    """All workers of the run. Rows are keyed by PID; only cells that changed are written."""

    DEFAULT_CSS = """
    WorkerTable {
        height: 1fr;
    }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=False)
        self._rows: dict[int, tuple[str | Text, ...]] = {}

    def on_mount(self) -> None:
        for key, label, width in COLUMNS:
            self.add_column(label, key=key, width=width)

    @property
    def selected_pid(self) -> int | None:
        """PID of the row under the cursor, or None when the table is empty."""
        if not self.row_count:
            return None
        row_key = self.coordinate_to_cell_key(Coordinate(self.cursor_row, 0)).row_key
        return int(row_key.value) if row_key.value is not None else None

    def update_workers(self, workers: tuple[WorkerSample, ...]) -> None:
        """Add rows for new PIDs and rewrite only the cells whose text changed."""
        for w in workers:
            cells = worker_cells(w)
            old = self._rows.get(w.pid)
            key = str(w.pid)
            if old is None:
                self.add_row(*cells, key=key)
            else:
                for (col, _, _), new_cell, old_cell in zip(COLUMNS, cells, old, strict=True):
                    if new_cell != old_cell:
                        self.update_cell(key, col, new_cell)
            self._rows[w.pid] = cells
