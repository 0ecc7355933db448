"""The event log's contract (``events.port.EventLog``), one suite for every backend.

``LogContract`` holds every test, written against the port only; a backend's class
implements the hooks below (make a log, reach its stored lines to damage them, see what
recovery set aside, start a rival writer) and nothing else: ``TestMemoryLog`` here,
``TestJsonlLog`` with the JSONL log's own details in ``test_log_jsonl.py``.
"""

from __future__ import annotations

import abc
import itertools
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Generic, TypeVar

import pytest

from events.codec import GENESIS, decode, encode, frame_hash, has_frame
from events.memory import MemoryLog
from events.port import Damage, Draft, EventLog, Record, StaleAnchor, Tail
from lifecycle.errors import Conflict, LogCorrupt

L = TypeVar("L", bound=EventLog)


def draft(n: int) -> Draft:
    event = {"type": "rejected", "model_id": f"convnext_v1.0.{n}", "reason": f"r{n}"}
    return Draft("2026-01-01T00:00:00.000000Z", "tester@host", "reject", None, [event])


def append(log: EventLog, n: int, expected: int) -> Record:
    """What a writing command does: lock, read, append."""
    with log.writing():
        list(log.read())
        return log.append(draft(n), expected)


def seqs(records: Iterable[Record]) -> list[int]:
    return [r["seq"] for r in records]


def position(log: EventLog) -> Tail:
    tail = log.position()
    assert tail is not None
    return tail


def forged(line: bytes, **changes: object) -> bytes:
    """The line's record changed and framed again: a valid hash over the new bytes."""
    record = decode(line)
    del record["hash"]
    return encode({**record, **changes})[0]


CORRUPTIONS: dict[str, tuple[int, Callable[[list[bytes]], list[bytes]]]] = {  # the line named
    "a changed line mid-log": (2, lambda ls: [ls[0], ls[1].replace(b'"r1"', b'"rX"'), *ls[2:]]),
    "a changed last line (framed, bad hash)": (4, lambda ls: [*ls[:3], ls[3].replace(b'"r3"', b'"r9"')]),
    "a cut line followed by commits": (2, lambda ls: [ls[0], ls[1][:40] + b"\n", *ls[2:]]),
    "zeros followed by commits": (3, lambda ls: [*ls[:2], b"\x00" * 99 + b"\n", *ls[2:]]),
    "a deleted line": (2, lambda ls: [ls[0], *ls[2:]]),
    "a line forged with its hash recomputed": (3, lambda ls: [ls[0], forged(ls[1], reason="x"), *ls[2:]]),
    "a framed line that is not a commit": (
        5, lambda ls: [*ls, forged(ls[3], seq=5, prev=decode(ls[3])["hash"], events="none")]),
}


