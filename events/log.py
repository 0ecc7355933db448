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
"""

from __future__ import annotations

import contextlib
import fcntl
import io
import os
import sys
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, BinaryIO, NamedTuple, Protocol

from events import segments
from events._hashcheck import HashCheck
from events._reverse import Damaged, newest_first
from events.codec import (
    GENESIS,
    SCHEMA_VERSION,
    claimed_hash,
    commit_shaped,
    decode,
    encode,
    first_bad_line,
    frame_hash,
    has_frame,
)
from lifecycle.errors import Conflict, LogCorrupt, LogUnwritable
from lifecycle.fold import Evaluations

Record = dict[str, Any]


class Draft(NamedTuple):
    """What a command wants to append: the log adds seq, prev, schema and hash."""

    time: str
    actor: str
    command: str
    reason: str | None
    events: list[Record]


class Tail(NamedTuple):
    """A position in the log: the last good commit and where its line lies."""

    seq: int
    hash: str
    size: int  # bytes of good lines
    start: int = 0  # where the last good line starts


class StaleAnchor(Exception):
    """The line a cached position names no longer carries its hash (or is gone)."""


class Damage(NamedTuple):
    line: int
    why: str
    offset: int
    framed: bool


class EventLog(Protocol):
    """Read commits in order; append one checked commit."""

    def read(self) -> Iterator[Record]: ...

    def read_after(self, anchor: Tail, verify_prefix: bool = False) -> Iterator[Record]: ...

    def position(self) -> Tail | None: ...

    def append(self, draft: Draft, expected_seq: int) -> Record: ...

    def writing(self) -> contextlib.AbstractContextManager[None]: ...


def scan(lines: Iterable[bytes], problems: list[Damage], tail: list[Tail],
         hashed: bool = True, starts: list[int] | None = None) -> Iterator[Record]:
    """Yield verified records; collect damage; leave the last good position in ``tail``.

    Stops at the first damaged line; whether it is a torn tail or corruption is decided
    by looking at what follows (``classify``). ``hashed=False`` checks frames and chain
    links only: the caller has every line's hash checked elsewhere (``HashCheck``).
    ``starts``, when given, receives the offset of each yielded record's line.
    """
    seq, prev, offset, start = tail[0]
    digest_of = frame_hash if hashed else claimed_hash
    try:
        for number, line in enumerate(lines, start=seq + 1):
            digest = digest_of(line)
            if digest is None:
                problems.append(Damage(number, _why(line), offset, has_frame(line)))
                break
            try:
                record = decode(line)
            except ValueError:  # only without the hash checked here: a framed line that lies
                problems.append(Damage(number, "hash mismatch (not JSON)", offset, True))
                break
            if record.get("seq") != seq + 1 or record.get("prev") != prev:
                problems.append(Damage(number, "broken chain (seq or prev hash)", offset, True))
                break
            if not commit_shaped(record):
                problems.append(Damage(number, "not shaped like a commit (time, events)", offset, True))
                break
            seq, prev, offset, start = seq + 1, digest, offset + len(line), offset
            if starts is not None:
                starts.append(start)
            yield record
    finally:
        tail[0] = Tail(seq, prev, offset, start)


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

    def read_after(self, anchor: Tail, verify_prefix: bool = False) -> Iterator[Record]:
        """The commits after ``anchor`` (a cached position, ENGINEERING rule 12): its line is
        read again first and must still be there with its hash, else ``StaleAnchor``. The
        lines up to it are not parsed; with ``verify_prefix`` (writers) their hashes and
        links are checked (on another core for a large log) and damage there raises
        ``LogCorrupt`` as a full read would."""
        return self._read(anchor, verify_prefix=verify_prefix)

    def position(self) -> Tail | None:
        """Where the last read or append left the log (None before any)."""
        return self._tail

    def read_located(self, anchor: Tail | None) -> Iterator[tuple[int, Record]]:
        """``(line offset, record)`` for every commit (after ``anchor`` when given)."""
        starts: list[int] = []
        for record in self._read(anchor, starts):
            yield starts.pop(), record

    def read_in_halves(self, local: Callable[[Iterator[Record | Evaluations]], None],
                       reducer: str) -> Any | None:
        """A whole read of a large log on two cores: ``local`` consumes the first half's
        records (verified here) while a second process verifies the other half and reduces
        it with ``reducer`` (``"module:function"``, see ``events.segments``); returns that
        reduction. None when the caller must read the ordinary way instead (a small log, any
        damage or torn line, the helper failed): what ``local`` took is then to be dropped."""
        with self._shared(), _open_or_empty(self.path) as f:
            size = f.seek(0, os.SEEK_END)
            if size < HashCheck.PARALLEL_FROM:
                return None
            split = segments.split_at(f, size)
            try:
                helper = segments.Helper(reducer, self.path, split, size)
            except OSError:  # no second process today (limits, memory): one core it is
                return None
            try:
                mine = segments.Checked(0)
                local(mine.records(f, split))
                if not (mine.good and mine.first == (1, GENESIS) and mine.last and mine.last[2] == split):
                    return None
                theirs = helper.result()
            finally:
                helper.stop()
            if theirs is None or theirs["first"] != [mine.last[0] + 1, mine.last[1]]:
                return None
            self._tail = Tail(*theirs["last"])
            return theirs["result"]

    def read_newest(self, limit: int, keep: Callable[[Record], bool] = lambda _: True) -> list[Record]:
        """Up to ``limit`` commits that ``keep`` accepts, newest first, each hash-checked and
        linked to the one before it (a torn tail is skipped). Damage raises ``LogCorrupt``
        naming the line. The shared lock is held only inside this call."""
        found: list[Record] = []
        with self._shared(), _open_or_empty(self.path) as f:
            try:
                for record in newest_first(f, f.seek(0, os.SEEK_END)):
                    if len(found) >= limit:
                        return found
                    if keep(record):
                        found.append(record)
                return found
            except Damaged:
                pass
        for _ in self.read():  # names the damaged line
            pass
        raise LogCorrupt(0, "a line read backwards does not match")

    def read_at(self, starts: Iterable[int]) -> Iterator[Record]:
        """The commits whose lines start at these offsets (from ``read_located``), each
        hash-checked again; ``StaleAnchor`` when an offset no longer starts a good line."""
        with self._shared(), open(self.path, "rb") as f:
            for start in starts:
                f.seek(start)
                line = f.readline()
                if frame_hash(line) is None:
                    raise StaleAnchor(f"no commit starts at byte {start} any more")
                yield decode(line)

    def _read(self, anchor: Tail | None, starts: list[int] | None = None,
              verify_prefix: bool = False) -> Iterator[Record]:
        with self._shared():
            problems: list[Damage] = []
            tail = [anchor or Tail(0, GENESIS, 0)]
            check = _start_check(self.path, anchor, verify_prefix)
            try:
                with _open_or_empty(self.path) as lines:
                    if anchor is not None:
                        if verify_prefix and check is None:
                            _verify_prefix(lines, anchor)
                        _check_anchor(lines, anchor)
                    hashed = anchor is not None or check is None
                    yield from scan(lines, problems, tail, hashed=hashed, starts=starts)
                    damage = self._classify(problems, lines)
                if check is not None and (bad := check.first_bad(tail[0].seq)):
                    damage = Damage(bad, "hash mismatch", 0, True)
            finally:
                if check is not None:
                    check.stop()
            if damage is not None and damage.framed:
                raise LogCorrupt(damage.line, damage.why)
            if damage is not None and self._held is not None:
                self._move_aside(tail[0], self.path.stat().st_size)
            elif damage is not None:
                print(f"warning: events.jsonl line {damage.line}: torn tail ({damage.why}); "
                      "the next writing command moves it aside", file=sys.stderr)
            self._tail = tail[0]

    @staticmethod
    def _classify(problems: list[Damage], rest: Iterable[bytes]) -> Damage | None:
        """Damage followed by any framed line is corruption; otherwise a torn tail."""
        if not problems:
            return None
        first = problems[0]
        if any(has_frame(line) for line in rest):
            return first._replace(why=f"{first.why}, followed by commits", framed=True)
        return first

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
        tail = self._tail or Tail(0, GENESIS, 0)
        if tail.seq != expected_seq:
            raise Conflict(conflict_message(expected_seq, tail.seq))
        record = draft_record(draft, tail)
        line, digest = encode(record)
        self._durable_append(line)
        self._tail = Tail(tail.seq + 1, digest, tail.size + len(line), tail.size)
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


def _start_check(path: Path, anchor: Tail | None, verify_prefix: bool) -> HashCheck | None:
    if anchor is None:
        return HashCheck.start(path)
    return HashCheck.start(path, anchor.size, strict=True) if verify_prefix else None


def _verify_prefix(f: BinaryIO, anchor: Tail) -> None:
    """Every line up to the anchor's is a good commit linked to the one before (in-process,
    for a prefix too small to be worth a second process)."""
    f.seek(0)
    bad = first_bad_line(f, anchor.size, strict=True)
    if bad:
        raise LogCorrupt(bad, "hash mismatch or broken chain")


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


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_file(path: Path, data: bytes) -> None:
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    fsync_dir(path.parent)
