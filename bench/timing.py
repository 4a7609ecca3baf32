"""Timing helpers the benchmarks share (standard library only: bare baselines import it too)."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable


def timed(f: Callable[[], object], repeat: int = 5) -> float:
    """Median seconds of ``repeat`` calls of ``f`` (``time.perf_counter``)."""
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        f()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)
