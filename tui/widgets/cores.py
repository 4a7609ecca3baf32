"""The cores panel: per core a load meter, a short history and badges for its workers.

The panel picks the richest layout whose rows fit in a share of the screen,
so it never pushes the worker table off it:

- ``wide``: ``cpu3 ▕█████▌     ▏ 47% ▁▂▅▇█▇▅▃ 4242 4243`` (PIDs as badges)
- ``medium``: ``3 ▕████   ▏ 47% ▂▅▇█ ●2`` (● and how many workers)
- ``compact``: ``3 ▕██▌ ▏●`` (● if any worker runs there)
- ``micro``: one block per core, its height and colour the load; underlined
  where a worker runs; each line starts with its first core's number.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from itertools import groupby
from typing import ClassVar, Literal

from rich.style import Style
from textual.geometry import Size
from textual.strip import Strip
from textual.widget import Widget

from mptop.tui import format as fmt
from mptop.tui.widgets import strips
from mptop.workers.snapshot import CoreSample, HostSample

Mode = Literal["wide", "medium", "compact", "micro"]
# Minimum cell width per mode, in columns (the digits of the core number come on top).
WIDE_MIN = 40
MEDIUM_MIN = 22
COMPACT_MIN = 9
# Samples of history kept per core (a sparkline shows as many as fit).
HISTORY = 30
_SPARK = "▁▂▃▄▅▆▇█"
_UNDERLINE = Style(underline=True)
_DIM = Style(dim=True)
# A line or cell as (text, style) pieces; every character here is one cell wide.
Pieces = list[tuple[str, Style]]


def load_level(percent: float) -> str:
    """``"low"`` below 50%, ``"mid"`` below 85%, else ``"high"`` (htop's and btop's grading)."""
    if percent < 50:
        return "low"
    return "mid" if percent < 85 else "high"


# From this share of a core (percent) used by processes outside the run, the wide layout says so.
OTHERS_SHOWN = 10.0


def shares(core: CoreSample, cells: int) -> tuple[int, int, int]:
    """Cells of a ``cells``-wide meter for this run's, mptop's and other processes' load of
    ``core``: their sum is the core's busy percent, rounded to whole cells."""
    total = round(max(0.0, min(core.percent, 100.0)) / 100 * cells)
    run = min(total, round(core.run_percent / 100 * cells))
    own = min(total - run, round(core.mptop_percent / 100 * cells))
    return run, own, total - run - own


def spark(values: list[float]) -> str:
    """One block per value (0-100), ``▁`` to ``█``."""
    return "".join(_SPARK[min(7, int(max(0.0, v) / 100 * 8))] for v in values)


@dataclass(frozen=True, slots=True)
class Plan:
    """How ``n`` cores are laid out: ``mode``, ``cols`` x ``rows`` cells of ``cell_width`` columns."""

    mode: Mode
    cols: int
    rows: int
    cell_width: int


