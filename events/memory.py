"""The event log's in-memory twin, for tests: the same framing, checks and conflicts as
``events.log.JsonlLog`` (one contract suite runs against both), no files."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

from events.codec import GENESIS, decode, encode, frame_hash
from events.log import Damage, Draft, Record, StaleAnchor, Tail, conflict_message, draft_record, scan
from lifecycle.errors import Conflict, LogCorrupt


class MemoryLog:
    """The in-memory twin: the same framing, checks and conflicts, no files."""

    def __init__(self) -> None:
        self.lines: list[bytes] = []
        self._lock = threading.RLock()

    def read(self) -> Iterator[Record]:
        return self._read(Tail(0, GENESIS, 0))

    def read_after(self, anchor: Tail, verify_prefix: bool = False) -> Iterator[Record]:
        lines = list(self.lines)
        if anchor.seq and (len(lines) < anchor.seq or frame_hash(lines[anchor.seq - 1]) != anchor.hash):
            raise StaleAnchor(f"commit {anchor.seq} is not the one cached")
        if verify_prefix:
            for _ in self._read(Tail(0, GENESIS, 0), lines[:anchor.seq]):
                pass
        return self._read(anchor, lines[anchor.seq:])

    def _read(self, start: Tail, lines: list[bytes] | None = None) -> Iterator[Record]:
        problems: list[Damage] = []
        yield from scan(list(self.lines) if lines is None else lines, problems, [start])
        if problems:
            raise LogCorrupt(problems[0].line, problems[0].why)

    def position(self) -> Tail | None:
        tail = [Tail(0, GENESIS, 0)]
        for _ in scan(list(self.lines), [], tail):
            pass
        return tail[0]

    def writing(self) -> contextlib.AbstractContextManager[None]:
        @contextlib.contextmanager
        def hold() -> Iterator[None]:
            with self._lock:
                yield

        return hold()

    def append(self, draft: Draft, expected_seq: int) -> Record:
        with self._lock:
            records = list(self.read())
            tail = Tail(len(records), records[-1]["hash"] if records else GENESIS, 0)
            if tail.seq != expected_seq:
                raise Conflict(conflict_message(expected_seq, tail.seq))
            record = draft_record(draft, tail)
            line, _digest = encode(record)
            self.lines.append(line)
            return decode(line)
