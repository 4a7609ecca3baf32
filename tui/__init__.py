"""mptop's Textual front end: reads snapshots from ``workers``, sends commands back."""

from mptop.workers import __version__

__all__ = ["__version__"]
