"""Recordings: round trip, tolerance of older files, strict errors, and never a hang on bad bytes."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mptop.workers.record import (
    CSV_TABLES,
    VERSION,
    RecordingError,
    csv_paths,
    header_record,
    parse_recording,
    read_recording,
    scenario_record,
    write_recording,
)
from mptop.workers.spec import Scenario
from tests.ui import samples


def _write(path: Path, ticks: int = 4) -> list[object]:
    snaps = [samples.snapshot(2, 6, t) for t in range(ticks)]
    header = header_record(scenario_record(Scenario.simple(2), "d", "the lesson"), samples.T0)
    write_recording(path, snaps, header)
    return list(snaps)


def test_jsonl_round_trip_is_exact(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    snaps = _write(path)
    rec = read_recording(path)
    assert list(rec.snapshots) == snaps
    assert rec.lesson == "the lesson" and rec.interval == 1.0
    first = json.loads(path.read_text().splitlines()[1])
    assert first["kind"] == "snapshot" and first["version"] == VERSION


def test_missing_fields_with_defaults_are_tolerated(tmp_path: Path) -> None:
    path = tmp_path / "old.jsonl"
    _write(path, 2)
    lines = path.read_text().splitlines()
    old = json.loads(lines[1])
    for w in old["workers"]:
        del w["start_seconds"], w["pinned"]  # fields a newer mptop added
    del old["notes"]
    lines[1] = json.dumps(old)
    path.write_text("\n".join(lines) + "\n")
    rec = read_recording(path)
    assert rec.snapshots[0].workers[0].start_seconds is None


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            lambda o: o["workers"][0].update(colour=1),
            ":2: workers[0].colour: unknown field in WorkerSample",
        ),
        (
            lambda o: o["workers"][0].update(pid="x"),
            ":2: workers[0].pid: must be a whole number, got 'x'",
        ),
        (
            lambda o: o["cores"][1].update(percent=True),
            ":2: cores[1].percent: must be a number, got true",
        ),
        (lambda o: o["workers"][1].update(state="dancing"), ":2: workers[1].state: must be one of"),
        (lambda o: o.pop("time"), ":2: time: missing (a required field of Snapshot)"),
        (
            lambda o: o.update(version=99),
            ":2: version: this mptop reads recordings of version 1, 2 or 3, got 99",
        ),
        (lambda o: o.update(load_avg=[1, 2]), ":2: load_avg: must be an array or null"),
        (lambda o: o.update(kind="frame"), ":2: kind: must be 'snapshot'"),
    ],
)
def test_mistyped_or_unknown_fields_are_one_line_errors(
    tmp_path: Path, edit: object, message: str
) -> None:
    path = tmp_path / "bad.jsonl"
    _write(path, 2)
    lines = path.read_text().splitlines()
    obj = json.loads(lines[1])
    edit(obj)  # type: ignore[operator]
    lines[1] = json.dumps(obj)
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(RecordingError) as exc:
        read_recording(path)
    assert message in str(exc.value) and "\n" not in str(exc.value)
    assert str(exc.value).startswith(str(path))


def test_truncated_last_line_says_so(tmp_path: Path) -> None:
    path = tmp_path / "cut.jsonl"
    _write(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 40])
    with pytest.raises(RecordingError, match=r"cut.jsonl:5: truncated: the last line is cut off"):
        read_recording(path)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty file"),
        (b'{"kind": "snapshot"}\n', "line 1 must be the header"),
        (b"hello\n", "line 1 must be the header"),
        (None, "no such file"),
    ],
)
def test_not_a_recording(tmp_path: Path, content: bytes | None, message: str) -> None:
    path = tmp_path / "x.jsonl"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(RecordingError, match=message):
        read_recording(path)


def test_csv_is_one_table_per_kind_with_a_column_per_field(tmp_path: Path) -> None:
    path = tmp_path / "run.csv"
    snaps = [samples.snapshot(2, 6, t) for t in range(3)]
    write_recording(path, snaps, {})
    assert set(tmp_path.iterdir()) == set(csv_paths(path).values())
    tables = {
        table: list(csv.DictReader(where.open(newline="")))
        for table, where in csv_paths(path).items()
    }
    for table, where in csv_paths(path).items():
        assert tuple(next(csv.reader(where.open()))) == CSV_TABLES[table]
    # one row per worker (core, channel, event) per tick, keyed by tick and time
    for table, items in (
        ("", "workers"),
        ("cores", "cores"),
        ("channels", "channels"),
        ("events", "events"),
    ):
        want = [(str(t), repr(s.time)) for t, s in enumerate(snaps) for _ in getattr(s, items)]
        assert [(r["tick"], r["time"]) for r in tables[table]] == want, table
    assert [r["tick"] for r in tables["ticks"]] == ["0", "1", "2"]
    # every cell as the sample has it: null empty, bool true/false, enum its value, list JSON
    rows = iter(tables[""])
    for snap in snaps:
        for w in snap.workers:
            row = next(rows)
            for name in CSV_TABLES[""][2:]:
                value = getattr(w, name)
                cell = (
                    ""
                    if value is None
                    else str(value).lower()
                    if isinstance(value, bool)
                    else repr(value)
                    if isinstance(value, float)
                    else str(value)
                )
                assert row[name] == cell, (w.pid, name)
    last = snaps[-1]
    channel = tables["channels"][-1]
    assert int(channel["backlog"]) == last.channels[-1].backlog  # derived columns too
    assert json.loads(channel["history"]) == list(last.channels[-1].history)
    core = tables["cores"][-1]
    assert json.loads(core["worker_pids"]) == list(last.cores[-1].worker_pids)
    tick = tables["ticks"][-1]
    assert int(tick["version"]) == VERSION
    assert [float(tick[f"load_avg_{m}"]) for m in (1, 5, 15)] == list(last.load_avg or ())
    assert float(tick["total_percent"]) == pytest.approx(last.total_percent)
    with pytest.raises(RecordingError, match="not CSV"):
        read_recording(path)


def test_csv_reads_as_numbers_in_pandas(tmp_path: Path) -> None:
    pd = pytest.importorskip(
        "pandas", reason="pandas is in the test extras: pip install -e '.[test]'"
    )
    path = tmp_path / "run.csv"
    write_recording(path, [samples.snapshot(2, 6, t) for t in range(3)], {})
    workers = pd.read_csv(path)
    for column in ("pid", "cpu_percent", "rss", "exitcode", "ppid", "msgs_in_per_s"):
        assert pd.api.types.is_numeric_dtype(workers[column]), column
    assert workers["daemon"].dtype == bool
    assert workers["cpu_percent"].mean() > 0  # the TypeError, gone
    channels = pd.read_csv(csv_paths(path)["channels"])
    assert channels["stalled"].dtype == bool and channels["backlog"].sum() > 0


# -- property: any corruption of a recording is a RecordingError, never another exception --


@pytest.fixture(scope="module")
def good_bytes(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    path = tmp_path_factory.mktemp("rec") / "good.jsonl"
    _write(path, 3)
    return path.read_bytes()


@settings(max_examples=300, deadline=2000)
@given(data=st.data())
def test_truncated_or_corrupted_recordings_fail_cleanly(
    good_bytes: bytes, data: st.DataObject
) -> None:
    raw = bytearray(good_bytes)
    action = data.draw(st.sampled_from(["truncate", "flip", "insert", "delete"]))
    at = data.draw(st.integers(0, len(raw) - 1))
    if action == "truncate":
        raw = raw[:at]
    elif action == "flip":
        raw[at] = data.draw(st.integers(0, 255))
    elif action == "insert":
        raw[at:at] = data.draw(st.binary(min_size=1, max_size=8))
    else:
        del raw[at : at + data.draw(st.integers(1, 64))]
    try:
        rec = parse_recording(bytes(raw), "p.jsonl")
    except RecordingError as err:
        assert "\n" not in str(err) and str(err).startswith("p.jsonl")
    else:
        assert rec.snapshots


@settings(max_examples=200, deadline=2000)
@given(
    body=st.recursive(
        st.none()
        | st.booleans()
        | st.integers()
        | st.floats(allow_nan=False)
        | st.text(max_size=5),
        lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=8), c, max_size=4),
        max_leaves=20,
    )
)
def test_any_json_snapshot_line_is_a_snapshot_or_an_error(body: object) -> None:
    header = json.dumps({"kind": "header", "version": 1, "scenario": {}})
    line = json.dumps(
        body if not isinstance(body, dict) else {"kind": "snapshot", "version": 1, **body}
    )
    try:
        parse_recording(f"{header}\n{line}\n".encode(), "q.jsonl")
    except RecordingError as err:
        assert "\n" not in str(err)
