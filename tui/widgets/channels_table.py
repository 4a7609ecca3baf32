"""The IPC panel: the topology as a flow, then one line per channel.

The first line draws the path a message takes (``mptop ─tasks→ workers
─results→ mptop``, or the pipeline's stages, or one Pipe per worker); then
each channel's state in words (flowing, idle, STALLED, closed),
messages/s and bytes/s over the last tick, backlog, messages lost through
dead workers, a short history of messages/s, and the totals. A handful of
lines, so it is drawn as one text block, and only when something changed.
"""

from __future__ import annotations

from typing import ClassVar

from rich.style import Style
from rich.text import Text
from textual.widget import Widget

from mptop.tui import format as fmt
from mptop.workers.snapshot import ChannelSample

# (label, width in cells, right-justified) in display order.
COLUMNS: tuple[tuple[str, int, bool], ...] = (
    ("Channel", 16, False),
    ("Flow", 17, False),
    ("State", 7, False),
    ("msg/s", 6, True),
    ("B/s", 7, True),
    ("Backlog", 7, True),
    ("Lost", 5, True),
    ("msg/s history", 14, False),
    ("Sent", 9, True),
    ("Delivered", 9, True),
)
STATE, BACKLOG, LOST = 2, 5, 6
# Where the panel is narrower than every column, these give way first, in this order (their
# indexes in COLUMNS): the history, then B/s; the totals stay, so that sent = delivered +
# backlog + lost can be read at 80 columns.
GIVE_WAY = (7, 4)
# Channel and Flow keep at least this many cells (the kind leads a program's channel's name).
NAME_LEAST = 12
_SPARK = "▁▂▃▄▅▆▇█"


def history_spark(values: tuple[float, ...], width: int) -> str:
    """The last ``width`` messages/s values as blocks, scaled to their own maximum."""
    values = values[-width:]
    top = max(values, default=0.0)
    if top <= 0:
        return "▁" * len(values)
    return "".join(_SPARK[min(7, int(v / top * 7.999))] for v in values)


def uncounted(c: ChannelSample) -> bool:
    """True for a channel found, not counted (an attached tree's pipe or socket).

    Not guessed from the figures: a counted channel's first tick has no rate either.
    """
    return not c.counted


def channel_state(c: ChannelSample, ended: bool = False) -> str:
    """``STALLED``, ``flowing`` (taken this tick), ``idle``, ``closed`` (a dead worker's Pipe),
    ``ended`` (the run is over: nothing will read or write it again), or ``open`` (found, not
    counted)."""
    if uncounted(c):
        return "open"
    if ended:
        return "ended"
    if c.stalled:
        return "STALLED"
    if c.msgs_per_s:
        return "flowing"
    if c.kind == "Pipe" and c.lost and not c.backlog:
        return "closed"
    return "idle"


def flow_line(
    channels: tuple[ChannelSample, ...], none: str = "no channels", note: str = ""
) -> str:
    """The topology as the path a message takes, from the channels' ends; ``none`` if there are
    none; ``note`` (the source's word on how its channels are counted) before their count."""
    if not channels:
        return none
    if note:
        return f"{len(channels)} channel(s): {note}"
    if all(uncounted(c) for c in channels):
        return (
            f"{len(channels)} pipe(s) and socket(s) the processes share (from /proc/PID/fd):"
            " their messages are not counted here (mptop run counts them)"
        )
    if not any("mptop" in (c.producer, c.consumer) for c in channels):
        return f"{len(channels)} channel(s) of the program, as its own processes counted them"
    pipes = [c for c in channels if c.kind == "Pipe"]
    if pipes:
        return f"mptop ⇄ each worker over its own Pipe ({len(pipes)}): request out, echo back"
    by_producer = {c.producer: c for c in channels}
    out, at, seen = "mptop", "mptop", set()
    while at in by_producer and at not in seen:
        seen.add(at)
        c = by_producer[at]
        out += f" ─{c.name}→ {c.consumer}"
        at = c.consumer
    return out


ENDED_NOTE = "the run has ended: a backlog left was never read (as a Pool's wake-ups at close)"
"""What the flow line says once the run has ended with a backlog left. CPython's Pool, as it
closes (``close()``, ``_terminate_pool``), puts ``None`` on its change notifier (5 times in
examples/pool_map.py, Python 3.11) and once on its result queue, to wake handler threads that
may have stopped already: backlogs of a few and 1 that no one will read
(tests/test_run.py checks it on a real Pool)."""


