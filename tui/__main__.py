"""``python -m mptop.tui`` runs mptop."""

import sys

from mptop.tui.cli import main

if __name__ == "__main__":
    sys.exit(main())
