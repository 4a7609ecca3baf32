"""Scenario files: TOML text -> :class:`ScenarioFile` (a validated :class:`Scenario` plus its lesson).

A scenario file (read with the standard library's :mod:`tomllib`) looks like::

    name = "pool"                        # shown in the header and --list-scenarios
    description = "one line for --list-scenarios"
    lesson = "what to look at, shown in the app on L"
    interval = 1.0                       # refresh, seconds, 0.1 to 10
    start_method = "forkserver"          # fork, forkserver or spawn
    ipc = "queue"                        # queue, pipe, pipeline or none
    message_size = 0                     # payload bytes per task: 4096, "4K", "1M"
    rate = 100.0                         # tasks/s mptop hands out; absent = as fast as taken

    [[workers]]                          # one table per group, at least one
    name = "worker"                      # prefix of the workers' names
    count = 2                            # workers started at launch, at least 1
    workload = "cpu"                     # cpu, duty:P, sleep, memory:MB, threads:N, pkg.mod:func
    daemon = true                        # Process.daemon
    start_method = "spawn"               # overrides the scenario's for this group
    affinity = [0, 1]                    # cores the group may run on (absent: all)
    task_seconds = 0.05                  # length of one task, seconds, (0, 60]
    nice = 19                            # workers' nice value, 0 (normal) to 19 (lowest)

A scenario may run a program instead (``mptop run`` with the lesson beside it)::

    name = "pool-order"
    description = "..."
    lesson = "..."                       # {program} in it: the program's path (and in a
                                         # spawned run's, {count}: the first group's count)
    interval = 0.5
    program = "pool_order.py"            # a Python file: next to the scenario file (a
                                         # bundled scenario: in mptop.examples)
    args = ["--rounds", "3"]             # its command-line arguments (default: none)
    output_lines = 4                     # its last lines the lesson panel shows, 1 to 20 (6)

It is run with the Python mptop runs on; ``[[workers]]``, ``start_method``, ``ipc``,
``message_size`` and ``rate`` conflict with ``program`` (the program starts its own
processes).

Every error is a :class:`ConfigError` whose ``str()`` is one line,
``FILE:LINE: KEY: message``; nothing here starts a process (a custom
``module:function`` workload is imported, as validation).
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import re
import shlex
import sys
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from mptop.workers.spec import MAX_NAME, ConfigError, Scenario, WorkerSpec

__all__ = [
    "GROUP_KEYS",
    "TOP_KEYS",
    "ScenarioFile",
    "bundled_names",
    "examples_dir",
    "load_bundled",
    "load_scenario",
    "parse_scenario_text",
    "scenario_from_dict",
]

# Valid keys and the TOML types they take, as words for messages.
TOP_KEYS: dict[str, str] = {
    "name": "a string",
    "description": "a string",
    "lesson": "a string",
    "interval": "a number of seconds",
    "start_method": "a string",
    "ipc": "a string",
    "message_size": "a whole number of bytes or a size string like '4K'",
    "rate": "a number of messages per second",
    "workers": "an array of tables ([[workers]])",
    "program": "a Python file's name",
    "args": "an array of strings",
    "output_lines": "a whole number of lines",
}
# The program's last lines a program scenario's lesson panel shows: default, most.
OUTPUT_LINES = 6
MAX_OUTPUT_LINES = 20
# Keys of a spawned run, which a scenario that runs a program cannot have.
SPAWN_KEYS = ("workers", "start_method", "ipc", "message_size", "rate")
GROUP_KEYS: dict[str, str] = {
    "name": "a string",
    "count": "a whole number",
    "workload": "a string",
    "daemon": "true or false",
    "start_method": "a string",
    "affinity": "an array of core numbers",
    "task_seconds": "a number of seconds",
    "nice": "a whole number from 0 to 19",
}

# spec.py names command-line options; from a file, name the key instead.
_OPTION_TO_KEY = {
    "--workload": "workload",
    "-n/--workers": "count",
    "--start-method": "start_method",
    "--interval": "interval",
    "--ipc": "ipc",
    "--message-size": "message_size",
    "--rate": "rate",
    "--nice": "nice",
}

_HEADER = re.compile(r"^\s*(\[\[?)\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")
_KEY = re.compile(r"""^\s*([A-Za-z0-9_-]+|"[^"]*"|'[^']*')\s*(?:\.\s*[A-Za-z0-9_"'-]+\s*)*=""")
_TOML_POS = re.compile(r"\s*\(at line (\d+), column (\d+)\)\s*$")
_TOML_EOF = re.compile(r"\s*\(at end of document\)\s*$")


