"""Recordings: snapshots to JSON Lines or flat CSV and back, generically and strictly.

A JSONL recording is one JSON object per line. Line 1 is the header::

    {"kind": "header", "version": 2, "mptop": "0.1.0", "started": 1704164645.0,
     "scenario": {"name": ..., "description": ..., "lesson": ..., "start_method": ...,
                  "interval": 1.0, "ipc": "queue", "message_size": 0, "rate": null,
                  "groups": [{"name": ..., "count": ..., "workload": ..., ...}, ...]}}

and every further line is one :class:`~mptop.workers.snapshot.Snapshot`::

    {"kind": "snapshot", "version": 2, "time": ..., "interval": ..., "start_method": ...,
     "cores": [{"index": 0, "percent": 97.0, "worker_pids": [4101]}, ...],
     "workers": [{"pid": 4101, "name": "procs-2", ...}, ...],
     "channels": [...], "events": [...], "load_avg": [1.5, 0.75, 0.25], "notes": []}

The fields are those of the dataclasses in :mod:`mptop.workers.snapshot`, walked with
:func:`dataclasses.fields`, so new fields are recorded without touching this
module. On load, a missing field that has a default takes it (older
recordings), and an unknown or mistyped field is an error.

The CSV form is one table per kind of thing (workers, cores, channels, events, ticks), each
its own file with one row per item per tick and one column per field, so pandas reads numbers
as numbers (:class:`CsvWriter`; every column and its unit: docs/RECORDING.md).
"""

from __future__ import annotations

import csv
import dataclasses
import enum
import io
import json
import math
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Protocol

from mptop.workers import __version__
from mptop.workers.snapshot import ChannelSample, CoreSample, Event, Snapshot, WorkerSample
from mptop.workers.spec import Scenario

# 2: workers have ppid, tasks_done and current_task_seconds (a version-1 recording still reads:
# a missing field takes its default); 3: a cluster's workers have host, thread_count, the
# worker's memory and task figures, restarts and replaces (mptop dask)
VERSION = 3
READABLE = (1, 2, 3)
# A recording line longer than this is corrupt, not a snapshot (bytes).
MAX_LINE = 64 << 20


class RecordingError(ValueError):
    """A recording that cannot be read. ``str()`` is one line: ``FILE:LINE: message``."""

    def __init__(self, source: str, message: str, line: int | None = None) -> None:
        self.source = source
        self.line = line
        self.message = message
        where = f"{source}:{line}" if line is not None else source
        super().__init__(" ".join(f"{where}: {message}".split()))


class _Bad(Exception):
    """A decoding error at a path inside one line (internal)."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}" if path else message)


# -- encoding ----------------------------------------------------------------------


def to_jsonable(value: object) -> Any:
    """A dataclass, tuple, enum or plain value -> JSON-ready dicts, lists and scalars.

    Only ``init`` fields of dataclasses are written (derived fields are rebuilt on load).
    """
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value) if f.init
        }
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, tuple | list):
        return [to_jsonable(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def snapshot_record(snap: Snapshot) -> dict[str, Any]:
    """One JSONL snapshot line as a dict (``kind``, ``version``, then the fields)."""
    return {"kind": "snapshot", "version": VERSION, **to_jsonable(snap)}


def scenario_record(scenario: Scenario, description: str = "", lesson: str = "") -> dict[str, Any]:
    """The header's ``scenario`` object: the run's settings and its words."""
    return {
        "name": scenario.name,
        "description": description,
        "lesson": lesson,
        "start_method": scenario.start_method,
        "interval": scenario.interval,
        "ipc": scenario.ipc,
        "message_size": scenario.message_size,
        "rate": scenario.rate,
        "groups": [to_jsonable(g) for g in scenario.groups],
    }


def header_record(scenario_info: dict[str, Any], started: float) -> dict[str, Any]:
    """The header line: ``kind``, ``version``, mptop's version, start time (``time.time()``)."""
    return {
        "kind": "header",
        "version": VERSION,
        "mptop": __version__,
        "started": started,
        "scenario": scenario_info,
    }


def _dumps(obj: object) -> str:
    return json.dumps(obj, allow_nan=False, separators=(",", ":"), ensure_ascii=False)


# -- decoding ----------------------------------------------------------------------


