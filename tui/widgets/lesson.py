"""The lesson panel (``L``): a scenario's explanation and live figures per group of workers.

The figures line sums each group (workers named ``GROUP-N``) from the last
snapshot: workers alive, CPU% (100 = one core), messages per second taken
in, and the median time from ``Process.start()`` to the worker's first line, so the lesson's claim can
be read off in numbers next to its words.
"""

from __future__ import annotations

import statistics

from rich.text import Text
from textual.widgets import Static

from mptop.tui import format as fmt
from mptop.workers.snapshot import WorkerSample


def reflow(text: str) -> str:
    """Lesson text with each plain paragraph joined into one line, for the terminal to wrap.

    Lessons are written hard-wrapped (TOML, ~90 columns); wrapped again at 80
    they break unevenly. Paragraphs are separated by blank lines; one with
    an indented line or a run of two spaces (a table, like start-methods'
    list of methods) is kept as written.
    """
    paragraphs = text.strip().split("\n\n")
    out = []
    for para in paragraphs:
        lines = para.split("\n")
        if any(line[:1].isspace() or "  " in line.strip() for line in lines):
            out.append(para)
        else:
            out.append(" ".join(line.strip() for line in lines))
    return "\n\n".join(out)


def group_of(name: str) -> str:
    """``procs-3`` -> ``procs``: the group part of a worker name."""
    head, sep, tail = name.rpartition("-")
    return head if sep and tail.isdigit() else name


def group_figures(workers: tuple[WorkerSample, ...] | list[WorkerSample]) -> list[str]:
    """One short text per group, in first-seen order.

    E.g. ``"procs: 4/4 alive, CPU 196%, in 12 msg/s, start 2.1 ms"``; CPU and
    rates are sums over the group's live workers (a dash before the first rate).
    """
    groups: dict[str, list[WorkerSample]] = {}
    for w in workers:
        groups.setdefault(group_of(w.name), []).append(w)
    out = []
    for name, ws in groups.items():
        live = [w for w in ws if w.alive]
        cpus = [w.cpu_percent for w in live if w.cpu_percent is not None]
        rates = [w.msgs_in_per_s for w in live if w.msgs_in_per_s is not None]
        starts = [w.ready_seconds for w in ws if w.ready_seconds is not None]
        parts = [f"{len(live)}/{len(ws)} alive"]
        parts.append(f"CPU {sum(cpus):.0f}%" if cpus else "CPU –")
        parts.append(f"in {fmt.count(sum(rates))} msg/s" if rates else "in – msg/s")
        if starts:
            parts.append(f"start to first line {statistics.median(starts) * 1000:.1f} ms")
        out.append(f"{name}: " + ", ".join(parts))
    return out


class LessonPanel(Static):
    """The scenario's lesson text, with a live line of figures per group under it."""

    DEFAULT_CSS = """
    LessonPanel {
        height: auto;
        max-height: 45%;
        padding: 0 1;
        border-top: solid $primary-darken-2;
        border-title-color: $text-accent;
        overflow-y: auto;
    }
    """

    def __init__(self, lesson: str, *, title: str = "Lesson", id: str | None = None) -> None:
        super().__init__(id=id)
        self.lesson = reflow(lesson)
        self.border_title = f"{title} (L hides)"
        self._figures: list[str] = []
        self._render_text()

    def update_figures(self, workers: tuple[WorkerSample, ...]) -> None:
        """Recompute the figures from a snapshot's workers; redraws only if they changed."""
        figures = group_figures(workers)
        if figures != self._figures:
            self._figures = figures
            self._render_text()

    def _render_text(self) -> None:
        # the figures first: on a short terminal the panel is cut, and they are the point
        text = Text()
        if self._figures:
            text.append("now: ", style="bold")
            text.append(" │ ".join(self._figures), style="bold")
            text.append("\n")
        text.append(self.lesson)
        self.update(text)