@dataclass(frozen=True, slots=True)
class ScenarioFile:
    """A scenario as read from a file: the run, and the words that explain it.

    ``description`` is one line (``--list-scenarios``); ``lesson`` the
    explanation the app shows (several lines, may be empty); ``source`` the
    file as named in errors. ``program`` is the absolute path of the Python
    file a program scenario runs, with ``args`` ("" for a spawned run); its
    ``scenario`` then holds only the name and interval (no group is started),
    and ``output_lines`` is how many of the program's last lines its lesson
    panel shows.
    """

    scenario: Scenario
    description: str = ""
    lesson: str = ""
    source: str = ""
    program: str = ""
    args: tuple[str, ...] = ()
    output_lines: int = OUTPUT_LINES

    def counted(self) -> ScenarioFile:
        """This file with ``{count}`` in its description and lesson replaced by its first group's
        count of workers (so that ``-n 3`` makes "{count} workers" read "3 workers"); unchanged
        without a group."""
        if not self.scenario.groups:
            return self
        count = str(self.scenario.groups[0].count)
        return dataclasses.replace(
            self,
            description=self.description.replace("{count}", count),
            lesson=self.lesson.replace("{count}", count),
        )

    def command(self, python: str) -> tuple[str, ...]:
        """A program scenario's command line run by ``python``: ``(python, program, *args)``."""
        return (python, self.program, *self.args)

    def program_lesson(self) -> str:
        """A program scenario's lesson, ``{program}`` in it replaced by the program's path, ending
        with where the program is (the file to open and read) and the same run without the
        lesson (``mptop run -- python FILE ARGS``)."""
        run = shlex.join(["mptop", "run", "--", "python", self.program, *self.args])
        lesson = self.lesson.replace("{program}", self.program)
        return (
            f"{lesson}\n\nThe program is {self.program}: open it to read it. "
            f"{run} gives the same run without this lesson."
        ).strip()


def key_lines(text: str) -> dict[str, int]:
    """Map key paths (``interval``, ``workers[1].count``, ``workers[1]``) to 1-based lines.

    A light scan, not a parser: good for the files people write (one key per
    line, ``[[workers]]`` headers); keys it cannot place are simply missing.
    """
    lines: dict[str, int] = {}
    table = ""
    counts: dict[str, int] = {}
    in_string: str | None = None
    for number, raw in enumerate(text.splitlines(), start=1):
        if in_string is not None:
            if raw.count(in_string) % 2 == 1:
                in_string = None
            continue
        if m := _HEADER.match(raw):
            name = m.group(2).strip().strip("\"'")
            if m.group(1) == "[[":
                index = counts.get(name, 0)
                counts[name] = index + 1
                table = f"{name}[{index}]"
            else:
                table = name
            lines.setdefault(table, number)
            continue
        if m := _KEY.match(raw):
            key = m.group(1).strip("\"'")
            lines.setdefault(f"{table}.{key}" if table else key, number)
            rest = raw[m.end() :]
            for quote in ('"""', "'''"):
                if rest.count(quote) % 2 == 1:
                    in_string = quote
    return lines


def _suggest(key: str, valid: Mapping[str, str]) -> str:
    close = difflib.get_close_matches(key, list(valid), n=1, cutoff=0.6)
    if close:
        return f"unknown key {key!r} (did you mean {close[0]!r}?)"
    return f"unknown key {key!r} (valid keys: {', '.join(valid)})"


def parse_size(value: object) -> int:
    """A message size: a whole number of bytes, or text like ``4096``, ``4K``, ``1M``, ``1MiB``.

    Raises ``ValueError`` with a one-line reason; does not check the range.
    """
    if isinstance(value, bool):
        raise ValueError(f"must be {TOP_KEYS['message_size']}, got {value!r}")
    if isinstance(value, int):
        return value
    if not isinstance(value, str):
        raise ValueError(f"must be {TOP_KEYS['message_size']}, got {type(value).__name__}")
    units = {"": 1, "K": 1 << 10, "M": 1 << 20}
    t = value.strip().upper().removesuffix("B").removesuffix("I")
    unit = t[-1:] if t[-1:] in ("K", "M") else ""
    try:
        number = float(t[: len(t) - len(unit)])
    except ValueError:
        raise ValueError(f"must be a size in bytes like 4096 or '1M', got {value!r}") from None
    if not math.isfinite(number):
        raise ValueError(f"must be a size in bytes like 4096 or '1M', got {value!r}")
    return int(number * units[unit])


