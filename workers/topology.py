"""Channel topologies: which channels a run has and how each worker attaches to them.

- ``queue`` (the Pool pattern): mptop -> ``tasks`` Queue -> workers ->
  ``results`` Queue -> mptop.
- ``pipe``: one duplex Pipe per worker, ``pipe:<name>``; mptop sends requests,
  the worker sends echoes (with the request's payload) back.
- ``pipeline``: mptop -> ``tasks`` -> stage-1 workers -> ``stage`` Queue ->
  stage-2 workers -> ``results`` -> mptop. New workers join the stage with
  fewer live workers (stage 1 on a tie).
- ``none``: no channels; workers only run their workload.

A worker's :class:`Role` (picklable, handed to the child) says what it does:
``consume`` (take a Task, answer with a Result), ``forward`` (take a Task,
pass it on), ``echo`` (answer on the same Pipe) or ``spin`` (no messages).
"""

from __future__ import annotations

import contextlib
import multiprocessing
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.context import BaseContext

from mptop.workers.channels import Channel, ChannelInfo, CountedPipeEnd, CountedQueue, Counters

MPTOP = 0  # the owner key of mptop's own counter blocks and of mptop as a consumer


@dataclass(slots=True)
class Role:
    """What one worker does with its channels; ``inbox``/``outbox`` are unbound ends.

    For ``echo`` both are the same Pipe end and ``out_counters is in_counters``.
    """

    kind: str
    inbox: CountedQueue | CountedPipeEnd | None = None
    outbox: CountedQueue | CountedPipeEnd | None = None
    in_counters: Counters | None = None
    out_counters: Counters | None = None
    stage: int = 0


@dataclass(slots=True)
class Attachment:
    """mptop's side of one worker's role: which channels it takes from and puts into."""

    kind: str
    inbox: Channel | None
    outbox: Channel | None
    stage: int = 0


class Topology:
    """The channels of one run (one generation; a rebuild makes a new one).

    ``sends`` is the channel mptop puts Tasks into and ``receives`` the channels
    it takes Results from (for ``pipe``: every worker's Pipe). Not thread-safe
    by itself: the supervisor calls it under its lock.
    """

    def __init__(self, ctx: BaseContext, kind: str, generation: int = 1) -> None:
        self.ctx = ctx
        self.kind = kind
        self.generation = generation
        self.channels: list[Channel] = []
        self.attached: dict[int, Attachment] = {}
        self.sends: Channel | None = None
        self.stage: Channel | None = None
        self.results: Channel | None = None
        if kind in ("queue", "pipeline"):
            first = "stage 1" if kind == "pipeline" else "workers"
            last = "stage 2" if kind == "pipeline" else "workers"
            self.sends = self._queue(ChannelInfo("tasks", "Queue", "mptop", first), mptop_end=True)
            if kind == "pipeline":
                self.stage = self._queue(ChannelInfo("stage", "Queue", "stage 1", "stage 2"))
            self.results = self._queue(
                ChannelInfo("results", "Queue", last, "mptop"), mptop_end=True
            )
            self.results.consumers.add(MPTOP)
            self.sends.producers.add(MPTOP)
        elif kind not in ("pipe", "none"):
            raise ValueError(f"unknown topology {kind!r}")

    def _queue(self, info: ChannelInfo, mptop_end: bool = False) -> Channel:
        q = CountedQueue(self.ctx, info)
        channel = Channel(info, endpoint=q)
        if mptop_end:
            block = Counters(self.ctx)
            q.bind(block)
            channel.blocks[MPTOP] = block
        self.channels.append(channel)
        return channel

    def receives(self) -> list[Channel]:
        """Channels mptop takes from, in order (the results Queue, or every Pipe)."""
        return [c for c in self.channels if MPTOP in c.consumers and c.endpoint is not None]

    def _stage_for_new(self, live: set[int]) -> int:
        ones = sum(1 for p, a in self.attached.items() if p in live and a.stage == 1)
        twos = sum(1 for p, a in self.attached.items() if p in live and a.stage == 2)
        return 1 if ones <= twos else 2

    def attach(self, name: str, live: set[int]) -> tuple[Role, Callable[[int], None]]:
        """The role for a new worker called ``name``, and a callback taking its PID once started.

        ``live`` is the PIDs of the workers alive now (pipeline stages are
        balanced over them). The callback registers the worker's counter
        blocks on its channels (a Pipe channel is added to :attr:`channels`
        only then, so a failed start leaves none) and closes mptop's copy of
        the worker's Pipe end.
        """
        ctx = self.ctx
        if self.kind == "none":
            return Role("spin"), lambda pid: None
        if self.kind == "pipe":
            parent, child = multiprocessing.Pipe(duplex=True)
            info = ChannelInfo(f"pipe:{name}", "Pipe", "mptop", name)
            mine = Counters(ctx)
            end = CountedPipeEnd(parent, info).bind(mine)
            channel = Channel(info, endpoint=end, blocks={MPTOP: mine}, consumers={MPTOP})
            channel.producers.add(MPTOP)
            theirs = Counters(ctx)
            role = Role("echo", CountedPipeEnd(child, info), None, theirs, theirs)
            role.outbox = role.inbox

            def register_pipe(pid: int) -> None:
                # the channel exists from now on: a worker that failed to start leaves none
                self.channels.append(channel)
                channel.blocks[pid] = theirs
                channel.consumers.add(pid)
                channel.producers.add(pid)
                self.attached[pid] = Attachment("echo", channel, channel)
                child.close()  # the worker has its copy; EOF must reach mptop when it dies

            return role, register_pipe
        assert self.sends is not None and self.results is not None
        stage = self._stage_for_new(live) if self.kind == "pipeline" else 0
        if stage == 1:
            assert self.stage is not None
            inbox, outbox, kind = self.sends, self.stage, "forward"
        elif stage == 2:
            assert self.stage is not None
            inbox, outbox, kind = self.stage, self.results, "consume"
        else:
            inbox, outbox, kind = self.sends, self.results, "consume"
        in_block, out_block = Counters(ctx), Counters(ctx)
        role = Role(kind, inbox.endpoint, outbox.endpoint, in_block, out_block, stage)

        def register(pid: int) -> None:
            inbox.blocks[pid] = in_block
            inbox.consumers.add(pid)
            outbox.blocks.setdefault(pid, out_block)
            outbox.producers.add(pid)
            self.attached[pid] = Attachment(kind, inbox, outbox, stage)

        return role, register

    def close(self) -> None:
        """Abandon mptop's ends (never blocks on a stuck channel)."""
        for c in self.channels:
            if c.endpoint is not None:
                with contextlib.suppress(OSError, ValueError):
                    c.endpoint.abandon()
