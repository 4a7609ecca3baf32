"""The IPC panel's words for a channel: a duplex Pipe reads both ways, a Queue one way."""

from __future__ import annotations

from mptop.tui.widgets.channels_table import channel_state, channel_texts, flow_line
from mptop.workers.snapshot import ChannelSample


def sample(name: str, kind: str, producer: str, consumer: str, **kw: object) -> ChannelSample:
    return ChannelSample(name, kind, producer, consumer, 10, 400, 8, 320, 5.0, 200.0, **kw)  # type: ignore[arg-type]


def test_pipe_flow_is_both_ways_and_its_name_is_not_repeated() -> None:
    texts = channel_texts(sample("pipe:worker-1", "Pipe", "mptop", "worker-1"))
    assert texts[0] == "pipe:worker-1"
    assert texts[1] == "mptop ⇄ worker-1"


def test_queue_flow_is_one_way_with_its_kind() -> None:
    texts = channel_texts(sample("tasks", "Queue", "mptop", "workers"))
    assert texts[:2] == ("tasks (Queue)", "mptop → workers")
    chans = (
        sample("tasks", "Queue", "mptop", "workers"),
        sample("results", "Queue", "workers", "mptop"),
    )
    assert flow_line(chans) == "mptop ─tasks→ workers ─results→ mptop"


def test_state_words() -> None:
    assert channel_state(sample("tasks", "Queue", "mptop", "workers", stalled=True)) == "STALLED"
    assert channel_state(sample("tasks", "Queue", "mptop", "workers")) == "flowing"


def test_a_counted_channels_first_tick_is_the_topology_not_the_proc_fd_words() -> None:
    # the first tick of a spawned run (or its replay): nothing sent yet, no rate yet; still
    # mptop's own channels, so the flow line is the path, and the state idle, not open
    first = ChannelSample("tasks", "Queue", "mptop", "workers", 0, 0, 0, 0, None, None)
    back = ChannelSample("results", "Queue", "workers", "mptop", 0, 0, 0, 0, None, None)
    assert flow_line((first, back)) == "mptop ─tasks→ workers ─results→ mptop"
    assert channel_state(first) == "idle"
    # an attached tree's pipe, found in /proc/PID/fd and not counted: open, and said so
    found = ChannelSample(
        "pipe:1234", "Pipe", "1234", "1240", 0, 0, 0, 0, None, None, counted=False
    )
    assert channel_state(found) == "open"
    assert flow_line((found,)).startswith("1 pipe(s) and socket(s) the processes share")


def test_a_source_that_says_how_it_counts_gets_its_words_over_the_channels() -> None:
    chans = (sample("transfers", "transfer", "worker-0", "worker-1"),)
    assert flow_line(chans, note="counted by the receiver") == (
        "1 channel(s): counted by the receiver"
    )
    assert flow_line((), "none yet", "counted by the receiver") == "none yet"


def test_once_the_run_has_ended_every_counted_channel_says_ended() -> None:
    """A program that exited: nothing reads or writes its channels again, so a backlog left is
    not traffic on its way (the flow line says what it is, see channels_table.ENDED_NOTE)."""
    from mptop.tui.widgets.channels_table import ENDED_NOTE, ChannelTable

    notifier = sample("pool.py:9", "Pool change notifier", "pool.py", "pool.py")  # backlog 2
    assert channel_state(notifier) == "flowing" and channel_state(notifier, ended=True) == "ended"
    assert channel_texts(notifier, ended=True)[2] == "ended"
    found = sample("pipe", "pipe", "a", "b", counted=False)
    assert channel_state(found, ended=True) == "open"  # not counted: no word on it
    table = ChannelTable()
    table.update_channels((notifier,), ended=True)
    assert table._flow == f"1 channel(s); {ENDED_NOTE}"
    table.update_channels((notifier,))
    assert ENDED_NOTE not in table._flow
