"""mptop run: a process of the user's program says what each thread runs (the probe's faulthandler)."""

from __future__ import annotations

from pathlib import Path

import pytest

from mptop.workers.commands import CommandError
from mptop.workers.run_source import RunSource
from mptop.workers.snapshot import Snapshot
from tests.helpers import alive, wait_for
from tests.test_cpython import python_or_skip

pytestmark = pytest.mark.timeout(60)

PROGRAM = """\
import multiprocessing as mp, os, sys, time

def work():
    os.write(1, f"PROC {os.getpid()}\\n".encode())
    time.sleep(30)  # line 5

if __name__ == "__main__":
    p = mp.get_context(sys.argv[1]).Process(target=work, name="sleeper")
    p.start()
    p.join()
"""


@pytest.mark.parametrize("method", ["fork", "forkserver", "spawn"])
@pytest.mark.parametrize("version", ["3.9", "3.13"])
def test_a_child_sleeping_in_work_shows_work_with_its_file_and_line(
    tmp_path: Path, version: str, method: str
) -> None:
    exe = python_or_skip(version)
    prog = tmp_path / "sleeper.py"
    prog.write_text(PROGRAM)
    source = RunSource([str(exe), str(prog), method], interval=0.2)
    seen: list[int] = []
    try:

        def deliver(snap: Snapshot) -> None:
            seen.extend(w.pid for w in snap.workers)
            source.arm()

        source.start(deliver, print)

        def child() -> int | None:
            for line in source.log_path.read_text().splitlines():
                if line.startswith("PROC"):
                    return int(line.split()[1])
            return None

        found = wait_for(child, timeout=20)
        assert found is not None
        pid: int = found

        def in_work() -> bool:
            try:
                dump = source.stacks(pid)
            except CommandError:
                return False  # not seen yet
            frames = [f for t in dump.threads for f in t.frames]
            return any(f.function == "work" and f.file == str(prog) and f.line == 5 for f in frames)

        wait_for(in_work, timeout=15)
        assert source.files.read()[pid].ppid > 0  # the probe says its parent
        root = source._popen.pid if source._popen is not None else None
        with pytest.raises(CommandError, match="not a process of the program"):
            source.stacks(1)
        assert root is not None and alive([root, pid]) == [root, pid]  # asking killed nothing
    finally:
        source.close()
    assert alive(seen) == []
