"""mptop's screens: help."""