class LogContract(abc.ABC, Generic[L]):
    """Every test of the log's contract; subclasses implement the hooks."""

    @abc.abstractmethod
    def new_log(self, tmp_path: Path) -> L:
        """An empty log."""

    @abc.abstractmethod
    def reopen(self, log: L) -> L:
        """Another handle on the same log, with no position yet (a fresh reader)."""

    @abc.abstractmethod
    def raw_lines(self, log: L) -> list[bytes]:
        """The stored lines, byte for byte (the last may lack its newline)."""

    @abc.abstractmethod
    def set_raw_lines(self, log: L, lines: list[bytes]) -> None:
        """Store exactly these lines (to damage the log)."""

    @abc.abstractmethod
    def moved_aside(self, log: L) -> list[bytes]:
        """The torn tails recovery has moved aside, oldest first."""

    @abc.abstractmethod
    def start_other_writer(self, log: L) -> Callable[[], None]:
        """Another writer (a process; a thread for the in-memory twin) takes this log's writer
        lock and holds it; calling the result makes it append one commit, let go and finish."""

    @pytest.fixture
    def log(self, tmp_path: Path) -> L:
        return self.new_log(tmp_path)

    def filled(self, log: L, n: int) -> list[bytes]:
        for i in range(n):
            append(log, i, i)
        return self.raw_lines(log)

    def damaged(self, log: L, lines: list[bytes]) -> L:
        """Store these lines; a fresh handle on them."""
        self.set_raw_lines(log, lines)
        return self.reopen(log)

    # -- appending and reading -------------------------------------------------------

    def test_empty_log_reads_nothing(self, log: L) -> None:
        found: list[Damage] = []
        assert list(log.read()) == [] and list(log.audit(found)) == [] and found == []

    def test_appends_are_numbered_and_chained(self, log: L) -> None:
        for n in range(5):
            append(log, n, n)
        records = list(log.read())
        assert seqs(records) == [1, 2, 3, 4, 5] and records[0]["prev"] == GENESIS
        for before, after in itertools.pairwise(records):
            assert after["prev"] == before["hash"]

    def test_append_returns_what_is_read_back(self, log: L) -> None:
        written = append(log, 7, 0)
        assert list(log.read()) == [written] == list(self.reopen(log).read())
        assert written["events"][0]["reason"] == "r7"
        assert written["actor"] == "tester@host" and written["schema_version"] == 1

    def test_each_stored_line_is_one_framed_commit(self, log: L) -> None:
        lines = self.filled(log, 3)
        records = list(log.read())
        assert [frame_hash(line) for line in lines] == [r["hash"] for r in records]
        assert [decode(line) for line in lines] == records

    def test_append_under_the_lock_reads_the_log_itself(self, log: L) -> None:
        for n in range(2):
            with log.writing():
                log.append(draft(n), n)
        assert seqs(log.read()) == [1, 2]

    def test_append_outside_writing_is_refused(self, log: L) -> None:
        with pytest.raises(RuntimeError, match="writer lock"):
            log.append(draft(1), 0)
        append(log, 1, 0)
        with pytest.raises(RuntimeError, match="writer lock"):
            log.append(draft(2), 1)
        assert seqs(log.read()) == [1]

    # -- conflicts and the writer's lock -----------------------------------------------

    @pytest.mark.parametrize("expected", [0, 2, 5])
    def test_a_wrong_expected_seq_is_a_conflict_and_appends_nothing(self, log: L, expected: int) -> None:
        append(log, 1, 0)
        with pytest.raises(Conflict, match="changed meanwhile"):
            append(log, 2, expected)
        assert seqs(log.read()) == [1]

    def test_a_writer_that_read_before_another_commit_gets_a_conflict(self, log: L) -> None:
        other = self.reopen(log)
        append(log, 1, 0)
        assert seqs(other.read()) == [1]
        append(log, 2, 1)
        with pytest.raises(Conflict), other.writing():
            other.append(draft(3), 1)
        with other.writing():
            other.append(draft(3), 2)
        assert seqs(log.read()) == [1, 2, 3]

    def test_the_writer_lock_excludes_a_second_writer(self, log: L) -> None:
        append(log, 1, 0)
        with pytest.raises(Conflict), log.writing():  # a refused append lets go of the lock too
            log.append(draft(2), 7)
        finish = self.start_other_writer(log)
        entered, seen = threading.Event(), []

        def mine() -> None:
            with log.writing():
                entered.set()
                seen.extend(seqs(log.read()))

        me = threading.Thread(target=mine, daemon=True)
        try:
            me.start()
            assert not entered.wait(0.3), "a second writer got the lock"
        finally:
            finish()
        me.join(10)
        assert entered.is_set() and seen == [1, 2]

    # -- positions -------------------------------------------------------------------

    def test_position_is_where_the_last_read_or_append_left_the_log(self, log: L) -> None:
        assert log.position() is None
        assert list(log.read()) == [] and position(log)[:2] == (0, GENESIS)
        record = append(log, 1, 0)
        assert position(log)[:2] == (1, record["hash"])
        other = self.reopen(log)
        assert other.position() is None
        list(other.read())
        assert other.position() == log.position()
        append(log, 2, 1)
        assert position(other).seq == 1  # until it reads again

    def test_read_after_a_position_gives_the_later_commits(self, log: L) -> None:
        list(log.read())
        genesis = position(log)
        self.filled(log, 2)
        list(log.read())
        anchor = position(log)
        assert list(log.read_after(anchor)) == []
        for n in range(2, 5):
            append(log, n, n)
        fresh = self.reopen(log)
        assert seqs(fresh.read_after(anchor)) == [3, 4, 5]
        assert fresh.position() == position(log)
        assert list(fresh.read_after(genesis)) == list(log.read())

    @pytest.mark.parametrize("change", ["rewritten", "shortened", "other hash"])
    def test_a_position_whose_commit_changed_is_stale(self, log: L, change: str) -> None:
        lines = self.filled(log, 4)
        list(log.read())
        anchor = position(log)
        rewritten = [*lines[:3], forged(lines[3], reason="rewritten")]
        if change == "other hash":
            anchor = anchor._replace(hash=decode(rewritten[3])["hash"])
        stored = lines[:3] if change == "shortened" else lines if change == "other hash" else rewritten
        with pytest.raises(StaleAnchor):
            list(self.damaged(log, stored).read_after(anchor))

    def test_read_after_checks_the_commits_after_the_position(self, log: L) -> None:
        lines = self.filled(log, 4)
        self.set_raw_lines(log, lines[:2])
        list(log.read())
        anchor = position(log)
        torn = [*lines[:3], lines[3][:20]]
        assert seqs(self.damaged(log, torn).read_after(anchor)) == [3]
        bad = [*lines[:2], lines[2].replace(b'"r2"', b'"rX"'), lines[3]]
        with pytest.raises(LogCorrupt) as refused:
            list(self.damaged(log, bad).read_after(anchor))
        assert refused.value.line == 3
        writer = self.damaged(log, torn)
        with writer.writing():
            assert seqs(writer.read_after(anchor)) == [3]
        assert self.raw_lines(log) == lines[:3] and self.moved_aside(log) == [lines[3][:20]]

    @pytest.mark.parametrize("how", ["bad hash", "bad link", "shortened", "none"])
    def test_a_checked_read_after_refuses_any_damage_before_the_position(self, log: L, how: str) -> None:
        """What a writer that folded before does: every earlier line is checked again."""
        lines = self.filled(log, 4)
        self.set_raw_lines(log, lines[:3])
        list(log.read())
        anchor = position(log)
        stored = {"bad hash": [lines[0], lines[1].replace(b'"r1"', b'"rX"'), *lines[2:]],
                  "bad link": [lines[0], forged(lines[1], reason="rX"), *lines[2:]],
                  "shortened": lines[:2], "none": lines}[how]
        reader = self.damaged(log, stored)
        if how == "none":
            assert seqs(reader.read_after(anchor, checked=True)) == [4]
            return
        with pytest.raises(StaleAnchor):
            list(reader.read_after(anchor, checked=True))
        assert how == "shortened" or seqs(self.reopen(log).read_after(anchor)) == [4]  # unchecked: not seen

    # -- a torn tail: skipped by readers, moved aside by the next writer ----------------

    def test_a_torn_last_line_is_recovered_at_every_byte_offset(self, log: L, tmp_path: Path) -> None:
        lines = self.filled(log, 3)
        good, last = lines[:2], lines[2]
        for cut in range(1, len(last)):  # every proper prefix of the last line
            torn = [*good, last[:cut]]
            reader = self.damaged(self.new_log(tmp_path / f"cut{cut}"), torn)
            assert seqs(reader.read()) == [1, 2] and position(reader).seq == 2, cut
            assert self.raw_lines(reader) == torn, cut  # a reader leaves it alone
            writer = self.reopen(reader)
            with writer.writing():
                assert seqs(writer.read()) == [1, 2], cut
            assert self.raw_lines(writer) == good and self.moved_aside(writer) == [last[:cut]], cut

    @pytest.mark.parametrize("tail", [b"\x00" * 4096, b"garbage that is not json\n", b'{"seq": 4',
                                      b"half a line\n\x00\x00\x00", b"\n"])
    def test_zero_and_garbage_tails_are_recovered(self, log: L, tail: bytes) -> None:
        lines = self.filled(log, 3)
        writer = self.damaged(log, lines + split_lines(tail))
        with writer.writing():
            assert seqs(writer.read()) == [1, 2, 3]
        assert self.raw_lines(log) == lines and self.moved_aside(log) == [tail]

    def test_the_next_append_recovers_a_torn_tail(self, log: L) -> None:
        lines = self.filled(log, 2)
        writer = self.damaged(log, [*lines, b'{"seq":3,"half'])
        with writer.writing():
            writer.append(draft(3), 2)  # no read first: append reads itself
        assert seqs(self.reopen(log).read()) == [1, 2, 3]
        assert self.moved_aside(log) == [b'{"seq":3,"half']

    # -- corruption: refused by readers and writers, named by its line, nothing touched ----

    @pytest.mark.parametrize("how", CORRUPTIONS)
    def test_corruption_names_its_line_and_nothing_is_touched(self, log: L, how: str) -> None:
        line, damage = CORRUPTIONS[how]
        lines = damage(self.filled(log, 4))
        damaged = self.damaged(log, lines)
        for attempt in (lambda: list(damaged.read()), lambda: append(damaged, 9, 9)):
            with pytest.raises(LogCorrupt) as refused:
                attempt()
            assert refused.value.line == line
        found: list[Damage] = []
        assert seqs(damaged.audit(found)) == list(range(1, line))  # audit reports, never raises
        assert [(d.line, d.framed, d.offset) for d in found] == [(line, True, len(b"".join(lines[:line - 1])))]
        assert self.raw_lines(log) == lines and self.moved_aside(log) == []

    # -- audit: every good commit, then the damage; never raises, never recovers -------

    def test_audit_reports_a_torn_tail_and_recovers_nothing(self, log: L) -> None:
        lines = self.filled(log, 3)
        torn = [*lines, b'{"seq":4']
        auditor, found = self.damaged(log, torn), list[Damage]()
        with auditor.writing():
            assert seqs(auditor.audit(found)) == [1, 2, 3]
        assert found == [Damage(4, "incomplete line", len(b"".join(lines)), False)]
        assert self.raw_lines(log) == torn and self.moved_aside(log) == []

    def test_audit_finds_one_flipped_byte_anywhere(self, log: L) -> None:
        lines = self.filled(log, 3)
        for number, line in enumerate(lines, start=1):
            for offset in range(len(line) - 1):
                flipped = line[:offset] + bytes([line[offset] ^ 0x01]) + line[offset + 1:]
                found: list[Damage] = []
                stored = [*lines[:number - 1], flipped, *lines[number:]]
                assert seqs(self.damaged(log, stored).audit(found)) == list(range(1, number))
                framed = number < len(lines) or has_frame(flipped)
                assert [(d.line, d.framed) for d in found] == [(number, framed)], (number, offset)


