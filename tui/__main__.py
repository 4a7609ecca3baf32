"""``python -m tui`` runs mptop."""

import sys

from tui.cli import main

if __name__ == "__main__":
    sys.exit(main())
