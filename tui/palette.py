"""The command palette (Ctrl+P): mptop's actions first, each with what it does and its keys.

Textual's own ``SystemCommandsProvider`` sorts the commands by title when the
query is empty (``sorted(..., key=lambda command: command[0])`` in
``textual/system_commands.py``), which put Textual's "Keys", "Quit", "Theme"
among and before mptop's. :class:`MptopCommands` replaces it in
``MptopApp.COMMANDS``: with an empty query it lists the commands in the order
:meth:`~mptop.tui.app.MptopApp.get_system_commands` yields them (the palette
keeps that order: every discovery hit scores 0 and its sort is stable); with a
query, Textual's fuzzy matcher ranks them as it does any palette's. A command
the run does not take (:class:`Greyed`) is drawn dimmed, its help saying why.
"""

from __future__ import annotations

from textual.app import SystemCommand
from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.content import Content

# What each action does, as the palette says it: (title, what it does). Titles name the action
# as a user would look for it; the keys are added from the bindings.
ENTRIES: dict[str, tuple[str, str]] = {
    "pause": ("Pause or play the replay", "stop on this tick, or play on from it"),
    "step": ("Step one tick forward", "show the next snapshot and stay paused there"),
    "step_back": ("Step one tick back", "show the previous snapshot and stay paused there"),
    "jump(-10)": ("Ten ticks back", "ten snapshots back (or to the first), paused"),
    "jump(10)": ("Ten ticks forward", "ten snapshots on (or to the last), paused"),
    "seek_first": ("Go to the first tick", "the recording's first snapshot, paused"),
    "seek_last": ("Go to the last tick", "the recording's last snapshot, paused"),
    "replay_slower": ("Play slower", "half the speed, down to 0.25x the recorded pace"),
    "replay_faster": ("Play faster", "twice the speed, up to 16x the recorded pace"),
    "add": ("Add a worker", "one more like the first group's, with the daemon flag shown"),
    "terminate": (
        "Terminate the selected worker (SIGTERM)",
        "what Process.terminate() sends; the process may catch it",
    ),
    "retire": (
        "Retire the selected worker",
        "a cluster's: the data it holds moves to the other workers, then it closes; not started again",
    ),
    "restart": (
        "Restart the selected worker",
        "a cluster's, through its nanny: a new process, the same name and row; its data is lost",
    ),
    "kill": (
        "Kill the selected worker (SIGKILL)",
        "what Process.kill() sends; it cannot be caught: exit code -9",
    ),
    "suspend": ("Suspend or resume the selected worker", "SIGSTOP, or SIGCONT if it is stopped"),
    "pin": (
        "Pin the selected worker to cores (affinity)",
        "a dialog: check the cores it may run on, as htop's a",
    ),
    "detail": (
        "Detail of the selected worker",
        "its exit code, affinity, channels, output and thread stacks",
    ),
    "output": ("Output of the selected process", "its stdout and stderr, followed live"),
    "threads": (
        "Show or hide the threads",
        "each process's threads as rows under it (TID, state, CPU%), as htop's H",
    ),
    "filter": ("Filter the workers", "by name, PID or state; Enter keeps it, Esc clears it"),
    "help": ("Help: keys, columns, numbers", "every key and what each figure means"),
    "lesson": ("Show or hide the lesson", "what this scenario shows, with live figures"),
    "toggle_daemon": (
        "Toggle the daemon flag of new workers",
        "daemon workers are terminated when their parent exits",
    ),
    "terminate_all": ("Terminate every live worker (SIGTERM)", "asks first"),
    "kill_all": ("Kill every live worker (SIGKILL)", "asks first"),
    "clear_exited": ("Clear the exited rows", "the exited workers' rows and exit codes go"),
    "rebuild": (
        "Rebuild the channels",
        "new Queues and Pipes, and fresh workers on them: the cure for a STALLED channel",
    ),
    "slower": ("Refresh less often", "up to every 10 s"),
    "faster": ("Refresh more often", "down to every 0.1 s"),
    "freeze": ("Freeze or thaw the display", "the processes run on; press again to catch up"),
    "invert": ("Invert the sort order", "the sorted column, the other way"),
    "sort_step(-1)": ("Sort by the previous column", "the column left of the sorted one"),
    "sort_step(1)": ("Sort by the next column", "the column right of the sorted one"),
    "scroll_columns(-1)": ("Scroll the table left", "one column at a time"),
    "scroll_columns(1)": ("Scroll the table right", "one column at a time"),
    "quit": ("Quit mptop", "stops the workers: daemons at once, the others asked, then SIGTERM"),
}

# How a binding's key reads, where Textual's name for it is not what the keyboard shows.
KEY_NAMES = {
    "space": "space",
    "left": "←",
    "right": "→",
    "up": "↑",
    "down": "↓",
    "full_stop": ".",
    "plus": "+",
    "minus": "-",
    "equals_sign": "=",
    "enter": "Enter",
    "slash": "/",
    "question_mark": "?",
    "less_than_sign": "<",
    "greater_than_sign": ">",
    "home": "Home",
    "end": "End",
    "escape": "Esc",
    "shift+left": "⇧←",
    "shift+right": "⇧→",
    "f1": "F1",
    "left_square_bracket": "[",
    "right_square_bracket": "]",
    "ctrl+c": "Ctrl+C",
}


def key_text(key: str) -> str:
    """A binding's ``key`` (``"full_stop,n"``) as the keyboard shows it (``". n"``)."""
    return " ".join(KEY_NAMES.get(k.strip(), k.strip()) for k in key.split(","))


class Greyed(SystemCommand):
    """A palette command the run does not take: drawn dimmed; choosing it says why."""


def _title(command: SystemCommand, shown: Content) -> Content:
    return shown.stylize("dim") if isinstance(command, Greyed) else shown


class MptopCommands(Provider):
    """The app's system commands in the order it yields them (mptop's first), Greyed ones dimmed."""

    def _commands(self) -> list[SystemCommand]:
        return list(self.app.get_system_commands(self.screen))

    async def discover(self) -> Hits:
        """Every command, in :meth:`App.get_system_commands` order, for an empty query."""
        for command in self._commands():
            if command.discover:
                yield DiscoveryHit(
                    _title(command, Content(command.title)),
                    command.callback,
                    text=command.title,
                    help=command.help,
                )

    async def search(self, query: str) -> Hits:
        """The commands whose title matches ``query``, scored by Textual's fuzzy matcher."""
        matcher = self.matcher(query)
        for command in self._commands():
            if (score := matcher.match(command.title)) > 0:
                yield Hit(
                    score,
                    _title(command, matcher.highlight(command.title)),
                    command.callback,
                    text=command.title,
                    help=command.help,
                )
