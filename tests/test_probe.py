"""The probe `mptop run` injects: it counts every message of an unmodified program, on every
start method and on every CPython 3.9-3.13 found (a missing one is skipped with the reason)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from mptop.workers import program_counters
from mptop.workers.program_counters import ProbeFiles
from tests.test_cpython import python_or_skip

pytestmark = pytest.mark.timeout(60)

INJECT = Path(program_counters.__file__).parent / "inject"
VERSIONS = ["3.9", "3.10", "3.11", "3.12", "3.13"]

PROGRAM = """\
import multiprocessing as mp, os, sys

def consumer(tasks, results):
    os.write(1, f"PROC {os.getpid()}\\n".encode())  # one write: lines of two processes never mix
    for item in iter(tasks.get, None):
        results.put(len(item))

if __name__ == "__main__":
    ctx = mp.get_context(sys.argv[1])
    tasks, results = ctx.Queue(), ctx.SimpleQueue()
    here, there = ctx.Pipe()
    procs = [ctx.Process(target=consumer, args=(tasks, results), name=f"cons-{i}") for i in range(2)]
    for p in procs:
        p.start()
    for _ in range(100):
        tasks.put(b"x" * 64)
    for _ in procs:
        tasks.put(None)
    total = sum(results.get() for _ in range(100))
    here.send(total)
    assert there.recv() == total
    for p in procs:
        p.join()
    os.write(1, f"PROC {os.getpid()}\\n".encode())  # one write: lines of two processes never mix
    print("SENT", 102, 100, 1)
"""


def run_probed(
    tmp_path: Path, python: str, method: str, *flags: str, env: dict[str, str] | None = None
) -> tuple[subprocess.CompletedProcess[str], dict[int, program_counters.ProcessCounts]]:
    prog = tmp_path / "prog.py"
    prog.write_text(PROGRAM)
    probe_dir = tmp_path / "probe"
    probe_dir.mkdir(exist_ok=True)
    full_env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(
            [str(INJECT), *(env or {}).get("PYTHONPATH", "").split(os.pathsep)]
        ).rstrip(os.pathsep),
        "MPTOP_PROBE_DIR": str(probe_dir),
    }
    run = subprocess.run(
        [python, *flags, str(prog), method],
        cwd=tmp_path,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=50,
    )
    return run, ProbeFiles(probe_dir).read()


def channels(counts: dict[int, program_counters.ProcessCounts]) -> dict[str, list[int]]:
    """Per label: [sent, sent bytes, received, received bytes] summed over both inodes and all PIDs."""
    labels: dict[int, str] = {}
    for pc in counts.values():
        for line in pc.lines:
            if line.startswith("L "):
                _, a, b, label = line.split(" ", 3)
                labels[int(a)] = labels[int(b)] = label
    out: dict[str, list[int]] = {}
    for pc in counts.values():
        for s in pc.slots:
            tot = out.setdefault(labels.get(s.inode, f"pipe:[{s.inode}]"), [0, 0, 0, 0])
            for i, v in enumerate((s.sent, s.sent_bytes, s.received, s.received_bytes)):
                tot[i] += v
    return out


def test_the_layouts_agree() -> None:
    source = (INJECT / "_mptop_probe.py").read_text()
    for name in ("MAGIC", "HEADER_WORDS", "SLOT_WORDS", "SLOTS", "TEXT"):
        value = getattr(program_counters, name)
        assert f"\n{name} = " in source
        line = next(ln for ln in source.splitlines() if ln.startswith(f"{name} = "))
        assert eval(line.split("=", 1)[1].split("#")[0]) == value, name


@pytest.mark.parametrize("method", ["fork", "forkserver", "spawn"])
@pytest.mark.parametrize("version", VERSIONS)
def test_every_message_is_counted(tmp_path: Path, version: str, method: str) -> None:
    exe = python_or_skip(version)
    run, counts = run_probed(tmp_path, str(exe), method)
    assert run.returncode == 0, run.stderr
    pids = {int(line.split()[1]) for line in run.stdout.splitlines() if line.startswith("PROC")}
    assert pids <= set(counts), (pids, set(counts))  # every process of the program has a file
    got = channels(counts)
    queue = got["prog.py:10 Queue"]
    simple = got["prog.py:10 SimpleQueue"]
    pipe = got["prog.py:11 Pipe"]
    assert queue[0] == queue[2] == 102  # 100 items and 2 sentinels, sent = received
    assert queue[1] == queue[3]  # bytes: the pickled payloads, the same both ways
    assert simple[0] == simple[2] == 100 and simple[1] == simple[3]
    assert pipe[0] == pipe[2] == 1


def test_a_users_sitecustomize_still_runs(tmp_path: Path) -> None:
    mine = tmp_path / "site"
    mine.mkdir()
    (mine / "sitecustomize.py").write_text("import os\nos.environ['USER_SITE_RAN'] = 'yes'\n")
    (tmp_path / "check.py").write_text("import os\nprint(os.environ.get('USER_SITE_RAN'))\n")
    probe_dir = tmp_path / "probe"
    probe_dir.mkdir()
    env = {
        **os.environ,
        "PYTHONPATH": f"{INJECT}{os.pathsep}{mine}",
        "MPTOP_PROBE_DIR": str(probe_dir),
    }
    run = subprocess.run(
        [sys.executable, str(tmp_path / "check.py")],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert run.stdout.strip() == "yes", run.stderr
    assert list(probe_dir.iterdir())  # and the probe ran too


def test_a_folder_with_its_own_workers_py_is_counted(tmp_path: Path) -> None:
    (tmp_path / "workers.py").write_text("raise ImportError('the user workers.py')\n")
    run, counts = run_probed(tmp_path, sys.executable, "forkserver")
    assert run.returncode == 0, run.stderr
    assert any(v[0] == 102 for v in channels(counts).values())


def test_isolated_mode_is_not_probed(tmp_path: Path) -> None:
    run, counts = run_probed(tmp_path, sys.executable, "spawn", "-I")
    assert run.returncode == 0, run.stderr
    assert counts == {}  # -I ignores PYTHONPATH: nothing to count, and mptop says why
