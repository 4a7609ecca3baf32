"""The tails of a worker's captured stdout, stderr and traceback files."""

from __future__ import annotations

import os
from pathlib import Path

from mptop.workers.detail import OutputTail
from mptop.workers.printable import printable

# How much of the end of a file to read, bytes.
TAIL_BYTES = 64 * 1024
# Lines the output view (key o) shows of each file.
OUTPUT_LINES = 500
# A worker's stdout or stderr file is emptied when it passes this many bytes: the files are in
# the temporary folder, often a tmpfs (memory), and a worker printing 10,000 lines a second
# writes about 0.5 MiB/s to the two.
LOG_CAP = 16 * 1024 * 1024


def output_tail(what: str, path: Path, lines: int = OUTPUT_LINES) -> OutputTail:
    """The :class:`OutputTail` of ``path`` now (empty if it cannot be read)."""
    try:
        size = path.stat().st_size if path.name else 0
    except OSError:
        size = 0
    return OutputTail(what, str(path), tail_lines(path, lines), size)


def tail_lines(path: Path, lines: int, max_bytes: int = TAIL_BYTES) -> tuple[str, ...]:
    """The last ``lines`` lines of the text file ``path`` (reads at most ``max_bytes``); () if unreadable.

    Bytes that are not UTF-8 are replaced (U+FFFD); each line is :func:`printable`.
    """
    if not path.name:
        return ()
    try:
        with path.open("rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - max_bytes))
            data = f.read()
    except OSError:
        return ()
    text = data.decode("utf-8", errors="replace")
    split = text.removesuffix("\n").split("\n") if text else []  # not splitlines: "\r" is no end
    return tuple(printable(line) for line in split[-lines:])


def tail_text(path: Path, lines: int, max_bytes: int = TAIL_BYTES) -> str:
    """:func:`tail_lines` joined with newlines; "" if unreadable."""
    return "\n".join(tail_lines(path, lines, max_bytes))


def trim(path: Path, cap: int = LOG_CAP) -> int:
    """Empty ``path`` if it holds more than ``cap`` bytes, leaving one line that says so.

    Returns the bytes dropped (0 if none). The writer keeps its ``O_APPEND``
    fd, so its next line lands after that one; a line it writes in the same
    instant may be lost. Never raises (an unreadable file is left alone).
    """
    try:
        size = path.stat().st_size
        if size <= cap:
            return 0
        with path.open("r+b") as f:
            f.truncate(0)
            f.write(f"[mptop: the first {size >> 20} MiB of this output were dropped]\n".encode())
    except OSError:
        return 0
    return size
