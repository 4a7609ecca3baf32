"""The worker table: a Line API widget that draws only the visible rows of a sorted list.

htop's way, not a DataTable: the rows live in a plain dict keyed by PID and a
sorted, filtered list of PIDs; ``render_line(y)`` draws the header on line 0
and row ``scroll_y + y - 1`` below it, from a per-PID cache of rendered
strips. A tick re-renders only the rows whose text changed and that are on
screen, so 1024 workers cost hardly more than 16.

PID, PPID and Name stay in place when the table scrolls sideways (as
DataTable's ``fixed_columns``): a row on screen is its first
:data:`FROZEN_COLUMNS` columns, then its cells from the scroll position on.
The Name column is as wide as the longest name shown (:func:`name_width`),
and the table is as tall as its rows (the screen's body gives it that many,
see :mod:`mptop.tui.widgets.body`).

Which columns there are is the table's :class:`ColumnSet`, by the name a
source gives (``SourceInfo.columns``): ``process`` for a local run's
processes (:data:`COLUMNS`), ``dask`` for a cluster's workers (host, threads,
the worker's memory and task figures, transfers with the other workers).
Each :class:`Column` makes its own cell text; the module-level names
(:data:`COLUMNS`, :data:`COLUMN_KEYS`, :func:`worker_texts`, :func:`row_line`,
...) are the process set's.
"""

from __future__ import annotations

import dataclasses
import operator
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding, BindingType
from textual.geometry import Region, Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from mptop.tui import format as fmt
from mptop.tui.widgets import strips
from mptop.workers.snapshot import ThreadSample, WorkerSample, WorkerState, describe_exitcode

Justify = Literal["left", "right"]
# [start, end) cells of a row, left to right, as shown side by side.
Ranges = tuple[tuple[int, int], ...]
# CPU% bar: this many cells of eighth blocks, full at 100% (one core).
BAR_CELLS = 5
_EIGHTHS = " ▏▎▍▌▋▊▉█"


def cpu_bar(percent: float | None, cells: int = BAR_CELLS) -> str:
    """A bar of ``cells`` cells in eighth blocks for ``percent`` (0-100, 100 = one core; clipped)."""
    if percent is None:
        return " " * cells
    eighths = round(max(0.0, min(percent, 100.0)) / 100 * cells * 8)
    full, part = divmod(eighths, 8)
    bar = "█" * full + (_EIGHTHS[part] if part else "")
    return bar.ljust(cells)


def load_level(percent: float | None) -> str:
    """``"low"`` below 50, ``"mid"`` below 85, else ``"high"`` (percent, 100 = one core)."""
    if percent is None or percent < 50:
        return "low"
    return "mid" if percent < 85 else "high"


@dataclass(frozen=True, slots=True)
class Column:
    """One column: ``width`` in cells, a sort key over samples, its help line, and ``text``: what
    its cell shows for a sample (a missing figure: :data:`~mptop.tui.format.DASH`).

    ``sort_key`` returns the value to sort by, or None where the row has none
    (an exited worker's CPU%): those rows go last in either direction.
    """

    key: str
    label: str
    width: int
    justify: Justify
    sort_key: Callable[[WorkerSample], Any]
    help: str
    text: Callable[[WorkerSample], str]


def _whole(value: int | None) -> str:
    return fmt.DASH if value is None else str(value)


def _exit_text(w: WorkerSample) -> str:
    """The exit code and its meaning; a live worker its nanny restarted: ``↻N`` (N restarts)."""
    if w.exitcode is None:
        return f"↻{w.restarts}" if w.restarts > 0 and w.alive else ""
    return f"{w.exitcode} {describe_exitcode(w.exitcode)}"


def _exit_order(w: WorkerSample) -> tuple[bool, int, int] | None:
    """The Exit column's sort key in a cluster: exit codes, then restarted workers (by count)."""
    if w.exitcode is None and not w.restarts:
        return None
    return (w.exitcode is None, w.exitcode or 0, w.restarts)


def _core_text(w: WorkerSample) -> str:
    if w.pinned is not None and w.alive:
        return f"{w.pinned}*"
    return fmt.DASH if w.core is None else str(w.core)


_COL_PID = Column(
    "pid", "PID", 7, "right", operator.attrgetter("pid"), "process ID", lambda w: str(w.pid)
)
_COL_NAME = Column(
    "name", "Name", 18, "left", operator.attrgetter("name"), "Process.name", lambda w: w.name
)
_COL_STATE = Column(
    "state",
    "State",
    8,
    "left",
    lambda w: w.state.value,
    "running, sleeping, stopped (SIGSTOP), zombie, exited",
    lambda w: w.state.value,
)
_COL_EXIT = Column(
    "exit",
    "Exit",
    12,
    "left",
    operator.attrgetter("exitcode"),
    "Process.exitcode and its meaning; -N = killed by signal N",
    _exit_text,
)
_COL_CPU = Column(
    "cpu",
    "CPU%",
    6 + BAR_CELLS,
    "right",
    operator.attrgetter("cpu_percent"),
    "CPU over the last tick, 100 = one full core, with a bar",
    lambda w: f"{fmt.percent(w.cpu_percent):>5} {cpu_bar(w.cpu_percent)}",
)
_COL_CORE = Column(
    "core",
    "Core",
    5,
    "right",
    operator.attrgetter("core"),
    "core it last ran on; * = pinned there (affinity)",
    _core_text,
)
_COL_RSS = Column(
    "rss",
    "RSS",
    7,
    "right",
    operator.attrgetter("rss"),
    "resident memory, bytes",
    lambda w: fmt.size(w.rss),
)
_COL_IN_MSGS = Column(
    "in_msgs",
    "In msg/s",
    8,
    "right",
    operator.attrgetter("msgs_in_per_s"),
    "messages/s taken from channels",
    lambda w: fmt.count(w.msgs_in_per_s),
)
_COL_IN_BYTES = Column(
    "in_bytes",
    "In B/s",
    7,
    "right",
    operator.attrgetter("bytes_in_per_s"),
    "pickled bytes/s taken",
    lambda w: fmt.size(w.bytes_in_per_s),
)
_COL_OUT_MSGS = Column(
    "out_msgs",
    "Out msg/s",
    9,
    "right",
    operator.attrgetter("msgs_out_per_s"),
    "messages/s put into channels",
    lambda w: fmt.count(w.msgs_out_per_s),
)
_COL_OUT_BYTES = Column(
    "out_bytes",
    "Out B/s",
    7,
    "right",
    operator.attrgetter("bytes_out_per_s"),
    "pickled bytes/s put",
    lambda w: fmt.size(w.bytes_out_per_s),
)

