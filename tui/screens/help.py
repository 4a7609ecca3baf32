"""The help screen (``?`` or F1): every key, every column, and what the numbers mean."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import ClassVar

from rich.markdown import Markdown
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Footer, Static

from mptop.tui.widgets.workers_table import COLUMNS, Column

# The rows of the workers' keys: (action, key, what it does). The app leaves out the rows of the
# actions it does not show at all (a cluster's retire and restart elsewhere; terminate and rebuild
# where t and r retire and restart).
WORKER_KEYS: tuple[tuple[str, str, str], ...] = (
    ("add", "`a` / `+`", "add a worker (daemon flag as shown in the header)"),
    (
        "terminate",
        "`t`",
        "terminate the selected worker: SIGTERM, what `Process.terminate()` sends",
    ),
    (
        "retire",
        "`t`",
        "retire the selected worker (a Dask cluster's): the scheduler moves the data it holds to the other workers, then closes it and its nanny; no one starts it again",
    ),
    (
        "kill",
        "`k`",
        "kill the selected worker: SIGKILL, what `Process.kill()` sends; cannot be caught",
    ),
    ("suspend", "`s`", "suspend (SIGSTOP) or resume (SIGCONT) the selected worker"),
    (
        "pin",
        "`p`",
        "choose the cores the selected worker may run on (CPU affinity, as htop's `a`): a dialog with every core, its affinity now checked and the core it runs on marked; `space` toggles, `a` all, `n` none, `c` its core only, `Enter` applies (every core checked = unpinned), `Esc` cancels",
    ),
    ("toggle_daemon", "`d`", "toggle the daemon flag for the next workers added"),
    ("terminate_all", "`T`", "terminate every live worker (asks first)"),
    ("kill_all", "`K`", "kill every live worker (asks first)"),
    ("clear_exited", "`c`", "clear the rows of exited workers"),
    (
        "rebuild",
        "`r`",
        "rebuild the channels: new Queues/Pipes, and every live worker replaced by a fresh one on them (the cure for a STALLED channel)",
    ),
    (
        "restart",
        "`r`",
        "restart the selected worker through its nanny: a new process under the same name, in the same row (Exit shows `↻N`); the data it held is lost and recomputed where needed",
    ),
    (
        "detail",
        "`Enter` / double click",
        "detail of the selected worker: command line, affinity, output, traceback",
    ),
    (
        "output",
        "`o`",
        "its stdout and stderr, followed live (`mptop run`: the program's one output file)",
    ),
    (
        "threads",
        "`H`",
        "show each process's threads as rows under it (TID, kernel name, state, CPU%, core), as htop's `H`",
    ),
)
# Without a cluster: no retire, no restart.
NO_CLUSTER = frozenset({"retire", "restart"})

HELP = """\
# mptop help

CPU% of a process: **100 = one full core** (htop's and psutil's convention); a pure-Python
worker holds the GIL, so it fills at most one core. Rates (msg/s, B/s) are over the last tick.
{disabled}
## Keys: workers

| key | does |
| --- | --- |
{worker_keys}

## Keys: view

| key | does |
| --- | --- |
| `↑` `↓` `PgUp` `PgDn` `Home` `End`, or a click | select a worker; the selection follows its PID (in a replay `Home` `End` seek) |
| `←` `→`, or `⇧←` `⇧→` | scroll the table sideways, a column at a time (in a replay `←` `→` step through the ticks: `⇧←` `⇧→` scroll) |
| `<` `>` / click a header | sort by the previous / next column; click the sorted header again to invert |
| `I` | invert the sort order |
| `/` | filter by name, PID or state (`Enter` keeps it, `Esc` clears it) |
| `-` / `=` | slower / faster refresh, 0.1 s to 10 s |
| `space` | freeze the display; the processes run on (press again to catch up) |
| `L` | show or hide the scenario's lesson: what to look at, with live figures per group |
| `?` / `F1` | this help |
| `Ctrl+P` | command palette: every action by name |
| `q` / `Ctrl+C` | quit: daemon workers are terminated, the others asked to finish, then SIGTERM, then SIGKILL |

Keys this kind of run does not take are greyed in the footer (hidden in a replay) and listed at
the top of this page.

## Keys: replay (`mptop replay run.jsonl`)

