"""The event log: ``<root>/events.jsonl`` and its in-memory twin.

Guarantees (see ENGINEERING.md, rules 1-6):
1. One writer at a time: writers hold an exclusive ``flock`` on a separate lock file
   for the whole read-check-append-fsync step; readers hold a shared lock, so they never
   see a half-written line.
2. One line is one commit; it lands with a single ``write`` and ``fsync`` before
   ``append`` returns. A failed write or fsync makes this log object refuse all
   further writes (the next process re-reads what reached the disk).
3. ``append`` is checked: it carries the sequence number the caller decided on and
   raises ``Conflict`` if the log has moved on.
4. Recovery on open for writing: damaged bytes after the last good line that do not
   claim to be a commit (no complete frame) are a torn tail: copied aside to
   ``events.jsonl.broken-<seq>-<n>``, truncated, fsynced and reported on stderr. A framed
   line that fails its hash or chain, or damage followed by good lines, is corruption:
   ``LogCorrupt`` with the line number, and nothing is written.
5. One reader: ``scan`` is the only code that decides whether a line is a good commit (its
   sha256 over the exact bytes, ``seq``, ``prev``, its shape); the in-memory twin runs it
   too. ``check_prefix`` (a writer that folded before) only re-checks earlier lines by
   their hash and link and, at the first surprise, sends the caller back to ``scan``.
"""

from __future__ import annotations

import contextlib
import fcntl
import io
import os
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

from events.codec import (
    GENESIS,
    SCHEMA_VERSION,
    commit_shaped,
    decode,
    encode,
    frame_hash,
    has_frame,
    named_prev,
)
from events.disk import fsync_dir
from events.port import Damage, Draft, EventLog, Record, StaleAnchor, Tail
from lifecycle.errors import Conflict, LogCorrupt, LogUnwritable

__all__ = ["Damage", "Draft", "EventLog", "JsonlLog", "Record", "StaleAnchor", "Tail", "fsync_dir"]

def scan(lines: Iterable[bytes], problems: list[Damage], tail: list[Tail]) -> Iterator[Record]:
    """Yield verified records; collect damage; leave the last good position in ``tail``.

    Each line's sha256 is checked over its exact bytes, then its ``seq`` and ``prev``; the
    first damaged line stops the scan (whether it is a torn tail or corruption is decided
    by what follows: ``classify``).
    """
    seq, prev, offset, start = tail[0]
    try:
        for number, line in enumerate(lines, start=seq + 1):
            digest = frame_hash(line)
            if digest is None:
                problems.append(Damage(number, _why(line), offset, has_frame(line)))
                break
            record = decode(line)
            if record.get("seq") != seq + 1 or record.get("prev") != prev:
                problems.append(Damage(number, "broken chain (seq or prev hash)", offset, True))
                break
            if not commit_shaped(record):
                problems.append(Damage(number, "not shaped like a commit (time, events)", offset, True))
                break
            seq, prev, offset, start = seq + 1, digest, offset + len(line), offset
            yield record
    finally:
        tail[0] = Tail(seq, prev, offset, start)


def classify(problems: list[Damage], rest: Iterable[bytes]) -> Damage | None:
    """Damage followed by any framed line is corruption; otherwise a torn tail."""
    if not problems:
        return None
    first = problems[0]
    if any(has_frame(line) for line in rest):
        return first._replace(why=f"{first.why}, followed by commits", framed=True)
    return first


def _why(line: bytes) -> str:
    if not line.endswith(b"\n"):
        return "incomplete line"
    return "hash mismatch" if has_frame(line) else "not a commit line"


def draft_record(draft: Draft, tail: Tail) -> Record:
    return {
        "seq": tail.seq + 1, "time": draft.time, "actor": draft.actor,
        "schema_version": SCHEMA_VERSION, "command": draft.command, "reason": draft.reason,
        "events": draft.events, "prev": tail.hash,
    }


