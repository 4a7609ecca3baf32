"""What the probe of ``mptop run`` costs a program: throughput and start-up, probed vs unprobed.

A Queue-heavy program (one producer process puts N messages of a payload
size into a ``multiprocessing.Queue``, one consumer takes them; the time runs
from the first put to the last take) runs as a fresh ``python`` process, once
with the probe (``workers/inject`` first on ``PYTHONPATH``, a probe folder in
``MPTOP_PROBE_DIR``, as ``mptop run`` starts it) and once without, in
interleaved pairs (probed, plain, plain, probed, ...: ABBA, so a drift of the
machine favours neither). Printed per payload: the medians of both, and the
median of the pairs' ratios probed/plain with its interquartile range (1.00 =
the probe costs nothing measurable). Each run moves enough messages (about a
second) that the Queue's thread and wake-up pattern of a run averages out.

Start-up: from ``Popen`` to the program's first line of output, for a program
that imports multiprocessing and prints, each probed run with a fresh probe
folder (as ``mptop run`` makes one per run), in ABBA pairs: once with the
probe compiled (a copy of the folder with its ``__pycache__``, as pip installs
it) and once with the folder as it is (under ``PYTHONDONTWRITEBYTECODE`` and
without a ``__pycache__`` there, every process compiles the probe at start).

    python bench/probe_overhead.py [PAIRS] [--inject DIR] [--rows]

``--inject``: another probe folder (an older version, to compare), instead of
``workers/inject``. ``--rows``: then the figures as rows of bench/table.py on
the last line (JSON). Goals (docs/PERFORMANCE.md): probed/plain throughput at
least 0.95 at every payload; start-up at most 1.1x.
"""

from __future__ import annotations

import os
import py_compile
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bench.table import Row

INJECT = Path(__file__).resolve().parent.parent / "workers" / "inject"

PROGRAM = """\
import multiprocessing as mp, sys, time

def consume(q, n, done):
    for _ in range(n):
        q.get()
    done.put(time.perf_counter())

if __name__ == "__main__":
    n, size = int(sys.argv[1]), int(sys.argv[2])
    ctx = mp.get_context("fork")
    q, done = ctx.Queue(maxsize=1024), ctx.SimpleQueue()
    c = ctx.Process(target=consume, args=(q, n, done))
    c.start()
    payload = b"x" * size
    t0 = time.perf_counter()
    for _ in range(n):
        q.put(payload)
    t1 = done.get()
    c.join()
    print(n / (t1 - t0))
"""

STARTUP = "import multiprocessing, multiprocessing.queues\nprint('ready', flush=True)\n"

PAYLOADS = ((8, 100000), (4096, 50000), (1 << 20, 400))
MIN_THROUGHPUT_RATIO = 0.95  # probed/plain messages per second
MAX_STARTUP_RATIO = 1.1  # probed/plain time to the first line
ROWS_FLAG = "--rows"  # bench.table.ROWS_FLAG


def env(probed: bool, probe_dir: str, inject: Path = INJECT) -> dict[str, str]:
    e = dict(os.environ)
    e.pop("MPTOP_PROBE_DIR", None)
    if probed:
        e["PYTHONPATH"] = os.pathsep.join(p for p in (str(inject), e.get("PYTHONPATH")) if p)
        e["MPTOP_PROBE_DIR"] = probe_dir
    return e


