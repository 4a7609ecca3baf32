"""Short, fixed-width renderings of numbers for the tables. ``None`` renders as an en dash."""

from __future__ import annotations

DASH = "–"


def percent(value: float | None) -> str:
    """``87.3`` -> ``"87.3"``; percent where 100 = one full core."""
    return DASH if value is None else f"{value:.1f}"


def count(value: float | None) -> str:
    """A rate or count with a k/M suffix: ``1234.5`` -> ``"1.2k"``."""
    if value is None:
        return DASH
    v = abs(value)
    if v < 1000:
        return f"{value:.0f}" if v >= 10 or value == int(value) else f"{value:.1f}"
    for unit, scale in (("k", 1e3), ("M", 1e6), ("G", 1e9)):
        if v < scale * 1000:
            return f"{value / scale:.1f}{unit}"
    return f"{value / 1e12:.1f}T"


def size(value: float | None) -> str:
    """Bytes with binary units, htop style: ``15097856`` -> ``"14.4M"``."""
    if value is None:
        return DASH
    v = float(value)
    for unit in ("B", "K", "M", "G"):
        if abs(v) < 1024:
            return f"{v:.0f}{unit}" if unit == "B" else f"{v:.1f}{unit}"
        v /= 1024
    return f"{v:.1f}T"


def seconds(value: float | None) -> str:
    """A duration for a narrow cell: ``4.25`` -> ``"4.2s"``, ``75`` -> ``"1m15s"``, ``7384`` -> ``"2h03m"``."""
    if value is None:
        return DASH
    if value < 60:
        return f"{value:.1f}s"
    m, s = divmod(int(value), 60)
    if m < 60:
        return f"{m}m{s:02d}s"
    h, m = divmod(m, 60)
    return f"{h}h{m:02d}m"