def next_commit(draft: Draft, tail: Tail, expected_seq: int) -> tuple[bytes, Tail]:
    """The framed line of the commit after ``tail`` and the position after it; ``Conflict``
    if the caller decided on another position (guarantee 3). Every backend appends this."""
    if tail.seq != expected_seq:
        raise Conflict(conflict_message(expected_seq, tail.seq))
    line, digest = encode(draft_record(draft, tail))
    return line, Tail(tail.seq + 1, digest, tail.size + len(line), tail.size)


def conflict_message(expected: int, actual: int) -> str:
    return (f"the registry changed meanwhile (decided at commit {expected}, now at {actual}); "
            "retry the command")


class JsonlLog:
    """``events.jsonl`` with a lock file beside it."""

    def __init__(self, path: Path, lock_path: Path | None = None) -> None:
        self.path = path
        self.lock_path = lock_path or path.with_name(path.name + ".lock")
        self._held: int | None = None
        self._tail: Tail | None = None
        self._broken = False

    def read(self) -> Iterator[Record]:
        """All good commits in order; raises ``LogCorrupt`` on corruption.

        A torn tail is skipped; under the writer lock it is also moved aside (recovery in
        the same pass as the read), without it it is left for the next writer.
        """
        return self._read(None)

    def read_after(self, anchor: Tail, checked: bool = False) -> Iterator[Record]:
        """The commits after ``anchor`` (a position read before): its line must still be there
        with its hash, else ``StaleAnchor``. ``checked`` (a writer): every line before it must
        also still pass its hash and link to the line before (``StaleAnchor`` otherwise: the
        caller reads the whole log, which names the damage)."""
        return self._read(anchor, checked)

    def position(self) -> Tail | None:
        """Where the last read or append left the log (None before any)."""
        return self._tail

    def lines(self) -> list[bytes]:
        """Every stored line, byte for byte (``lifecycle log export`` / ``log migrate``)."""
        with self._shared(), _open_or_empty(self.path) as lines:
            return list(lines)

    def audit(self, found: list[Damage]) -> Iterator[Record]:
        """Every good commit, then the damage (torn tail or corruption) into ``found``;
        never raises for damage and never recovers anything (``lifecycle verify``)."""
        with self._shared(), _open_or_empty(self.path) as lines:
            problems: list[Damage] = []
            yield from scan(lines, problems, [Tail(0, GENESIS, 0)])
            damage = classify(problems, lines)
        if damage is not None:
            found.append(damage)

    def _read(self, anchor: Tail | None, checked: bool = False) -> Iterator[Record]:
        with self._shared():
            problems: list[Damage] = []
            tail = [anchor or Tail(0, GENESIS, 0)]
            with _open_or_empty(self.path) as lines:
                if anchor is not None and checked:
                    check_prefix(lines, anchor)
                if anchor is not None:
                    _check_anchor(lines, anchor)
                yield from scan(lines, problems, tail)
                damage = classify(problems, lines)
            if damage is not None and damage.framed:
                raise LogCorrupt(damage.line, damage.why)
            if damage is not None and self._held is not None:
                self._move_aside(tail[0], self.path.stat().st_size)
            elif damage is not None:
                print(f"warning: events.jsonl line {damage.line}: torn tail ({damage.why}); "
                      "the next writing command moves it aside", file=sys.stderr)
            self._tail = tail[0]

    @contextlib.contextmanager
    def writing(self) -> Iterator[None]:
        """Hold the exclusive lock. The first full ``read`` under it recovers a torn tail and
        refuses a corrupt log; an ``append`` without one reads first."""
        if self._broken:
            raise LogUnwritable("a previous write to events.jsonl failed; restart and retry")
        try:
            self.lock_path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise LogUnwritable(f"cannot open the writers' lock {self.lock_path} ({exc.strerror}); "
                                "is the registry read-only?") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            self._held = fd
            self._tail = None
            yield
        finally:
            self._held = None
            os.close(fd)

    def _recover(self) -> None:
        for _ in self.read():
            pass

    def _move_aside(self, tail: Tail, size: int) -> None:
        try:
            self._move_aside_now(tail, size)
        except OSError as exc:
            self._broken = True
            raise LogUnwritable(f"could not move the torn tail of events.jsonl aside ({exc.strerror}); "
                                "nothing was written: free space or fix permissions and retry") from None

    def _move_aside_now(self, tail: Tail, size: int) -> None:
        with open(self.path, "rb") as f:
            f.seek(tail.size)
            damaged = f.read()
        n = 0
        while (aside := self.path.with_name(f"{self.path.name}.broken-{tail.seq}-{n}")).exists():
            n += 1
        _write_file(aside, damaged)
        with open(self.path, "r+b") as f:
            f.truncate(tail.size)
            os.fsync(f.fileno())
        print(f"recovered events.jsonl: moved a torn tail of {size - tail.size} bytes after "
              f"commit {tail.seq} to {aside.name}", file=sys.stderr)

    def append(self, draft: Draft, expected_seq: int) -> Record:
        if self._held is None:
            raise RuntimeError("append needs the writer lock: use 'with log.writing():'")
        if self._broken:
            raise LogUnwritable("a previous write to events.jsonl failed; restart and retry")
        if self._tail is None:
            self._recover()
        line, after = next_commit(draft, self._tail or Tail(0, GENESIS, 0), expected_seq)
        self._durable_append(line)
        self._tail = after
        return decode(line)

    def _durable_append(self, line: bytes) -> None:
        new = not self.path.exists()
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                view = memoryview(line)
                while view:
                    view = view[os.write(fd, view):]
                os.fsync(fd)
            finally:
                os.close(fd)
            if new:
                fsync_dir(self.path.parent)
        except OSError as exc:
            self._broken = True
            raise LogUnwritable(
                f"could not write events.jsonl ({exc}); the command may or may not have been "
                "recorded: check 'lifecycle history' before repeating it") from exc

    @contextlib.contextmanager
    def _shared(self) -> Iterator[None]:
        if self._held is not None or not self.lock_path.exists():
            yield
            return
        fd = os.open(self.lock_path, os.O_RDONLY)
        try:
            fcntl.flock(fd, fcntl.LOCK_SH)
            yield
        finally:
            os.close(fd)