| key | does |
| --- | --- |
| `space` | pause, or play on (at the last tick: from the first) |
| `←` `→` (or `.` `n`) | one tick back / forward, and stay paused there |
| `[` `]` | ten ticks back / forward |
| `Home` `End` | the first / the last tick (the table's first / last row: `PgUp` `PgDn`) |
| `-` `=` | play slower / faster: 0.25x, 0.5x, 1x, 2x, 4x, 8x or 16x the recorded pace |

The header shows the position (`tick 12/340`), the speed, and the recorded interval. A recording
whose last line was cut off (a run killed in the middle of a write) plays what came before it and
says so (`last line cut off: N snapshots played`).

## Worker columns

{columns}

State is always a word: running, sleeping (waiting, e.g. on a queue), stopped (SIGSTOP), zombie
(dead, not yet reaped), exited. Exited rows stay, dimmed, with their exit code until `c`.
**Exit**: `Process.exitcode`: 0 done, N from `sys.exit(N)`, 1 uncaught exception, −N killed by
signal N (−15 SIGTERM, −9 SIGKILL). "–" means no figure yet (a rate needs two samples).

## Cores

Per core: a meter of its system-wide busy percent over the last tick: `█` this run's processes
(green under 50%, yellow under 85%, red above), `▓` mptop itself, `░` other processes ("others
N%" where there is room; each process's CPU% counted on the core it last ran on); its recent
history as a sparkline, and badges for the workers that last ran there: their PIDs when there
is room, else ● and how many. With many cores the panel turns
into a compact grid, then into one block per core (underlined where a worker runs). The header
shows the total load (mean of all cores, 0-100%) and the 1, 5 and 15 minute load average.

## Channels

The first line is the path a message takes: `mptop ─tasks→ workers ─results→ mptop` (`--ipc queue`,
the Pool pattern), the pipeline's stages (`--ipc pipeline`), or one duplex Pipe per worker (`--ipc pipe`).

- **State**: flowing (taken this tick), idle, **STALLED** (a backlog, live consumers, and nothing taken
  for 3 ticks: a suspended consumer, or a Queue whose lock died with a process killed in the middle of a
  put or get, the danger `terminate()` carries; press `r`), closed (a dead worker's Pipe).
- **msg/s, B/s**: messages and pickled bytes taken per second over the last tick; the history shows
  the last 30 ticks of msg/s.
- **Backlog**: messages put minus messages taken (and minus those a dead worker never delivered):
  work waiting in the channel. Counted, not asked of `Queue.qsize()`, which macOS lacks.
- **Lost**: messages lost through workers that died: taken and never answered, or sent and never
  delivered. Sent = taken-and-handled + backlog + lost, always.
- **Sent / Delivered**: totals since the channel was built, each counted by the process that put or took
  the message, in its own slot of shared memory (no lock on the hot path). Delivered = taken by a
  consumer that handled it (or still may); so Sent = Delivered + Backlog + Lost.
"""


def help_text(
    disabled: tuple[str, ...] = (),
    why: str = "",
    columns: Sequence[Column] = COLUMNS,
    hidden: Collection[str] = NO_CLUSTER,
) -> str:
    """The help page as Markdown, with one line per worker column.

    ``disabled`` lists the keys the run does not take (shown at the top with
    ``why``, e.g. "a replay starts no process"); ``columns`` are the worker
    table's (a cluster's have Host, Managed, ...); the rows of the actions in
    ``hidden`` are left out of the keys (by default a cluster's retire and
    restart).
    """
    lines = "\n".join(f"- **{c.label}**: {c.help}." for c in columns)
    keys = "\n".join(
        f"| {key} | {does} |" for action, key, does in WORKER_KEYS if action not in hidden
    )
    note = ""
    if disabled:
        keys_off = " ".join(f"`{k}`" for k in disabled)
        note = f"\n**Disabled here** ({why or 'not in this kind of run'}): {keys_off}\n"
    return HELP.format(columns=lines, disabled=note, worker_keys=keys)


class HelpScreen(ModalScreen[None]):
    """Modal help; Escape, `q`, `?` or F1 closes it. ``disabled``: keys the run does not take, and
    ``why``; ``columns`` the worker table's, ``hidden`` the actions whose keys the run does not
    show (see :func:`help_text`)."""

    DEFAULT_CSS = """
    HelpScreen {
        align: center middle;
    }
    HelpScreen > VerticalScroll {
        width: 95%;
        max-width: 110;
        height: 95%;
        border: round $accent;
        background: $surface;
        padding: 0 1;
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,question_mark,f1", "dismiss", "Close"),
    ]

    def __init__(
        self,
        disabled: tuple[str, ...] = (),
        why: str = "",
        columns: Sequence[Column] = COLUMNS,
        hidden: Collection[str] = NO_CLUSTER,
    ) -> None:
        super().__init__()
        self.disabled_keys = disabled
        self.why = why
        self.columns = tuple(columns)
        self.hidden = frozenset(hidden)

    def compose(self) -> ComposeResult:
        with VerticalScroll() as box:
            box.border_subtitle = "Esc close"
            # Rich's Markdown in a Static: drawn at once (Textual's Markdown widget takes ~1 s here).
            yield Static(
                Markdown(help_text(self.disabled_keys, self.why, self.columns, self.hidden)),
                id="help",
            )
        yield Footer()  # this dialog's own keys (the main footer is greyed meanwhile)

    async def action_dismiss(self, result: None = None) -> None:
        self.dismiss(result)
