"""Traffic: the counter blocks of mptop's counted channels -> rates per worker, samples per channel."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Mapping, MutableMapping
from dataclasses import dataclass, field

from mptop.workers.channels import Channel, Counters
from mptop.workers.snapshot import ChannelSample
from mptop.workers.topology import MPTOP, Topology

# Ticks of messages/s history kept per channel.
HISTORY = 30

Rates = tuple[float | None, float | None, float | None, float | None]
NO_RATES: Rates = (None, None, None, None)
StallCheck = Callable[[object, str, int, int, bool], bool]
"""``(channel, name, received, backlog, consumers_alive) -> stalled`` (see StallDetector.check)."""


@dataclass(eq=False)
class Flow:
    """One channel's rates between ticks: what was received at the last tick, and messages/s history."""

    received: int | None = None
    received_bytes: int = 0
    history: deque[float] = field(default_factory=lambda: deque(maxlen=HISTORY))

    def update(
        self, received: int, received_bytes: int, dt: float | None
    ) -> tuple[float | None, float | None]:
        """Messages/s and bytes/s taken over the last ``dt`` seconds (None at the first tick)."""
        mps = bps = None
        if self.received is not None and dt:
            mps = (received - self.received) / dt
            bps = (received_bytes - self.received_bytes) / dt
            self.history.append(mps)
        self.received, self.received_bytes = received, received_bytes
        return mps, bps


