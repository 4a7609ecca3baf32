"""The CPython internals mptop uses are there, as expected, under every CPython 3.11-3.13 found.

``workers/cpython.py`` runs as a plain script (standard library only), so
each interpreter checks its own ``multiprocessing``; pyenv's interpreters are
looked for under ``$PYENV_ROOT/versions`` (default ``~/.pyenv``) and on PATH
as ``python3.11`` ... ``python3.13``. A version that is not on the machine is
skipped, with the reason.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from mptop.workers import cpython

pytestmark = pytest.mark.timeout(60)

VERSIONS = ["3.11", "3.12", "3.13"]


def find_python(version: str) -> Path | None:
    """An interpreter of CPython ``version`` (``3.12``) on this machine, or None."""
    if f"{sys.version_info[0]}.{sys.version_info[1]}" == version:
        return Path(sys.executable)
    root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    for candidate in sorted(root.glob(f"{version}.*"), reverse=True):
        exe = candidate / "bin" / "python"
        if exe.exists():
            return exe
    found = shutil.which(f"python{version}")
    return Path(found) if found else None


def python_or_skip(version: str) -> Path:
    """:func:`find_python`, or skip the test with the reason when there is none."""
    exe = find_python(version)
    if exe is None:
        pytest.skip(f"no CPython {version} on this machine (looked in pyenv and on PATH)")
    return exe


def test_the_running_python_matches() -> None:
    assert cpython.problems() == []


@pytest.mark.parametrize("version", VERSIONS)
def test_internals_match_under(version: str) -> None:
    exe = python_or_skip(version)
    run = subprocess.run(
        [str(exe), "-I", cpython.__file__], capture_output=True, text=True, timeout=30
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout.strip().startswith(f"cpython {version}.") and run.stdout.strip().endswith(
        ": ok"
    )


def test_a_changed_internal_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    import multiprocessing.queues

    def _feed(buffer: object, notempty: object) -> None: ...

    monkeypatch.setattr(multiprocessing.queues.Queue, "_feed", staticmethod(_feed))
    monkeypatch.delattr(multiprocessing.queues, "_sentinel")
    found = cpython.problems()
    assert "multiprocessing.queues has no _sentinel" in found
    assert any(
        line.startswith("multiprocessing.queues.Queue._feed('buffer', 'notempty')")
        for line in found
    )
