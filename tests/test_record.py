"""Recordings: round trip, tolerance of older files, strict errors, and never a hang on bad bytes."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mptop.workers.record import (
    CSV_COLUMNS,
    VERSION,
    RecordingError,
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
            ":2: version: this mptop reads recordings of version 1 or 2, got 99",
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


def test_csv_is_long_form_with_version(tmp_path: Path) -> None:
    path = tmp_path / "run.csv"
    write_recording(path, [samples.snapshot(2, 6, t) for t in range(3)], {})
    rows = list(csv.reader(path.open()))
    assert tuple(rows[0]) == CSV_COLUMNS
    body = rows[1:]
    assert {r[0] for r in body} == {str(VERSION)}
    assert {r[1] for r in body} == {"0", "1", "2"}
    cpu = [r for r in body if r[1] == "1" and r[3] == "worker" and r[5] == "cpu_percent"]
    assert len(cpu) == 6 and {r[4] for r in cpu} == {str(samples.FIRST_PID + k) for k in range(6)}
    with pytest.raises(RecordingError, match="not CSV"):
        read_recording(path)


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