def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_type_name(a) for a in typing.get_args(tp))
    if origin is tuple:
        return "an array"
    if tp is type(None):
        return "null"
    if dataclasses.is_dataclass(tp):
        return "an object"
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return "one of " + ", ".join(repr(m.value) for m in tp)
    return {int: "a whole number", float: "a number", str: "a string", bool: "true or false"}.get(
        tp, str(tp)
    )


def _short(value: object) -> str:
    text = json.dumps(value) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 30 else text[:27] + "..."


def _decode(tp: Any, value: object, path: str) -> Any:
    """``value`` from JSON as the type ``tp`` (a type hint); raises _Bad naming ``path``."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        for arg in typing.get_args(tp):
            try:
                return _decode(arg, value, path)
            except _Bad:
                continue
        raise _Bad(path, f"must be {_type_name(tp)}, got {_short(value)}")
    if tp is type(None):
        if value is None:
            return None
        raise _Bad(path, f"must be null, got {_short(value)}")
    if origin is tuple:
        args = typing.get_args(tp)
        if not isinstance(value, list):
            raise _Bad(path, f"must be an array, got {_short(value)}")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_decode(args[0], v, f"{path}[{i}]") for i, v in enumerate(value))
        if len(value) != len(args):
            raise _Bad(path, f"must have {len(args)} items, got {len(value)}")
        return tuple(
            _decode(a, v, f"{path}[{i}]") for i, (a, v) in enumerate(zip(args, value, strict=True))
        )
    if dataclasses.is_dataclass(tp):
        assert isinstance(tp, type)
        return decode_dataclass(tp, value, path)
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        try:
            return tp(value)
        except ValueError:
            raise _Bad(path, f"must be {_type_name(tp)}, got {_short(value)}") from None
    if tp is bool:
        if isinstance(value, bool):
            return value
    elif tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif tp is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            if not math.isfinite(value):
                raise _Bad(path, f"must be a finite number, got {value}")
            return float(value)
    elif tp is str:
        if isinstance(value, str):
            return value
    else:
        raise _Bad(path, f"cannot read a field of type {tp}")
    raise _Bad(path, f"must be {_type_name(tp)}, got {_short(value)}")


_HINTS: dict[type, dict[str, Any]] = {}


def decode_dataclass(cls: type, value: object, path: str = "") -> Any:
    """Build dataclass ``cls`` from a JSON object, strictly.

    Missing fields with defaults take them; missing required fields, unknown
    fields and mistyped values raise an internal error naming the field path.
    """
    if not isinstance(value, dict):
        raise _Bad(path, f"must be an object, got {_short(value)}")
    hints = _HINTS.get(cls)
    if hints is None:
        hints = _HINTS[cls] = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    prefix = f"{path}." if path else ""
    for key in value:
        if key not in fields:
            raise _Bad(prefix + str(key), f"unknown field in {cls.__name__}")
    kwargs: dict[str, Any] = {}
    for name, f in fields.items():
        if name in value:
            kwargs[name] = _decode(hints[name], value[name], prefix + name)
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise _Bad(prefix + name, f"missing (a required field of {cls.__name__})")
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as err:
        raise _Bad(path, str(err)) from None


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not a number JSON allows")


def parse_snapshot_line(text: str) -> Snapshot:
    """One JSONL snapshot line -> :class:`Snapshot`. Raises ``ValueError`` with a one-line reason."""
    try:
        obj = json.loads(text, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as err:
        raise ValueError(f"not valid JSON: {err}") from None
    if not isinstance(obj, dict):
        raise ValueError(f"must be a JSON object, got {_short(obj)}")
    if obj.get("kind") != "snapshot":
        raise ValueError(f"kind: must be 'snapshot', got {_short(obj.get('kind'))}")
    _check_version(obj)
    body = {k: v for k, v in obj.items() if k not in ("kind", "version")}
    try:
        snap: Snapshot = decode_dataclass(Snapshot, body)
    except _Bad as err:
        raise ValueError(str(err)) from None
    return snap


def _check_version(obj: dict[str, Any]) -> None:
    version = obj.get("version")
    if version not in READABLE or isinstance(version, bool):
        raise ValueError(
            f"version: this mptop reads recordings of version {', '.join(map(str, READABLE[:-1]))} or {READABLE[-1]}, got {_short(version)}"
        )


@dataclass(frozen=True, slots=True)
class Recording:
    """A loaded JSONL recording: the header's fields and the snapshots, oldest first.

    ``name``/``description``/``lesson`` come from the header's scenario;
    ``interval`` is the recording's tick, seconds; ``header`` the raw header object.
    ``cut_off`` is the number (1-based) of a last line that was cut off and left out
    (a run killed in the middle of a write; read with ``partial=True``), else ``None``.
    """

    source: str
    header: dict[str, Any]
    snapshots: tuple[Snapshot, ...]
    name: str = ""
    description: str = ""
    lesson: str = ""
    interval: float = 1.0
    cut_off: int | None = None


def _header(obj: object) -> tuple[dict[str, Any], str, str, str, float]:
    if not isinstance(obj, dict) or obj.get("kind") != "header":
        raise ValueError(
            "not an mptop recording: line 1 must be the header "
            '({"kind": "header", "version": 1, ...})'
        )
    _check_version(obj)
    info = obj.get("scenario", {})
    if not isinstance(info, dict):
        raise ValueError(f"scenario: must be an object, got {_short(info)}")
    words = []
    for key in ("name", "description", "lesson"):
        value = info.get(key, "")
        if not isinstance(value, str):
            raise ValueError(f"scenario.{key}: must be a string, got {_short(value)}")
        words.append(value)
    interval = info.get("interval", 1.0)
    if (
        isinstance(interval, bool)
        or not isinstance(interval, int | float)
        or not 0 < interval < 1e6
    ):
        raise ValueError(f"scenario.interval: must be a number of seconds, got {_short(interval)}")
    return obj, words[0], words[1], words[2], float(interval)


def read_recording(path: str | Path, *, partial: bool = False) -> Recording:
    """Load a JSONL recording. Raises :class:`RecordingError` (one line) for any defect.

    Defects: a missing or unreadable file, no header, a version this mptop
    does not read, a line that is not JSON (a truncated last line says so),
    a snapshot with unknown, missing or mistyped fields, no snapshot at all,
    or times that go backwards. ``partial=True`` (what ``mptop replay`` reads
    with) keeps the snapshots before a last line that is cut off, the trace of
    a run killed in the middle of a write, and notes its number in
    :attr:`Recording.cut_off`; a cut-off line with no whole snapshot before it is
    still an error. Reads the whole file; never blocks on input.
    """
    source = str(path)
    p = Path(path)
    if p.suffix.lower() == ".csv":
        raise RecordingError(source, "replay reads JSONL recordings (--output run.jsonl), not CSV")
    try:
        data = p.read_bytes()
    except FileNotFoundError:
        raise RecordingError(source, "no such file") from None
    except IsADirectoryError:
        raise RecordingError(source, "is a directory, not a recording") from None
    except OSError as err:
        raise RecordingError(source, f"cannot read: {err.strerror or err}") from None
    return parse_recording(data, source, partial=partial)


def parse_recording(
    data: bytes, source: str = "<recording>", *, partial: bool = False
) -> Recording:
    """Parse the bytes of a JSONL recording (see :func:`read_recording`)."""
    if not data.strip():
        raise RecordingError(source, "empty file, not an mptop recording")
    lines = data.split(b"\n")
    complete = data.endswith(b"\n")
    if complete:
        lines.pop()
    header: tuple[dict[str, Any], str, str, str, float] | None = None
    snaps: list[Snapshot] = []
    cut_off: int | None = None
    last_time = -math.inf
    for number, raw in enumerate(lines, start=1):
        truncated = number == len(lines) and not complete
        if len(raw) > MAX_LINE:
            raise RecordingError(source, f"line longer than {MAX_LINE} bytes", number)
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            if truncated and partial and snaps:  # cut inside a character
                cut_off = number
                break
            raise RecordingError(source, "not UTF-8 text", number) from None
        if not text.strip():
            raise RecordingError(source, "empty line", number)
        try:
            if header is None:
                try:
                    obj = json.loads(text, parse_constant=_reject_constant)
                except (ValueError, RecursionError) as err:
                    raise ValueError(
                        f"not an mptop recording: line 1 must be the header (not JSON: {err})"
                    ) from None
                header = _header(obj)
                continue
            snap = parse_snapshot_line(text)
        except ValueError as err:
            if truncated and partial and snaps:
                cut_off = number
                break
            if truncated:
                raise RecordingError(
                    source, f"truncated: the last line is cut off ({err})", number
                ) from None
            raise RecordingError(source, str(err), number) from None
        if snap.time < last_time:
            raise RecordingError(
                source, f"time goes backwards ({snap.time} after {last_time})", number
            )
        last_time = snap.time
        snaps.append(snap)
    assert header is not None
    if not snaps:
        raise RecordingError(source, "no snapshots after the header")
    obj, name, description, lesson, interval = header
    return Recording(source, obj, tuple(snaps), name, description, lesson, interval, cut_off)


# -- writers -----------------------------------------------------------------------


class SnapshotWriter(Protocol):
    """Writes snapshots to a file, one tick at a time, each flushed whole.

    ``path`` is the file asked for; ``files`` every file it writes (a CSV recording: one
    per table), ``path`` first.
    """

    path: Path
    files: tuple[Path, ...]

    def write(self, snap: Snapshot) -> None:
        """Append one snapshot (a whole line or rows) and flush."""

    def close(self) -> None:
        """Close the file (idempotent)."""


class JsonlWriter:
    """JSON Lines: the header, then one snapshot per line, each flushed as a whole line."""

    def __init__(self, path: Path, header: dict[str, Any]) -> None:
        self.path = path
        self.files: tuple[Path, ...] = (path,)
        self._f: IO[str] = path.open("w", encoding="utf-8", newline="\n")
        self._f.write(_dumps(header) + "\n")
        self._f.flush()

    def write(self, snap: Snapshot) -> None:
        # One write call per line: Ctrl+C (handled as a flag) never splits a line.
        self._f.write(_dumps(snapshot_record(snap)) + "\n")
        self._f.flush()

    def close(self) -> None:
        if not self._f.closed:
            self._f.close()


# The CSV tables, in the order they are written: the name (the file's infix: run.cores.csv;
# "" for the file named by --output, which holds the workers) -> the dataclass one row is.
# Every table starts with tick (the snapshot's number in the recording, from 0) and time
# (its time.time(), seconds), the keys to join them on.
CSV_KEYS = ("tick", "time")


def _csv_fields(cls: type, skip: tuple[str, ...] = ()) -> tuple[str, ...]:
    """The recorded (``init``) fields of dataclass ``cls``, in their order, less ``skip``."""
    return tuple(f.name for f in dataclasses.fields(cls) if f.init and f.name not in skip)


# Fields that are not columns: a worker's threads (only while H shows them: never headless;
# JSONL keeps them), and the snapshot's own lists (the other tables).
_WORKER_COLUMNS = _csv_fields(WorkerSample, ("threads",))
# mptop's own process, one per tick: these of its fields, as mptop_pid, mptop_cpu_percent, ...
MPTOP_FIELDS = ("pid", "state", "core", "cpu_percent", "rss")
# Properties derived from the recorded fields, added as columns (the UI shows them).
_DERIVED: dict[type, tuple[str, ...]] = {
    CoreSample: ("others_percent",),
    ChannelSample: ("backlog", "delivered", "lost"),
    Snapshot: ("total_percent",),
}

CSV_TABLES: dict[str, tuple[str, ...]] = {
    "": (*CSV_KEYS, *_WORKER_COLUMNS),
    "cores": (*CSV_KEYS, *_csv_fields(CoreSample), *_DERIVED[CoreSample]),
    "channels": (*CSV_KEYS, *_csv_fields(ChannelSample), *_DERIVED[ChannelSample]),
    "events": (*CSV_KEYS, *("event_" + f if f == "time" else f for f in _csv_fields(Event))),
    "ticks": (
        *CSV_KEYS,
        "version",
        *(
            f
            for f in _csv_fields(Snapshot, ("time", "cores", "workers", "channels", "events"))
            if f not in ("load_avg", "mptop")
        ),
        "load_avg_1",
        "load_avg_5",
        "load_avg_15",
        *_DERIVED[Snapshot],
        *(f"mptop_{f}" for f in MPTOP_FIELDS),
    ),
}
"""The columns of each CSV table (see :func:`csv_paths` for the file names, docs/RECORDING.md
for each column's unit)."""


def csv_paths(path: Path) -> dict[str, Path]:
    """The files a CSV recording ``path`` (``run.csv``) writes, by table: ``""`` -> ``run.csv``
    (the workers), ``"cores"`` -> ``run.cores.csv``, and so on for every :data:`CSV_TABLES`."""
    return {
        table: path if not table else path.with_name(f"{path.stem}.{table}{path.suffix}")
        for table in CSV_TABLES
    }


def _cell(value: object) -> object:
    """One CSV cell: ``None`` (and a non-finite float) -> empty, bool -> ``true``/``false``
    (what ``pandas.read_csv`` reads as bool), an enum -> its value, a list -> JSON text."""
    value = to_jsonable(value)
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | dict):
        return _dumps(value)
    return value


