"""The main screen's body: the panels between the cores and the footer, each as tall as it needs.

Textual's CSS can give a panel its content's height (``height: auto``) or a
share of what is left (``1fr``), but not "what its rows need, up to what
leaves the others their minimum": an auto-height table of 64 workers pushes
the channels and the events off the screen, a ``1fr`` one of 4 workers keeps
20 empty rows while the events get 5 lines. So :class:`Body` lets Textual
measure each panel as usual and then, in ``process_layout`` (Textual's hook
for placements CSS cannot express; public with ``Widget.arrange`` since
Textual 6.2, PRs 6105 and 6108), gives out its rows with
:func:`share_rows`: every panel first gets its least (a header and a few
rows), then the lesson, the channels (up to a third), the worker table and
the rest of the channels get what they need in that order, and the event log
takes the rest.
"""

from __future__ import annotations

import collections
import textwrap
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import ClassVar

from textual.containers import Vertical
from textual.geometry import Region, Size
from textual.layout import DockArrangeResult, WidgetPlacement
from textual.widget import Widget
from textual.widgets import Log

# From this many columns the channels and the event log sit side by side (each about 115 wide).
WIDE_FROM = 230


@dataclass(frozen=True, slots=True)
class Claim:
    """What one panel asks of the body's rows (borders included).

    ``need``: the rows it would use in full (None: as many as there are, the
    event log); ``least``: the rows it keeps however short the terminal, as
    long as the panels before it in :data:`LEAST_ORDER` got theirs;
    ``extra``: rows of its need it gets only after the others in
    :data:`FILL_ORDER` got theirs (the channels' flow line, which they can do
    without).
    """

    name: str
    need: int | None
    least: int
    extra: int = 0


# Who keeps their least first when even the least do not fit.
LEAST_ORDER = ("workers", "filter", "channels", "log", "lesson")
# Who then gets what it needs, in turn, up to this share of the height (None: all it needs),
# less its extra rows while the share is not None. The channels' few lines come before the
# table's rows, but an attached tree's dozens of pipes do not take more than a third, and their
# flow line waits: the rest of them come once the table has its rows.
FILL_ORDER: tuple[tuple[str, float | None], ...] = (
    ("filter", None),
    ("lesson", None),
    ("channels", 1 / 3),
    ("workers", None),
    ("channels", None),
    ("log", None),
)


def share_rows(height: int, claims: list[Claim]) -> dict[str, int]:
    """Rows per panel name, summing to at most ``height`` (all of it when the log is there).

    First each panel gets ``min(least, need)`` in :data:`LEAST_ORDER` while
    rows remain (on a terminal too short for all of them, the lesson and then
    the log go first: they hold the least urgent lines); then, in
    :data:`FILL_ORDER`, each gets up to its ``need`` (or that share of
    ``height``, less its ``extra``); the event log (need None) takes every
    row left. Panels not in ``claims`` are not shown.
    """
    by_name = {c.name: c for c in claims}
    rows = dict.fromkeys(by_name, 0)
    left = max(0, height)
    for name in LEAST_ORDER:
        c = by_name.get(name)
        if c is None:
            continue
        least = c.least if c.need is None else min(c.least, c.need)
        rows[name] = min(least, left)
        left -= rows[name]
    for name, share in FILL_ORDER:
        c = by_name.get(name)
        if c is None:
            continue
        need = rows[name] + left if c.need is None else c.need
        if share is not None:
            need = min(need - c.extra, int(height * share))
        more = min(left, max(0, need - rows[name]))
        rows[name] += more
        left -= more
    return rows