def channel_texts(c: ChannelSample, ended: bool = False) -> tuple[str, ...]:
    """The cells of ``c`` in :data:`COLUMNS` order (``ended``: the run is over).

    A Pipe is duplex (requests one way, echoes the other, both counted), so
    its flow is ``mptop ⇄ worker-1``; a Queue's is one way. A name that
    already says its kind (``pipe:worker-1``) is not followed by it again; a
    name that is where a program made it (``prog.py:13``) follows its kind,
    which tells a program's channels apart where a narrow cell is cut
    (``executor call queue · prog.py:13``).
    """
    if c.name.lower().startswith(c.kind.lower()):
        label = c.name
    elif ".py:" in c.name:
        label = f"{c.kind} · {c.name}"
    else:
        label = f"{c.name} ({c.kind})"
    arrow = "⇄" if c.kind == "Pipe" else "→"
    counts = (str(c.backlog), str(c.lost), str(c.sent), str(c.delivered))
    if uncounted(c):
        counts = (fmt.DASH,) * 4
    return (
        label,
        f"{c.producer} {arrow} {c.consumer}",
        channel_state(c, ended),
        fmt.count(c.msgs_per_s),
        fmt.size(c.bytes_per_s),
        counts[0],
        counts[1],
        history_spark(c.history, COLUMNS[7][1]),
        counts[2],
        counts[3],
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
        text-wrap: nowrap;
        text-overflow: clip;
        & > .channels--header { text-style: bold; color: $text-muted; }
        & > .channels--backlog { color: $text-warning; text-style: bold; }
    }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._rows: tuple[tuple[str, ...], ...] = ()
        self._flow = ""

    @property
    def rows(self) -> tuple[tuple[str, ...], ...]:
        """The cell texts shown, one tuple per channel."""
        return self._rows

    def update_channels(
        self,
        channels: tuple[ChannelSample, ...],
        none: str = "no channels",
        note: str = "",
        ended: bool = False,
    ) -> None:
        """Show ``channels`` (``none``: what to say while there are none; ``note``: how the source
        counts them, see :func:`flow_line`; ``ended``: the run is over, see :data:`ENDED_NOTE`);
        a no-op when nothing changed."""
        rows = tuple(channel_texts(c, ended) for c in channels)
        flow = flow_line(channels, none, note)
        if ended and any(c.backlog for c in channels if not uncounted(c)):
            flow = f"{len(channels)} channel(s); {ENDED_NOTE}"
        if rows != self._rows or flow != self._flow:
            relayout = len(rows) != len(self._rows)
            self._rows = rows
            self._flow = flow
            self.refresh(layout=relayout)

    def _columns(self) -> tuple[tuple[int, str, int, bool], ...]:
        """The columns shown, as ``(index in COLUMNS, label, width, right-justified)``.

        Each column is as wide as its label or its longest text, the figures
        at most their width in :data:`COLUMNS`; where the panel is too narrow
        for all of them, those of :data:`GIVE_WAY` go, in turn, then Channel
        and Flow give cells (to no less than :data:`NAME_LEAST`, the end of a
        text cut with ``…``); where it has room, Channel and then Flow widen to
        fit their texts.
        """

        def longest(i: int) -> int:
            return max([len(COLUMNS[i][0])] + [len(row[i]) for row in self._rows])

        widths = {i: min(w, longest(i)) for i, (_, w, _) in enumerate(COLUMNS)}
        widths[0], widths[1] = (min(COLUMNS[i][1], longest(i)) for i in (0, 1))
        kept = list(range(len(COLUMNS)))

        def spare() -> int:
            return self.size.width - sum(widths[i] + 1 for i in kept)

        for i in GIVE_WAY:
            if spare() >= 0:
                break
            kept.remove(i)
        for i in (1, 0):  # too narrow still: Flow, then Channel give cells
            widths[i] -= max(0, min(-spare(), widths[i] - NAME_LEAST))
        for i in (0, 1):  # room to spare: Channel, then Flow take what their texts want
            widths[i] += max(0, min(spare(), longest(i) - widths[i]))
        return tuple((i, COLUMNS[i][0], widths[i], COLUMNS[i][2]) for i in kept)

    def on_resize(self) -> None:
        self.refresh()  # the widths of Channel and Flow, and how many lines fit, follow the size

    def get_content_height(self, container: object, viewport: object, width: int) -> int:
        return 2 + len(self._rows)

    def render(self) -> Text:
        """The flow line, the header and a line per channel; where the screen gives the panel
        fewer lines than that, the flow line goes first, then the last channels give way to a
        line that counts them (``… 3 more channels``)."""
        muted = self.get_component_rich_style("channels--header", partial=True)
        lines = self.size.height or 2 + len(self._rows)
        shown = self._rows
        out = Text()
        if lines >= 2 + len(self._rows) or not self._rows:
            out.append(self._flow or "no channels", style=muted)
            out.append("\n")
        elif lines < 1 + len(self._rows):
            shown = self._rows[: max(0, lines - 2)]
        columns = self._columns()
        out.append(" ".join(_cell(label, w, right) for _, label, w, right in columns), muted)
        warn = self.get_component_rich_style("channels--backlog", partial=True)
        for row in shown:
            out.append("\n")
            for i, _, w, right in columns:
                text = row[i]
                alarming = (
                    (i == BACKLOG and text not in ("0", fmt.DASH))
                    or (i == LOST and text not in ("0", fmt.DASH))
                    or (i == STATE and text == "STALLED")
                )
                out.append(_cell(text, w, right), warn if alarming else Style())
                out.append(" ")
        if len(shown) < len(self._rows):
            more = len(self._rows) - len(shown)
            out.append(
                f"\n… {more} more channel{'s' if more > 1 else ''} (a taller terminal shows them)",
                muted,
            )
        out.no_wrap = True
        out.overflow = "crop"
        return out
