"""Scenario files and the command line around them: every bad input gets its own one-line error.

Each case: exit status 2, exactly one line on stderr naming the file, the key
and (where it has one) the line, no traceback, and no process started.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import psutil
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mptop.tui.cli import list_scenarios, parse_invocation
from mptop.workers.scenario_file import (
    GROUP_KEYS,
    TOP_KEYS,
    bundled_names,
    key_lines,
    load_bundled,
    parse_scenario_text,
    scenario_from_dict,
)
from mptop.workers.spec import DEFAULT_NICE, ConfigError

GOOD = """\
name = "mine"
interval = 0.5

[[workers]]
name = "busy"
count = 2
workload = "cpu"
"""

CORES = psutil.cpu_count() or 1

# (id, file text or None for no file, extra argv, expected fragment of the one line).
# The text is written to bad.toml; "{f}" in a fragment is that file's path.
CASES: list[tuple[str, str | None, list[str], str]] = [
    ("missing file", None, ["nowhere.toml"], "nowhere.toml: no such file"),
    ("syntax: missing value", "interval =\n", [], "{f}:1: TOML syntax: Invalid value"),
    ("syntax: bad header", GOOD + "[[workers]\n", [], "{f}:8: TOML syntax: Expected ']]'"),
    ("syntax: duplicate key", "interval = 1\ninterval = 2\n", [], "{f}:2: TOML syntax:"),
    ("syntax: unclosed string", 'name = "x\n', [], "{f}:1: TOML syntax:"),
    (
        "unknown top key",
        "intervall = 1\n" + GOOD,
        [],
        "{f}:1: intervall: unknown key 'intervall' (did you mean 'interval'?)",
    ),
    (
        "top key inside a group",
        GOOD + "interval = 1\n",
        [],
        "{f}:8: workers[0].interval: is a scenario key, not a group key",
    ),
    (
        "unknown group key",
        GOOD + "cuont = 3\n",
        [],
        "{f}:8: workers[0].cuont: unknown key 'cuont' (did you mean 'count'?)",
    ),
    (
        "unknown key, no near one",
        GOOD.replace('name = "mine"', "colour = 1"),
        [],
        "{f}:1: colour: unknown key 'colour' (valid keys: name,",
    ),
    (
        "workers as one table",
        "interval = 1\n[workers]\ncount = 1\n",
        [],
        "{f}:2: workers: must be an array of tables: write [[workers]]",
    ),
    (
        "no workers",
        "interval = 1\n",
        [],
        "{f}: workers: missing: add at least one [[workers]] table",
    ),
    (
        "interval a string",
        GOOD.replace("interval = 0.5", 'interval = "fast"'),
        [],
        "{f}:2: interval: must be a number, got string 'fast'",
    ),
    (
        "interval too small",
        GOOD.replace("interval = 0.5", "interval = 0.01"),
        [],
        "{f}:2: interval: must be between 0.1 and 10 seconds",
    ),
    (
        "count zero",
        GOOD.replace("count = 2", "count = 0"),
        [],
        "{f}:6: workers[0].count: must be at least 1, got 0",
    ),
    (
        "count negative",
        GOOD.replace("count = 2", "count = -4"),
        [],
        "{f}:6: workers[0].count: must be at least 1, got -4",
    ),
    (
        "count a float",
        GOOD.replace("count = 2", "count = 2.5"),
        [],
        "{f}:6: workers[0].count: must be a whole number, got float 2.5",
    ),
    (
        "count huge",
        GOOD.replace("count = 2", "count = 100000"),
        [],
        "{f}:6: workers[0].count: must be at most 1024",
    ),
    (
        "daemon a string",
        GOOD + 'daemon = "yes"\n',
        [],
        "{f}:8: workers[0].daemon: must be true or false, got string 'yes'",
    ),
    (
        "unknown workload",
        GOOD.replace('"cpu"', '"gpu"'),
        [],
        "{f}:7: workers[0].workload: unknown workload 'gpu'",
    ),
    (
        "workload parameter",
        GOOD.replace('"cpu"', '"duty:150"'),
        [],
        "{f}:7: workers[0].workload: duty parameter must be between 0 and 100",
    ),
    (
        "custom not importable",
        GOOD.replace('"cpu"', '"no_such_mod_xyz:run"'),
        [],
        "{f}:7: workers[0].workload: cannot import 'no_such_mod_xyz'",
    ),
    (
        "custom no attribute",
        GOOD.replace('"cpu"', '"tests.targets:nope"'),
        [],
        "{f}:7: workers[0].workload: module 'tests.targets' has no attribute 'nope'",
    ),
    (
        "affinity no such core",
        GOOD + f"affinity = [{CORES}]\n",
        [],
        f"{{f}}:8: workers[0].affinity: core {CORES} does not exist",
    ),
    (
        "affinity wrong type",
        GOOD + 'affinity = ["0"]\n',
        [],
        "{f}:8: workers[0].affinity: must be an array of core numbers",
    ),
    (
        "affinity duplicate",
        GOOD + "affinity = [0, 0]\n",
        [],
        "{f}:8: workers[0].affinity: names a core twice",
    ),
    (
        "start method unknown",
        GOOD + 'start_method = "vfork"\n',
        [],
        "{f}:8: workers[0].start_method: unknown start method 'vfork'",
    ),
    (
        "ipc unknown",
        'ipc = "smoke"\n' + GOOD.replace('name = "mine"\n', ""),
        [],
        "{f}:1: ipc: unknown topology 'smoke'",
    ),
    (
        "message size text",
        'message_size = "lots"\n' + GOOD.replace('name = "mine"\n', ""),
        [],
        "{f}:1: message_size: must be a size in bytes",
    ),
    (
        "rate negative",
        "rate = -5\n" + GOOD.replace('name = "mine"\n', ""),
        [],
        "{f}:1: rate: must be above 0",
    ),
    (
        "nice out of range",
        GOOD + "nice = 20\n",
        [],
        "{f}:8: workers[0].nice: must be between 0 and 19, got 20",
    ),
    (
        "nice as text",
        GOOD + 'nice = "low"\n',
        [],
        "{f}:8: workers[0].nice: must be a whole number, got string 'low'",
    ),
    ("cli: nice out of range", GOOD, ["--nice", "20"], "--nice: must be between 0 and 19, got 20"),
    (
        "conflict: ipc none with rate",
        'ipc = "none"\nrate = 10\n' + GOOD.replace('name = "mine"\n', ""),
        [],
        '{f}:2: rate: conflicts with ipc = "none"',
    ),
    (
        "conflict: two groups one name",
        GOOD + GOOD.split("\n\n", 1)[1],
        [],
        "{f}:9: workers[1].name: 'busy' conflicts with workers[0].name",
    ),
    (
        "task_seconds zero",
        GOOD + "task_seconds = 0\n",
        [],
        "{f}:8: workers[0].task_seconds: must be in (0, 60]",
    ),
    (
        "group name not a word",
        GOOD.replace('name = "busy"', 'name = "two words"'),
        [],
        "{f}:5: workers[0].name: must be a plain word",
    ),
    ("not UTF-8", "\xff", [], "{f}:1: not UTF-8 text"),
    # command lines
    (
        "cli: file and --scenario",
        GOOD,
        ["--scenario", "pool"],
        "--scenario: conflicts with the scenario file {f}",
    ),
    (
        "cli: unknown bundled",
        None,
        ["--scenario", "poool"],
        "--scenario: no bundled scenario 'poool' (did you mean 'pool'?)",
    ),
    (
        "cli: bundled name as a file",
        None,
        ["pool.toml"],
        "pool.toml: no such file (did you mean --scenario pool?)",
    ),
    ("cli: headless without output", GOOD, ["--headless"], "--headless: needs --output"),
    (
        "cli: output without headless",
        GOOD,
        ["--output", "x.jsonl"],
        "--output: only with --headless",
    ),
    (
        "cli: duration without headless",
        GOOD,
        ["--duration", "3"],
        "--duration: only with --headless",
    ),
    (
        "cli: output suffix",
        GOOD,
        ["--headless", "--output", "x.txt"],
        "--output: must end in .jsonl or .csv",
    ),
    (
        "cli: duration zero",
        GOOD,
        ["--headless", "--duration", "0", "-o", "x.csv"],
        "--duration: must be above 0 and at most a week, got 0",
    ),
    (
        "cli: replay with headless",
        None,
        ["--replay", "r.jsonl", "--headless"],
        "--replay: conflicts with --headless",
    ),
    (
        "cli: replay with a file",
        GOOD,
        ["--replay", "r.jsonl"],
        "--replay: conflicts with FILE.toml",
    ),
    (
        "cli: override bad workload",
        GOOD,
        ["--workload", "gpu"],
        "--workload: unknown workload 'gpu'",
    ),
    ("cli: override -n 0", GOOD, ["-n", "0"], "-n/--workers: must be at least 1, got 0"),
]


def _run_case(tmp_path: Path, text: str | None, argv: list[str]) -> list[str]:
    full = list(argv)
    if text is not None:
        f = tmp_path / "bad.toml"
        f.write_bytes(text.encode("latin-1") if text == "\xff" else text.encode())
        full = [str(f), *argv]
    return full


@pytest.mark.parametrize(
    ("text", "argv", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_bad_input_one_line(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    text: str | None,
    argv: list[str],
    expected: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    full = _run_case(tmp_path, text, argv)
    with pytest.raises(SystemExit) as exc:
        parse_invocation(full)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    want = expected.replace("{f}", str(tmp_path / "bad.toml"))
    assert lines[0].startswith("mptop: error: ") and want in lines[0], lines[0]


def test_enough_distinct_cases() -> None:
    assert len(CASES) >= 25
    assert len({c[3] for c in CASES}) == len(CASES)  # each its own message


@pytest.mark.parametrize("case", [0, 6, 19, 33], ids=lambda i: CASES[i][0])
def test_bad_input_real_command_no_process(tmp_path: Path, case: int) -> None:
    """The real command: exit 2, one line, no traceback, no child process left or made."""
    _, text, argv, _ = CASES[case]
    full = _run_case(tmp_path, text, argv)
    proc = subprocess.Popen(
        [sys.executable, "-m", "mptop.tui", *full],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    ps = psutil.Process(proc.pid)
    seen: set[int] = set()
    while proc.poll() is None:
        try:
            seen |= {c.pid for c in ps.children(recursive=True)}
        except psutil.Error:
            break
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not seen, f"started processes {seen}"


def test_every_bundled_scenario_loads_and_lists() -> None:
    names = bundled_names()
    assert names == sorted(
        [
            "current-process",
            "daemons",
            "pipes-vs-queues",
            "pool",
            "pool-order",
            "process-api-vs-pool",
            "process-vs-thread",
            "processes-vs-threads",
            "start-methods",
            "terminate-danger",
        ]
    )
    listing = list_scenarios()
    for name in names:
        loaded = load_bundled(name)
        assert loaded.scenario.name == name
        assert loaded.description and "\n" not in loaded.description
        assert len(loaded.lesson.splitlines()) >= 5
        assert any(line.startswith(f"{name} ") for line in listing.splitlines())


def test_command_line_overrides_the_file(tmp_path: Path) -> None:
    f = tmp_path / "s.toml"
    f.write_text(GOOD + '\n[[workers]]\nname = "idle"\nworkload = "sleep"\ndaemon = false\n')
    base = parse_invocation([str(f)]).loaded
    assert base is not None
    assert [g.count for g in base.scenario.groups] == [2, 1]
    assert base.scenario.interval == 0.5 and base.scenario.name == "mine"
    assert [g.nice for g in base.scenario.groups] == [DEFAULT_NICE, DEFAULT_NICE]
    inv = parse_invocation(
        [str(f), "-n", "3", "--daemon", "--interval", "2", "--start-method", "spawn", "--nice", "5"]
    )
    assert inv.loaded is not None
    sc = inv.loaded.scenario
    assert [g.count for g in sc.groups] == [3, 3]
    assert [g.nice for g in sc.groups] == [5, 5]
    assert all(g.daemon for g in sc.groups)
    assert sc.interval == 2.0 and sc.start_methods() == {"spawn"}
    assert [g.workload for g in sc.groups] == ["cpu", "sleep"]  # not overridden


def test_key_lines_place_keys_in_groups_and_skip_multiline_strings() -> None:
    text = 'lesson = """\ncount = 3\n"""\n[[workers]]\ncount = 1\n[[workers]]\n  count = 2\n'
    lines = key_lines(text)
    assert lines["lesson"] == 1 and "count" not in lines
    assert lines["workers[0]"] == 4 and lines["workers[0].count"] == 5
    assert lines["workers[1].count"] == 7


def test_config_error_is_one_line_with_file_line_key() -> None:
    with pytest.raises(ConfigError) as exc:
        parse_scenario_text(GOOD.replace("count = 2", "count = 0"), "my.toml")
    assert str(exc.value) == "my.toml:6: workers[0].count: must be at least 1, got 0"
    assert exc.value.line == 6 and exc.value.where == "workers[0].count"


# -- property: any TOML-shaped input is a Scenario or a ConfigError, nothing else ---------

_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=12)
    | st.sampled_from(
        [
            "cpu",
            "sleep",
            "duty:30",
            "threads:2",
            "memory:1",
            "fork",
            "spawn",
            "forkserver",
            "queue",
            "pipe",
            "none",
            "4K",
            "1M",
            "w",
            "tests.targets:nope",
            "json:dumps",
        ]
    )
)
_values = st.recursive(
    _scalars,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.sampled_from([*GROUP_KEYS, "x"]), children, max_size=4)
    ),
    max_leaves=12,
)
_group = st.dictionaries(st.sampled_from([*GROUP_KEYS, "cuont"]), _values, max_size=7)
_top = st.fixed_dictionaries(
    {},
    optional={
        **{k: _values for k in TOP_KEYS if k != "workers"},
        "workers": st.lists(_group, max_size=3) | _values,
        "intervall": _values,
    },
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=_top)
def test_any_toml_shaped_input_is_a_scenario_or_a_config_error(data: dict[str, Any]) -> None:
    try:
        loaded = scenario_from_dict(data, "prop.toml")
    except ConfigError as err:
        text = str(err)
        assert "\n" not in text and text.startswith("prop.toml")
    else:
        assert loaded.scenario.count >= 1


@settings(max_examples=200, deadline=None)
@given(text=st.text(max_size=200))
def test_any_text_is_a_scenario_or_a_config_error(text: str) -> None:
    try:
        parse_scenario_text(text, "t.toml")
    except ConfigError as err:
        assert "\n" not in str(err)
