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
