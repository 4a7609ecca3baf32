"""The worker detail screen (Enter): the facts of one worker first (identity, state and exit code,
CPU and placement, memory, how it was started, traffic), then its threads' stacks, its output and
traceback, and last its command line (a forkserver child's holds the whole ``sys.path``)."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import time
from collections.abc import Callable
from typing import ClassVar

from rich.table import Table
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.css.query import NoMatches
from textual.screen import ModalScreen
from textual.widgets import Footer, Static

from mptop.tui import format as fmt
from mptop.workers.commands import CommandError
from mptop.workers.detail import WorkerDetail
from mptop.workers.snapshot import WorkerSample, describe_exitcode
from mptop.workers.stacks import StackDump

DetailSource = Callable[[int], WorkerDetail | None]
"""PID -> its detail, or None if the source has none (may block: it runs on a thread)."""
StackSource = Callable[[int], StackDump]
"""PID -> its threads' stacks now (blocks up to about 2 s; raises CommandError with the reason)."""


def render_stacks(d: StackDump) -> Text:
    """Each thread's stack, most recent call first, as faulthandler reports them (``py-spy dump``'s
    order): ``Thread 0x7f… (main)`` then ``  work  prog.py:12`` lines with the full path dimmed."""
    out = Text()
    for i, t in enumerate(d.threads):
        if i:
            out.append("\n")
        out.append(f"Thread {t.ident}", style="bold")
        out.append(" (ran the signal handler: the main thread)" if t.current else "", style="dim")
        for f in t.frames:
            out.append(f"\n  {f.function}", style="bold")
            out.append(f"  {os.path.basename(f.file)}:{f.line}")
            out.append(f"  {f.file}", style="dim")
        if not t.frames:
            out.append("\n  (no Python frame)", style="dim")
    if not d.threads:
        out.append("no thread reported", style="dim")
    out.no_wrap = True  # one line per frame; a narrow screen cuts the dimmed path, not the line
    out.overflow = "ellipsis"
    return out


def keep_last_seen(new: WorkerDetail, old: WorkerDetail | None) -> WorkerDetail:
    """``new``, with the facts only a live process has taken from ``old`` once the worker exited.

    psutil cannot read a process that is gone, so the detail of a worker that
    exited while it was open would lose its PPID, command line, affinity,
    threads and nice value; when ``new`` has no PPID they are kept from
    ``old`` (the same PID's last detail) and marked :attr:`WorkerDetail.last_seen`.
    """
    # (not only once the sample says "exited": a worker that dies during the read is
    # still alive in the snapshot the read was for, and psutil already finds nothing)
    if old is None or old.pid != new.pid or new.ppid is not None or old.ppid is None:
        return new
    return dataclasses.replace(
        new,
        ppid=old.ppid,
        cmdline=new.cmdline or old.cmdline,
        create_time=old.create_time if new.create_time is None else new.create_time,
        affinity=old.affinity,
        threads=old.threads,
        nice=old.nice,
        last_seen=True,
    )


def nice_text(nice: int, own: int | None) -> str:
    """A worker's nice value and what it means next to mptop's own (``own``; None: unknown)."""
    if own is None:
        return str(nice)
    if nice > own:
        return f"{nice} (mptop runs at {own}: mptop's answers come first)"
    if nice == own:
        return f"{nice} (as mptop: equal shares of the CPU)"
    return f"{nice} (mptop runs at {own}: the worker comes first)"


def duration(seconds: float) -> str:
    """``3725`` -> ``"1h 02m 05s"``; ``65`` -> ``"1m 05s"``; ``4.2`` -> ``"4s"``."""
    s = max(0, int(seconds))
    h, rem = divmod(s, 3600)
    m, s = divmod(rem, 60)
    if h:
        return f"{h}h {m:02d}m {s:02d}s"
    return f"{m}m {s:02d}s" if m else f"{s}s"


def cores_text(cores: tuple[int, ...] | None, total: int | None) -> str:
    """``(0, 1, 2, 5)`` -> ``"0-2,5"``, with "(all cores)" when it is every core."""
    if cores is None:
        return fmt.DASH
    if not cores:
        return "none"
    parts: list[str] = []
    start = prev = cores[0]
    for c in (*cores[1:], None):
        if c is not None and c == prev + 1:
            prev = c
            continue
        parts.append(str(start) if start == prev else f"{start}-{prev}")
        if c is not None:
            start = prev = c
    text = ",".join(parts)
    if total is not None and len(cores) == total:
        text += " (all cores)"
    elif len(cores) == 1:
        text += " (pinned)"
    return text


