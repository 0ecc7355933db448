"""The event log's in-memory twin, for tests: the same framing, checks, recovery and conflicts
as ``events.log.JsonlLog`` (``tests/contract`` runs one suite against both), no files.

Where the JSONL log has a file, a lock file and ``.broken-*`` files, the twin has one shared
``_Storage``: the stored lines (bytes, exactly as a file would hold them, so tests can damage
them), the torn tails recovery set aside, and the writers' lock (a ``threading.Lock``: like
``flock``, it is not reentrant). Each ``MemoryLog`` is one handle on it, with its own
position; ``reopen`` gives another handle on the same log, as opening the file again does.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

from events.codec import GENESIS, decode, frame_hash
from events.log import check_prefix, classify, next_commit, scan
from events.port import Damage, Draft, Record, StaleAnchor, Tail
from lifecycle.errors import LogCorrupt

_START = Tail(0, GENESIS, 0)


class _Storage:
    """What every handle on one in-memory log shares."""

    def __init__(self) -> None:
        self.lines: list[bytes] = []
        self.aside: list[bytes] = []
        self.lock = threading.Lock()


class MemoryLog:
    """The in-memory twin: the same framing, checks, recovery and conflicts, no files."""

    def __init__(self, storage: _Storage | None = None) -> None:
        self._storage = storage or _Storage()
        self._held = False
        self._tail: Tail | None = None

    def reopen(self) -> MemoryLog:
        """Another handle on the same log: the same lines and lock, no position yet."""
        return MemoryLog(self._storage)

    @property
    def lines(self) -> list[bytes]:
        """The stored lines, one framed commit each (the last may be torn)."""
        return self._storage.lines

    @property
    def aside(self) -> list[bytes]:
        """The torn tails recovery moved aside, oldest first (the ``.broken-*`` files)."""
        return self._storage.aside

    def read(self) -> Iterator[Record]:
        """All good commits in order; ``LogCorrupt`` on corruption; a torn tail is skipped,
        and moved aside by a read under ``writing``."""
        return self._read(None)

    def read_after(self, anchor: Tail, checked: bool = False) -> Iterator[Record]:
        """The commits after ``anchor``; ``StaleAnchor`` unless its commit is still there (and,
        ``checked``, every line before it still passes its hash and link)."""
        return self._read(anchor, checked)

    def position(self) -> Tail | None:
        """Where the last read or append of this handle left the log (None before any)."""
        return self._tail

    def audit(self, found: list[Damage]) -> Iterator[Record]:
        """Every good commit, then the damage into ``found``; never raises, never recovers."""
        lines = list(self.lines)
        problems: list[Damage] = []
        yield from scan(lines, problems, [_START])
        damage = classify(problems, lines[problems[0].line:] if problems else [])
        if damage is not None:
            found.append(damage)

    def _read(self, anchor: Tail | None, checked: bool = False) -> Iterator[Record]:
        lines = list(self.lines)
        if anchor is not None and checked:
            check_prefix(lines, anchor)
        if anchor is not None:
            _check_anchor(lines, anchor)
        problems: list[Damage] = []
        tail = [anchor or _START]
        yield from scan(lines[tail[0].seq:], problems, tail)
        damage = classify(problems, lines[problems[0].line:] if problems else [])
        if damage is not None and damage.framed:
            raise LogCorrupt(damage.line, damage.why)
        if damage is not None and self._held:
            good = tail[0].seq
            self.aside.append(b"".join(lines[good:]))
            del self.lines[good:]
        self._tail = tail[0]

    @contextlib.contextmanager
    def writing(self) -> Iterator[None]:
        """Hold the writers' lock; the first full read under it recovers a torn tail."""
        with self._storage.lock:
            self._held, self._tail = True, None
            try:
                yield
            finally:
                self._held = False

    def append(self, draft: Draft, expected_seq: int) -> Record:
        if not self._held:
            raise RuntimeError("append needs the writer lock: use 'with log.writing():'")
        if self._tail is None:
            for _ in self.read():
                pass
        line, after = next_commit(draft, self._tail or _START, expected_seq)
        self.lines.append(line)
        self._tail = after
        return decode(line)


def _check_anchor(lines: list[bytes], anchor: Tail) -> None:
    if anchor.seq == 0:
        return
    line = lines[anchor.seq - 1] if len(lines) >= anchor.seq else b""
    if frame_hash(line) != anchor.hash or decode(line).get("seq") != anchor.seq:
        raise StaleAnchor(f"commit {anchor.seq} is not where or what the cache says")