def csv_rows(snap: Snapshot, tick: int) -> dict[str, list[tuple[object, ...]]]:
    """The rows of one snapshot for each CSV table (:data:`CSV_TABLES`), cells as
    :func:`_cell` writes them: one row per worker, core, channel and event, one for the tick."""
    keys = (tick, snap.time)

    def row(item: object, fields: tuple[str, ...]) -> tuple[object, ...]:
        return (*keys, *(_cell(getattr(item, f)) for f in fields))

    load = snap.load_avg or (None, None, None)
    mine = snap.mptop
    tick_fields = CSV_TABLES["ticks"][len(CSV_KEYS) + 1 :]
    plain = tick_fields[: tick_fields.index("load_avg_1")]
    ticks = (
        *keys,
        VERSION,
        *(_cell(getattr(snap, f)) for f in plain),
        *(_cell(v) for v in load),
        *(_cell(getattr(snap, f)) for f in _DERIVED[Snapshot]),
        *(_cell(None if mine is None else getattr(mine, f)) for f in MPTOP_FIELDS),
    )
    event_fields = _csv_fields(Event)
    return {
        "": [row(w, _WORKER_COLUMNS) for w in snap.workers],
        "cores": [row(c, CSV_TABLES["cores"][len(CSV_KEYS) :]) for c in snap.cores],
        "channels": [row(c, CSV_TABLES["channels"][len(CSV_KEYS) :]) for c in snap.channels],
        "events": [row(e, event_fields) for e in snap.events],
        "ticks": [ticks],
    }


