"""The help screen (``?`` or F1): every key, every column, and what the numbers mean."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Markdown

HELP = """\
# mptop help

## Keys

| key | does |
| --- | --- |
| `a` | add a worker (daemon flag as shown in the header) |
| `t` | terminate the selected worker: SIGTERM, what `Process.terminate()` sends |
| `k` | kill the selected worker: SIGKILL, what `Process.kill()` sends; cannot be caught |
| `s` | suspend (SIGSTOP) or resume (SIGCONT) the selected worker |
| `p` | pin the selected worker to the core it is on (CPU affinity), or unpin it (all cores) |
| `d` | toggle the daemon flag for the next workers added |
| `↑` `↓` / mouse | select a worker |
| `?` / `F1` | this help |
| `q` / `Ctrl+C` | quit: daemon workers are terminated, the others asked to finish, then SIGTERM, then SIGKILL |

## Worker columns

- **PID**: the process ID. **Name**: `Process.name`, what `current_process().name` says inside the worker.
- **State**: running, sleeping (waiting, e.g. on a queue), stopped (SIGSTOP), zombie (dead, not yet reaped), exited.
- **Daemon**: `Process.daemon`. A daemon worker is terminated when its parent exits, and may not start children.
- **Core**: the core the worker last ran on (`psutil.Process.cpu_num()`); `*` = pinned there.
- **CPU%**: over the last tick; **100 = one full core** (htop's and psutil's convention).
  A pure-Python process holds the GIL, so one worker fills at most one core. "–" means no figure yet.
- **RSS**: resident memory.
- **In / Out msg/s, B/s**: messages and pickled bytes per second the worker took from and put into channels.
- **Exit**: `Process.exitcode`: 0 done, N from `sys.exit(N)`, 1 uncaught exception, −N killed by signal N.

## Channels

- **msg/s, B/s**: messages and pickled bytes taken per second over the last tick.
- **Backlog**: messages put minus messages taken: work waiting in the Queue.
- **Sent / Taken**: totals since start, counted by the process that put or got each message.

## Cores

One meter per logical core: system-wide busy percent over the last tick, with the PIDs of the
workers that last ran there. This machine's core count decides how many workers can run at once.
"""


class HelpScreen(ModalScreen[None]):
    """Modal help; Escape, `q`, `?` or F1 closes it."""

    DEFAULT_CSS = """
    HelpScreen {
        align: center middle;
    }
    HelpScreen > VerticalScroll {
        width: 90%;
        max-width: 110;
        height: 90%;
        border: round $accent;
        background: $surface;
        padding: 0 1;
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,question_mark,f1", "dismiss", "Close"),
    ]

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield Markdown(HELP)

    async def action_dismiss(self, result: None = None) -> None:
        self.dismiss(result)
