"""The run-based lessons: a bundled scenario runs a real program from examples/ through mptop run.

Each lesson's claim in numbers, on this 2-core machine, through the real ``mptop
--scenario NAME --headless`` (the program's output passes through headless, and the
recording holds what mptop saw), plus the plumbing: the lesson panel shows the program's
latest lines, and a scenario that runs a program refuses the spawned run's options.
"""

from __future__ import annotations

import dataclasses
import queue
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from mptop.workers.record import Recording, read_recording
from mptop.workers.snapshot import WorkerSample
from tests.helpers import reap_recorded
from tests.terminal import mptop_cmd

pytestmark = pytest.mark.timeout(60)

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


@dataclass
class Run:
    """One headless run of a bundled scenario: what the program printed, what mptop recorded."""

    stdout: str
    stderr: str
    returncode: int
    mptop_pid: int
    rec: Recording

    def seen(self) -> dict[int, WorkerSample]:
        """Each process's last sample (a process that ended keeps its last one)."""
        return {w.pid: w for s in self.rec.snapshots for w in s.workers}


def run_scenario(tmp_path: Path, name: str) -> Run:
    """``mptop --scenario NAME --headless --output run.jsonl``, to the program's end."""
    out = tmp_path / "run.jsonl"
    cmd = mptop_cmd("--scenario", name, "--headless", "--output", str(out))
    proc = subprocess.Popen(
        cmd, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        stdout, stderr = proc.communicate(timeout=50)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    rec = read_recording(out)
    reap_recorded(rec.snapshots)
    assert proc.returncode == 0, stderr
    assert rec.name == name and str(EXAMPLES) in rec.lesson  # the lesson names the file
    return Run(stdout, stderr, proc.returncode, proc.pid, rec)


def numbers(line: str) -> list[int]:
    """``  map order:   0 1 2  (one list, after 0.58 s)`` -> ``[0, 1, 2]``."""
    return [int(n) for n in line.split(":", 1)[1].split("(")[0].split()]


def first_after(line: str) -> float:
    m = re.search(r"\((?:first|one list,) after ([0-9.]+) s\)", line)
    assert m, line
    return float(m.group(1))


def test_pool_order_map_and_imap_keep_the_order_imap_unordered_does_not(tmp_path: Path) -> None:
    run = run_scenario(tmp_path, "pool-order")
    lines = run.stdout.splitlines()
    calls: dict[str, list[str]] = {}
    for line in lines:
        label = re.sub(r"^round \d+ ", "round N ", line.split(":", 1)[0])
        if label in ("round N finished", "map order", "imap order", "imap_unordered order"):
            calls.setdefault(label, []).append(line)
    assert {label: len(got) for label, got in calls.items()} == {
        "round N finished": 2,
        "map order": 2,
        "imap order": 2,
        "imap_unordered order": 2,
    }, run.stdout
    tasks = list(range(12))
    for n in range(2):  # each round
        assert numbers(calls["map order"][n]) == tasks
        assert numbers(calls["imap order"][n]) == tasks
        unordered = numbers(calls["imap_unordered order"][n])
        assert sorted(unordered) == tasks and unordered != tasks, calls["imap_unordered order"]
        assert calls["round N finished"][n].startswith(f"round {n + 1} finished:")
        assert sorted(numbers(calls["round N finished"][n])) == tasks
        # imap waits for the slow first task; imap_unordered hands over the first one done
        assert first_after(calls["imap_unordered order"][n]) < first_after(calls["imap order"][n])
    # task 0 (300 ms) is the slowest of the first four: the first two of round 1 finish first
    assert numbers(calls["imap_unordered order"][0])[0] != 0

    # the screen: the same 4 Pool workers all along, 72 tasks in their Tasks column, and
    # the task queue's 72 tasks + 4 stop sentinels
    seen = run.seen()
    workers = {pid: w for pid, w in seen.items() if "PoolWorker" in w.name}
    assert len(workers) == 4
    assert all(w.ppid == run.rec.snapshots[0].workers[0].pid for w in workers.values())
    assert sum(w.tasks_done or 0 for w in workers.values()) == 72
    assert all(w.exitcode == 0 for w in workers.values())
    channels = {c.kind: c for c in run.rec.snapshots[-1].channels}
    assert channels["Pool task queue"].sent == channels["Pool task queue"].received == 76
    assert channels["Pool result queue"].received >= 72


def test_process_api_starts_a_pid_per_task_the_pool_four(tmp_path: Path) -> None:
    run = run_scenario(tmp_path, "process-api-vs-pool")
    seen = run.seen()
    root = run.rec.snapshots[0].workers[0]
    assert root.name == "process_api_vs_pool.py"
    by_hand = {w.name: w for w in seen.values() if re.fullmatch(r"task-\d+", w.name)}
    pool = {pid: w for pid, w in seen.items() if "PoolWorker" in w.name}
    # the Process API: 16 PIDs, one task each (taken as an argument: no Tasks count), exit 0
    assert sorted(by_hand) == sorted(f"task-{i}" for i in range(16))
    assert len({w.pid for w in by_hand.values()}) == 16
    assert all(w.ppid == root.pid and w.exitcode == 0 for w in by_hand.values())
    assert all(w.tasks_done is None and w.start_method == "spawn" for w in by_hand.values())
    # the Pool API: 4 PIDs that took the same 16 tasks between them
    assert len(pool) == 4 and all(w.ppid == root.pid for w in pool.values())
    # named by multiprocessing's count of every Process the program made: after the 16
    assert sorted(w.name for w in pool.values()) == [f"SpawnPoolWorker-{n}" for n in range(17, 21)]
    assert sum(w.tasks_done or 0 for w in pool.values()) == 16
    assert all((w.tasks_done or 0) >= 1 for w in pool.values())
    channels = {c.kind: c for c in run.rec.snapshots[-1].channels}
    assert channels["Queue"].sent == channels["Queue"].received == 16  # one result per Process

    # what the program printed agrees, and 16 starts cost more than 4
    out = run.stdout
    assert "Process API: 16 PIDs, tasks per PID: " + " ".join(["1"] * 16) in out
    assert re.search(r"Pool API: +4 PIDs, tasks per PID: (\d+ ){3}\d+\n", out), out
    costs = [float(s) for s in re.findall(r"start cost: median \d+ ms, ([0-9.]+) s in all", out)]
    assert len(costs) == 2 and costs[0] > 2 * costs[1], out


def test_current_process_names_pids_and_ppids_match_the_columns(tmp_path: Path) -> None:
    run = run_scenario(tmp_path, "current-process")
    told: dict[str, tuple[int, int, int | None]] = {}  # name -> getpid, getppid, parent_process
    for line in run.stdout.splitlines():
        f = line.split()
        if len(f) >= 4 and f[1].isdigit():
            told[f[0]] = (int(f[1]), int(f[2]), None if f[3] == "None" else int(f[3]))
    assert set(told) == {
        "MainProcess",
        "child-fork",
        "grandchild",
        "child-forkserver",
        "child-spawn",
    }
    seen = run.seen()
    main_pid, main_ppid, main_parent = told["MainProcess"]
    assert main_parent is None and main_ppid == run.mptop_pid  # mptop started it
    assert seen[main_pid].name == "current_process.py" and seen[main_pid].ppid == main_ppid
    for name, (pid, ppid, _) in told.items():
        if name != "MainProcess":  # a child's Name is its current_process().name
            assert seen[pid].name == name
        assert seen[pid].ppid == ppid, (name, seen[pid])  # the PPID column is its getppid()
        assert seen[pid].exitcode == 0
    assert told["child-fork"][1:] == (main_pid, main_pid)
    assert told["child-spawn"][1:] == (main_pid, main_pid)
    fork_pid = told["child-fork"][0]
    assert told["grandchild"][1:] == (fork_pid, fork_pid)
    # forked by the fork server, made by the main process's start()
    _, server, parent = told["child-forkserver"]
    assert parent == main_pid and server != main_pid
    # the fork server is the main process's child; once the main process has exited (at the
    # end), it is an orphan and may read PPID 1
    assert seen[server].name == "forkserver"
    ppids = {w.ppid for snap in run.rec.snapshots for w in snap.workers if w.pid == server}
    assert main_pid in ppids and ppids <= {main_pid, 1}, ppids


def test_process_vs_thread_a_process_has_its_own_memory_threads_share_theirs(
    tmp_path: Path,
) -> None:
    run = run_scenario(tmp_path, "process-vs-thread")
    adds = 100_000
    told: dict[str, tuple[int, int, int, int]] = {}  # name -> getpid, getppid, TID, counter
    for line in run.stdout.splitlines():
        f = line.split()
        if len(f) >= 5 and all(s.isdigit() for s in f[1:5]):
            told[f[0]] = (int(f[1]), int(f[2]), int(f[3]), int(f[4]))
    assert set(told) == {"main", "proc-1", "proc-2", "thread-1", "thread-2"}, run.stdout
    main_pid, main_ppid, main_tid, at_start = told["main"]
    assert main_ppid == run.mptop_pid and main_tid == main_pid and at_start == 0
    procs = [told["proc-1"], told["proc-2"]]
    threads = [told["thread-1"], told["thread-2"]]
    # each process: a PID of its own (its one thread's TID), its own copy of counter
    assert len({pid for pid, *_ in procs} | {main_pid}) == 3
    assert all(ppid == main_pid and tid == pid and n == adds for pid, ppid, tid, n in procs)
    # each thread: the main process's PID and PPID, a TID of its own, the one counter
    assert all((pid, ppid) == (main_pid, main_ppid) for pid, ppid, _, _ in threads)
    tids = {tid for _, _, tid, _ in threads}
    assert len(tids) == 2 and main_pid not in tids
    readings = sorted(n for *_, n in threads)
    assert adds <= readings[0] <= 2 * adds and readings[1] == 2 * adds  # the last one: both
    # what the main process sees once all four are done: the threads' adds, no process's
    m = re.search(
        r"main sees counter = (\d+): the threads' (\d+) \+ the processes' (\d+)$", run.stdout, re.M
    )
    assert m and tuple(map(int, m.groups())) == (2 * adds, 2 * adds, 0), run.stdout

    # the screen: each child a row of its own (PPID the main PID, an RSS of its own, exit
    # code 0); the threads are no rows (only TIDs under their process with H)
    seen = run.seen()
    assert seen[main_pid].name == "process_vs_thread.py" and seen[main_pid].exitcode == 0
    for name, (pid, *_) in zip(("proc-1", "proc-2"), procs, strict=True):
        assert seen[pid].name == name and seen[pid].ppid == main_pid, seen[pid]
        assert seen[pid].exitcode == 0
        rss = [w.rss for s in run.rec.snapshots for w in s.workers if w.pid == pid and w.rss]
        assert rss, f"{name}: no RSS read while it ran"
    rows = {w.pid for s in run.rec.snapshots for w in s.workers}
    assert not tids & rows


def test_process_vs_thread_h_shows_the_threads_tids_under_the_main_pid() -> None:
    # H (ShowThreads): the main PID's threads are its first thread (TID = PID) and the two
    # TIDs thread-1 and thread-2 printed; each child process has one thread, TID = its PID
    from mptop.tui.cli import parse_invocation, program_source
    from mptop.workers.commands import ShowThreads
    from mptop.workers.snapshot import Snapshot
    from tests.helpers import alive

    inv = parse_invocation(["--scenario", "process-vs-thread", "--interval", "0.2"])
    source = program_source(inv)
    snaps: queue.Queue[Snapshot] = queue.Queue()
    pids: set[int] = set()

    def deliver(snap: Snapshot) -> None:
        pids.update(w.pid for w in snap.workers if w.name != "mptop (this)")
        snaps.put(snap)
        source.arm()

    source.start(deliver, lambda line: None)
    try:
        source.send(ShowThreads(True))
        deadline = time.monotonic() + 15
        while True:
            assert time.monotonic() < deadline, "no snapshot with both threads and children"
            snap = snaps.get(timeout=10)
            (root,) = [w for w in snap.workers if w.name == "process_vs_thread.py"]
            kids = [w for w in snap.workers if w.name in ("proc-1", "proc-2")]
            said = [
                line
                for tail in source.output(root.pid)
                for line in tail.lines
                if line.startswith("thread-")
            ]
            if (
                len(said) == 2
                and len(root.threads) == 3
                and len(kids) == 2
                and all(k.alive and k.threads for k in kids)
            ):
                break
        printed = {int(line.split()[3]) for line in said}
        assert {t.tid for t in root.threads} == {root.pid} | printed
        assert all([t.tid for t in k.threads] == [k.pid] for k in kids), kids
        assert not printed & {w.pid for w in snap.workers}  # a TID is no row of its own
        assert root.rss and all(k.rss for k in kids)  # RSS: a process's, not a thread's
    finally:
        source.close()
    assert alive(pids) == []


async def test_the_lesson_panel_shows_the_programs_latest_lines() -> None:
    from mptop.tui.app import MptopApp
    from mptop.tui.cli import parse_invocation, program_source
    from mptop.tui.widgets.lesson import LessonPanel
    from tests.helpers import alive, until

    inv = parse_invocation(["--scenario", "pool-order", "--interval", "0.2"])
    assert inv.mode == "run" and inv.loaded is not None
    assert inv.command == (sys.executable, str(EXAMPLES / "pool_order.py"))
    source = program_source(dataclasses.replace(inv, command=(*inv.command, "--rounds", "1")))
    app = MptopApp(source)
    seen: set[int] = set()
    try:
        async with app.run_test(size=(100, 50)) as pilot:
            panel = app.query_one(LessonPanel)

            def shown() -> str:
                return panel.figures_text()  # the lines fixed above the text

            await until(pilot, lambda: "imap_unordered order:" in shown(), timeout=20)
            # the last 4 lines: round 1 whole, each line whole at 100 columns
            program = [line for line in shown().splitlines() if line.startswith("│ ")]
            assert [line.split(":")[0] for line in program] == [
                "│ round 1 finished",
                "│ map order",
                "│ imap order",
                "│ imap_unordered order",
            ]
            assert "The program is " + str(EXAMPLES / "pool_order.py") in panel.lesson
            await until(pilot, lambda: source.info().ended, timeout=20)
            seen |= {w.pid for w in app.snapshot.workers} if app.snapshot else set()
            await pilot.press("q")  # the program has ended: q quits at once
            await until(pilot, lambda: not app.is_running, timeout=10)
    finally:
        source.close()
    assert alive(seen) == []


def test_a_scenario_file_runs_its_own_program_next_to_it(tmp_path: Path) -> None:
    # program = a file next to the scenario, args passed on, the program's exit status
    # passes through; {program} in the lesson is its path
    folder = tmp_path / "lessons"
    folder.mkdir()
    (folder / "prog.py").write_text("import sys\nprint('ARGS', *sys.argv[1:])\nsys.exit(3)\n")
    (folder / "mine.toml").write_text(
        'description = "mine"\nprogram = "prog.py"\nargs = ["--x", "a b"]\n'
        'lesson = "Open {program} to read it."\n'
    )
    out = tmp_path / "run.jsonl"
    done = subprocess.run(
        mptop_cmd(str(folder / "mine.toml"), "--headless", "--output", str(out)),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=30,
    )
    rec = read_recording(out)
    reap_recorded(rec.snapshots)
    assert done.returncode == 3, done.stderr
    assert "ARGS --x a b" in done.stdout
    prog = str(folder / "prog.py")
    assert rec.name == "mine" and rec.lesson.startswith(f"Open {prog} to read it.")
    python, *rest = rec.header["scenario"]["command"]  # the Python mptop runs on
    assert Path(python).resolve() == Path(sys.executable).resolve()
    assert rest == [prog, "--x", "a b"]
    assert rec.snapshots[0].workers[0].name == "prog.py"


@pytest.mark.parametrize(
    ("toml", "args", "text"),
    [
        ('program = "nothere.py"\n', [], "s.toml:1: program: no such file: "),
        (
            'program = "prog.py"\n[[workers]]\nname = "w"\n',
            [],
            "s.toml:2: workers: conflicts with program = 'prog.py'",
        ),
        ('program = "prog.py"\nipc = "pipe"\n', [], "s.toml:2: ipc: conflicts with program"),
        (
            'args = ["-x"]\n[[workers]]\n',
            [],
            "s.toml:1: args: only with program (a scenario that runs a program)",
        ),
        ('program = "prog.py"\nargs = "-x"\n', [], "s.toml:2: args: must be an array of strings"),
        (
            'program = "prog.py"\n',
            ["-n", "3"],
            "--workers: conflicts with scenario s (it runs prog.py",
        ),
        ('program = "prog.py"\n', ["--interval", "0"], "--interval: must be between 0.1 and 10"),
    ],
)
def test_a_program_scenario_refuses_bad_input_in_one_line(
    tmp_path: Path, toml: str, args: list[str], text: str
) -> None:
    (tmp_path / "prog.py").write_text("print('never run')\n")
    (tmp_path / "s.toml").write_text(toml)
    done = subprocess.run(
        mptop_cmd(str(tmp_path / "s.toml"), *args, "--headless", "-o", "x.jsonl"),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 2 and done.stdout == "", done
    assert done.stderr.count("\n") == 1 and text in done.stderr, done.stderr
    assert not (tmp_path / "x.jsonl").exists()
