"""The affinity dialog (``p``): the cores a process may run on, as htop's ``a`` menu picks them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Footer, SelectionList, Static
from textual.widgets.selection_list import Selection

from mptop.workers.snapshot import CoreSample

EMPTY = "choose at least one core: a process with no core to run on cannot run"


@dataclass(frozen=True, slots=True)
class PinChoice:
    """What the dialog answers: the cores chosen (ascending), and whether that is every core.

    ``every`` means "unpin" (psutil's ``cpu_affinity([])``: all eligible cores).
    """

    cores: tuple[int, ...]
    every: bool


class PinScreen(ModalScreen[PinChoice | None]):
    """Checkboxes for every core; the process's affinity now is checked, the core it ran on marked.

    ``cores`` is the number of logical CPUs (the snapshot's cores, numbered 0 to
    ``cores - 1``); ``affinity`` the cores the process may run on now
    (``None``: not known, then every core is checked); ``core`` the one it last
    ran on (``None``: not known); ``load`` the cores as last sampled, whose busy
    percent (0-100, and other processes' part of it) each line shows, so an idle
    core is easy to pick. Keys: ``space`` toggles the core under the
    cursor, ``a`` checks all, ``n`` none, ``c`` only the one it runs on, ``Enter``
    applies (dismisses with a :class:`PinChoice`), ``Esc`` or ``q`` cancels
    (``None``). An empty set is refused with :data:`EMPTY`, and the dialog stays.
    """

    DEFAULT_CSS = """
    PinScreen {
        align: center middle;
    }
    PinScreen > Vertical {
        width: 68;
        max-width: 95%;
        height: auto;
        max-height: 90%;
        border: round $accent;
        background: $surface;
        padding: 0 1;
    }
    PinScreen #cores {
        height: auto;
        max-height: 20;
        border: none;
        padding: 0;
    }
    PinScreen #hint {
        color: $text-muted;
    }
    PinScreen #problem {
        color: $error;
        display: none;
    }
    PinScreen #problem.-shown {
        display: block;
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        # priority: Enter applies, rather than toggle the core under the cursor as the list would
        Binding("enter", "apply", "Apply", priority=True),
        Binding("a", "all", "All"),
        Binding("n", "none", "None"),
        Binding("c", "current", "Its core"),
        Binding("escape,q", "cancel", "Cancel"),
    ]

    def __init__(
        self,
        pid: int,
        name: str,
        cores: int,
        affinity: Sequence[int] | None,
        core: int | None,
        load: Sequence[CoreSample] = (),
    ) -> None:
        super().__init__()
        self.load = {c.index: c for c in load}
        self.pid = pid
        self.process_name = name
        self.cores = max(1, cores)
        allowed = set(range(self.cores)) if affinity is None or not affinity else set(affinity)
        self.initial = tuple(sorted(c for c in allowed if 0 <= c < self.cores))
        self.core = core

    def compose(self) -> ComposeResult:
        with Vertical() as box:
            box.border_title = f"Affinity of {self.process_name} (PID {self.pid})"
            box.border_subtitle = "Enter apply · Esc cancel"
            yield Static("Check the cores it may run on (its CPU affinity).", id="question")
            yield SelectionList[int](
                *(
                    Selection(self._label(i), i, i in self.initial, id=f"core-{i}")
                    for i in range(self.cores)
                ),
                id="cores",
            )
            yield Static("", id="problem")
            yield Static("space toggle · a all · n none · c its core only", id="hint")
        yield Footer()  # this dialog's own keys (the main footer is greyed meanwhile)

    def on_mount(self) -> None:
        listing = self.query_one(SelectionList)
        listing.focus()
        if self.core is not None and 0 <= self.core < self.cores:
            listing.highlighted = self.core

    def _label(self, i: int) -> str:
        text = f"cpu{i:<4}"
        if (c := self.load.get(i)) is not None:
            text += f"{c.percent:3.0f}% busy"
            if c.others_percent >= 1:
                text += f" ({c.others_percent:.0f}% other processes)"
        return text + ("  ◀ runs here now" if i == self.core else "")

    @property
    def chosen(self) -> tuple[int, ...]:
        """The cores checked now, ascending."""
        return tuple(sorted(self.query_one(SelectionList).selected))

    def on_selection_list_selected_changed(self) -> None:
        if self.chosen:
            self.query_one("#problem", Static).remove_class("-shown")

    def action_all(self) -> None:
        """Check every core."""
        self.query_one(SelectionList).select_all()

    def action_none(self) -> None:
        """Uncheck every core (Enter then refuses: pick one first)."""
        self.query_one(SelectionList).deselect_all()

    def action_current(self) -> None:
        """Check only the core the process ran on last (what ``p`` did before there was a dialog)."""
        if self.core is None or not 0 <= self.core < self.cores:
            self.notify("the core it runs on is not known", severity="warning")
            return
        listing = self.query_one(SelectionList)
        listing.deselect_all()
        listing.select(self.core)

    def action_apply(self) -> None:
        """Answer the cores checked, or refuse an empty set (and stay)."""
        chosen = self.chosen
        if not chosen:
            problem = self.query_one("#problem", Static)
            problem.update(EMPTY)
            problem.add_class("-shown")
            return
        self.dismiss(PinChoice(chosen, every=len(chosen) == self.cores))

    def action_cancel(self) -> None:
        """Leave the affinity as it is."""
        self.dismiss(None)