class CsvWriter:
    """A CSV recording: one table per kind of thing, each its own file (:func:`csv_paths`), one
    row per worker (core, channel, event) per tick, one column per field; every table is
    flushed after each tick.

    Tidy data, as pandas' docs describe it: each variable a column, each observation a row,
    each kind of observation a table; so ``pandas.read_csv`` reads numbers as numbers (null
    is an empty cell: NaN) and ``true``/``false`` as bool. Raises ``OSError`` (its ``filename``
    names the file) if a table cannot be created; the ones created before are removed.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.tables = csv_paths(path)
        self.files = tuple(self.tables.values())
        self._files: dict[str, IO[str]] = {}
        try:
            for table, where in self.tables.items():
                f = where.open("w", encoding="utf-8", newline="")
                self._files[table] = f
                csv.writer(f).writerow(CSV_TABLES[table])
                f.flush()
        except OSError:
            self.close()
            for table in self._files:  # no half a recording: the tables made so far go
                self.tables[table].unlink(missing_ok=True)
            raise
        self._tick = 0

    def write(self, snap: Snapshot) -> None:
        # Each table's rows are built in memory and written in one call, so a table never
        # holds half a tick.
        for table, rows in csv_rows(snap, self._tick).items():
            if not rows:
                continue
            buf = io.StringIO()
            csv.writer(buf).writerows(rows)
            f = self._files[table]
            f.write(buf.getvalue())
            f.flush()
        self._tick += 1

    def close(self) -> None:
        for f in self._files.values():
            if not f.closed:
                f.close()


OUTPUT_SUFFIXES = (".jsonl", ".csv")


def open_writer(path: Path, header: dict[str, Any]) -> SnapshotWriter:
    """A writer for ``path`` by its suffix: ``.jsonl`` (with ``header``) or ``.csv``.

    Raises ``ValueError`` for another suffix and ``OSError`` if the file cannot be created.
    """
    suffix = path.suffix.lower()
    if suffix == ".jsonl":
        return JsonlWriter(path, header)
    if suffix == ".csv":
        return CsvWriter(path)
    raise ValueError(f"must end in .jsonl or .csv, got {path.name!r}")


def write_recording(
    path: Path, snapshots: list[Snapshot] | tuple[Snapshot, ...], header: dict[str, Any]
) -> None:
    """Write ``snapshots`` to ``path`` at once (tests and sample recordings)."""
    writer = open_writer(path, header)
    try:
        for snap in snapshots:
            writer.write(snap)
    finally:
        writer.close()
