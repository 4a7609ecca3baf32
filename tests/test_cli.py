"""The command line: bad values get one line naming the option, exit status 2, no process."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from mptop.tui.cli import FATES_SHOWN, parse_scenario, print_fates
from mptop.workers.source import Fate
from tests.conftest import SupervisorFactory

pytestmark = pytest.mark.timeout(60)


@pytest.mark.parametrize(
    ("args", "names"),
    [
        (["-n", "0"], "-n/--workers"),
        (["-n", "abc"], "-n/--workers"),
        (["-n", "-3"], "-n/--workers"),
        (["--interval", "-1"], "--interval"),
        (["--interval", "0"], "--interval"),
        (["--interval", "soon"], "--interval"),
        (["--interval", "11"], "--interval"),
        (["--start-method", "nope"], "--start-method"),
        (["--workload", "gpu"], "--workload"),
        (["--nice", "20"], "--nice"),
        (["--nice", "low"], "--nice"),
        (["--bogus"], "--bogus"),
        (["--list-scenarios", "extra"], "--list-scenarios"),
        (["--list-scenarios", "-n", "3"], "--list-scenarios"),
    ],
)
def test_bad_values_one_line_exit_2_no_process(args: list[str], names: str) -> None:
    before = {p.pid for p in psutil.Process().children(recursive=True)}
    run = subprocess.run(
        [sys.executable, "-m", "mptop.tui", *args], capture_output=True, text=True, timeout=30
    )
    assert run.returncode == 2
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1, run.stderr
    assert lines[0].startswith("mptop: error:") and names in lines[0]
    assert "Traceback" not in run.stderr and run.stdout == ""
    assert {p.pid for p in psutil.Process().children(recursive=True)} <= before


def test_help_and_version() -> None:
    run = subprocess.run(
        [sys.executable, "-m", "mptop.tui", "--help"], capture_output=True, text=True, timeout=30
    )
    assert (
        run.returncode == 0
        and "--start-method" in run.stdout
        and "100 = one full core" in run.stdout
    )
    run = subprocess.run(
        [sys.executable, "-m", "mptop.tui", "--version"], capture_output=True, text=True, timeout=30
    )
    assert run.returncode == 0 and run.stdout.startswith("mptop ")


def test_defaults_one_worker_per_usable_core() -> None:
    import os

    scenario = parse_scenario([])
    assert scenario.count == len(os.sched_getaffinity(0))
    assert scenario.worker.daemon is True and scenario.interval == 1.0
    assert scenario.start_method == "forkserver"
    assert (
        parse_scenario(["--no-daemon", "-n", "3", "--start-method", "spawn"]).worker.daemon is False
    )


@pytest.mark.timeout(60)
def test_exit_summary_lists_twelve_and_counts_the_rest_by_fate(
    make_supervisor: SupervisorFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    sup = make_supervisor(count=FATES_SHOWN + 2, workload="sleep", daemon=True)
    handles = sup.start()
    sup.kill(handles[-1].pid)
    sup.shutdown()
    print_fates([Fate(h.pid, h.name, h.daemon, h.exitcode) for h in sup.handles()])
    lines = capsys.readouterr().err.splitlines()
    assert lines[0] == f"mptop: {FATES_SHOWN + 2} worker(s) this run; how each ended:"
    assert len(lines) == 1 + FATES_SHOWN + 1
    assert all(line.endswith("-15 (SIGTERM)") for line in lines[1 : 1 + FATES_SHOWN])
    assert lines[-1] == "  ... and 2 more: 1 daemon -15 (SIGTERM), 1 daemon -9 (SIGKILL)"


def test_subcommands_are_listed_and_each_has_its_own_help(tmp_path: Path) -> None:
    def mptop(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "mptop.tui", *args], capture_output=True, text=True, timeout=30
        )

    main = mptop("--help")
    assert main.returncode == 0 and "mptop replay" in main.stdout
    replay = mptop("replay", "--help")
    assert replay.returncode == 0 and "usage: mptop replay" in replay.stdout
    assert "FILE.jsonl" in replay.stdout and "--scenario" not in replay.stdout
    missing = mptop("replay", str(tmp_path / "none.jsonl"))
    assert missing.returncode == 2
    assert (
        missing.stderr.strip() == f"mptop: error: replay: {tmp_path / 'none.jsonl'}: no such file"
    )
    bare = mptop("replay")
    assert bare.returncode == 2 and bare.stderr.count("\n") == 1 and "FILE.jsonl" in bare.stderr


def test_a_lesson_counts_the_workers_the_run_starts() -> None:
    """-n changes a bundled lesson's worker count: its words say what the screen shows (the
    pool lesson said "4 worker processes" and "about a quarter" under -n 3)."""
    from mptop.tui.cli import list_scenarios, parse_invocation
    from mptop.workers.scenario_file import bundled_names, load_bundled

    three = parse_invocation(["--scenario", "pool", "-n", "3"]).loaded
    assert three is not None and [g.count for g in three.scenario.groups] == [3]
    assert three.description.startswith("3 workers take from ONE shared task Queue")
    assert "3 worker processes" in three.lesson and "about 1/3" in three.lesson
    default = parse_invocation(["--scenario", "pool"]).loaded
    assert default is not None and "4 worker processes" in default.lesson
    assert "pool                  4 workers take" in list_scenarios()
    for name in bundled_names():  # no placeholder is left in any bundled scenario's words
        loaded = parse_invocation(["--scenario", name]).loaded
        assert loaded is not None
        shown = load_bundled(name).counted().description + loaded.lesson
        assert "{count}" not in shown, name
