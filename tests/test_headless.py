"""``mptop --headless``: the real command records, exits 0, leaves no process; Ctrl+C keeps the file valid."""

from __future__ import annotations

import csv
import json
import signal
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from mptop.workers.record import CSV_COLUMNS, VERSION, read_recording
from tests.helpers import alive, kill_all, reap_recorded, wait_for

pytestmark = pytest.mark.timeout(60)


def _descendants(proc: subprocess.Popen[str]) -> set[int]:
    try:
        return {c.pid for c in psutil.Process(proc.pid).children(recursive=True)}
    except psutil.Error:
        return set()


def test_headless_jsonl_exits_0_and_leaves_nothing(tmp_path: Path) -> None:
    out = tmp_path / "run.jsonl"
    cmd = [
        sys.executable,
        "-m",
        "mptop.tui",
        "--scenario",
        "pool",
        "--interval",
        "0.5",
        "--headless",
        "--duration",
        "2",
        "--output",
        str(out),
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    seen: set[int] = set()
    while proc.poll() is None:
        seen |= _descendants(proc)
    _, err = proc.communicate(timeout=30)
    try:
        assert proc.returncode == 0, err
        assert "done: " in err and str(out) in err
        rec = read_recording(out)
        assert rec.name == "pool" and "imap_unordered" in rec.lesson
        assert 5 <= len(rec.snapshots) <= 7  # ticks at 0, 0.5, ... 2.0, then the final one
        assert all(w.exitcode is not None for w in rec.snapshots[-1].workers)
        assert seen
        wait_for(lambda: not alive(seen), timeout=5)  # the resource tracker ends just after
    finally:
        kill_all(seen)


def test_headless_csv(tmp_path: Path) -> None:
    out = tmp_path / "run.csv"
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "mptop.tui",
            "-n",
            "1",
            "--workload",
            "sleep",
            "--interval",
            "0.5",
            "--headless",
            "--duration",
            "1",
            "-o",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert run.returncode == 0, run.stderr
    rows = list(csv.reader(out.open()))
    assert tuple(rows[0]) == CSV_COLUMNS
    assert any(r[3] == "worker" and r[5] == "exitcode" and r[6] == "-15" for r in rows[1:])


def test_ctrl_c_stops_cleanly_and_the_file_stays_valid(tmp_path: Path) -> None:
    out = tmp_path / "run.jsonl"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mptop.tui",
            "--scenario",
            "processes-vs-threads",
            "--interval",
            "0.2",
            "--headless",
            "-o",
            str(out),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    seen: set[int] = set()
    try:

        def recorded() -> bool:
            seen.update(_descendants(proc))
            return out.exists() and out.read_text().count("\n") >= 4

        wait_for(recorded, timeout=20)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=15)
        assert proc.returncode == 0, err
        assert "stopped by SIGINT" in err and "Traceback" not in err
        rec = read_recording(out)  # every line whole
        assert rec.snapshots[-1].workers and all(
            w.exitcode is not None for w in rec.snapshots[-1].workers
        )
        assert json.loads(out.read_text().splitlines()[0])["version"] == VERSION
        wait_for(lambda: not alive(seen), timeout=5)
    finally:
        if proc.poll() is None:
            proc.kill()
        kill_all(seen)


def test_bad_output_path_starts_nothing(tmp_path: Path) -> None:
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "mptop.tui",
            "--headless",
            "-o",
            str(tmp_path / "no" / "dir" / "r.jsonl"),
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert run.returncode == 2
    assert run.stderr.count("\n") == 1 and "--output: cannot create" in run.stderr


def test_replay_of_a_bad_recording_is_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"kind": "header", "version": 1}\n{"kind": "snapshot", "vers')
    run = subprocess.run(
        [sys.executable, "-m", "mptop.tui", "--replay", str(bad)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert run.returncode == 2
    assert (
        run.stderr.strip()
        == f"mptop: error: --replay: {bad}:2: truncated: the last line is cut off (not valid JSON: Unterminated string starting at: line 1 column 22 (char 21))"
    )


def test_headless_uses_the_scenarios_message_size_and_rate(tmp_path: Path) -> None:
    # --message-size and --rate shape the recorded traffic as they do in the TUI
    from mptop.workers.headless import open_output, run_headless
    from mptop.workers.record import scenario_record
    from mptop.workers.spawn_source import SpawnSource
    from mptop.workers.spec import Scenario, WorkerSpec

    scenario = Scenario.simple(
        2, WorkerSpec(workload="sleep", task_seconds=0.01), interval=0.5, message_size=4096, rate=20
    )
    path = tmp_path / "shaped.jsonl"
    result = run_headless(
        SpawnSource(scenario, start_first=True), open_output(path, scenario_record(scenario)), 2.5
    )
    rec = read_recording(path)
    reap_recorded(rec.snapshots)
    assert result.snapshots == len(rec.snapshots)
    tasks = rec.snapshots[-1].channels[0]
    assert tasks.name == "tasks" and tasks.sent > 0
    assert tasks.sent_bytes / tasks.sent > 4096  # every Task carries the 4 KiB payload
    # 20 Tasks/s for about 2.5 s (plus the first second's burst of the token bucket)
    assert tasks.sent <= 20 * 2.5 + 25, tasks.sent
