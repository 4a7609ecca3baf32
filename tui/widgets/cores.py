"""The cores panel: one meter per logical core, marked with the workers that last ran on it."""

from __future__ import annotations

import math

from rich.text import Text
from textual.widget import Widget

from workers.snapshot import CoreSample

# Width of one core's cell (label, bar, percent, worker marks), in columns.
CELL_WIDTH = 40
BAR_WIDTH = 16


def load_style(percent: float) -> str:
    """Colour of a meter at ``percent`` (0-100) load, as htop and btop grade it."""
    if percent >= 85:
        return "bold red"
    if percent >= 50:
        return "yellow"
    return "green"


class CoresPanel(Widget):
    """Meters for every core in as many columns as fit; re-renders only when the samples change.

    ``update_cores`` takes the snapshot's ``CoreSample`` tuple; worker marks are
    the PIDs whose ``cpu_num()`` was that core at the last tick.
    """

    DEFAULT_CSS = """
    CoresPanel {
        height: auto;
        max-height: 50%;
        padding: 0 1;
    }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._cores: tuple[CoreSample, ...] = ()

    def update_cores(self, cores: tuple[CoreSample, ...]) -> None:
        """Show ``cores``; a no-op if nothing changed since the last call."""
        if cores != self._cores:
            self._cores = cores
            self.refresh(layout=True)

    def _columns(self) -> int:
        width = self.size.width or CELL_WIDTH
        return max(1, min(len(self._cores) or 1, width // CELL_WIDTH))

    def get_content_height(self, container: object, viewport: object, width: int) -> int:
        cols = max(1, min(len(self._cores) or 1, width // CELL_WIDTH))
        return max(1, math.ceil(len(self._cores) / cols))

    def _cell(self, core: CoreSample, width: int) -> Text:
        filled = round(core.percent / 100 * BAR_WIDTH)
        label_w = len(str(len(self._cores) - 1)) + 4
        cell = Text(f"cpu{core.index}".ljust(label_w), style="bold")
        cell.append("[")
        cell.append("|" * filled, style=load_style(core.percent))
        cell.append(" " * (BAR_WIDTH - filled))
        cell.append("]")
        cell.append(f"{core.percent:5.1f}%", style=load_style(core.percent))
        marks = " ".join(str(p) for p in core.worker_pids)
        if marks:
            cell.append(" " + marks, style="cyan")
        cell.truncate(width, overflow="ellipsis")
        cell.pad_right(width - cell.cell_len)
        return cell

    def render(self) -> Text:
        if not self._cores:
            return Text("sampling cores…", style="dim")
        cols = self._columns()
        rows = math.ceil(len(self._cores) / cols)
        width = max(CELL_WIDTH, self.size.width // cols)
        lines = []
        for r in range(rows):
            line = Text()
            for c in range(cols):
                i = c * rows + r
                if i < len(self._cores):
                    line.append_text(self._cell(self._cores[i], width))
            lines.append(line)
        return Text("\n").join(lines)