class _Reader:
    """Type-checks one table of a scenario file, raising ConfigError with file and line."""

    def __init__(self, source: str, lines: Mapping[str, int]) -> None:
        self.source = source
        self.lines = lines

    def error(self, path: str, message: str) -> ConfigError:
        line = self.lines.get(path)
        if line is None and "." in path:  # a key we could not place: its table's line
            line = self.lines.get(path.rsplit(".", 1)[0])
        return ConfigError(path, message, self.source, line)

    def check_keys(self, table: Mapping[str, Any], valid: Mapping[str, str], prefix: str) -> None:
        for key in table:
            if key not in valid:
                raise self.error(prefix + key, _suggest(key, valid))

    def string(self, table: Mapping[str, Any], key: str, path: str, default: str) -> str:
        value = table.get(key, default)
        if not isinstance(value, str):
            raise self.error(path, f"must be a string, got {_show(value)}")
        return value

    def number(self, table: Mapping[str, Any], key: str, path: str) -> float | None:
        value = table.get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.error(path, f"must be a number, got {_show(value)}")
        if not math.isfinite(value):
            raise self.error(path, f"must be a finite number, got {value}")
        return float(value)


def _show(value: object) -> str:
    """A value's TOML type and a short repr, for messages: ``string 'abc'``."""
    kind = {
        bool: "boolean",
        int: "integer",
        float: "float",
        str: "string",
        list: "array",
        dict: "table",
    }.get(type(value), type(value).__name__)
    text = repr(value)
    if len(text) > 30:
        text = text[:27] + "..."
    return f"{kind} {text}"


def _group(r: _Reader, raw: object, i: int) -> WorkerSpec:
    prefix = f"workers[{i}]."
    if not isinstance(raw, dict):
        raise r.error(f"workers[{i}]", f"must be a table, got {_show(raw)}")
    for key in raw:
        if key not in GROUP_KEYS and key in TOP_KEYS:
            raise r.error(
                prefix + key,
                "is a scenario key, not a group key: move it above the first [[workers]]",
            )
    r.check_keys(raw, GROUP_KEYS, prefix)
    kwargs: dict[str, Any] = {}
    kwargs["name"] = r.string(raw, "name", prefix + "name", "worker")
    count = raw.get("count", 1)
    if isinstance(count, bool) or not isinstance(count, int):
        raise r.error(prefix + "count", f"must be a whole number, got {_show(count)}")
    kwargs["count"] = count
    kwargs["workload"] = r.string(raw, "workload", prefix + "workload", "cpu")
    daemon = raw.get("daemon", True)
    if not isinstance(daemon, bool):
        raise r.error(prefix + "daemon", f"must be true or false, got {_show(daemon)}")
    kwargs["daemon"] = daemon
    if "start_method" in raw:
        kwargs["start_method"] = r.string(raw, "start_method", prefix + "start_method", "")
    if "affinity" in raw:
        affinity = raw["affinity"]
        if isinstance(affinity, int) and not isinstance(affinity, bool):
            affinity = [affinity]
        if not isinstance(affinity, list) or not all(
            isinstance(c, int) and not isinstance(c, bool) for c in affinity
        ):
            raise r.error(
                prefix + "affinity", f"must be an array of core numbers, got {_show(affinity)}"
            )
        if len(set(affinity)) != len(affinity):
            raise r.error(prefix + "affinity", f"names a core twice: {affinity}")
        kwargs["affinity"] = tuple(affinity)
    task_seconds = r.number(raw, "task_seconds", prefix + "task_seconds")
    if task_seconds is not None:
        kwargs["task_seconds"] = task_seconds
    if "nice" in raw:
        nice = raw["nice"]
        if isinstance(nice, bool) or not isinstance(nice, int):
            raise r.error(prefix + "nice", f"must be a whole number, got {_show(nice)}")
        kwargs["nice"] = nice
    try:
        return WorkerSpec(**kwargs)
    except ConfigError as err:
        key = _OPTION_TO_KEY.get(err.where, err.where)
        raise r.error(prefix + key, err.message) from None


