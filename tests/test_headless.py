"""``mptop --headless``: the real command records, says how each worker ended, exits with a status
that tells (0, 1 mptop's error, 3 every worker failed), leaves no process; Ctrl+C keeps the file
valid; the CSV tables read as numbers in pandas, with the recipes of docs/RECORDING.md."""

from __future__ import annotations

import errno
import json
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import psutil
import pytest

from mptop.workers.headless import (
    EXIT_ALL_FAILED,
    EXIT_ERROR,
    EXIT_OK,
    HeadlessResult,
    exit_status,
    open_output,
    run_headless,
    summary,
)
from mptop.workers.record import VERSION, csv_paths, read_recording
from mptop.workers.snapshot import CoreSample, Snapshot, WorkerSample, WorkerState
from mptop.workers.source import Closed, Deliver, Failed, Fate, SourceInfo
from tests.helpers import alive, kill_all, reap_recorded, wait_for

RECORDING_MD = Path(__file__).resolve().parent.parent / "docs" / "RECORDING.md"

pytestmark = pytest.mark.timeout(60)


def recipe(name: str) -> str:
    """The ```python block after ``<!-- NAME: ...`` in docs/RECORDING.md, as written there."""
    text = RECORDING_MD.read_text()
    found = re.search(rf"<!-- {name}:.*?-->\n```python\n(.*?)```", text, re.S)
    assert found, f"no {name} block in {RECORDING_MD}"
    return found.group(1)


