"""The layers of docs/ARCHITECTURE.md hold: import-linter's contracts in pyproject.toml pass.

- the engine (``mptop.workers``) never imports the front end or Textual;
- the front end (``mptop.tui``) imports only the engine's public face: the
  Source API, the records and the configuration, never the parts inside a source;
- the sources do not import each other.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.timeout(60)

ROOT = Path(__file__).resolve().parent.parent


def lint_imports() -> str:
    exe = Path(sys.executable).parent / "lint-imports"
    found = str(exe) if exe.exists() else shutil.which("lint-imports")
    assert found, "lint-imports is missing: pip install -e '.[test]' installs import-linter"
    return found


def test_the_import_contracts_are_kept() -> None:
    run = subprocess.run(
        [lint_imports(), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    assert "0 broken" in run.stdout and "3 kept" in run.stdout, run.stdout[-2000:]