def split_lines(data: bytes) -> list[bytes]:
    """Stored bytes as lines, each with its newline (the last may have none)."""
    lines = data.split(b"\n")
    return [line + b"\n" for line in lines[:-1]] + ([lines[-1]] if lines[-1] else [])


class TestMemoryLog(LogContract[MemoryLog]):
    def new_log(self, tmp_path: Path) -> MemoryLog:
        return MemoryLog()

    def reopen(self, log: MemoryLog) -> MemoryLog:
        return log.reopen()

    def raw_lines(self, log: MemoryLog) -> list[bytes]:
        return list(log.lines)

    def set_raw_lines(self, log: MemoryLog, lines: list[bytes]) -> None:
        log.lines[:] = lines

    def moved_aside(self, log: MemoryLog) -> list[bytes]:
        return list(log.aside)

    def start_other_writer(self, log: MemoryLog) -> Callable[[], None]:
        other, held, go = log.reopen(), threading.Event(), threading.Event()

        def write() -> None:
            with other.writing():
                n = len(list(other.read()))
                held.set()
                go.wait(10)
                other.append(draft(n), n)

        thread = threading.Thread(target=write, daemon=True)
        thread.start()
        assert held.wait(10), "the other writer never got the lock"

        def finish() -> None:
            go.set()
            thread.join(10)
            assert not thread.is_alive()

        return finish

