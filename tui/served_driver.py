"""``ServedDriver``: Textual's web driver, speaking to ``mptop serve`` over fds that no child has.

textual-serve runs an app with its stdin and stdout as pipes and speaks a
framed protocol over them (``D``/``M``/``P``, a 4-byte big-endian length, the
payload; textual-serve's ``app_service.py`` and Textual's
``drivers/web_driver.py``). Every process the app starts inherits fds 0 and 1:
a worker's ``print``, a program under ``mptop run``, a Dask process or a C
library writing to fd 1 would put bytes in the middle of a frame, and the
browser's session would break; a child reading fd 0 would take the keys.

So the served app moves the wire off fds 0 and 1 before anything starts
(:func:`take_wire`, called by :mod:`mptop.tui.served`): the driver reads and
writes duplicates made non-inheritable (PEP 446: no exec'd child gets them),
fd 1 becomes a copy of fd 2 (the app's stderr, which ``mptop serve`` prints
on its console when the session ends) and fd 0 becomes ``/dev/null``. A
child made by ``fork`` copies every fd, inheritable or not, so
``os.register_at_fork`` points the wire's numbers at fd 1 and fd 0 in the
child at once.

The driver also ends the app when its input ends (EOF: ``mptop serve`` is
gone, even by SIGKILL), where Textual's web driver would keep running with no
one to draw for; the app's quit closes the source, so no worker or program is
left. Written against Textual 8.x (``WebDriver``);
pyproject pins ``textual<9``.
"""

from __future__ import annotations

import contextlib
import os
import sys
from functools import partial
from typing import TYPE_CHECKING, Any

from textual import messages
from textual.drivers.web_driver import WebDriver

if TYPE_CHECKING:
    from textual.app import App

_wire: tuple[int, int] | None = None
"""(read fd, write fd) of the protocol once :func:`take_wire` ran; None before."""


def take_wire() -> tuple[int, int]:
    """Move textual-serve's pipes off fds 0 and 1; returns the (read, write) fds the driver uses.

    After it, fd 0 is ``/dev/null`` and fd 1 a copy of fd 2, in this process
    and every child it starts. Call it once, first thing, before any thread
    or child exists. Raises ``OSError`` if an fd cannot be duplicated.
    """
    global _wire
    wire_in, wire_out = os.dup(0), os.dup(1)  # os.dup's copies are non-inheritable
    os.dup2(2, 1)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)

    def cut_in_child() -> None:  # a forked child: the wire's numbers lead nowhere that matters
        os.dup2(1, wire_out, inheritable=False)
        os.dup2(0, wire_in, inheritable=False)

    os.register_at_fork(after_in_child=cut_in_child)
    _wire = (wire_in, wire_out)
    return _wire


def _set_standard(stdin: Any, stdout: Any) -> None:
    """Set ``sys.__stdin__`` and ``sys.__stdout__`` (typeshed calls them Final; Python does not)."""
    setattr(sys, "__stdin__", stdin)  # noqa: B010
    setattr(sys, "__stdout__", stdout)  # noqa: B010


class ServedDriver(WebDriver):
    """The web driver on the fds :func:`take_wire` kept; quits the app when its input ends.

    Without :func:`take_wire` (started by plain textual-serve) it is Textual's
    ``WebDriver`` on fds 0 and 1, with the quit on EOF. Writes after the
    server is gone are dropped (``BrokenPipeError``), so the app's own quit,
    which stops the workers, still runs to the end.
    """

    def __init__(
        self,
        app: App[Any],
        *,
        debug: bool = False,
        mouse: bool = True,
        size: tuple[int, int] | None = None,
    ) -> None:
        if _wire is None:
            super().__init__(app, debug=debug, mouse=mouse, size=size)
        else:
            # WebDriver reads sys.__stdout__'s fd and builds its InputReader on sys.__stdin__'s:
            # let it see the wire's fds for that moment (fd 0 is /dev/null, which epoll refuses)
            saved = sys.__stdin__, sys.__stdout__
            with (
                open(_wire[0], closefd=False) as wire_in,
                open(_wire[1], "w", closefd=False) as wire_out,
            ):
                _set_standard(wire_in, wire_out)
                try:
                    super().__init__(app, debug=debug, mouse=mouse, size=size)
                finally:
                    _set_standard(*saved)
            self.stdout = saved[1]
        self._gone = False

        self._write = partial(self._write_wire)

    def _write_wire(self, data: bytes) -> int:
        if self._gone:
            return len(data)
        try:
            return os.write(self.fileno, data)
        except BrokenPipeError:
            self._gone = True
            return len(data)

    def run_input_thread(self) -> None:
        """Textual's input loop; when it ends without a quit (EOF), the app is asked to exit."""
        try:
            super().run_input_thread()
        finally:
            if not self.exit_event.is_set():
                with contextlib.suppress(Exception):
                    self._app.post_message(messages.ExitApp())