def _program(r: _Reader, data: Mapping[str, Any], folder: Path) -> tuple[str, tuple[str, ...], int]:
    """A program scenario's file (absolute, found in ``folder`` unless absolute), arguments and
    output lines."""
    value = data["program"]
    if not isinstance(value, str) or not value.strip():
        raise r.error("program", f"must be {TOP_KEYS['program']}, got {_show(value)}")
    path = (folder / value).resolve()
    if not path.is_file():
        raise r.error("program", f"no such file: {path}")
    for key in SPAWN_KEYS:
        if key in data:
            line = r.lines.get(key) or r.lines.get(f"{key}[0]")  # [[workers]]: its first table
            raise ConfigError(
                key,
                f"conflicts with program = {value!r} (the program starts its own processes; "
                "give its options in args)",
                r.source,
                line,
            )
    args = data.get("args", [])
    if not isinstance(args, list) or not all(isinstance(a, str) for a in args):
        raise r.error("args", f"must be {TOP_KEYS['args']}, got {_show(args)}")
    lines = data.get("output_lines", OUTPUT_LINES)
    if isinstance(lines, bool) or not isinstance(lines, int):
        raise r.error("output_lines", f"must be a whole number, got {_show(lines)}")
    if not 1 <= lines <= MAX_OUTPUT_LINES:
        raise r.error("output_lines", f"must be between 1 and {MAX_OUTPUT_LINES}, got {lines}")
    return str(path), tuple(args), lines


def scenario_from_dict(
    data: Mapping[str, Any],
    source: str = "<scenario>",
    lines: Mapping[str, int] | None = None,
    *,
    programs: Path | None = None,
) -> ScenarioFile:
    """Validate parsed TOML ``data`` into a :class:`ScenarioFile`.

    ``source`` names the file in errors; ``lines`` maps key paths to lines
    (:func:`key_lines`); ``programs`` is the folder a ``program`` is looked up
    in (default: the source file's, or the current folder for ``<scenario>``).
    Raises :class:`ConfigError` for anything wrong:
    unknown keys (with the nearest valid one), wrong types, counts below 1,
    unknown workloads or start methods, a custom target that cannot be
    imported, a core that does not exist, and options that conflict.
    Never raises anything else for any mapping of TOML values.
    """
    r = _Reader(source, lines or {})
    if not isinstance(data, Mapping):
        raise r.error("", f"must be a table of keys, got {_show(data)}")
    r.check_keys(data, TOP_KEYS, "")
    name = r.string(data, "name", "name", Path(source).stem if source[:1] != "<" else "")
    if "\n" in name or len(name) > MAX_NAME:
        raise r.error("name", f"must be one line of at most {MAX_NAME} characters")
    description = r.string(data, "description", "description", "")
    if "\n" in description.strip():
        raise r.error("description", "must be one line (use lesson for more)")
    lesson = r.string(data, "lesson", "lesson", "")
    if "program" in data:
        if programs is None:
            programs = Path(source).parent if source[:1] != "<" else Path.cwd()
        program, args, output_lines = _program(r, data, programs)
        interval = r.number(data, "interval", "interval")
        try:
            placeholder = Scenario(name=name, interval=1.0 if interval is None else interval)
        except ConfigError as err:
            raise r.error(_OPTION_TO_KEY.get(err.where, err.where), err.message) from None
        return ScenarioFile(
            placeholder, description.strip(), lesson.strip(), source, program, args, output_lines
        )
    for key in ("args", "output_lines"):
        if key in data:
            raise r.error(key, "only with program (a scenario that runs a program)")
    kwargs: dict[str, Any] = {"name": name}
    if "start_method" in data:
        kwargs["start_method"] = r.string(data, "start_method", "start_method", "")
    if "ipc" in data:
        kwargs["ipc"] = r.string(data, "ipc", "ipc", "queue")
    interval = r.number(data, "interval", "interval")
    if interval is not None:
        kwargs["interval"] = interval
    rate = r.number(data, "rate", "rate")
    if rate is not None:
        kwargs["rate"] = rate
    if "message_size" in data:
        try:
            size = parse_size(data["message_size"])
        except ValueError as err:
            raise r.error("message_size", str(err)) from None
        kwargs["message_size"] = size
    if kwargs.get("ipc") == "none":
        for key in ("message_size", "rate"):
            if key in data:
                raise r.error(key, 'conflicts with ipc = "none" (no messages are sent)')
    if "workers" not in data:
        raise r.error("workers", "missing: add at least one [[workers]] table")
    groups_raw = data["workers"]
    if isinstance(groups_raw, dict):
        raise r.error("workers", "must be an array of tables: write [[workers]], not [workers]")
    if not isinstance(groups_raw, list):
        raise r.error(
            "workers", f"must be an array of tables ([[workers]]), got {_show(groups_raw)}"
        )
    if not groups_raw:
        raise r.error("workers", "must hold at least one [[workers]] table")
    groups = tuple(_group(r, g, i) for i, g in enumerate(groups_raw))
    seen: dict[str, int] = {}
    for i, g in enumerate(groups):
        if g.name in seen:
            raise r.error(
                f"workers[{i}].name",
                f"{g.name!r} conflicts with workers[{seen[g.name]}].name (group names must differ)",
            )
        seen[g.name] = i
    try:
        scenario = Scenario(groups=groups, **kwargs)
    except ConfigError as err:
        key = _OPTION_TO_KEY.get(err.where, err.where)
        raise r.error(key, err.message) from None
    return ScenarioFile(scenario, description.strip(), lesson.strip(), source)


