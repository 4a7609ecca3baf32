"""Scenario files bundled with mptop (``mptop --list-scenarios``)."""
