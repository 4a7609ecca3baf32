"""Workload functions the bundled scenarios use as custom ``module:function`` targets.

Each is called once per task, with no arguments, inside a worker; its return
value is the result sent back to mptop.
"""

from __future__ import annotations

import random
import time

# Bounds of one uneven task, seconds.
UNEVEN_MIN = 0.01
UNEVEN_MAX = 0.19


def uneven_task() -> float:
    """Sleep a random 10-190 ms, like a task whose cost depends on its input; returns the seconds.

    Tasks of unequal length finish out of the order they were handed out,
    which is why ``Pool.imap_unordered`` exists.
    """
    seconds = random.uniform(UNEVEN_MIN, UNEVEN_MAX)
    time.sleep(seconds)
    return seconds