def run_recipe(name: str, folder: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Run a docs recipe in ``folder`` (where its run.jsonl / run.csv are); its variables."""
    monkeypatch.chdir(folder)
    scope: dict[str, Any] = {}
    exec(compile(recipe(name), str(RECORDING_MD), "exec"), scope)
    return scope


def _descendants(proc: subprocess.Popen[str]) -> set[int]:
    try:
        return {c.pid for c in psutil.Process(proc.pid).children(recursive=True)}
    except psutil.Error:
        return set()


def test_headless_jsonl_exits_0_with_the_summary_and_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
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
        assert proc.returncode == EXIT_OK, err
        assert "mptop: done: " in err and str(out) in err
        rec = read_recording(out)
        # the summary: every worker by name and PID, stopped by mptop at the end, none failed
        last = rec.snapshots[-1].workers
        assert f"mptop: {len(last)} worker(s); how each ended:" in err, err
        for w in last:
            daemon = ", daemon" if w.daemon else ""
            assert f"  {w.name} (PID {w.pid}{daemon}): exit code {w.exitcode} (" in err
        assert err.count("mptop stopped the run") + err.count("by mptop at the end") == len(last)
        assert "failed" not in err and "exit status" not in err
        assert rec.name == "pool" and "imap_unordered" in rec.lesson
        assert 5 <= len(rec.snapshots) <= 7  # ticks at 0, 0.5, ... 2.0, then the final one
        assert all(w.exitcode is not None for w in rec.snapshots[-1].workers)
        assert seen
        wait_for(lambda: not alive(seen), timeout=5)  # the resource tracker ends just after
    finally:
        kill_all(seen)
    pytest.importorskip("pandas", reason="pandas is in the test extras: pip install -e '.[test]'")
    (tmp_path / "run.jsonl").write_bytes(out.read_bytes())
    got = run_recipe("jsonl-recipe", tmp_path, monkeypatch)
    assert set(got["per_worker"].index) == {w.name for w in last}
    assert got["per_worker"].dtype == float and got["per_worker"].sum() > 0


def test_headless_csv_reads_as_numbers_in_pandas(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pd = pytest.importorskip(
        "pandas", reason="pandas is in the test extras: pip install -e '.[test]'"
    )
    out = tmp_path / "run.csv"
    cmd = [sys.executable, "-m", "mptop.tui", "-n", "2", "--workload", "sleep", "--interval"]
    cmd += ["0.5", "--headless", "--duration", "1.5", "-o", str(out)]
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    assert run.returncode == EXIT_OK, run.stderr
    files = csv_paths(out)
    assert ", ".join(str(p) for p in files.values()) in run.stderr  # the summary names them all
    workers = pd.read_csv(out)
    # the p["cpu_percent"].mean() raised TypeError: every column was text
    for column in ("pid", "cpu_percent", "rss", "exitcode", "ppid", "bytes_out_per_s", "time"):
        assert pd.api.types.is_numeric_dtype(workers[column]), (column, workers[column].dtype)
    assert workers["daemon"].dtype == bool
    assert workers["cpu_percent"].mean() >= 0
    assert workers.groupby("pid")["exitcode"].last().tolist() == [-15, -15]
    channels = pd.read_csv(files["channels"])
    assert channels["sent"].max() > 0 and channels["stalled"].dtype == bool
    assert pd.api.types.is_integer_dtype(channels["backlog"])
    cores = pd.read_csv(files["cores"])
    assert pd.api.types.is_float_dtype(cores["percent"]) and cores["index"].nunique() >= 1
    ticks = pd.read_csv(files["ticks"])
    assert ticks["tick"].tolist() == list(range(len(ticks))) and (ticks["version"] == VERSION).all()
    events = pd.read_csv(files["events"])
    assert events["text"].str.contains("exited with -15").sum() == 2
    # the recipe of docs/RECORDING.md, as written, on this recording
    got = run_recipe("csv-recipe", tmp_path, monkeypatch)
    assert got["mean_cpu"] == workers["cpu_percent"].mean()
    assert sorted(got["per_worker"].index) == ["worker-1", "worker-2"]
    assert got["cpu"].shape[1] == 2 and pd.api.types.is_float_dtype(got["cpu"]["worker-1"])
    assert set(got["traffic"].columns.get_level_values(1)) == {"tasks", "results"}
    assert got["ends"]["exitcode"].tolist() == [-15, -15]


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


@pytest.mark.parametrize("name", ["no/dir/r.jsonl", "r.csv"])
def test_bad_output_path_starts_nothing(tmp_path: Path, name: str) -> None:
    (tmp_path / "r.cores.csv").mkdir()  # a CSV recording's second table cannot be made
    out = tmp_path / name
    cmd = [sys.executable, "-m", "mptop.tui", "--headless", "-o", str(out)]
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    assert run.returncode == 2
    bad = out if name.endswith(".jsonl") else tmp_path / "r.cores.csv"
    assert run.stderr.count("\n") == 1 and f"--output: cannot create {bad}: " in run.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.cores.csv"]  # nothing half made


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


# -- how it went: every worker failing, mptop's own errors, and what each status means --

FAILING = """
def boom():
    return 1 + "x"  # TypeError, in every task of every worker
"""


def test_every_worker_failing_exits_3_with_the_summary(tmp_path: Path) -> None:
    # the issue: every worker died with a TypeError, and headless said "done: 4 snapshots", 0
    (tmp_path / "failing.py").write_text(FAILING)
    out = tmp_path / "run.jsonl"
    cmd = [sys.executable, "-m", "mptop.tui", "-n", "3", "--workload", "failing:boom"]
    cmd += ["--interval", "0.5", "--headless", "--duration", "30", "-o", str(out)]
    t0 = time.monotonic()
    proc = subprocess.Popen(
        cmd, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    seen: set[int] = set()
    try:
        while proc.poll() is None:
            seen |= _descendants(proc)
        _, err = proc.communicate(timeout=30)
        took = time.monotonic() - t0
        assert proc.returncode == EXIT_ALL_FAILED, err
        assert took < 15, "it waits out --duration 30 with every worker gone"
        assert "Traceback" not in err
        rec = read_recording(out)
        last = rec.snapshots[-1].workers
        assert len(last) == 3 and all(w.exitcode == 1 for w in last)
        assert "mptop: every worker had exited, so the recording ended early" in err
        assert "mptop: 3 worker(s), 3 failed; how each ended:" in err
        for w in last:
            assert (
                f"  {w.name} (PID {w.pid}, daemon): exit code 1 (error: TypeError: "
                "unsupported operand type(s) for +: 'int' and 'str')\n" in err
            ), err
        assert err.rstrip().endswith("mptop: exit status 3: every worker failed (3 of 3)")
        assert f"{len(rec.snapshots)} snapshots in " in err and str(out) in err
        wait_for(lambda: not alive(seen), timeout=5)
    finally:
        if proc.poll() is None:
            proc.kill()
        kill_all(seen)


class OneWorkerSource:
    """A source of one fake worker that lives until close; ``failing`` reports a sampling
    failure with every snapshot. No process behind it."""

    caps: frozenset[Any] = frozenset()

    def __init__(self, failing: bool) -> None:
        self.failing = failing
        self.deliver: Deliver = lambda s: None
        self.failed: Failed = lambda line: None

    def info(self) -> SourceInfo:
        return SourceInfo(kind="fake", title="fake", interval=0.05)

    def snapshot(self, code: int | None = None) -> Snapshot:
        state = WorkerState.RUNNING if code is None else WorkerState.EXITED
        worker = WorkerSample(7, "w-1", True, state, 0, 1.0, 1, None, None, None, None, code)
        return Snapshot(time.time(), 0.05, "fork", (CoreSample(0, 1.0),), (worker,), ())

    def start(self, deliver: Deliver, failed: Failed) -> None:
        self.deliver, self.failed = deliver, failed
        self.arm()

    def arm(self) -> None:
        if self.failing:
            self.failed("cannot take a snapshot: PermissionError: /proc/7/stat")
        threading.Timer(0.05, lambda: self.deliver(self.snapshot())).start()

    def poke(self) -> None: ...

    def close(self) -> Closed:
        return Closed((Fate(7, "w-1", True, -15),), self.snapshot(-15))


class FullDisk:
    """A writer whose third write fails as on a full disk."""

    def __init__(self, path: Path) -> None:
        self.path, self.files, self.writes = path, (path,), 0

    def write(self, snap: Snapshot) -> None:
        self.writes += 1
        if self.writes >= 3:
            raise OSError(errno.ENOSPC, "No space left on device")

    def close(self) -> None: ...


@pytest.mark.parametrize(
    ("failing", "disk_full", "line"),
    [
        (True, False, "cannot take a snapshot: PermissionError: /proc/7/stat"),
        (False, True, "cannot write {path}: No space left on device"),
    ],
)
def test_an_error_mptop_saw_exits_1_and_says_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], failing: bool, disk_full: bool, line: str
) -> None:
    path = tmp_path / "run.jsonl"
    writer = FullDisk(path) if disk_full else open_output(path, {"name": "fake"})
    result = run_headless(OneWorkerSource(failing), writer, 0.5)  # type: ignore[arg-type]
    line = line.format(path=path)
    assert f"mptop: {line}" in capsys.readouterr().err  # said at once, as it happened
    assert result.errors[0] == line and exit_status(result) == EXIT_ERROR
    assert not result.all_failed  # the worker ran till mptop stopped it
    said = summary(result)
    assert (
        said[-1]
        == f"mptop: exit status 1: mptop saw {len(result.errors)} error(s); the first: {line}"
    )
    assert "  w-1 (PID 7, daemon): exit code -15 (SIGTERM), stopped by mptop at the end" in said
    if disk_full:
        assert result.snapshots == 2  # the recording ends at the failed write


def _result(
    *fates: Fate, early: tuple[int, ...] = (), status: int | None = None, error: str = ""
) -> HeadlessResult:
    return HeadlessResult(
        3,
        1.0,
        False,
        Path("r.jsonl"),
        Closed(fates, None, status),
        errors=(error,) if error else (),
        exited_early=frozenset(early),
    )


@pytest.mark.parametrize(
    ("result", "status"),
    [
        # stopped by mptop at the end (SIGTERM, SIGKILL, or finished when asked): not failed
        (_result(Fate(1, "a", True, -15), Fate(2, "b", False, 0), Fate(3, "c", True, -9)), 0),
        # each ended by itself before the end: an exception, sys.exit(2), killed by someone
        (
            _result(
                Fate(1, "a", True, 1),
                Fate(2, "b", True, 2),
                Fate(3, "c", True, -9),
                early=(1, 2, 3),
            ),
            3,
        ),
        # an exit code mptop's stop never gives is the worker's own, even if seen only at close
        (_result(Fate(1, "a", True, 1, error="ValueError: x"), Fate(2, "b", True, -11)), 3),
        # one survivor is enough for 0
        (_result(Fate(1, "a", True, 1), Fate(2, "b", True, -15), early=(1,)), 0),
        (_result(Fate(1, "a", True, 0), early=(1,)), 0),  # finished by itself
        (_result(), 0),  # no worker at all (an attached tree: its fates are not mptop's)
        # mptop run: the program's own status, 128 + N for signal N
        (_result(Fate(1, "prog", False, 3), early=(1,), status=3), 3),
        (_result(Fate(1, "prog", False, -15), status=-15), 143),
        (_result(Fate(1, "prog", False, 0), early=(1,), status=0), 0),
        # ... unless it exited 0 and mptop saw an error; an error trumps every other run's 3
        (_result(Fate(1, "prog", False, 0), early=(1,), status=0, error="cannot sample"), 1),
        (_result(Fate(1, "prog", False, 3), early=(1,), status=3, error="cannot sample"), 3),
        (_result(Fate(1, "a", True, 1), early=(1,), error="cannot start a worker: EAGAIN"), 1),
    ],
)
def test_what_each_exit_status_means(result: HeadlessResult, status: int) -> None:
    assert exit_status(result) == status
    said = "\n".join(summary(result))
    n = len(result.closed.fates)
    if status == 3 and result.closed.status is None:
        assert said.endswith(f"mptop: exit status 3: every worker failed ({n} of {n})")
    if status == 0:
        assert "exit status" not in said and "failed" not in said.splitlines()[-1]
    if status == 143:
        assert said.endswith("mptop: exit status 143: the program's own")
    if status == 1:
        assert said.splitlines()[-1].startswith("mptop: exit status 1: ")


def test_the_summary_lists_the_failed_first_and_counts_the_rest() -> None:
    fates = [Fate(100 + k, f"w-{k}", True, -15) for k in range(20)]
    fates[17] = Fate(117, "w-17", True, 1, error="KeyError: 'x'")
    said = summary(_result(*fates, early=(117,)))
    assert said[1] == "mptop: 20 worker(s), 1 failed; how each ended:"
    assert said[2] == "  w-17 (PID 117, daemon): exit code 1 (error: KeyError: 'x')"
    assert said[14] == "  ... and 8 more: 8 -15 (SIGTERM)"