# A local run's processes (spawned, a program's, an attached tree, a replay of one).
PROCESS_COLUMNS: tuple[Column, ...] = (
    _COL_PID,
    Column(
        "ppid",
        "PPID",
        7,
        "right",
        operator.attrgetter("ppid"),
        "parent's PID: mptop, the forkserver, or the process that started it",
        lambda w: _whole(w.ppid),
    ),
    _COL_NAME,
    _COL_STATE,
    _COL_EXIT,
    _COL_CPU,
    _COL_CORE,
    _COL_RSS,
    Column(
        "daemon",
        "Daemon",
        6,
        "left",
        operator.attrgetter("daemon"),
        "Process.daemon",
        lambda w: "yes" if w.daemon else "no",
    ),
    Column(
        "method",
        "Method",
        10,
        "left",
        operator.attrgetter("start_method"),
        "start method: fork, forkserver, spawn; – = not started by multiprocessing",
        lambda w: w.start_method or fmt.DASH,
    ),
    Column(
        "tasks",
        "Tasks",
        6,
        "right",
        operator.attrgetter("tasks_done"),
        "tasks it finished (answered); – = no task loop known (Pool, executor and mptop's workers have one)",
        lambda w: _whole(w.tasks_done),
    ),
    Column(
        "task_time",
        "In task",
        7,
        "right",
        operator.attrgetter("current_task_seconds"),
        "how long the task in flight has run (to within a tick; new = began since the last); – = idle",
        lambda w: "new" if w.current_task_seconds == 0 else fmt.seconds(w.current_task_seconds),
    ),
    _COL_IN_MSGS,
    _COL_IN_BYTES,
    _COL_OUT_MSGS,
    _COL_OUT_BYTES,
)

# A Dask cluster's workers (mptop dask): where each runs, its threads, the worker's own
# memory and task figures, and its transfers of data with the other workers.
DASK_COLUMNS: tuple[Column, ...] = (
    _COL_PID,
    Column(
        "ppid",
        "PPID",
        7,
        "right",
        operator.attrgetter("ppid"),
        "the nanny's PID: the process that restarts the worker",
        lambda w: _whole(w.ppid),
    ),
    dataclasses.replace(_COL_NAME, help="the worker's name in the cluster (a restart keeps it)"),
    Column(
        "host",
        "Host",
        15,
        "left",
        operator.attrgetter("host"),
        "the worker's host address, as Dask knows it",
        lambda w: w.host or fmt.DASH,
    ),
    _COL_STATE,
    Column(
        "exit",
        "Exit",
        12,
        "left",
        _exit_order,
        "↻N = its nanny restarted it N times (a new process, the same name and row); an exit"
        " code where mptop saw one (-N = killed by signal N)",
        _exit_text,
    ),
    _COL_CPU,
    dataclasses.replace(
        _COL_CORE, help="core it last ran on; * = pinned there (affinity); – = on another host"
    ),
    _COL_RSS,
    Column(
        "threads",
        "Threads",
        7,
        "right",
        operator.attrgetter("thread_count"),
        "OS threads of its process (the worker's task threads among them)",
        lambda w: _whole(w.thread_count),
    ),
    Column(
        "managed",
        "Managed",
        7,
        "right",
        operator.attrgetter("managed_bytes"),
        "data the worker holds, by Dask's sizeof",
        lambda w: fmt.size(w.managed_bytes),
    ),
    Column(
        "spilled",
        "Spilled",
        7,
        "right",
        operator.attrgetter("spilled_bytes"),
        "of the data it holds, the bytes spilled to disk",
        lambda w: fmt.size(w.spilled_bytes),
    ),
    Column(
        "executing",
        "Exec",
        5,
        "right",
        operator.attrgetter("tasks_executing"),
        "tasks executing now",
        lambda w: _whole(w.tasks_executing),
    ),
    Column(
        "ready",
        "Ready",
        6,
        "right",
        operator.attrgetter("tasks_ready"),
        "tasks ready to run, waiting for a thread",
        lambda w: _whole(w.tasks_ready),
    ),
    Column(
        "held",
        "Held",
        5,
        "right",
        operator.attrgetter("tasks_in_memory"),
        "tasks whose results it holds in memory",
        lambda w: _whole(w.tasks_in_memory),
    ),
    dataclasses.replace(
        _COL_IN_MSGS,
        help="transfers/s of data from other workers (each transfer may carry several keys)",
    ),
    dataclasses.replace(
        _COL_IN_BYTES,
        help="bytes/s of data received from other workers (Dask's nbytes of the keys, counted"
        " by this worker)",
    ),
    dataclasses.replace(
        _COL_OUT_MSGS,
        help="transfers/s of data sent to other workers, counted by this worker (each transfer"
        " may carry several keys)",
    ),
    dataclasses.replace(
        _COL_OUT_BYTES,
        help="bytes/s of data sent to other workers (Dask's nbytes of the keys, counted by this"
        " worker)",
    ),
)

