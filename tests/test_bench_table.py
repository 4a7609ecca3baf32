"""bench/table.py: a row's goal, ratio and met, and rows through render and JSON (no processes)."""

from __future__ import annotations

import json
import math

from bench.table import Row, failure, from_dict, render, to_json


def test_ratio_is_value_over_baseline_and_none_without_one() -> None:
    assert Row("a", 3.0, "ms", 2.0).ratio == 1.5
    assert Row("a", 3.0, "ms").ratio is None
    assert Row("a", 3.0, "ms", 0.0).ratio is None


def test_goal_text_names_every_part() -> None:
    row = Row("start", 2.5, "s", 2.0, max_value=3, max_ratio=1.5)
    assert row.goal == "≤ 3 s, ratio ≤ 1.5"
    assert Row("ipc", 0.97, "x", min_value=0.95).goal == "≥ 0.95 x"
    assert Row("note only", 1.0, "%").goal == ""


def test_met_needs_every_part_and_is_none_without_a_goal() -> None:
    assert Row("a", 2.5, "s", 2.0, max_value=3, max_ratio=1.5).met is True
    assert Row("a", 2.5, "s", 1.0, max_value=3, max_ratio=1.5).met is False  # ratio 2.5
    assert Row("a", 3.5, "s", 3.0, max_value=3, max_ratio=1.5).met is False  # over 3 s
    assert Row("a", 0.9, "x", min_value=0.95).met is False
    assert Row("a", 2.5, "s", max_ratio=1.5).met is False  # a ratio goal needs a baseline
    assert Row("a", 2.5, "s", 2.0).met is None


def test_a_failed_benchmark_is_not_met_and_says_why() -> None:
    row = failure("python -m bench.ui keys", "timed out after 240 s")
    assert row.met is False
    assert math.isnan(row.value)
    line = render([row]).splitlines()[-1]
    assert "failed" in line and "NO" in line and "nan" not in line


def test_render_has_a_header_a_rule_and_a_line_per_row() -> None:
    rows = [Row("tick", 12.0, "ms", 8.0, max_ratio=2), Row("cpu", 0.9, "%")]
    lines = render(rows).splitlines()
    assert lines[0].split() == ["benchmark", "value", "baseline", "ratio", "goal", "met"]
    assert set(lines[1]) <= {"-", " "}
    assert lines[2].split() == ["tick", "12", "ms", "8", "ms", "1.50", "ratio", "≤", "2", "yes"]
    assert lines[3].split() == ["cpu", "0.9", "%", "-", "-", "-", "-"]


def test_rows_round_trip_through_strict_json() -> None:
    rows = [
        Row("start", 2.5, "s", 2.0, max_value=3, max_ratio=1.5, note="bare"),
        Row("ipc", 0.97, "x", min_value=0.95),
        failure("python -m bench.scale all", "exit code 1: boom"),
    ]
    text = to_json(rows)
    data = json.loads(text, parse_constant=lambda c: _not_strict(c))
    assert [d["met"] for d in data] == [True, True, False]
    assert data[0]["ratio"] == 1.25 and data[0]["goal"] == "≤ 3 s, ratio ≤ 1.5"
    back = [from_dict(d) for d in data]
    assert back[:2] == rows[:2]
    assert back[2].failed and math.isnan(back[2].value) and back[2].note == rows[2].note
    assert render(back) == render(rows)


def _not_strict(constant: str) -> None:
    raise AssertionError(f"not strict JSON: {constant}")
