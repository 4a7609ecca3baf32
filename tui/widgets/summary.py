"""The one-line header of the main screen (run, load, settings, what the numbers mean)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from rich.cells import cell_len, set_cell_size
from textual.strip import Strip
from textual.widget import Widget

from mptop.tui.widgets import strips
from mptop.workers.snapshot import WorkerSample, WorkerState

# The order the header counts processes in: the ones at work first, the ones gone last.
_STATE_ORDER = (
    WorkerState.RUNNING,
    WorkerState.SLEEPING,
    WorkerState.STARTING,
    WorkerState.STOPPED,
    WorkerState.ZOMBIE,
    WorkerState.EXITED,
)


def process_counts(workers: Iterable[WorkerSample]) -> str:
    """How many processes there are, and how many in each state, as the State column words them.

    ``"6 processes: 1 running, 1 sleeping, 1 stopped, 3 exited"`` (states
    with none left out; ``"no processes"`` when there are none), as htop's
    ``Tasks: N; M running``. A stopped process (SIGSTOP) and a zombie (dead,
    not yet reaped) are counted as what they are, not as alive.
    """
    counts = Counter(w.state for w in workers)
    total = sum(counts.values())
    if not total:
        return "no processes"
    parts = []
    for state in _STATE_ORDER:
        n = counts.get(state, 0)
        if n:
            word = "zombies" if state is WorkerState.ZOMBIE and n > 1 else state.value
            parts.append(f"{n} {word}")
    return f"{total} process{'es' if total > 1 else ''}: " + ", ".join(parts)


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
