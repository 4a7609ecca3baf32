"""mptop's probe loader, first on PYTHONPATH in a program that ``mptop run`` started.

It installs the probe (``_mptop_probe``: standard library only, CPython
3.9-3.13), then runs the ``sitecustomize`` the program would have had
without mptop (the next one on ``sys.path``), so a user's own still runs.
"""

import os
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))

try:
    import _mptop_probe  # type: ignore[import-not-found]  # beside this file

    _mptop_probe.install()
except Exception:  # never break the user's program: its channels are then not counted
    pass


def _chain() -> None:
    import importlib.machinery

    path = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE]
    spec = importlib.machinery.PathFinder.find_spec("sitecustomize", path)
    if spec is None or spec.loader is None:
        return
    import importlib.util  # only then: most programs have no sitecustomize of their own

    module = importlib.util.module_from_spec(spec)
    sys.modules["sitecustomize"] = module
    spec.loader.exec_module(module)


_chain()
