"""The IPC panel: one line per channel with its flow, traffic and backlog.

A handful of lines, so it is drawn as one text block, and only when a
channel's figures changed since the last snapshot.
"""

from __future__ import annotations

from typing import ClassVar

from rich.style import Style
from rich.text import Text
from textual.widget import Widget

from tui import format as fmt
from workers.snapshot import ChannelSample

# (label, width in cells, right-justified) in display order.
COLUMNS: tuple[tuple[str, int, bool], ...] = (
    ("Channel", 16, False),
    ("Flow", 17, False),
    ("msg/s", 6, True),
    ("B/s", 7, True),
    ("Backlog", 7, True),
    ("Sent", 9, True),
    ("Taken", 9, True),
)


def channel_texts(c: ChannelSample) -> tuple[str, ...]:
    """The cells of ``c`` in :data:`COLUMNS` order."""
    return (
        f"{c.name} ({c.kind})",
        f"{c.producer} → {c.consumer}",
        fmt.count(c.msgs_per_s),
        fmt.size(c.bytes_per_s),
        str(c.backlog),
        str(c.sent),
        str(c.received),
    )


def _cell(text: str, width: int, right: bool) -> str:
    if len(text) > width:
        text = text[: width - 1] + "…"
    return text.rjust(width) if right else text.ljust(width)


class ChannelTable(Widget):
    """Channels of the run; re-rendered only when a figure changed."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {"channels--header", "channels--backlog"}

    DEFAULT_CSS = """
    ChannelTable {
        height: auto;
        padding: 0 1;
        & > .channels--header { text-style: bold; color: $text-muted; }
        & > .channels--backlog { color: $text-warning; text-style: bold; }
    }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._rows: tuple[tuple[str, ...], ...] = ()

    @property
    def rows(self) -> tuple[tuple[str, ...], ...]:
        """The cell texts shown, one tuple per channel."""
        return self._rows

    def update_channels(self, channels: tuple[ChannelSample, ...]) -> None:
        """Show ``channels``; a no-op when no figure changed."""
        rows = tuple(channel_texts(c) for c in channels)
        if rows != self._rows:
            relayout = len(rows) != len(self._rows)
            self._rows = rows
            self.refresh(layout=relayout)

    def get_content_height(self, container: object, viewport: object, width: int) -> int:
        return 1 + len(self._rows)

    def render(self) -> Text:
        head = " ".join(_cell(label, w, right) for label, w, right in COLUMNS)
        out = Text(head, style=self.get_component_rich_style("channels--header", partial=True))
        warn = self.get_component_rich_style("channels--backlog", partial=True)
        for row in self._rows:
            out.append("\n")
            for i, ((_, w, right), text) in enumerate(zip(COLUMNS, row, strict=True)):
                style = warn if i == 4 and text != "0" else Style()
                out.append(_cell(text, w, right), style)
                out.append(" ")
        out.no_wrap = True
        out.overflow = "crop"
        return out
