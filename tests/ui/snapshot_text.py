"""Print the text of snapshot SVGs, one terminal line per line, to review them without a browser.

``python -m tests.ui.snapshot_text [SVG ...]`` (default: every SVG under
``tests/ui/__snapshots__``). Textual's SVG export puts each run of text in a
``<text>`` element with its x position (12.2 px per cell) and its line
(``clip-path="url(#terminal-line-N)"``); cells no element covers are blanks.
"""

from __future__ import annotations

import html
import re
import sys
from pathlib import Path

CELL_PX = 12.2
_TEXT = re.compile(
    r'<text class="[^"]*" x="([\d.]+)" y="[\d.]+" textLength="[\d.]+"'
    r' clip-path="url\(#[\w-]+-line-(\d+)\)">([^<]*)</text>'
)


def svg_text(svg: str) -> list[str]:
    """The lines of the terminal an SVG snapshot shows, trailing blanks cut."""
    lines: dict[int, dict[int, str]] = {}
    for x, line, text in _TEXT.findall(svg):
        col = round(float(x) / CELL_PX)
        row = lines.setdefault(int(line), {})
        for i, ch in enumerate(html.unescape(text).replace("\xa0", " ")):
            row[col + i] = ch
    out = []
    for n in range(max(lines, default=-1) + 1):
        row = lines.get(n, {})
        out.append("".join(row.get(i, " ") for i in range(max(row, default=-1) + 1)).rstrip())
    return out


def main(paths: list[str]) -> None:
    files = [Path(p) for p in paths] or sorted(
        Path(__file__).with_name("__snapshots__").rglob("*.svg")
    )
    for f in files:
        print(f"== {f.name}")
        print("\n".join(svg_text(f.read_text())))


if __name__ == "__main__":
    main(sys.argv[1:])