@contextlib.contextmanager
def _open_or_empty(path: Path) -> Iterator[BinaryIO]:
    """The file to read lines from (an empty one if it does not exist)."""
    if not path.exists():
        yield io.BytesIO()
        return
    with open(path, "rb", buffering=1 << 20) as f:
        yield f


def check_prefix(lines: Iterable[bytes], anchor: Tail) -> None:
    """Every line up to the anchor's passes its hash and names the line before as ``prev``,
    and the last of them is the anchor's; ``StaleAnchor`` at the first that does not."""
    if anchor.seq == 0:
        return
    prev, seen, number = GENESIS.encode(), 0, 0
    for number, line in enumerate(lines, start=1):
        digest = frame_hash(line)
        if digest is None or named_prev(line) != prev:
            raise StaleAnchor(f"line {number} no longer passes its hash and link")
        prev, seen = digest.encode(), seen + len(line)
        if number == anchor.seq:
            break
    if number != anchor.seq or seen != anchor.size or prev.decode() != anchor.hash:
        raise StaleAnchor(f"commit {anchor.seq} is not where or what was read before")


def _check_anchor(f: BinaryIO, anchor: Tail) -> None:
    """Position ``f`` after the anchor's line once that line proved to be the same."""
    if anchor.seq == 0:
        f.seek(0)
        return
    f.seek(anchor.start)
    line = f.readline(anchor.size - anchor.start + 1)
    if (len(line) != anchor.size - anchor.start or frame_hash(line) != anchor.hash
            or decode(line).get("seq") != anchor.seq):
        raise StaleAnchor(f"commit {anchor.seq} is not where or what the cache says")


def _write_file(path: Path, data: bytes) -> None:
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    fsync_dir(path.parent)
