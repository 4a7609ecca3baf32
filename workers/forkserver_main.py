"""Preloaded by mptop's forkserver: run the parent's main script once, in the server.

multiprocessing's forkserver means to do this when ``"__main__"`` is in its
preload list, but before Python 3.14 it never does: ``ensure_running`` asks
``spawn.get_preparation_data()`` for a ``main_path`` key that was renamed
``init_main_from_path`` in 2013 (CPython gh-98552, gh-137996; fixed by
gh-126631 in 3.14). So every forkserver child ran the main script again in
``spawn.prepare`` (``_fixup_main_from_path``). Under the ``mptop`` command
that script imports mptop's UI and Textual: 40-70 ms of CPU per worker, most
of a start, and 27 s for 256 workers on a 2-core machine.

Here the server runs the script once, as ``__mp_main__``, the way
``spawn.import_main_path`` does (or, under ``python -m pkg.mod``, the module,
which each child would otherwise run again too: ``_fixup_main_from_name``;
a package's ``__main__`` is skipped by multiprocessing itself). A child forked from the server then finds
``sys.modules["__main__"].__file__`` equal to its parent's main path, and
``_fixup_main_from_path`` returns at once. The path comes in the environment
variable :data:`ENV` (the server inherits mptop's environment; the server's
command line carries only the preload list).

Last in the preload list, it then creates the file named in :data:`READY_ENV`,
so that mptop can wait for the server to be ready: else the first worker's
start would include the server's own imports (150-200 ms here).

A script that fails here (it raises, or exits) is reported on stderr (the
helpers' log) and left out: each child then runs it again, as before.
"""

from __future__ import annotations

import multiprocessing.process
import multiprocessing.spawn
import os
import sys
import traceback

ENV = "MPTOP_FORKSERVER_MAIN"  # the main script's path (``python prog.py``, a console script)
NAME_ENV = "MPTOP_FORKSERVER_MAIN_NAME"  # or the main module's name (``python -m pkg.mod``)
READY_ENV = "MPTOP_FORKSERVER_READY"  # a path this module creates once the server has preloaded


def preload_main() -> None:
    """Run the script named in :data:`ENV`, or the module named in :data:`NAME_ENV`, as
    ``__mp_main__`` (see the module's text); never raises.

    A module is run the way ``spawn._fixup_main_from_name`` runs it in each child, which then
    finds ``__main__.__spec__.name`` equal to its parent's and returns at once.
    """
    path = os.environ.pop(ENV, "")
    name = os.environ.pop(NAME_ENV, "")
    if not path and not name:
        return
    me = multiprocessing.process.current_process()
    me._inheriting = True  # type: ignore[attr-defined]  # as the forkserver's own preload does
    try:
        if path:
            multiprocessing.spawn.import_main_path(path)
        else:
            multiprocessing.spawn._fixup_main_from_name(name)  # type: ignore[attr-defined]
    except BaseException:  # SystemExit too: the server must keep running
        print(f"mptop: the forkserver could not preload {path or name}:", file=sys.stderr)
        traceback.print_exc()
    finally:
        del me._inheriting  # type: ignore[attr-defined]


def say_ready() -> None:
    """Create the file named in :data:`READY_ENV`, if any; never raises."""
    path = os.environ.pop(READY_ENV, "")
    if path:
        try:
            open(path, "w").close()
        except OSError as err:
            print(f"mptop: the forkserver could not create {path}: {err}", file=sys.stderr)


preload_main()
say_ready()
