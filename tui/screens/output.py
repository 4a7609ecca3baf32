"""The output view (``o``): the end of a process's captured stdout and stderr, followed live."""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Footer, Log, Static

from mptop.tui import format as fmt
from mptop.workers.commands import CommandError
from mptop.workers.detail import OutputTail

OutputSource = Callable[[int], tuple[OutputTail, ...]]
"""PID -> the ends of its output files (may block: it runs on a thread; raises CommandError)."""


def heading(tail: OutputTail) -> str:
    """``"stdout of worker-3: 12.0K in /tmp/…/out (last 500 lines)"``: whose, how big, where."""
    shown = f"last {len(tail.lines)} lines" if tail.lines else "empty"
    return f"{tail.what}: {fmt.size(tail.size)} in {tail.path} ({shown})"


class OutputScreen(ModalScreen[None]):
    """What process ``pid`` wrote, like ``tail -f``: re-read on every snapshot while open.

    One log per file (a worker's stdout and stderr; a program's one file for
    all its processes). A log that was scrolled to its end follows new lines;
    one scrolled up stays where it is. Escape, ``q`` or ``o`` closes it.
    """

    DEFAULT_CSS = """
    OutputScreen {
        align: center middle;
    }
    OutputScreen > Vertical {
        width: 95%;
        height: 95%;
        border: round $accent;
        border-title-color: $text;
        background: $surface;
        padding: 0 1;
    }
    OutputScreen .heading {
        text-style: bold;
        color: $text-accent;
    }
    OutputScreen Log {
        height: 1fr;
        background: $surface;
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,o", "close", "Close"),
    ]

    def __init__(self, pid: int, name: str, source: OutputSource) -> None:
        super().__init__()
        self.pid = pid
        self.name_ = name
        self._source = source
        self.tails: tuple[OutputTail, ...] = ()

    def compose(self) -> ComposeResult:
        with Vertical() as box:
            box.border_title = f"Output of {self.name_} (PID {self.pid})"
            box.border_subtitle = "Esc close · ↑↓ PgUp PgDn scroll · End follows"
            yield Static("reading…", id="status")
        yield Footer()

    def on_mount(self) -> None:
        self.reload()

    def reload(self) -> None:
        """Read the files again (on a thread)."""
        self._read(self.pid)

    @work(thread=True, exclusive=True, group="output")
    def _read(self, pid: int) -> None:
        try:
            tails: tuple[OutputTail, ...] | str = self._source(pid)
        except CommandError as err:
            tails = err.reason
        self.app.call_from_thread(self._show, tails)

    def _show(self, tails: tuple[OutputTail, ...] | str) -> None:
        if not self.is_attached:
            return
        status = self.query_one("#status", Static)
        if isinstance(tails, str):
            status.update(f"no output to show: {tails}")
            status.display = True
            return
        status.display = False
        box = self.query_one(Vertical)
        logs = list(box.query(Log))
        if len(logs) != len(tails):  # the first read: one heading and one log per file
            for widget in (*box.query(".heading"), *logs):
                widget.remove()
            for i in range(len(tails)):
                box.mount(Static("", classes="heading", id=f"heading-{i}"))
                box.mount(Log(max_lines=None, id=f"log-{i}"))
            self.call_after_refresh(self._show, tails)
            return
        for i, (tail, log) in enumerate(zip(tails, logs, strict=True)):
            self.query_one(f"#heading-{i}", Static).update(heading(tail))
            old = self.tails[i] if i < len(self.tails) else None
            if old is not None and old.lines == tail.lines:
                continue
            follow = log.is_vertical_scroll_end or old is None
            y = log.scroll_y
            log.clear()
            log.write_lines(tail.lines or ("(empty)",), scroll_end=follow)
            if not follow:
                log.scroll_to(y=y, animate=False, immediate=True)
        self.tails = tails

    def action_close(self) -> None:
        self.dismiss(None)
