"""mptop beside a project of its own: a ``workers.py`` and a ``tui/`` package in the current folder.

Python 3.11's forkserver puts the current directory first on ``sys.path``, so
an mptop whose engine was the top-level package ``workers`` imported the
user's file instead and every worker exited with 1. Installed as
``mptop.workers`` and ``mptop.tui``, it cannot be shadowed, and a custom
workload can import the user's own ``workers`` module.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from mptop.workers.record import read_recording
from mptop.workers.snapshot import WorkerState
from tests.helpers import reap_recorded
from tests.terminal import mptop_cmd

pytestmark = pytest.mark.timeout(60)

USER_WORKERS = """\
# the user's own module, named like mptop's engine folder
ANSWER = 42
def answer():
    return ANSWER
"""
USER_TUI = "raise ImportError('this is the user tui package, not mptop')\n"
USER_TASK = """\
import time
import workers  # the user's workers.py, not mptop's

def task():
    time.sleep(0.01)
    return workers.answer()
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A folder holding a user's ``workers.py``, ``tui/`` package and ``mywork.py``."""
    (tmp_path / "workers.py").write_text(USER_WORKERS)
    (tmp_path / "tui").mkdir()
    (tmp_path / "tui" / "__init__.py").write_text(USER_TUI)
    (tmp_path / "mywork.py").write_text(USER_TASK)
    return tmp_path


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["--start-method", "forkserver"],
        ["--start-method", "spawn"],
        ["--start-method", "fork"],
        ["--workload", "mywork:task"],
    ],
    ids=["default", "forkserver", "spawn", "fork", "custom-imports-user-workers"],
)
def test_every_worker_runs_from_a_folder_with_workers_py_and_tui(
    project: Path, args: list[str]
) -> None:
    out = project / "run.jsonl"
    cmd = mptop_cmd(
        "-n", "2", "--interval", "0.5", *args, "--headless", "--duration", "2", "-o", str(out)
    )
    run = subprocess.run(cmd, cwd=project, capture_output=True, text=True, timeout=45)
    assert run.returncode == 0, run.stderr
    rec = read_recording(out)
    reap_recorded(rec.snapshots)
    before_quit = rec.snapshots[-2]
    assert len(before_quit.workers) == 2
    assert all(w.state is not WorkerState.EXITED for w in before_quit.workers), before_quit.workers
    assert [w.exitcode for w in rec.snapshots[-1].workers] == [-15, -15]  # daemons, terminated
    results = next(c for c in rec.snapshots[-1].channels if c.name == "results")
    assert results.received > 0  # the tasks ran: the user's workers.answer() came back


def test_a_scenario_file_in_a_subfolder_finds_a_workload_in_the_current_folder(
    project: Path,
) -> None:
    (project / "toml").mkdir()
    (project / "toml" / "mine.toml").write_text(
        '[[workers]]\nname = "mine"\ncount = 1\nworkload = "mywork:task"\n'
    )
    out = project / "run.jsonl"
    cmd = mptop_cmd("toml/mine.toml", "--headless", "--duration", "1", "-o", str(out))
    run = subprocess.run(cmd, cwd=project, capture_output=True, text=True, timeout=45)
    assert run.returncode == 0, run.stderr
    rec = read_recording(out)
    reap_recorded(rec.snapshots)
    assert [w.exitcode for w in rec.snapshots[-1].workers] == [-15]
