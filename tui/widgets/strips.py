"""Building lines for Line API widgets: runs of equal style become one segment.

Every segment of a changed line costs again downstream, in Textual's line
filters and in the escape codes written to the terminal, so the widgets that
redraw every tick (header, cores panel, worker table) merge neighbouring
pieces of the same style before they build a :class:`~textual.strip.Strip`.
"""

from __future__ import annotations

from collections.abc import Iterable

from rich.segment import Segment
from rich.style import Style
from textual.strip import Strip


def join_runs(pieces: Iterable[tuple[str, Style]]) -> list[Segment]:
    """``(text, style)`` pieces -> segments, one per run of equal style (empty texts dropped)."""
    segments: list[Segment] = []
    run: list[str] = []
    run_style: Style | None = None
    for text, style in pieces:
        if not text:
            continue
        if style is not run_style and style != run_style:  # identity first: styles are cached
            if run:
                segments.append(Segment("".join(run), run_style))
            run, run_style = [], style
        run.append(text)
    if run:
        segments.append(Segment("".join(run), run_style))
    return segments


def line(pieces: Iterable[tuple[str, Style]], width: int, fill: Style) -> Strip:
    """One line of exactly ``width`` cells: the pieces cut or padded with ``fill``."""
    return Strip(join_runs(pieces)).crop_extend(0, width, fill)
