"""A program's output as inert text, safe to show on a terminal (or a browser's xterm.js)."""

from __future__ import annotations

import re

# A terminal's escape sequences (ECMA-48): CSI (ESC [ ... final byte: colours, cursor moves,
# clear screen), OSC (ESC ] ... BEL or ESC \: window titles, hyperlinks), DCS/SOS/PM/APC strings
# (ESC P/X/^/_ ... ESC \), and the two-byte ESC sequences; then the C0 and C1 controls left.
_ESCAPES = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]"
    r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?"
    r"|\x1b[PX^_][^\x1b]*(?:\x1b\\)?"
    r"|\x1b[ -/]*[0-~]?"
    r"|[\x00-\x08\x0b-\x1f\x7f-\x9f]"
)


def printable(line: str) -> str:
    """``line`` of a program's output as inert text: what a terminal would leave of it after a
    carriage return (the part after the last ``\\r``: a progress bar's last state), without
    escape sequences or control characters (tabs kept), so that showing it cannot clear or
    recolour mptop's screen, or a browser session's, or ring its bell."""
    if "\r" in line:
        line = line.rstrip("\r").rsplit("\r", 1)[-1]
    return _ESCAPES.sub("", line)
