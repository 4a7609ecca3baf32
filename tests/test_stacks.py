"""Stacks (workers/stacks.py): a worker asked with SIGRTMIN+6 says what each thread runs now."""

from __future__ import annotations

import inspect

import pytest

from mptop.tui.app import MptopApp
from mptop.tui.screens.detail import DetailScreen
from mptop.tui.widgets.workers_table import WorkerTable
from mptop.workers.commands import CommandError, ToggleSuspend
from mptop.workers.stacks import parse
from tests import targets
from tests.conftest import SourceFactory
from tests.helpers import until, wait_for

pytestmark = pytest.mark.timeout(60)

WORK_LINE = inspect.getsourcelines(targets.work)[1] + 2  # its time.sleep(30)


def test_faulthandlers_text_is_read_thread_by_thread() -> None:
    text = (
        "Thread 0x00007f1c2a5fe640 (most recent call first):\n"
        '  File "/usr/lib/python3.11/threading.py", line 320 in wait\n'
        '  File "/x/prog.py", line 12 in work\n'
        "\n"
        "Current thread 0x00007f1c2b9f1740 (most recent call first):\n"
        '  File "/x/prog.py", line 30 in main\n'
    )
    (worker, main) = parse(text)
    assert worker.ident == "0x00007f1c2a5fe640" and not worker.current
    assert [(f.function, f.line) for f in worker.frames] == [("wait", 320), ("work", 12)]
    assert main.current and main.frames[0].file == "/x/prog.py"


@pytest.mark.parametrize("method", ["fork", "forkserver", "spawn"])
def test_a_worker_sleeping_in_work_shows_work_with_its_file_and_line(
    make_source: SourceFactory, method: str
) -> None:
    source = make_source(count=1, start_method=method, workload="tests.targets:work")
    source.start(lambda snap: source.arm(), lambda line: None)
    wait_for(lambda: source.supervisor.handles(), timeout=20)  # (they start on a thread)
    (h,) = source.supervisor.handles()
    wait_for(lambda: h.guarded, timeout=20)

    def in_work() -> bool:
        frames = [f for t in source.stacks(h.pid).threads for f in t.frames]
        return any(f.function == "work" and f.file.endswith("targets.py") for f in frames)

    wait_for(in_work, timeout=10)  # (first the worker sets up, then it calls work)
    dump = source.stacks(h.pid)
    main = next(t for t in dump.threads if any(f.function == "work" for f in t.frames))
    work = next(f for f in main.frames if f.function == "work")
    assert work.line == WORK_LINE
    assert main.frames[0].function == "work"  # most recent call first: time.sleep is C
    assert len(dump.threads) >= 2  # and the worker's parent-guard thread
    # a suspended worker cannot answer, and says so instead of hanging
    source.send(ToggleSuspend(h.pid))
    with pytest.raises(CommandError, match="suspended"):
        source.stacks(h.pid)
    source.send(ToggleSuspend(h.pid))
    assert h.alive  # the signal did not kill it


async def test_the_detail_shows_the_stacks_and_r_reads_them_again(
    make_source: SourceFactory,
) -> None:
    source = make_source(count=1, workload="tests.targets:work")
    app = MptopApp(source)
    async with app.run_test(size=(120, 50)) as pilot:
        table = app.query_one(WorkerTable)
        await until(pilot, lambda: len(table.order) == 1)
        (h,) = source.supervisor.handles()
        await until(pilot, lambda: h.guarded, timeout=20)
        await pilot.press("enter")
        screen = app.screen
        assert isinstance(screen, DetailScreen)

        def shows_work() -> bool:
            d = screen.stack_dump
            return d is not None and any(f.function == "work" for t in d.threads for f in t.frames)

        for _ in range(20):  # r asks again until the worker has reached work()
            await pilot.press("r")
            if await until_or_false(pilot, shows_work):
                break
        assert shows_work()
        assert f"targets.py:{WORK_LINE}" in str(screen.query_one("#stacks").render())


async def until_or_false(pilot: object, cond: object) -> bool:
    try:
        await until(pilot, cond, timeout=1.0)  # type: ignore[arg-type]
    except AssertionError:
        return False
    return True