def parse_scenario_text(
    text: str, source: str = "<scenario>", *, programs: Path | None = None
) -> ScenarioFile:
    """Parse TOML ``text`` into a :class:`ScenarioFile` (``programs``: see
    :func:`scenario_from_dict`). Raises :class:`ConfigError` only."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        message = str(err)
        line: int | None = None
        if m := _TOML_POS.search(message):
            line = int(m.group(1))
            message = f"{message[: m.start()]} (column {m.group(2)})"
        elif m := _TOML_EOF.search(message):
            line = max(1, text.count("\n") + (0 if text.endswith("\n") else 1))
            message = f"{message[: m.start()]} (at end of file)"
        raise ConfigError("TOML syntax", message, source, line) from None
    except (ValueError, RecursionError) as err:  # e.g. embedded NUL, absurd nesting
        raise ConfigError("TOML syntax", str(err) or type(err).__name__, source) from None
    return scenario_from_dict(data, source, key_lines(text), programs=programs)


def load_scenario(path: str | Path) -> ScenarioFile:
    """Read and validate the scenario file at ``path``. Raises :class:`ConfigError` only.

    The file's directory is appended to ``sys.path`` (never prepended, so it
    cannot shadow mptop) so that a custom ``module:function`` workload can
    live next to the scenario.
    """
    source = str(path)
    p = Path(path)
    try:
        raw = p.read_bytes()
    except FileNotFoundError:
        raise ConfigError("", "no such file", source) from None
    except IsADirectoryError:
        raise ConfigError("", "is a directory, not a scenario file", source) from None
    except OSError as err:
        raise ConfigError("", f"cannot read: {err.strerror or err}", source) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        line = raw[: err.start].count(b"\n") + 1
        raise ConfigError("", "not UTF-8 text (TOML files are UTF-8)", source, line) from None
    folder = str(p.resolve().parent)
    if folder not in sys.path:
        sys.path.append(folder)
    return parse_scenario_text(text, source)


def _scenarios_dir() -> Any:
    return resources.files("mptop.workers.scenarios")


def examples_dir() -> Path:
    """The folder of the example programs installed with mptop (``mptop.examples``), where
    a bundled scenario's ``program`` is."""
    return Path(str(resources.files("mptop.examples")))


def bundled_names() -> list[str]:
    """Names of the scenarios shipped with mptop, sorted (``pool``, ``daemons``, ...)."""
    return sorted(
        entry.name.removesuffix(".toml")
        for entry in _scenarios_dir().iterdir()
        if entry.name.endswith(".toml")
    )


def load_bundled(name: str) -> ScenarioFile:
    """The bundled scenario ``name``. Raises :class:`ConfigError` naming ``--scenario``."""
    names = bundled_names()
    if name not in names:
        close = difflib.get_close_matches(name, names, n=1, cutoff=0.5)
        hint = f"did you mean {close[0]!r}?" if close else f"choose from {', '.join(names)}"
        raise ConfigError("--scenario", f"no bundled scenario {name!r} ({hint})")
    entry = _scenarios_dir().joinpath(f"{name}.toml")
    return parse_scenario_text(
        entry.read_text(encoding="utf-8"), f"{name}.toml", programs=examples_dir()
    )


def replace_groups(scenario: Scenario, **changes: Any) -> Scenario:
    """``scenario`` with ``changes`` applied to every group (command-line overrides)."""
    groups = tuple(dataclasses.replace(g, **changes) for g in scenario.groups)
    return dataclasses.replace(scenario, groups=groups)