def render_detail(
    w: WorkerSample,
    d: WorkerDetail,
    now: float,
    total_cores: int | None,
    time_fmt: Callable[[float], str],
) -> Table:
    """Worker ``w``'s detail ``d`` as a two-column grid; ``now`` is the snapshot's ``time.time()``.

    The facts a look at a worker is for come first: who it is, its state and
    exit code, CPU and where it runs, memory, how it was started, its
    traffic. The command line is not here: it is the screen's last section
    (:func:`command_line_text`).
    """
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column()

    def row(label: str, value: str | Text) -> None:
        grid.add_row(label, value)

    row("PID", str(w.pid))
    ppid = w.ppid if d.ppid is None else d.ppid  # gone: its parent as the table last saw it
    row("PPID", fmt.DASH if ppid is None else str(ppid))
    row("Name", w.name)
    if w.workload:
        row("Workload", w.workload)
    row("State", w.state.value)
    if w.exitcode is not None:
        row("Exit code", Text(f"{w.exitcode}: {describe_exitcode(w.exitcode)}", style="bold"))
    if d.create_time is not None:
        started = time_fmt(d.create_time)
        row("Started", f"{started}, {duration(now - d.create_time)} ago" if w.alive else started)
    if w.alive:  # an exited worker has no CPU%, core, RSS or rates: no rows of dashes
        row("CPU%", f"{fmt.percent(w.cpu_percent)} (100 = one full core)")
        row("Core", fmt.DASH if w.core is None else str(w.core))
    row("Affinity", cores_text(d.affinity, total_cores))
    row("Threads", fmt.DASH if d.threads is None else str(d.threads))
    row("Nice", fmt.DASH if d.nice is None else nice_text(d.nice, d.mptop_nice))
    if w.alive:
        row("RSS", fmt.size(w.rss))
    row("Start method", d.start_method or w.start_method or fmt.DASH)
    if not (d.start_method or w.start_method):
        row("Daemon", "– (not started by multiprocessing)")
    elif w.daemon:
        row("Daemon", "yes: terminated when the process that started it exits")
    else:
        row("Daemon", "no: the process that started it waits for it (joins it) as it exits")
    for c in d.channels:
        row(
            f"{c.name} ({c.kind})",
            f"sent {c.sent} msgs ({fmt.size(c.sent_bytes)}), "
            f"took {c.received} msgs ({fmt.size(c.received_bytes)})",
        )
    if w.alive:
        row(
            "Now",
            f"in {fmt.count(w.msgs_in_per_s)} msg/s {fmt.size(w.bytes_in_per_s)}/s, "
            f"out {fmt.count(w.msgs_out_per_s)} msg/s {fmt.size(w.bytes_out_per_s)}/s",
        )
    if d.last_seen:
        row(
            "",
            Text("PPID, command line, affinity, threads, nice: as last seen running", style="dim"),
        )
    return grid


def command_line_text(cmdline: tuple[str, ...]) -> Text:
    """The command line, its arguments joined by spaces (a dash if unknown).

    Shown last: a forkserver or spawn child's command line holds the whole
    ``sys.path`` and preparation data of its parent, several lines long.
    """
    return Text(" ".join(cmdline) if cmdline else fmt.DASH)