# Columns whose first sort shows the largest values on top (htop's habit for measures).
_MEASURES = frozenset(
    {
        "cpu",
        "rss",
        "tasks",
        "task_time",
        "in_msgs",
        "in_bytes",
        "out_msgs",
        "out_bytes",
        "threads",
        "managed",
        "spilled",
        "executing",
        "ready",
        "held",
    }
)
_GAP = 1
# PID, PPID and Name stay in place when the table scrolls sideways (DataTable's fixed_columns).
FROZEN_COLUMNS = 3
# The columns a thread row fills (the others are its process's: blank on the thread's row).
_THREAD_COLUMNS = frozenset({"pid", "ppid", "name", "state", "cpu", "core"})
_STATE_STYLES = {
    WorkerState.RUNNING: "running",
    WorkerState.STOPPED: "stopped",
    WorkerState.ZOMBIE: "zombie",
}


@dataclass(frozen=True, slots=True)
class Geometry:
    """Where the columns are in a row, in cells, for one width of the Name column.

    ``widths`` per column (its :class:`ColumnSet`'s order); ``starts`` where each
    column begins, at the gap before it; ``cells`` each column's ``[start, end)``
    without the gaps; ``total`` the row's width; ``frozen`` the cells on the
    left that stay in place when the table scrolls sideways (the frozen
    columns and the gap after them).
    """

    widths: tuple[int, ...]
    starts: tuple[int, ...]
    cells: tuple[tuple[int, int], ...]
    total: int
    frozen: int


