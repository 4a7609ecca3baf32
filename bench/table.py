"""One row of the benchmark table, and how rows print and travel between processes.

Every benchmark module can give its figures as :class:`Row` objects: ``python
-m bench`` runs each module in a process of its own (``python -m bench.NAME
... --rows``, which prints one JSON list as its last line of output) and
prints them all as one table, or as JSON with ``--json``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

ROWS_FLAG = "--rows"  # a benchmark given this prints its rows as JSON on its last line


@dataclass(frozen=True)
class Row:
    """One measured figure and the baseline measured in the same run.

    ``value`` and ``baseline`` are in ``unit`` (``ms``, ``s``, ``MiB``,
    ``%`` where 100 = one core, ``x``); ``baseline`` is ``None`` where the
    figure has none. The goal is ``value <= max_value`` and/or ``ratio <=
    max_ratio``, or, for a figure that should be high, ``value >= min_value``;
    a row without any is reported, not judged. ``failed`` marks a benchmark
    that crashed or timed out (see :func:`failure`): its ``met`` is ``False``
    and ``note`` says why.
    """

    benchmark: str
    value: float
    unit: str
    baseline: float | None = None
    max_value: float | None = None
    max_ratio: float | None = None
    min_value: float | None = None
    note: str = ""
    failed: bool = False

    @property
    def ratio(self) -> float | None:
        """``value / baseline``, or ``None`` without a baseline (or with a zero one)."""
        if self.baseline is None or self.baseline == 0 or math.isnan(self.baseline):
            return None
        return self.value / self.baseline

    @property
    def goal(self) -> str:
        """The goal as text: ``≤ 10 s, ratio ≤ 1.5``; empty without one."""
        parts = []
        if self.max_value is not None:
            parts.append(f"≤ {_num(self.max_value)} {self.unit}")
        if self.min_value is not None:
            parts.append(f"≥ {_num(self.min_value)} {self.unit}")
        if self.max_ratio is not None:
            parts.append(f"ratio ≤ {_num(self.max_ratio)}")
        return ", ".join(parts)

    @property
    def met(self) -> bool | None:
        """Whether every part of the goal holds; ``None`` without a goal, ``False`` if failed."""
        if self.failed:
            return False
        checks = []
        if self.max_value is not None:
            checks.append(self.value <= self.max_value)
        if self.min_value is not None:
            checks.append(self.value >= self.min_value)
        if self.max_ratio is not None:
            ratio = self.ratio
            checks.append(ratio is not None and ratio <= self.max_ratio)
        return all(checks) if checks else None

    def as_dict(self) -> dict[str, Any]:
        """The row as JSON-ready data, with ``ratio``, ``goal`` and ``met`` filled in."""
        d = asdict(self)
        d.update(ratio=self.ratio, goal=self.goal, met=self.met)
        return d


def from_dict(d: dict[str, Any]) -> Row:
    """A :class:`Row` back from :meth:`Row.as_dict` (the derived keys are dropped).

    A ``value`` of ``None`` (how :func:`to_json` writes NaN) comes back as NaN.
    """
    fields = {k: v for k, v in d.items() if k not in ("ratio", "goal", "met")}
    if fields.get("value") is None:
        fields["value"] = math.nan
    return Row(**fields)


def failure(benchmark: str, note: str) -> Row:
    """A row for a benchmark that crashed or timed out: no value, ``met`` False, ``note`` why."""
    return Row(benchmark, math.nan, "", note=note, failed=True)


def _num(x: float) -> str:
    if math.isnan(x):
        return "-"
    if x == int(x) and abs(x) < 1e6:
        return str(int(x))
    return f"{x:.3g}" if abs(x) < 10 else f"{x:.1f}"


def _finite(x: Any) -> Any:
    return None if isinstance(x, float) and not math.isfinite(x) else x


def to_json(rows: Iterable[Row]) -> str:
    """``rows`` as one line of strict JSON: a list of :meth:`Row.as_dict`, NaN written as null."""
    return json.dumps(
        [{k: _finite(v) for k, v in r.as_dict().items()} for r in rows],
        allow_nan=False,
    )


def emit(rows: Iterable[Row]) -> None:
    """Print ``rows`` as one JSON line (what ``python -m bench`` reads back)."""
    print(to_json(rows), flush=True)


def _cell(x: float | None, unit: str) -> str:
    if x is None or math.isnan(x):
        return "-"
    return f"{_num(x)} {unit}".rstrip()


def render(rows: Sequence[Row]) -> str:
    """The rows as a plain-text table: benchmark, value, baseline, ratio, goal, met.

    A failed row's value reads ``failed`` (its note says why).
    """
    head = ("benchmark", "value", "baseline", "ratio", "goal", "met")
    body = [
        (
            r.benchmark,
            "failed" if r.failed else _cell(r.value, r.unit),
            _cell(r.baseline, r.unit),
            "-" if r.ratio is None or math.isnan(r.ratio) else f"{r.ratio:.2f}",
            r.goal or "-",
            {True: "yes", False: "NO", None: "-"}[r.met],
        )
        for r in rows
    ]
    widths = [max(len(str(c)) for c in col) for col in zip(head, *body, strict=True)]
    lines = [
        "  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip()
        for line in (head, *body)
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
