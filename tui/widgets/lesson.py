"""The lesson panel (``L``): a scenario's explanation, under the live figures its claim is about.

The figures (:func:`mptop.workers.lessons.lesson_figures`: each bundled
lesson's own numbers, or the per-group sums, and a warning when other
processes take the cores) and a program's last output lines stay at the top;
the text under them scrolls (mouse wheel, or Tab to the panel and then the
arrow keys, Page Up/Down), so a short terminal never hides the instructions.
Hints for keys the run cannot act on (a replay's ``k``) are left out, and the
panel says which and why.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

from rich.text import Text
from textual.containers import VerticalScroll
from textual.events import Resize
from textual.widgets import Static

from mptop.workers.lessons import group_figures, group_of, lesson_figures
from mptop.workers.snapshot import Snapshot, WorkerSample

__all__ = ["LessonPanel", "drop_hints", "group_figures", "group_of", "reflow"]

# The word a lesson's paragraph of key hints starts with (each hint a line of its own, starting
# with its key: "Try:\n  k on a worker: ...\n  a: ..."), so that hints for keys the run cannot
# act on can be left out.
HINTS = "Try:"


def reflow(text: str) -> str:
    """Lesson text with each plain paragraph joined into one line, for the terminal to wrap.

    Lessons are written hard-wrapped (TOML, ~90 columns); wrapped again at 80
    they break unevenly. Paragraphs are separated by blank lines; one with
    an indented line or a run of two spaces (a table, like start-methods'
    list of methods) is kept as written; in a ``Try:`` list of key hints, each
    hint becomes one line.
    """
    paragraphs = text.strip().split("\n\n")
    out = []
    for para in paragraphs:
        lines = para.split("\n")
        if para.startswith(HINTS):
            out.append(_reflow_hints(lines))
        elif any(line[:1].isspace() or "  " in line.strip() for line in lines):
            out.append(para)
        else:
            out.append(" ".join(line.strip() for line in lines))
    return "\n\n".join(out)


def _reflow_hints(lines: list[str]) -> str:
    """A ``Try:`` paragraph with each hint (a line indented by two spaces, and the lines indented
    further that continue it) joined into one line, indented by two."""
    hints: list[str] = []
    for line in lines[1:]:
        if line.startswith("    ") and hints:
            hints[-1] += " " + line.strip()
        else:
            hints.append("  " + line.strip())
    return "\n".join([lines[0].strip(), *hints])


def _key_of(line: str) -> str:
    """The key a hint line starts with: ``"  k on a worker: ..."`` -> ``"k"`` (``"t,"`` -> ``"t"``)."""
    word = line.strip().split(" ", 1)[0].rstrip(",:;")
    return word if len(word) == 1 else word.lower()


def drop_hints(text: str, disabled: Collection[str], why: str = "") -> str:
    """``text`` less the hints (lines of a ``Try:`` paragraph) for keys in ``disabled``.

    A hint is a line of a paragraph that starts with :data:`HINTS`, indented by
    two spaces and starting with its key; lines indented further continue it.
    Keys are compared as written for one character (``k`` is not ``K``), in
    lower case for names (``Enter``). What was left out is said in one line
    (``"(t, r left out: a replay starts no process)"``); a paragraph left with
    no hint keeps only that line.
    """
    if not disabled:
        return text
    off = {k if len(k) == 1 else k.lower() for k in disabled}
    out = []
    for para in text.split("\n\n"):
        if not para.startswith(HINTS):
            out.append(para)
            continue
        lines = para.split("\n")
        kept = [lines[0]]
        dropped: list[str] = []
        skipping = False
        for line in lines[1:]:
            if line.startswith("    ") and kept:  # continues the hint above it
                if not skipping:
                    kept.append(line)
                continue
            key = _key_of(line)
            skipping = key in off
            if skipping:
                if key not in dropped:
                    dropped.append(key)
            else:
                kept.append(line)
        if dropped:
            note = f"({', '.join(dropped)} left out" + (f": {why})" if why else ")")
            if len(kept) == 1:
                kept = [f"{HINTS} {note}"]
            else:
                kept.append(f"  {note}")
        out.append("\n".join(kept))
    return "\n\n".join(out)


class LessonPanel(VerticalScroll):
    """The scenario's lesson text (it scrolls), with live figures fixed above it.

    ``lesson`` is the scenario's text, ``title`` the border's, ``scenario`` its
    name (which figures to compute: :data:`mptop.workers.lessons.FIGURES`);
    ``disabled`` the keys the run cannot act on, ``why`` the reason (their hints
    are left out). :attr:`lesson` holds the text as shown; :attr:`figures` the
    lines last computed. Focusable (Tab), so that the arrow keys scroll it.
    """

    can_focus = True

    DEFAULT_CSS = """
    LessonPanel {
        height: auto;
        max-height: 45%;
        padding: 0 1;
        border-top: solid $primary-darken-2;
        border-title-color: $text-accent;
        overflow-x: hidden;
        overflow-y: auto;
        scrollbar-size-vertical: 1;
    }
    LessonPanel:focus {
        border-top: solid $accent;
    }
    LessonPanel > #lesson-now {
        dock: top;
        height: auto;
    }
    LessonPanel > #lesson-text {
        height: auto;
    }
    """

    def __init__(
        self,
        lesson: str,
        *,
        title: str = "Lesson",
        scenario: str = "",
        disabled: Collection[str] = (),
        why: str = "",
        id: str | None = None,
    ) -> None:
        self.lesson = drop_hints(reflow(lesson), disabled, why)
        self.scenario = scenario
        self._title = title
        self.figures: list[str] = []
        self._program: tuple[str, ...] = ()
        self._now = Static(self._now_text(), id="lesson-now")
        self._now.display = False
        super().__init__(self._now, Static(self.lesson, id="lesson-text"), id=id)
        self._scrolls = False
        self._set_title()

    def update_figures(self, workers: Sequence[WorkerSample], snap: Snapshot | None = None) -> None:
        """Recompute the figures from ``snap`` (its shown ``workers``); redraws only if they
        changed. Without ``snap``, only the per-group sums."""
        if snap is None:
            figures = group_figures(workers)
        else:
            figures = lesson_figures(self.scenario, snap, workers)
        if figures != self.figures:
            self.figures = figures
            self._show_now()

    def update_program(self, lines: Sequence[str]) -> None:
        """Show the program's last output ``lines`` under the figures (a lesson about what the
        program prints); redraws only if they changed."""
        lines = tuple(lines)
        if lines != self._program:
            self._program = lines
            self._show_now()

    def figures_text(self) -> str:
        """The fixed lines as plain text: ``"now: ..."`` and the program's lines."""
        return self._now_text().plain

    def _now_text(self) -> Text:
        # a program's lines first: they are its lesson's point, and a short terminal cuts the rest
        text = Text()
        for line in self._program:
            if text:
                text.append("\n")
            text.append("│ " + line, style="dim")
        if self.figures:
            if text:
                text.append("\n")
            text.append("now: ", style="bold")
            text.append(self.figures[0], style="bold")
            for line in self.figures[1:]:
                text.append("\n")
                text.append(line, style="bold yellow" if line.startswith("⚠") else "")
        return text

    def _show_now(self) -> None:
        text = self._now_text()
        self._now.update(text)
        self._now.display = bool(text)
        self.call_after_refresh(self._check_scrolls)  # the text may fit, or no longer fit

    def _set_title(self) -> None:
        hint = "L hides, Tab then ↑↓ scroll, Esc back" if self._scrolls else "L hides"
        self.border_title = f"{self._title} ({hint})"

    def on_resize(self, _event: Resize) -> None:
        self.call_after_refresh(self._check_scrolls)

    def _check_scrolls(self) -> None:
        scrolls = self.max_scroll_y > 0
        if scrolls != self._scrolls:
            self._scrolls = scrolls
            self._set_title()