def throughput(prog: Path, n: int, size: int, probed: bool, probe_dir: str, inject: Path) -> float:
    out = subprocess.run(
        [sys.executable, str(prog), str(n), str(size)],
        env=env(probed, probe_dir, inject),
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return float(out.stdout.strip())


def startup(prog: Path, probed: bool, probe_dir: str, inject: Path) -> float:
    e = env(probed, probe_dir, inject)
    if probed:  # a fresh folder, as mptop run makes one per run
        os.mkdir(probe_dir)
    t0 = time.perf_counter()
    p = subprocess.Popen([sys.executable, str(prog)], env=e, stdout=subprocess.PIPE, text=True)
    assert p.stdout is not None
    p.stdout.readline()
    elapsed = time.perf_counter() - t0
    p.wait(30)
    return elapsed


def quartiles(xs: list[float]) -> tuple[float, float]:
    q = statistics.quantiles(xs, n=4) if len(xs) > 1 else [xs[0], xs[0], xs[0]]
    return q[0], q[2]


def compiled_copy(inject: Path, dest: Path) -> Path:
    """A copy of the probe folder with its modules compiled into ``__pycache__`` (as installed)."""
    shutil.copytree(inject, dest, ignore=shutil.ignore_patterns("__pycache__"))
    for src in dest.glob("*.py"):
        py_compile.compile(str(src), doraise=True)  # the default place: __pycache__ beside it
    return dest


def ratio_line(label: str, probed: list[float], plain: list[float]) -> str:
    ratios = [a / b for a, b in zip(probed, plain, strict=True)]
    low, high = quartiles(ratios)
    return (
        f"start-up to the first line, {label}: plain {statistics.median(plain) * 1000:.1f} ms, "
        f"probed {statistics.median(probed) * 1000:.1f} ms, ratio {statistics.median(ratios):.2f} "
        f"IQR {low:.2f}-{high:.2f} (goal: at most 1.1)"
    )


def throughput_row(
    label: str, pairs: int, ratios: list[float], plain: list[float], probed: list[float]
) -> Row:
    """One payload's row: the median pair ratio probed/plain messages per second, in x."""
    from bench.table import Row

    low, high = quartiles(ratios)
    return Row(
        f"probe: probed/plain Queue msg/s, {label}",
        statistics.median(ratios),
        "x",
        min_value=MIN_THROUGHPUT_RATIO,
        note=f"median of {pairs} ABBA pair ratios, IQR {low:.2f}-{high:.2f}; medians: plain "
        f"{statistics.median(plain):.0f} msg/s, probed {statistics.median(probed):.0f} msg/s",
    )


def startup_row(label: str, probed: list[float], plain: list[float]) -> Row:
    """One start-up row: the median pair ratio probed/plain of the time to the first line, in x.

    The pairs' median, not the ratio of the medians, as the printed line says it
    (adjacent runs share the machine's state of the moment).
    """
    from bench.table import Row

    ratios = [a / b for a, b in zip(probed, plain, strict=True)]
    low, high = quartiles(ratios)
    return Row(
        f"probe: probed/plain start-up to the first line, {label}",
        statistics.median(ratios),
        "x",
        max_value=MAX_STARTUP_RATIO,
        note=f"median of {len(ratios)} ABBA pair ratios, IQR {low:.2f}-{high:.2f}; medians: "
        f"plain {statistics.median(plain) * 1000:.1f} ms, probed "
        f"{statistics.median(probed) * 1000:.1f} ms",
    )


def main() -> None:
    """Print the tables for ``[PAIRS] [--inject DIR]``; ``--rows``: then the rows as JSON."""
    args = sys.argv[1:]
    json_rows = ROWS_FLAG in args
    args = [a for a in args if a != ROWS_FLAG]
    if json_rows and not __package__:  # run as python bench/probe_overhead.py
        sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    rows: list[Row] = []
    inject = INJECT
    if "--inject" in args:
        at = args.index("--inject")
        inject = Path(args[at + 1]).resolve()
        del args[at : at + 2]
    pairs = int(args[0]) if args else 8
    with tempfile.TemporaryDirectory() as tmp:
        prog, start = Path(tmp) / "queue_heavy.py", Path(tmp) / "startup.py"
        prog.write_text(PROGRAM)
        start.write_text(STARTUP)
        probe_dir = str(Path(tmp) / "probe")
        os.mkdir(probe_dir)
        print(f"probe: {inject}")
        print(f"probed / plain, 1 producer -> 1 consumer over a Queue, fork, {pairs} ABBA pairs")
        print(f"{'payload':>8} {'plain msg/s':>12} {'probed':>10} {'ratio':>6} {'ratio IQR':>11}")
        for size, n in PAYLOADS:
            plain: list[float] = []
            probed: list[float] = []
            ratios: list[float] = []
            for i in range(pairs):
                order = (True, False) if i % 2 == 0 else (False, True)
                got = {p: throughput(prog, n, size, p, probe_dir, inject) for p in order}
                probed.append(got[True])
                plain.append(got[False])
                ratios.append(got[True] / got[False])
            low, high = quartiles(ratios)
            label = (
                f"{size} B" if size < 1024 else f"{size // 1024} KiB" if size < 1 << 20 else "1 MiB"
            )
            print(
                f"{label:>8} {statistics.median(plain):>12.0f} {statistics.median(probed):>10.0f} "
                f"{statistics.median(ratios):>6.2f} {low:>5.2f}-{high:<5.2f}"
            )
            if json_rows:
                rows.append(throughput_row(label, pairs, ratios, plain, probed))
        compiled = compiled_copy(inject, Path(tmp) / "inject-compiled")
        if (inject / "__pycache__").is_dir():
            as_is = "with its __pycache__"
        elif os.environ.get("PYTHONDONTWRITEBYTECODE"):
            as_is = "PYTHONDONTWRITEBYTECODE: compiled at every start"
        else:
            as_is = "compiled at the first start"
        for label, short, folder in (
            ("probe compiled (as installed)", "probe compiled", compiled),
            (f"probe folder as it is ({as_is})", as_is.rpartition(": ")[2], inject),
        ):
            s_plain: list[float] = []
            s_probed: list[float] = []
            for i in range(pairs * 2):
                order = (True, False) if i % 2 == 0 else (False, True)
                run_dir = str(Path(tmp) / f"probe-{len(label)}-{i}")
                got = {p: startup(start, p, run_dir, folder) for p in order}
                s_probed.append(got[True])
                s_plain.append(got[False])
            print(ratio_line(label, s_probed, s_plain))
            if json_rows:
                rows.append(startup_row(short, s_probed, s_plain))
    if json_rows:
        from bench.table import emit

        emit(rows)


if __name__ == "__main__":
    main()