def plan(n: int, width: int, max_rows: int) -> Plan:
    """The richest layout of ``n`` cores in ``width`` columns and at most ``max_rows`` rows.

    Falls back to ``micro`` (which may exceed ``max_rows`` only beyond
    ``width * max_rows`` cores).
    """
    n = max(1, n)
    width = max(10, width)
    digits = len(str(n - 1))
    for mode, minimum in (("wide", WIDE_MIN), ("medium", MEDIUM_MIN), ("compact", COMPACT_MIN)):
        cell_min = minimum + digits
        cols = min(n, max(1, width // cell_min))
        rows = math.ceil(n / cols)
        if rows <= max_rows and (width >= cell_min or mode == "compact"):
            return Plan(mode, cols, rows, width // cols)  # type: ignore[arg-type]
    per_line = max(1, width - digits - 1)
    return Plan("micro", per_line, math.ceil(n / per_line), 1)


def max_rows_for(screen_height: int) -> int:
    """Rows the panel may take on a screen ``screen_height`` lines high: a third, leaving 18."""
    return max(1, min(screen_height // 3, screen_height - 18))


class CoresPanel(Widget):
    """Meters, histories and worker badges for every core; redrawn once per snapshot.

    ``update_cores`` takes a snapshot's ``CoreSample`` tuple (percent 0-100
    per core, worker PIDs per core).
    """

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "cores--label",
        "cores--low",
        "cores--mid",
        "cores--high",
        "cores--badge",
        "cores--frame",
        "cores--mptop",
        "cores--others",
    }

    DEFAULT_CSS = """
    CoresPanel {
        height: auto;
        padding: 0 1;
        & > .cores--label { text-style: bold; }
        & > .cores--low { color: $text-success; }
        & > .cores--mid { color: $text-warning; }
        & > .cores--high { color: $text-error; text-style: bold; }
        & > .cores--badge { color: $text-accent; }
        & > .cores--frame { color: $text-muted; }
        & > .cores--mptop { color: $text-accent; }
        & > .cores--others { color: $text-muted; }
    }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._cores: tuple[CoreSample, ...] = ()
        self._hosts: tuple[HostSample, ...] = ()
        self._history: list[deque[float]] = []
        self._styles: dict[str, Style] = {}
        # (content width, the panel's lines), built on the first render_line after a change
        self._lines: tuple[int, list[Strip]] | None = None

    @property
    def layout_plan(self) -> Plan:
        """The layout used at the current size."""
        return plan(len(self._cores), self.content_size.width, self._max_rows())

    def _max_rows(self) -> int:
        return max_rows_for(self.app.size.height) if self.is_attached else 8

    def update_cores(
        self, cores: tuple[CoreSample, ...], hosts: tuple[HostSample, ...] = ()
    ) -> None:
        """Show ``cores`` and append their load to the history; ``hosts``: a cluster's other
        hosts, one line under the cores (their cores are not this machine's)."""
        if len(cores) != len(self._history):
            self._history = [deque(maxlen=HISTORY) for _ in cores]
        for h, c in zip(self._history, cores, strict=True):
            h.append(c.percent)
        relayout = len(cores) != len(self._cores) or bool(hosts) != bool(self._hosts)
        self._cores = cores
        self._hosts = hosts
        self._lines = None
        self.refresh(layout=relayout)

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        if not self._cores:
            return 1
        return plan(len(self._cores), width, max_rows_for(viewport.height)).rows + bool(self._hosts)

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._styles.clear()
        self._lines = None

    def _style(self, name: str) -> Style:
        """The widget's own style plus component class ``cores--{name}`` ("base": none)."""
        style = self._styles.get(name)
        if style is None:
            style = self.rich_style
            if name != "base":
                style += self.get_component_rich_style(f"cores--{name}", partial=True)
            self._styles[name] = style
        return style

    def _meter(self, out: Pieces, core: CoreSample, cells: int) -> None:
        """The core's meter: this run's share ``█`` (coloured by the core's load), mptop's own
        ``▓``, other processes' ``░``, each a whole number of cells (see :func:`shares`)."""
        out.append(("▕", self._style("frame")))
        run, own, other = shares(core, cells)
        level = self._style(load_level(core.percent))
        out.append(("█" * run, level))
        out.append(("▓" * own, self._style("mptop")))
        out.append(("░" * other, self._style("others")))
        out.append((" " * (cells - run - own - other), self._style("base")))
        out.append(("▏", self._style("frame")))

    def _spark(self, out: Pieces, values: list[float]) -> None:
        """A sparkline of ``values``, one piece per run of equal load level."""
        for level, run in groupby(values, load_level):
            out.append((spark(list(run)), self._style(level)))

    def _cell(self, i: int, p: Plan, digits: int) -> Pieces:
        """Core ``i``'s cell: pieces of exactly ``p.cell_width`` cells."""
        core = self._cores[i]
        hist = list(self._history[i]) if i < len(self._history) else [core.percent]
        w = p.cell_width
        out: Pieces = []
        pct = f"{core.percent:3.0f}%"
        pids = core.worker_pids
        if p.mode == "wide":
            out.append((f"cpu{i:<{digits}} ", self._style("label")))
            rest = w - _width(out) - 1
            cells = max(6, min(30, (rest - 6) // 3))
            self._meter(out, core, cells)
            out.append((pct, self._style(load_level(core.percent))))
            out.append((" ", self._style("base")))
            n_spark = max(4, min(HISTORY, (w - _width(out) - 1) // 3))
            self._spark(out, hist[-n_spark:])
            if core.others_percent >= OTHERS_SHOWN:  # who else uses it: said, not only shaded
                note = f" others {core.others_percent:.0f}%"
                if w - _width(out) - 1 >= len(note):
                    out.append((note, self._style("others")))
            room = w - _width(out) - 1
            if pids:
                words = [str(pid) for pid in pids]
                shown: list[str] = []
                for k, word in enumerate(words):
                    left = len(words) - k - 1
                    need = len(" ".join([*shown, word])) + (len(f" +{left}") if left else 0) + 1
                    if need > room:
                        break
                    shown.append(word)
                badge = " ".join(shown)
                if len(shown) < len(words):
                    badge += f" +{len(words) - len(shown)}"
                out.append((" " + badge, self._style("badge")))
        elif p.mode == "medium":
            out.append((f"{i:>{digits}} ", self._style("label")))
            self._meter(out, core, 8)
            out.append((pct, self._style(load_level(core.percent))))
            out.append((" ", self._style("base")))
            self._spark(out, hist[-max(1, w - _width(out) - 5) :][-5:])
            if pids:
                out.append((f" ●{len(pids)}", self._style("badge")))
        else:
            out.append((f"{i:>{digits}}", self._style("label")))
            self._meter(out, core, max(2, w - digits - 4))
            out.append(("●" if pids else " ", self._style("badge")))
        return _fit(out, w, self._style("base"))

    def _micro(self, p: Plan, digits: int) -> list[Pieces]:
        lines = []
        for r in range(p.rows):
            start = r * p.cols
            line: Pieces = [(f"{start:>{digits}} ", self._style("label"))]
            for i in range(start, min(start + p.cols, len(self._cores))):
                core = self._cores[i]
                style = self._style(load_level(core.percent))
                if core.worker_pids:
                    style = style + _UNDERLINE
                line.append((spark([core.percent]), style))
            lines.append(line)
        return lines

    def _build(self, width: int) -> list[Strip]:
        """Every line of the panel at ``width`` cells."""
        base = self._style("base")
        if not self._cores:
            return [strips.line([("sampling cores…", base + _DIM)], width, base)]
        p = plan(len(self._cores), width, self._max_rows())
        digits = len(str(len(self._cores) - 1))
        if p.mode == "micro":
            return [strips.line(pieces, width, base) for pieces in self._micro(p, digits)]
        lines = []
        for r in range(p.rows):
            pieces: Pieces = []
            for c in range(p.cols):
                i = c * p.rows + r
                if i < len(self._cores):
                    pieces.extend(self._cell(i, p, digits))
            lines.append(strips.line(pieces, width, base))
        if self._hosts:
            lines.append(strips.line([(hosts_line(self._hosts), base + _DIM)], width, base))
        return lines

    def render_line(self, y: int) -> Strip:
        width = self.content_size.width
        if self._lines is None or self._lines[0] != width:
            self._lines = (width, self._build(width))
        lines = self._lines[1]
        return lines[y] if y < len(lines) else Strip.blank(width, self._style("base"))


def hosts_line(hosts: tuple[HostSample, ...]) -> str:
    """One line for a cluster's other hosts: ``other hosts: 10.0.0.7 3 workers CPU 140% RSS
    1.2G │ ...`` (CPU% 100 = one core, from the workers' own monitors)."""
    parts = [
        f"{h.host} {h.workers} worker{'s' if h.workers != 1 else ''}"
        f" CPU {fmt.percent(h.cpu_percent)}% RSS {fmt.size(h.rss)}"
        for h in hosts
    ]
    return " other hosts: " + " │ ".join(parts)


def _width(pieces: Pieces) -> int:
    return sum(len(text) for text, _ in pieces)


def _fit(pieces: Pieces, width: int, fill: Style) -> Pieces:
    """``pieces`` cut or padded to exactly ``width`` cells (one cell per character here)."""
    out: Pieces = []
    left = width
    for text, style in pieces:
        if left <= 0:
            break
        out.append((text[:left], style))
        left -= min(len(text), left)
    if left > 0:
        out.append((" " * left, fill))
    return out