class Traffic:
    """Rates are deltas of the counters over the seconds between two ticks; counts are totals.

    ``delivered[channel][pid]`` is what mptop took from each sender (the
    dispatcher's tally): what a dead worker counted as sent minus this is
    what it never delivered. Not thread-safe: one thread calls it.
    """

    def __init__(self, delivered: Mapping[Channel, MutableMapping[int, int]] | None = None) -> None:
        self.delivered = delivered if delivered is not None else {}
        self._counts: dict[int, tuple[int, int, int, int]] = {}
        self._flow: dict[Channel, Flow] = {}

    def worker_rates(
        self, pid: int, blocks: list[tuple[Channel, Counters]], dt: float | None
    ) -> Rates:
        """``(msgs_in, bytes_in, msgs_out, bytes_out)`` per second of worker ``pid`` over ``dt`` s.

        None until the second call for ``pid`` (a rate needs two readings).
        """
        m_in = b_in = m_out = b_out = 0
        for _, block in blocks:
            sent, sent_bytes, received, received_bytes = block.read()
            m_in += received
            b_in += received_bytes
            m_out += sent
            b_out += sent_bytes
        now = (m_in, b_in, m_out, b_out)
        prev = self._counts.get(pid)
        self._counts[pid] = now
        if prev is None or not dt:
            return NO_RATES
        return (
            (m_in - prev[0]) / dt,
            (b_in - prev[1]) / dt,
            (m_out - prev[2]) / dt,
            (b_out - prev[3]) / dt,
        )

    def lost(self, top: Topology, c: Channel, alive: set[int]) -> tuple[int, int]:
        """``(lost_taken, lost_unsent)`` of channel ``c`` through workers that died.

        lost_taken: messages a dead consumer took and never answered (its
        takes on ``c`` minus its sends on its outbox). lost_unsent: messages a
        dead producer counted as sent that never reached mptop (measured only
        where mptop is the reader), plus, for a dead worker's Pipe, the
        requests it never took.
        """
        taken_lost, unsent_lost = c.folded[4:]
        for pid, sent in list(c.unsettled.items()):
            taken = self._tally(c, pid)
            if taken >= sent:  # mptop took the last of it
                del c.unsettled[pid]
                tally = self.delivered.get(c)
                if tally is not None:
                    tally.pop(pid, None)
            else:
                unsent_lost += sent - taken
        consumers = list(c.consumers)
        for pid, block in list(c.blocks.items()):
            if pid == MPTOP or pid in alive:
                continue
            taken, unsent = self._lost_by(top, c, pid, block, consumers)
            taken_lost += taken
            unsent_lost += unsent
        return taken_lost, unsent_lost

    def _lost_by(
        self, top: Topology, c: Channel, pid: int, block: Counters, consumers: list[int]
    ) -> tuple[int, int]:
        """``(lost_taken, lost_unsent)`` on ``c`` through dead worker ``pid`` (see :meth:`lost`)."""
        taken_lost = unsent_lost = 0
        att = top.attached.get(pid)
        sent, _, received, _ = block.read()
        if att is not None and att.inbox is c:
            out = att.outbox.blocks.get(pid) if att.outbox is not None else None
            answered = out.read()[0] if out is not None else 0
            taken_lost += max(0, received - answered)
        if pid in c.producers and MPTOP in consumers:
            unsent_lost += max(0, sent - self._tally(c, pid))
        if c.info.kind == "Pipe" and MPTOP in c.blocks:
            mptop_sent = c.blocks[MPTOP].read()[0]
            unsent_lost += max(0, mptop_sent - received)
        return taken_lost, unsent_lost

    def _tally(self, c: Channel, pid: int) -> int:
        """What mptop took from ``pid`` on ``c`` (the dispatcher's tally; 0 if none)."""
        return self.delivered.get(c, {}).get(pid, 0)

    def fold(self, top: Topology, pid: int) -> list[Channel]:
        """Fold dead worker ``pid``'s counts on ``top``'s Queues into their totals, and drop it.

        Its blocks, attachment and rate baseline go; each channel's totals and
        lost counts stay what they were. What it sent to mptop that mptop has not
        taken yet (it may still: the Queue drains; or never: a Queue jammed by a
        killed lock holder) stays as one number in ``Channel.unsettled``, and
        :meth:`lost` counts it until the dispatcher's tally catches up. Returns
        the Pipe channels that only it used: they go as a whole (the caller
        closes them where it is safe).
        """
        mine = [(c, c.blocks[pid]) for c in list(top.channels) if pid in c.blocks]
        pipes = [c for c, _ in mine if c.info.kind == "Pipe"]
        losses = [self._lost_by(top, c, pid, block, list(c.consumers)) for c, block in mine]
        for (c, block), (taken, unsent) in zip(mine, losses, strict=True):
            if c.info.kind == "Pipe":
                continue
            counts = block.read()
            tally = self.delivered.get(c)
            if pid in c.producers and MPTOP in c.consumers:
                pending = max(0, counts[0] - self._tally(c, pid))
                if pending:
                    c.unsettled[pid] = counts[0]  # lost() counts it while it is not taken
                    unsent -= pending
                elif tally is not None:
                    tally.pop(pid, None)  # all it sent was taken: no more of it will come
            f = c.folded
            c.folded = (
                f[0] + counts[0],
                f[1] + counts[1],
                f[2] + counts[2],
                f[3] + counts[3],
                f[4] + taken,
                f[5] + unsent,
            )
            del c.blocks[pid]
            c.consumers.discard(pid)
            c.producers.discard(pid)
        top.attached.pop(pid, None)
        self._counts.pop(pid, None)
        for c in pipes:
            self._flow.pop(c, None)
        return pipes

    def channels(
        self, top: Topology, alive: set[int], dt: float | None, stalled: StallCheck
    ) -> tuple[ChannelSample, ...]:
        """One sample per channel of ``top``; ``alive`` holds the live workers' PIDs.

        ``stalled`` decides each channel's stall mark from its totals this tick.
        """
        out = []
        for c in list(top.channels):
            sent, sent_bytes, received, received_bytes = c.totals()
            lost_taken, lost_unsent = self.lost(top, c, alive)
            flow = self._flow.setdefault(c, Flow())
            mps, bps = flow.update(received, received_bytes, dt)
            consumers = list(c.consumers)  # a copy: the supervisor may add to it meanwhile
            consumers_alive = MPTOP in consumers or any(p in alive for p in consumers)
            backlog = sent - received - lost_unsent
            out.append(
                ChannelSample(
                    name=c.info.name,
                    kind=c.info.kind,
                    producer=c.info.producer,
                    consumer=c.info.consumer,
                    sent=sent,
                    sent_bytes=sent_bytes,
                    received=received,
                    received_bytes=received_bytes,
                    msgs_per_s=mps,
                    bytes_per_s=bps,
                    lost_taken=lost_taken,
                    lost_unsent=lost_unsent,
                    stalled=stalled(c, c.info.name, received, backlog, consumers_alive),
                    history=tuple(flow.history),
                    generation=top.generation,
                )
            )
        return tuple(out)
