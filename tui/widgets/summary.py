"""The one-line header of the main screen (run, load, settings, what the numbers mean)."""

from __future__ import annotations

from rich.cells import cell_len, set_cell_size
from textual.strip import Strip
from textual.widget import Widget

from mptop.tui.widgets import strips


class Summary(Widget):
    """The one-line header; redrawn (never re-laid out) only when its text changes.

    A Line API widget: one cached strip, cut with an ellipsis to the width
    (no Rich text or Content to build for a line that changes every tick).
    """

    DEFAULT_CSS = """
    Summary { height: 1; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.text = ""
        self._strip: tuple[int, Strip] | None = None  # (width, line)

    def show(self, text: str) -> None:
        """Show ``text`` if it differs from what is shown."""
        if text != self.text:
            self.text = text
            self._strip = None
            self.refresh()

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._strip = None

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        if y > 0:
            return Strip.blank(width, self.rich_style)
        if self._strip is None or self._strip[0] != width:
            text, style = self.text, self.rich_style
            if cell_len(text) > width:
                text = set_cell_size(text, max(0, width - 1)) + "…"
            self._strip = (width, strips.line([(text, style)], width, style))
        return self._strip[1]
