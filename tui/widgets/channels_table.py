"""The IPC panel: one row per channel with its flow, traffic and backlog."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import DataTable

from tui import format as fmt
from workers.snapshot import ChannelSample

# (key, label, width in cells) in display order.
COLUMNS: tuple[tuple[str, str, int], ...] = (
    ("name", "Channel", 15),
    ("flow", "Flow", 16),
    ("msgs", "msg/s", 6),
    ("bytes", "B/s", 7),
    ("backlog", "Backlog", 7),
    ("sent", "Sent", 8),
    ("received", "Taken", 8),
)


def channel_cells(c: ChannelSample) -> tuple[str | Text, ...]:
    """The row of ``c`` in :data:`COLUMNS` order."""
    return (
        f"{c.name} ({c.kind})",
        f"{c.producer} → {c.consumer}",
        Text(fmt.count(c.msgs_per_s), justify="right"),
        Text(fmt.size(c.bytes_per_s), justify="right"),
        Text(str(c.backlog), justify="right", style="bold yellow" if c.backlog > 0 else ""),
        Text(str(c.sent), justify="right"),
        Text(str(c.received), justify="right"),
    )


class ChannelTable(DataTable[str | Text]):
    """Channels of the run; cells are rewritten only when their text changes."""

    DEFAULT_CSS = """
    ChannelTable {
        height: auto;
        max-height: 8;
    }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="none", show_cursor=False)
        self._rows: dict[str, tuple[str | Text, ...]] = {}

    def on_mount(self) -> None:
        for key, label, width in COLUMNS:
            self.add_column(label, key=key, width=width)

    def update_channels(self, channels: tuple[ChannelSample, ...]) -> None:
        """Add rows for new channels and rewrite only changed cells."""
        for c in channels:
            cells = channel_cells(c)
            old = self._rows.get(c.name)
            if old is None:
                self.add_row(*cells, key=c.name)
            else:
                for (col, _, _), new_cell, old_cell in zip(COLUMNS, cells, old, strict=True):
                    if new_cell != old_cell:
                        self.update_cell(c.name, col, new_cell)
            self._rows[c.name] = cells
