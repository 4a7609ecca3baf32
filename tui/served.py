"""``python -m mptop.tui.served ARGS``: one browser tab's mptop, as ``mptop serve`` starts it.

The same as ``mptop ARGS`` in a terminal, with the protocol's pipes moved
off fds 0 and 1 first (:func:`mptop.tui.served_driver.take_wire`), so that
nothing a worker, a program or a Dask process writes can reach the browser's
session, and no quit dialog offering to leave a program or cluster running
(a tab that ends leaves nothing behind). ``mptop serve`` sets ``TEXTUAL_DRIVER`` to
:class:`~mptop.tui.served_driver.ServedDriver`.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    """Take the wire, then run ``mptop`` with ``argv``; returns its exit status."""
    from mptop.tui.served_driver import take_wire

    take_wire()
    from mptop.tui.app import MptopApp
    from mptop.tui.cli import main as mptop_main

    MptopApp.may_leave = False  # a tab that ends leaves no program or cluster running

    return mptop_main(argv)


if __name__ == "__main__":
    sys.exit(main())