class DetailScreen(ModalScreen[None]):
    """Everything about one worker; re-read off the loop on every snapshot while open.

    ``source`` reads a :class:`WorkerDetail` by PID (it may block: it runs
    on a thread); Escape, ``q`` or Enter closes the screen.
    """

    DEFAULT_CSS = """
    DetailScreen {
        align: center middle;
    }
    DetailScreen > VerticalScroll {
        width: 95%;
        max-width: 120;
        height: 95%;
        border: round $accent;
        border-title-color: $text;
        background: $surface;
        padding: 0 1;
    }
    DetailScreen .section {
        margin-top: 1;
        text-style: bold;
        color: $text-accent;
    }
    DetailScreen .output {
        color: $text-muted;
    }
    DetailScreen #traceback {
        color: $text-error;
    }
    DetailScreen #stacks {
        text-wrap: nowrap;  /* one line per frame: a narrow screen cuts the dimmed full path */
        text-overflow: ellipsis;
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,enter", "close", "Close"),
        Binding("r", "stacks", "Read stacks again"),
    ]

    def __init__(
        self,
        sample: WorkerSample,
        source: DetailSource,
        now: float,
        total_cores: int | None,
        time_fmt: Callable[[float], str] = lambda t: time.strftime("%H:%M:%S", time.localtime(t)),
        stacks: StackSource | None = None,
    ) -> None:
        super().__init__()
        self._stacks = stacks
        self.stack_dump: StackDump | None = None
        self.sample = sample
        self.pid = sample.pid
        self._source = source
        self._now = now
        self._total_cores = total_cores
        self._time_fmt = time_fmt
        self.detail: WorkerDetail | None = None

    def compose(self) -> ComposeResult:
        with VerticalScroll() as box:
            box.border_title = f"{self.sample.name} (PID {self.pid})"
            box.border_subtitle = "Esc close"
            yield Static("reading…", id="facts")
            # an exited worker's traceback is why one looks: right after the facts
            yield Static("Traceback", classes="section", id="traceback-title")
            yield Static(fmt.DASH, id="traceback")
            yield Static("Stacks, most recent call first (r reads them again)", classes="section")
            yield Static(fmt.DASH, id="stacks")
            yield Static("stdout (last lines)", classes="section")
            yield Static(fmt.DASH, id="stdout", classes="output")
            yield Static("stderr (last lines)", classes="section")
            yield Static(fmt.DASH, id="stderr", classes="output")
            yield Static("Command line", classes="section")
            yield Static(fmt.DASH, id="cmdline", classes="output")
        yield Footer()  # this dialog's own keys (the main footer is greyed meanwhile)

    def on_mount(self) -> None:
        self.reload(self.sample, self._now)
        self.action_stacks()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """No ``r`` (stacks) for a process that has exited: there is nothing to ask."""
        return action != "stacks" or self.sample.alive

    def action_stacks(self) -> None:
        """Ask the process for its stacks again (on a thread: it may take up to about 2 s)."""
        if self._stacks is None:
            self.query_one("#stacks", Static).update(Text("not in this kind of run", style="dim"))
            return
        self.query_one("#stacks", Static).update(Text("asking…", style="dim"))
        self._read_stacks(self.pid)

    @work(thread=True, exclusive=True, group="stacks")
    def _read_stacks(self, pid: int) -> None:
        assert self._stacks is not None
        try:
            got: StackDump | str = self._stacks(pid)
        except CommandError as err:
            got = err.reason
        self.app.call_from_thread(self._show_stacks, got)

    def _show_stacks(self, got: StackDump | str) -> None:
        if not self.is_attached:
            return
        if isinstance(got, str):
            self.query_one("#stacks", Static).update(Text(f"cannot read them: {got}"))
            return
        self.stack_dump = got
        self.query_one("#stacks", Static).update(render_stacks(got))

    def reload(self, sample: WorkerSample, now: float) -> None:
        """Read the detail again (on a thread) for a newer ``sample`` taken at ``now``; a sample
        of the process that took this one's place (a nanny's restart: ``replaces``) moves the
        screen to it."""
        if sample.pid != self.pid:
            self.pid = sample.pid
            self.stack_dump = None
            with contextlib.suppress(NoMatches):
                box = self.query_one(VerticalScroll)
                box.border_title = f"{sample.name} (PID {self.pid}, restarted)"
                self.query_one("#stacks", Static).update(fmt.DASH)
        if sample.alive != self.sample.alive:
            self.refresh_bindings()
        self.sample = sample
        self._now = now
        self._read(sample.pid)

    @work(thread=True, exclusive=True, group="detail")
    def _read(self, pid: int) -> None:
        try:
            detail = self._source(pid)
        except LookupError:
            detail = None
        self.app.call_from_thread(self._show, detail)

    def _show(self, d: WorkerDetail | None) -> None:
        if not self.is_attached:
            return
        if d is None:
            self.query_one("#facts", Static).update("no longer a worker of this run")
            return
        d = keep_last_seen(d, self.detail)
        self.detail = d
        self.query_one("#facts", Static).update(
            render_detail(self.sample, d, self._now, self._total_cores, self._time_fmt)
        )
        self.query_one("#cmdline", Static).update(command_line_text(d.cmdline))
        shown = bool(d.traceback) or not self.sample.alive  # a live worker's "none" is noise
        self.query_one("#traceback-title").display = shown
        self.query_one("#traceback").display = shown
        if d.recorded:
            absent = Text("not in the recording (it holds the snapshots only)")
            for name in ("#stdout", "#stderr", "#traceback"):
                self.query_one(name, Static).update(absent)
            return
        self.query_one("#stdout", Static).update(Text(d.stdout_tail or "(empty)"))
        self.query_one("#stderr", Static).update(Text(d.stderr_tail or "(empty)"))
        if d.traceback is None:
            tb = "not known here: a traceback the program printed is in its output (o)"
        else:
            tb = d.traceback or "none: it raised no exception"
        self.query_one("#traceback", Static).update(Text(tb))

    def action_close(self) -> None:
        self.dismiss(None)
