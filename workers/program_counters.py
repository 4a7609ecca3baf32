"""Reading the probe's files: what each process of a user's program counted on its connections.

The layout is the probe's (``workers/inject/_mptop_probe.py``): per process
a file ``<pid>.probe`` of 8 header words, :data:`SLOTS` slots of 5 uint64
words (inode, messages sent, bytes sent, messages received, bytes received)
and a text area of lines. Each file has one writer (its process); this side
only reads, without a lock: a slot is published (the "used" count raised)
after its inode is written, and each aligned uint64 is read whole.
"""

from __future__ import annotations

import contextlib
import mmap
import os
from dataclasses import dataclass
from pathlib import Path

# The probe's layout (kept equal to workers/inject/_mptop_probe.py; tests/test_run.py checks it).
MAGIC = 0x31425250504F544D
HEADER_WORDS = 8
SLOT_WORDS = 5
SLOTS = 4096
TEXT = 1 << 16
TEXT_AT = (HEADER_WORDS + SLOTS * SLOT_WORDS) * 8
SIZE = TEXT_AT + TEXT
W_MAGIC, W_PID, W_USED, W_TEXT, W_STACKS, W_PPID = 0, 1, 2, 3, 4, 5


@dataclass(frozen=True, slots=True)
class SlotCounts:
    """One process's traffic on one pipe or socket: messages and pickled bytes, totals."""

    inode: int
    sent: int
    sent_bytes: int
    received: int
    received_bytes: int


@dataclass(frozen=True, slots=True)
class ProcessCounts:
    """What one probed process counted: its slots, and its text lines (labels, children, exits).

    ``stacks``: it dumps its stacks to ``<pid>.stacks`` on SIGRTMIN+6 (:mod:`mptop.workers.stacks`);
    ``ppid``: its parent's PID as it saw it at start (0 if the probe did not say).
    """

    pid: int
    slots: tuple[SlotCounts, ...]
    lines: tuple[str, ...]
    stacks: bool = False
    ppid: int = 0


class ProbeFiles:
    """The probe files of one run, in ``folder``: maps each once, reads them on every call.

    Not thread-safe: one thread (the sampler's) reads.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._maps: dict[int, tuple[mmap.mmap, memoryview]] = {}
        # per PID: the text bytes decoded so far and their lines (the text is append-only,
        # and the probe publishes its length after whole lines: only the new end is read)
        self._text: dict[int, tuple[int, tuple[str, ...]]] = {}

    def read(self) -> dict[int, ProcessCounts]:
        """Every process's counts now, by PID (files that are not the probe's are left out)."""
        out: dict[int, ProcessCounts] = {}
        try:
            names = os.listdir(self.folder)
        except OSError:
            return out
        for name in names:
            stem, _, suffix = name.partition(".")
            if suffix != "probe" or not stem.isdigit():
                continue
            pid = int(stem)
            got = self._maps.get(pid) or self._open(pid)
            if got is None:
                continue
            m, words = got
            if words[W_MAGIC] != MAGIC or words[W_PID] != pid:
                continue
            used = min(int(words[W_USED]), SLOTS)
            slots = []
            for i in range(used):
                b = HEADER_WORDS + i * SLOT_WORDS
                slots.append(SlotCounts(*(int(x) for x in words[b : b + SLOT_WORDS])))
            text_len = min(int(words[W_TEXT]), TEXT)
            seen, lines = self._text.get(pid, (0, ()))
            if text_len < seen:  # the PID came back as a new process: its file starts again
                seen, lines = 0, ()
            if text_len > seen:
                new = m[TEXT_AT + seen : TEXT_AT + text_len].decode("utf-8", "replace")
                lines = (*lines, *new.splitlines())
                self._text[pid] = (text_len, lines)
            out[pid] = ProcessCounts(
                pid, tuple(slots), lines, words[W_STACKS] == 1, int(words[W_PPID])
            )
        return out

    def _open(self, pid: int) -> tuple[mmap.mmap, memoryview] | None:
        path = self.folder / f"{pid}.probe"
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError:
            return None
        try:
            if os.fstat(fd).st_size < SIZE:
                return None  # still being made
            m = mmap.mmap(fd, SIZE, prot=mmap.PROT_READ)
        finally:
            os.close(fd)
        words = memoryview(m)[:TEXT_AT].cast("Q")
        self._maps[pid] = (m, words)
        return m, words

    def close(self) -> None:
        """Unmap every file."""
        for m, words in self._maps.values():
            words.release()
            with contextlib.suppress(BufferError):
                m.close()
        self._maps.clear()
        self._text.clear()
