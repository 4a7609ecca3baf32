"""mptop's engine: spawns, controls and measures worker processes and their IPC.

This package never imports ``textual`` or ``tui``; it runs without a terminal
(headless recording, benchmarks, tests).
"""

__version__ = "0.1.0"
