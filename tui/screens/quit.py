"""What to do with a program that still runs when mptop quits (``mptop run``: ``q`` or Ctrl+C)."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Footer, Static


class QuitScreen(ModalScreen[str]):
    """Asks about ``program``: ``t`` terminate it, ``l`` leave it running, ``Esc``/``n`` stay
    (``question`` and ``hints``, the ``t`` and ``l`` lines: other words for another kind of run).

    Dismissed with ``"terminate"``, ``"leave"`` or ``"stay"``. With ``may_leave`` False
    (``mptop serve``: a tab leaves nothing behind) there is no ``l``.
    """

    DEFAULT_CSS = """
    QuitScreen {
        align: center middle;
    }
    QuitScreen > Vertical {
        width: 72;
        max-width: 95%;
        height: auto;
        border: thick $warning;
        background: $surface;
        padding: 1 2;
    }
    QuitScreen #hint {
        margin-top: 1;
        color: $text-muted;
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("t,y", "answer('terminate')", "Terminate it"),
        Binding("l", "answer('leave')", "Leave it running"),
        Binding("escape,n,q", "answer('stay')", "Stay"),
    ]

    def __init__(
        self,
        program: str,
        question: str = "",
        hints: tuple[str, ...] = (),
        *,
        may_leave: bool = True,
    ) -> None:
        super().__init__()
        self.program = program
        self.may_leave = may_leave
        self.question = question or f"{program} is still running. What should happen to it?"
        hints = hints or (
            "t: terminate it (SIGTERM to its processes, SIGKILL after 1 s)",
            "l: leave it running (mptop prints its PID and where its output goes)",
        )
        if not may_leave:
            hints = (
                *(h for h in hints if not h.startswith("l:")),
                "(served in a browser: a tab leaves nothing running when it ends)",
            )
        self.hints = hints

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """No ``l`` where leaving is not offered."""
        return self.may_leave or not (action == "answer" and parameters == ("leave",))

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(self.question, id="question")
            yield Static("\n".join((*self.hints, "Esc: stay")), id="hint")
        yield Footer()

    def action_answer(self, choice: str) -> None:
        self.dismiss(choice)