class ColumnSet:
    """A worker table's columns, named: ``process`` (:data:`PROCESS_COLUMNS`) or ``dask``
    (:data:`DASK_COLUMNS`), as a source's ``SourceInfo.columns`` says.

    The first :data:`FROZEN_COLUMNS` are PID, PPID and Name (they stay in place
    when the table scrolls sideways); State, Exit and CPU% are in every set (a
    row's colours). Knows where its columns are (:meth:`geometry`), how wide
    Name may be (:meth:`name_width`) and a row's cells (:meth:`texts`).
    """

    __slots__ = (
        "biggest_first",
        "columns",
        "cpu_at",
        "default_geometry",
        "exit_at",
        "keys",
        "name",
        "name_at",
        "name_min",
        "state_at",
    )

    def __init__(self, name: str, columns: tuple[Column, ...]) -> None:
        keys = tuple(c.key for c in columns)
        frozen_first = keys[:FROZEN_COLUMNS] == ("pid", "ppid", "name")
        if not frozen_first or not {"state", "exit", "cpu"} <= set(keys):
            raise ValueError(f"column set {name!r}: PID, PPID, Name first; State, Exit, CPU% in it")
        self.name = name
        self.columns = columns
        self.keys = keys
        self.biggest_first = _MEASURES & set(keys)
        self.name_at = keys.index("name")
        self.state_at, self.exit_at, self.cpu_at = (keys.index(k) for k in ("state", "exit", "cpu"))
        # The Name column is never narrower than this (cells), and widens to the longest name shown.
        self.name_min = columns[self.name_at].width
        self.default_geometry = self.geometry()

    def __repr__(self) -> str:
        return f"ColumnSet({self.name!r})"

    def column(self, key: str) -> Column:
        """The column ``key`` (a ``KeyError`` where the set has none)."""
        if key not in self.keys:
            raise KeyError(key)
        return self.columns[self.keys.index(key)]

    def geometry(self, name_width: int | None = None) -> Geometry:
        """The :class:`Geometry` of a row whose Name column is ``name_width`` cells wide
        (None: :attr:`name_min`)."""
        width = self.name_min if name_width is None else name_width
        widths = tuple(width if c.key == "name" else c.width for c in self.columns)
        starts = tuple(sum(w + _GAP for w in widths[:i]) for i in range(len(widths)))
        cells = tuple((s + _GAP, s + _GAP + w) for s, w in zip(starts, widths, strict=True))
        total = sum(widths) + _GAP * (len(widths) + 1)
        return Geometry(widths, starts, cells, total, starts[FROZEN_COLUMNS] + _GAP)

    def name_width(self, longest: int, width: int) -> int:
        """Cells for the Name column: ``longest`` (the longest name shown), at least :attr:`name_min`.

        Where the whole row fits in ``width`` cells, every name shows whole.
        Otherwise the frozen columns (PID, PPID, Name) take at most half the
        width, so the columns that scroll keep the other half; a longer name then
        loses its middle (``ForkServ…Worker-12``), which keeps the number that
        tells workers apart.
        """
        want = max(self.name_min, longest)
        if self.default_geometry.total - self.name_min + want <= width:
            return want
        others = self.default_geometry.frozen - self.name_min  # PID, PPID and the gaps
        return min(want, max(self.name_min, width // 2 - others))

    def texts(self, w: WorkerSample) -> tuple[str, ...]:
        """The plain text of each cell of ``w``, in this set's order (what a row shows)."""
        return tuple(c.text(w) for c in self.columns)

    def row_line(self, texts: tuple[str, ...], alive: bool, geo: Geometry | None = None) -> str:
        """A row's plain text, ``geo.total`` cells: each cell fitted to its column, gaps between.

        ``texts`` as from :meth:`texts`, ``geo`` this set's (None: the default).
        A live worker's CPU% keeps its bar whole and cuts the number if it must;
        a name too long for its column loses its middle. Assumes one cell per
        character.
        """
        geo = self.default_geometry if geo is None else geo
        gap = " " * _GAP
        parts = [gap]
        for c, width, text in zip(self.columns, geo.widths, texts, strict=True):
            if c.key == "cpu" and alive:
                parts.append(
                    _fit(text[:-BAR_CELLS], width - BAR_CELLS, "right") + text[-BAR_CELLS:]
                )
            elif c.key == "name":
                parts.append(fit_middle(text, width))
            else:
                parts.append(_fit(text, width, c.justify))
            parts.append(gap)
        return "".join(parts)

    def thread_texts(self, row: WorkerSample) -> tuple[str, ...]:
        """The cells of a thread's row (``row`` as :func:`thread_sample` makes it): PID shows
        ``└TID``; the columns that are its process's are blank."""
        texts = tuple(c.text(row) if c.key in _THREAD_COLUMNS else "" for c in self.columns)
        return (f"└{row.pid}", *texts[1:])


PROCESS = ColumnSet("process", PROCESS_COLUMNS)
DASK = ColumnSet("dask", DASK_COLUMNS)
COLUMN_SETS: dict[str, ColumnSet] = {s.name: s for s in (PROCESS, DASK)}


def column_set(name: str) -> ColumnSet:
    """The column set ``name`` (:data:`COLUMN_SETS`); a ``ValueError`` names the known ones."""
    cols = COLUMN_SETS.get(name)
    if cols is None:
        raise ValueError(f"no column set {name!r}: {', '.join(COLUMN_SETS)}")
    return cols


# The process set's, under the names the rest of mptop and its tests use.
COLUMNS = PROCESS_COLUMNS
COLUMN_KEYS = PROCESS.keys
BIGGEST_FIRST = PROCESS.biggest_first
NAME_MIN = PROCESS.name_min
DEFAULT_GEOMETRY = PROCESS.default_geometry
TOTAL_WIDTH = DEFAULT_GEOMETRY.total
# Where each column starts in a row (at the gap before it), in cells, with Name at NAME_MIN.
COLUMN_STARTS: tuple[int, ...] = DEFAULT_GEOMETRY.starts


def geometry(name_width: int = NAME_MIN) -> Geometry:
    """The process set's :class:`Geometry` with Name ``name_width`` cells wide (:meth:`ColumnSet.geometry`)."""
    return PROCESS.geometry(name_width)


def name_width(longest: int, width: int) -> int:
    """The process set's Name width for these names in ``width`` cells (:meth:`ColumnSet.name_width`)."""
    return PROCESS.name_width(longest, width)


def worker_texts(w: WorkerSample) -> tuple[str, ...]:
    """The plain text of each cell of ``w``, in :data:`COLUMNS` order (:meth:`ColumnSet.texts`)."""
    return PROCESS.texts(w)


def row_line(texts: tuple[str, ...], alive: bool, geo: Geometry = DEFAULT_GEOMETRY) -> str:
    """A process row's plain text (:meth:`ColumnSet.row_line`)."""
    return PROCESS.row_line(texts, alive, geo)


def fit_middle(text: str, width: int) -> str:
    """``text`` in ``width`` cells, left-justified; too long, it loses its middle to an ellipsis.

    ``fit_middle("ForkServerPoolWorker-12", 18)`` -> ``"ForkServ…Worker-12"``:
    the end, which numbers a multiprocessing child, stays.
    """
    if len(text) <= width:
        return text.ljust(width)
    if width <= 1:
        return "…"[:width]
    head = (width - 1) // 2
    return text[:head] + "…" + text[len(text) - (width - 1 - head) :]


def thread_sample(t: ThreadSample, owner: WorkerSample) -> WorkerSample:
    """A thread of ``owner`` as a sample for its row: its PID the TID, its PPID the process's,
    its name the thread's kernel name; State, CPU% and Core its own."""
    return WorkerSample(
        pid=t.tid,
        name=t.name,
        daemon=owner.daemon,
        state=t.state,
        core=t.core,
        cpu_percent=t.cpu_percent,
        rss=None,
        msgs_in_per_s=None,
        bytes_in_per_s=None,
        msgs_out_per_s=None,
        bytes_out_per_s=None,
        exitcode=None,
        ppid=owner.pid,
    )


def thread_row(
    t: ThreadSample, owner: WorkerSample, columns: ColumnSet = PROCESS
) -> tuple[WorkerSample, tuple[str, ...]]:
    """A thread of ``owner`` as a row: a sample (for its styles) and its cells.

    PID shows ``└TID``, PPID the process's PID, Name the thread's kernel name;
    State, CPU% and Core are the thread's own; the other cells are blank.
    """
    w = thread_sample(t, owner)
    return w, columns.thread_texts(w)


def matches(w: WorkerSample, text: str) -> bool:
    """True if ``text`` (case-insensitive) is in the PID, name or state of ``w``."""
    t = text.strip().lower()
    return not t or t in str(w.pid) or t in w.name.lower() or t in w.state.value


def _fit(text: str, width: int, justify: Justify) -> str:
    if len(text) > width:
        return text[: width - 1] + "…"
    return text.rjust(width) if justify == "right" else text.ljust(width)


class WorkerTable(ScrollView, can_focus=True):
    """All workers of the run, sorted and filtered; the cursor follows a PID, not a row number.

    Feed it with :meth:`update_workers` (a snapshot's workers). ``columns``
    names its :class:`ColumnSet` (:data:`COLUMN_SETS`: ``process``, ``dask``;
    :meth:`use_columns` switches). ``sort_key`` is a column key of that set,
    ``sort_reverse`` inverts it, ``filter_text`` keeps rows whose PID, name or
    state contain it. Exited rows stay, dimmed, until :meth:`clear_exited`; a
    worker that ``replaces`` a row's PID (a nanny's restart) takes that row.
    """

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "worker-table--header",
        "worker-table--header-sorted",
        "worker-table--cursor",
        "worker-table--exited",
        "worker-table--running",
        "worker-table--stopped",
        "worker-table--zombie",
        "worker-table--error",
        "worker-table--low",
        "worker-table--mid",
        "worker-table--high",
    }

    DEFAULT_CSS = """
    WorkerTable {
        height: 1fr;
        background: $surface;
        color: $foreground;
        scrollbar-size-horizontal: 0;
        & > .worker-table--header { text-style: bold; background: $panel; color: $foreground; }
        & > .worker-table--header-sorted { text-style: bold underline; background: $primary-muted; color: $foreground; }
        &:ansi > .worker-table--header { background: ansi_bright_blue; color: ansi_default; }
        & > .worker-table--cursor {
            background: $block-cursor-blurred-background;
            color: $block-cursor-blurred-foreground;
        }
        &:focus > .worker-table--cursor {
            background: $block-cursor-background;
            color: $block-cursor-foreground;
            text-style: $block-cursor-text-style;
        }
        & > .worker-table--exited { color: $text-disabled; }
        & > .worker-table--running { color: $text-success; }
        & > .worker-table--stopped { color: $text-warning; text-style: bold; }
        & > .worker-table--zombie { color: $text-error; text-style: bold; }
        & > .worker-table--error { color: $text-error; text-style: bold; }
        & > .worker-table--low { color: $text-success; }
        & > .worker-table--mid { color: $text-warning; }
        & > .worker-table--high { color: $text-error; }
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "cursor(-1)", "Up", show=False),
        Binding("down", "cursor(1)", "Down", show=False),
        Binding("pageup", "page(-1)", "Page up", show=False),
        Binding("pagedown", "page(1)", "Page down", show=False),
        Binding("home", "cursor_to(0)", "First", show=False),
        Binding("end", "cursor_to(-1)", "Last", show=False),
        Binding("left", "column_step(-1)", "Left", show=False),
        Binding("right", "column_step(1)", "Right", show=False),
    ]

    sort_key: reactive[str] = reactive("pid", init=False)
    sort_reverse: reactive[bool] = reactive(False, init=False)
    filter_text: reactive[str] = reactive("", init=False)

    class Activated(Message):
        """A row was double-clicked: open the detail of ``pid``."""

        def __init__(self, pid: int) -> None:
            super().__init__()
            self.pid = pid

    def __init__(self, *, columns: str = "process", id: str | None = None) -> None:
        super().__init__(id=id)
        self._cols = column_set(columns)
        self._samples: dict[int, WorkerSample] = {}
        self._texts: dict[int, tuple[str, ...]] = {}
        # per row key: ((its texts, selected, the cells shown, width), its strip)
        self._strips: dict[int, tuple[tuple[tuple[str, ...], bool, Ranges, int], Strip]] = {}
        self._hidden: set[int] = set()
        self._order: list[int] = []
        self._index: dict[int, int] = {}
        self._cursor_pid: int | None = None
        self._cursor_row = 0
        self._header: Strip | None = None
        self._styles: dict[str, Style] = {}
        # thread rows (key H): key -TID -> (its row's sample, the process's PID)
        self._own: WorkerSample | None = None  # mptop itself: a last row of its own
        self._own_texts: tuple[str, ...] | None = None
        self.show_threads = False
        self._thread_rows: dict[int, tuple[WorkerSample, int]] = {}
        self._threads_of: dict[int, list[int]] = {}
        # the columns' places, with Name as wide as its names need
        self._geo = self._cols.default_geometry

    # -- public state ---------------------------------------------------------

    @property
    def order(self) -> list[int]:
        """The PIDs shown, top to bottom (sorted and filtered)."""
        return list(self._order)

    @property
    def selected_pid(self) -> int | None:
        """PID of the row under the cursor (a thread's row: its process's), or None."""
        key = self._cursor_pid
        if key is not None and key in self._thread_rows:
            return self._thread_rows[key][1]
        return key

    @property
    def cursor_row(self) -> int:
        """Index of the cursor's row in :attr:`order` (0 when empty)."""
        return self._cursor_row

    def sample(self, pid: int) -> WorkerSample | None:
        """The latest sample of ``pid`` (a thread row's key ``-TID``: its process's), or None."""
        row = self._thread_rows.get(pid)
        return self._samples.get(pid if row is None else row[1])

    def thread_keys(self, pid: int) -> list[int]:
        """The row keys (``-TID``) of ``pid``'s threads shown under it, TID ascending."""
        return list(self._threads_of.get(pid, ()))

    @property
    def columns(self) -> ColumnSet:
        """The set of columns shown (``process``, ``dask``)."""
        return self._cols

    @property
    def geometry(self) -> Geometry:
        """Where the columns are now (the Name column's width follows the names shown)."""
        return self._geo

    def texts(self, pid: int) -> dict[str, str]:
        """The cell texts of ``pid``'s row by column key (for tests and the detail screen)."""
        return dict(zip(self._cols.keys, self._texts[pid], strict=True))

    def use_columns(self, name: str) -> None:
        """Show the column set ``name`` (:data:`COLUMN_SETS`) from now on.

        The geometry, the rows' texts and strips and the header are made again;
        a sort key the set lacks gives way to PID, ascending.
        """
        cols = column_set(name)
        if cols is self._cols:
            return
        self._cols = cols
        self._geo = cols.default_geometry
        self._texts = {pid: cols.texts(w) for pid, w in self._samples.items()}
        for key, (row, _) in self._thread_rows.items():
            self._texts[key] = cols.thread_texts(row)
        if self._own is not None:
            self._own_texts = cols.texts(self._own)
        self._strips.clear()
        self._header = None
        if self.sort_key not in cols.keys:
            self.set_reactive(WorkerTable.sort_key, "pid")
            self.set_reactive(WorkerTable.sort_reverse, False)
        if self.is_mounted:
            self._fit_name_column()
            self.scroll_to(x=0, animate=False, immediate=True)
            self._reorder(force=True)

    # -- feeding --------------------------------------------------------------

    def update_workers(
        self, workers: Iterable[WorkerSample], own: WorkerSample | None = None
    ) -> None:
        """Take the workers of one snapshot; redraw only visible rows whose text changed.

        A pinned worker's core shows as ``3*``. Workers missing from ``workers``
        keep their last row. ``own`` is mptop's own process: a dimmed last row,
        in no sort and never selected (so no key acts on it). A worker whose
        ``replaces`` is a row's PID (its nanny restarted it) takes that row's
        place, and the cursor if it was there (:meth:`_take_replaced`).
        """
        if own is not None or self._own is not None:
            texts = self._cols.texts(own) if own is not None else None
            if (own is None) != (self._own is None):
                self._own = own
                self._own_texts = texts
                self._reorder(force=True)
            elif texts != self._own_texts:
                self._own, self._own_texts = own, texts
                self._refresh_rows(len(self._order) + self._note_rows())
            else:
                self._own = own
        workers = list(workers)
        taken = self._take_replaced(workers)
        changed: list[int] = []
        rows_changed = bool(taken)
        for w in workers:
            if w.pid in self._hidden or w.pid in taken:
                continue
            texts = self._cols.texts(w)
            self._samples[w.pid] = w
            if self._texts.get(w.pid) != texts:
                self._texts[w.pid] = texts
                changed.append(w.pid)
            if self.show_threads or w.pid in self._threads_of:
                rows_changed |= self._update_threads(w, changed)
        if changed and self._fit_name_column():
            rows_changed = True
        if rows_changed:
            self._reorder(force=True)
            return
        if not changed:
            return
        if not self._reorder():
            rows = (self._index.get(pid) for pid in changed)
            self._refresh_rows(*(row for row in rows if row is not None))

    def _take_replaced(self, workers: list[WorkerSample]) -> dict[int, int]:
        """Rows the restarted workers among ``workers`` take (``replaces``: a nanny started the
        worker again, new PID): old PID -> new PID.

        The old PID's row goes (its sample, texts, strips and thread rows), and
        the cursor, if it was on it, moves to the new PID. An old PID still in
        ``workers`` is not shown again.
        """
        restarted = [w for w in workers if w.replaces is not None and w.replaces != w.pid]
        if not restarted:
            return {}
        here = {w.pid for w in workers}
        taken = {
            w.replaces: w.pid
            for w in restarted
            if w.replaces is not None and (w.replaces in self._samples or w.replaces in here)
        }
        for old, new in taken.items():
            cursor = self._cursor_pid
            if cursor == old or (
                cursor in self._thread_rows and self._thread_rows[cursor][1] == old
            ):
                self._cursor_pid = new
            for key in (old, *self._threads_of.pop(old, ())):
                self._samples.pop(key, None)
                self._thread_rows.pop(key, None)
                self._texts.pop(key, None)
                self._strips.pop(key, None)
        return taken

    def _update_threads(self, w: WorkerSample, changed: list[int]) -> bool:
        """Rows for ``w``'s threads (none when threads are not shown); True if the set changed."""
        threads = w.threads if self.show_threads and w.alive else ()
        keys = [-t.tid for t in threads]
        old = self._threads_of.get(w.pid, [])
        for key in set(old) - set(keys):
            self._thread_rows.pop(key, None)
            self._texts.pop(key, None)
            self._strips.pop(key, None)
        for t, key in zip(threads, keys, strict=True):
            row, texts = thread_row(t, w, self._cols)
            self._thread_rows[key] = (row, w.pid)
            if self._texts.get(key) != texts:
                self._texts[key] = texts
                changed.append(key)
        if keys:
            self._threads_of[w.pid] = keys
        else:
            self._threads_of.pop(w.pid, None)
        return keys != old

    def _fit_name_column(self) -> bool:
        """Widen (or narrow) the Name column to the longest name shown; True if it changed.

        Every cached row is then stale: the columns right of Name have moved.
        """
        names = [w.name for w in self._samples.values()]
        names += [row.name for row, _ in self._thread_rows.values()]
        if self._own is not None:
            names.append(self._own.name)
        longest = max(map(len, names), default=0)
        cols = self._cols
        room = self.scrollable_content_region.width or cols.default_geometry.total
        width = cols.name_width(longest, room)
        if width == self._geo.widths[cols.name_at]:
            return False
        self._geo = cols.geometry(width)
        self._strips.clear()
        self._header = None
        return True

    def set_show_threads(self, on: bool) -> None:
        """Show each process's threads as rows under it (``H``), or not."""
        self.show_threads = on
        if not on:
            for pid in list(self._threads_of):
                w = self._samples.get(pid)
                if w is not None:
                    self._update_threads(w, [])
            self._reorder(force=True)

    @property
    def cleared(self) -> frozenset[int]:
        """PIDs of exited workers whose rows ``c`` cleared (they stay hidden)."""
        return frozenset(self._hidden)

    def clear_exited(self) -> int:
        """Drop the rows of exited workers (they stay hidden); returns how many went."""
        gone = [pid for pid, w in self._samples.items() if not w.alive]
        for pid in gone:
            self._hidden.add(pid)
            del self._samples[pid]
            self._texts.pop(pid, None)
            self._strips.pop(pid, None)
        if gone:
            self._reorder(force=True)
        return len(gone)

    def select_pid(self, pid: int) -> bool:
        """Put the cursor on ``pid``'s row; False if it is not shown."""
        row = self._index.get(pid)
        if row is None:
            return False
        self._move_cursor(row)
        return True

    def sort_by(self, key: str) -> None:
        """Sort by column ``key``; the same key again inverts the order (as a header click).

        A new measure column (CPU%, RSS, rates) starts with the largest first, as
        htop's do; PID, name, state and the other columns start ascending.
        """
        if key == self.sort_key:
            self.sort_reverse = not self.sort_reverse
        else:
            self.sort_reverse = key in self._cols.biggest_first
            self.sort_key = key

    # -- ordering -------------------------------------------------------------

    def _reorder(self, force: bool = False) -> bool:
        """Recompute the shown order; returns True (and refreshes all) if it changed."""
        key = self._cols.column(self.sort_key).sort_key
        text = self.filter_text
        shown = [w for w in self._samples.values() if not text or matches(w, text)]
        valued: list[tuple[Any, int]] = []
        unvalued: list[
            int
        ] = []  # no value (an exited worker's CPU%): last, whichever the direction
        for w in shown:
            v = key(w)
            if v is None:
                unvalued.append(w.pid)
            else:
                valued.append((v, w.pid))
        valued.sort(reverse=self.sort_reverse)
        order = [pid for _, pid in valued] + sorted(unvalued)
        if self._threads_of:  # each process's threads right under it, TID ascending
            order = [k for pid in order for k in (pid, *self._threads_of.get(pid, ()))]
        if order == self._order and not force:
            return False
        self._order = order
        rows_before = self.virtual_size.height
        self._index = {pid: i for i, pid in enumerate(order)}
        rows = len(order) + self._note_rows() + (self._own is not None)
        self.virtual_size = Size(self._geo.total, 1 + rows)
        if self.virtual_size.height != rows_before:
            self.refresh(layout=True)  # the screen gives the table the rows it needs (body.py)
        if self._cursor_pid in self._index:
            self._cursor_row = self._index[self._cursor_pid]
        elif order:
            self._cursor_row = min(self._cursor_row, len(order) - 1)
            self._cursor_pid = order[self._cursor_row]
        else:
            self._cursor_row, self._cursor_pid = 0, None
        self._scroll_cursor_visible()
        self.refresh()
        return True

    def _note_rows(self) -> int:
        """1 while the filter leaves no row (a line says so, above mptop's own row), else 0."""
        return int(not self._order and bool(self.filter_text) and bool(self._samples))

    def watch_sort_key(self) -> None:
        self._header = None
        self._reorder(force=True)

    def watch_sort_reverse(self) -> None:
        self._header = None
        self._reorder(force=True)

    def watch_filter_text(self) -> None:
        self._reorder(force=True)

    # -- cursor ---------------------------------------------------------------

    def _move_cursor(self, row: int) -> None:
        if not self._order:
            return
        row = max(0, min(row, len(self._order) - 1))
        old = self._cursor_row
        self._cursor_row = row
        self._cursor_pid = self._order[row]
        self._refresh_rows(old, row)
        self._scroll_cursor_visible()

    def _scroll_cursor_visible(self) -> None:
        body = max(1, self.size.height - 1)
        top = round(self.scroll_y)
        if self._cursor_row < top:
            self.scroll_to(y=self._cursor_row, animate=False, immediate=True)
        elif self._cursor_row >= top + body:
            self.scroll_to(y=self._cursor_row - body + 1, animate=False, immediate=True)

    @property
    def scroll_stops(self) -> tuple[int, ...]:
        """The ``scroll_x`` values that bring a column right after the frozen ones (Name)."""
        geo = self._geo
        return tuple(a - geo.frozen for a, _ in geo.cells[FROZEN_COLUMNS:])

    def action_column_step(self, direction: int) -> None:
        """Left/Right: scroll the columns after Name by whole columns (as htop does), not by one
        cell; PID, PPID and Name stay in place."""
        x = round(self.scroll_x)
        stops = self.scroll_stops
        if direction > 0:
            target = next((b for b in stops if b > x), x)
        else:
            target = next((b for b in reversed(stops) if b < x), 0)
        self.scroll_to(x=min(target, self.max_scroll_x), animate=False)

    def _shown_ranges(self) -> Ranges:
        """The ``[start, end)`` cells of a row on screen, left to right: the frozen columns, then
        the rest from the scroll position on (only the frozen part if the table is that narrow)."""
        width, frozen = self.scrollable_content_region.width, self._geo.frozen
        x = round(self.scroll_x)
        if width <= frozen:
            return ((0, width),)
        return ((0, frozen), (frozen + x, x + width))

    def action_cursor(self, delta: int) -> None:
        self._move_cursor(self._cursor_row + delta)

    def action_page(self, direction: int) -> None:
        self._move_cursor(self._cursor_row + direction * max(1, self.size.height - 2))

    def action_cursor_to(self, row: int) -> None:
        self._move_cursor(row if row >= 0 else len(self._order) - 1)

    def on_resize(self) -> None:
        if self._fit_name_column():
            self._reorder(force=True)
        self._scroll_cursor_visible()

    def column_at(self, x: int) -> str | None:
        """The column key under widget column ``x`` (the frozen columns and the scroll included),
        or None on a gap."""
        pos = x if x < self._geo.frozen else x + round(self.scroll_x)
        for c, (start, end) in zip(self._cols.columns, self._geo.cells, strict=True):
            if start <= pos < end:
                return c.key
        return None

    def on_click(self, event: events.Click) -> None:
        event.stop()
        if event.y == 0:
            key = self.column_at(event.x)
            if key is not None:
                self.sort_by(key)
            return
        row = round(self.scroll_y) + event.y - 1
        if 0 <= row < len(self._order):
            self._move_cursor(row)
            if event.chain >= 2:
                self.post_message(self.Activated(self._order[row]))

    # -- drawing --------------------------------------------------------------

    def _refresh_rows(self, *rows: int) -> None:
        """Redraw these rows (indexes into the order) where they are on screen, in one refresh."""
        top, height, width = round(self.scroll_y), self.size.height, self.size.width
        lines = [row - top + 1 for row in rows]
        regions = [Region(0, y, width, 1) for y in lines if 1 <= y < height]
        if regions:
            self.refresh(*regions)

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._strips.clear()
        self._styles.clear()
        self._header = None

    def _style(self, name: str) -> Style:
        style = self._styles.get(name)
        if style is None:
            if name == "base":
                style = self.rich_style
            else:
                style = self.get_component_rich_style(f"worker-table--{name}", partial=True)
            self._styles[name] = style
        return style

    def _header_strip(self) -> Strip:
        """The whole header line, ``geo.total`` cells (cached until the sort or the Name width changes)."""
        if self._header is None:
            base = self._style("header")
            sorted_style = self._style("header-sorted")
            segs = [Segment(" " * _GAP, base)]
            for c, width in zip(self._cols.columns, self._geo.widths, strict=True):
                label = c.label
                style = base
                if c.key == self.sort_key:
                    label = label + ("▼" if self.sort_reverse else "▲")
                    style = sorted_style
                segs.append(Segment(_fit(label, width, c.justify), base + style))
                segs.append(Segment(" " * _GAP, base))
            self._header = Strip(segs, self._geo.total)
        return self._header

    def _header_line(self, ranges: Ranges, width: int) -> Strip:
        """The header as shown: ``◂`` after Name while columns are scrolled out of view to its
        right, ``▸`` in the last cell while more are off to the right."""
        style = self._style("header")
        header = self._header_strip()
        strip = Strip.join(header.crop(x0, x1) for x0, x1 in ranges)
        strip = strip.extend_cell_length(width, style)
        x, frozen = round(self.scroll_x), self._geo.frozen
        if x > 0 and width > frozen:
            mark = Strip([Segment("◂", style)], 1)
            strip = Strip.join([strip.crop(0, frozen - 1), mark, strip.crop(frozen, width)])
        if x < self.max_scroll_x and width > frozen + 1:
            strip = Strip.join([strip.crop(0, width - 1), Strip([Segment("▸", style)], 1)])
        return strip

    def _row_strip(self, pid: int, selected: bool, ranges: Ranges, width: int) -> Strip:
        """Row ``pid`` as shown: its cells in ``ranges`` (see :meth:`_shown_ranges`), side by
        side, padded to ``width`` past the row's end.

        The row is one string (:meth:`ColumnSet.row_line`) cut at the few places its style
        changes, so a row is 2-8 segments and one Strip, built only when its
        text, the cursor, the scroll or the width changed.
        """
        texts = self._texts[pid]
        key = (texts, selected, ranges, width)
        cached = self._strips.get(pid)
        if cached is not None and cached[0] == key:
            return cached[1]
        row = self._thread_rows.get(pid)
        w = self._samples[pid] if row is None else row[0]
        geo, cols = self._geo, self._cols
        base = self._style("base")
        if not w.alive:
            base = base + self._style("exited")
        # (start, end, style) of the cells not in the row's base style, left to right
        styled: list[tuple[int, int, Style]] = []
        if w.alive:
            state = _STATE_STYLES.get(w.state)
            if state:
                styled.append((*geo.cells[cols.state_at], base + self._style(state)))
        if w.exitcode not in (None, 0):
            styled.append((*geo.cells[cols.exit_at], base + self._style("error")))
        if w.alive:
            end = geo.cells[cols.cpu_at][1]
            styled.append((end - BAR_CELLS, end, base + self._style(load_level(w.cpu_percent))))
        text = cols.row_line(texts, w.alive, geo)
        cursor = self._style("cursor") if selected else None
        segs: list[Segment] = []
        for x0, x1 in ranges:
            pos = 0
            for start, stop, style in [*styled, (geo.total, geo.total, base)]:
                for a, b, st in ((pos, start, base), (start, stop, style)):
                    a, b = max(a, x0), min(b, x1)
                    if a < b:
                        segs.append(Segment(text[a:b], st if cursor is None else st + cursor))
                pos = stop
        shown = sum(max(0, min(x1, geo.total) - x0) for x0, x1 in ranges)
        if width > shown:  # past the last column: the row's fill (the cursor bar's, if on it)
            fill = base if cursor is None else cursor
            segs.append(Segment(" " * (width - shown), fill))
        strip = Strip(segs, width)
        self._strips[pid] = (key, strip)
        return strip

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width  # the vertical scrollbar's cells excluded
        ranges = self._shown_ranges()
        if y == 0:
            return self._header_line(ranges, width)
        row = round(self.scroll_y) + y - 1
        note = self._note_rows()
        if row == len(self._order) + note and self._own is not None and self._own_texts is not None:
            base = self._style("base") + self._style("exited")
            line = self._cols.row_line(self._own_texts, False, self._geo)
            text = "".join(line[x0:x1] for x0, x1 in ranges)
            return strips.line([(text, base)], width, self._style("base"))
        if row >= len(self._order):
            if note and row == 0:
                says = f" no worker's PID, name or state contains '{self.filter_text}' (Esc clears)"
                base = self._style("base")
                return strips.line([(says, base + self._style("exited"))], width, base)
            return Strip.blank(width, self._style("base"))
        pid = self._order[row]
        return self._row_strip(pid, row == self._cursor_row, ranges, width)