class Body(Vertical):
    """The worker table, the lesson, the filter line, the channels and the event log.

    Its children are ``#workers``, ``#lesson`` (if any), ``#filter``,
    ``#channels`` and ``#log``; Textual measures them (auto heights, the
    lesson's ``max-height``), and :meth:`process_layout` then places them
    one under the other with the rows :func:`share_rows` gives each. From
    :data:`WIDE_FROM` columns the channels and the log share their rows side
    by side, each half the width.
    """

    DEFAULT_CSS = """
    Body {
        height: 1fr;
        overflow: hidden hidden;
    }
    """

    # The rows each panel keeps on a short terminal: a header and 3 workers; the channels'
    # border, header and 2 channels (or one and "… N more"); the log's border and 2 events;
    # the lesson's border, its figures and 2 lines (it scrolls).
    LEAST: ClassVar[dict[str, int]] = {
        "workers": 4,
        "filter": 1,
        "channels": 4,
        "log": 3,
        "lesson": 4,
    }

    def __init__(self, *children: Widget, id: str | None = None) -> None:
        super().__init__(*children, id=id)
        self._size = Size(0, 0)
        self.rows: dict[str, int] = {}
        """The rows each panel got at the last layout, by id (for tests and the curious)."""

    def arrange(self, size: Size, optimal: bool = False) -> DockArrangeResult:
        """Textual's arrangement, after noting the size it is for (``process_layout`` gets no size)."""
        self._size = size
        return super().arrange(size, optimal)

    def _need(self, placement: WidgetPlacement) -> int | None:
        """The rows a panel needs: what Textual measured, except for the event log (all rows left)."""
        widget = placement.widget
        if widget.id == "log":
            return None
        if widget.id == "workers":  # a header and its rows, whatever CSS height it has
            return widget.virtual_size.height + widget.styles.gutter.height
        return placement.region.height

    def process_layout(self, placements: list[WidgetPlacement]) -> list[WidgetPlacement]:
        """Re-place the panels Textual measured: heights from :func:`share_rows`, top to bottom."""
        width, height = self._size
        wide = width >= WIDE_FROM
        by_id = {p.widget.id: p for p in placements if p.widget.id in self.LEAST}
        side_by_side = wide and "channels" in by_id and "log" in by_id
        claims = [
            Claim(
                name,
                self._need(p),
                # side by side, the log's rows are the channels' too: its least is theirs
                0 if side_by_side and name == "log" else self.LEAST[name],
                # the channels' flow line (ChannelTable drops it first when short of rows)
                1 if name == "channels" and p.region.height > 3 else 0,
            )
            for name, p in by_id.items()
        ]
        self.rows = rows = share_rows(height, claims)
        if side_by_side:  # the rows the two would have one under the other, for both
            rows["channels"] = rows["log"] = rows["channels"] + rows["log"]
        out: list[WidgetPlacement] = []
        y = 0
        half = width // 2
        for p in placements:
            name = p.widget.id
            if name not in rows:
                out.append(p)
                continue
            h = rows[name]
            if side_by_side and name == "channels":
                out.append(p._replace(region=Region(0, y, half, h)))
                continue  # the log goes beside it, on the same rows
            if side_by_side and name == "log":
                out.append(p._replace(region=Region(half, y, width - half, h)))
            else:
                out.append(p._replace(region=Region(0, y, width, h)))
            y += h
        return out


class EventLog(Log):
    """Textual's :class:`~textual.widgets.Log`, each event wrapped to the log's width (under its
    time, not cut off: a cut line lost the fact at its end), and the last events in view after
    a resize.

    Events go in through :meth:`add`; the log keeps them (its ``max_lines``) and wraps them
    again when its width changes. The body gives the log a new height when the table's rows
    or the channels change; a plain ``Log`` keeps its scroll position, so a shorter log would
    show older lines than the newest.
    """

    def __init__(self, *, max_lines: int, id: str | None = None) -> None:
        super().__init__(max_lines=max_lines, id=id)
        self._events: collections.deque[str] = collections.deque(maxlen=max_lines)
        self._wrap_width = 0  # the width the lines in the log were wrapped to (0: not yet)

    @property
    def events(self) -> tuple[str, ...]:
        """The events it holds, oldest first, as added (not wrapped)."""
        return tuple(self._events)

    def add(self, events: Iterable[str]) -> None:
        """Append ``events`` (lines of text, each starting with its time), wrapped."""
        new = list(events)
        self._events.extend(new)
        if not self._rewrapped():  # (a new width wraps them all, these too)
            self.write_lines(self._wrapped(new), scroll_end=True)

    def _rewrapped(self) -> bool:
        """Wrap every event again if the log's width has changed; whether it had."""
        width = self.scrollable_content_region.width
        if width == self._wrap_width:
            return False
        self._wrap_width = width
        self.clear()
        self.write_lines(self._wrapped(self._events), scroll_end=self.auto_scroll)
        return True

    def _wrapped(self, events: Iterable[str]) -> Iterator[str]:
        width = self._wrap_width
        for event in events:
            if width <= 0 or len(event) <= width:
                yield event
                continue
            indent = " " * min(event.find(" ") + 1, width // 3)  # under the text, past the time
            yield from textwrap.wrap(
                event, width, subsequent_indent=indent, break_on_hyphens=False
            ) or [event]

    def on_resize(self) -> None:
        self._rewrapped()
        if self.auto_scroll:
            self.scroll_end(animate=False, immediate=True)
