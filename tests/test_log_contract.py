"""One contract suite for both event logs (in-memory and JSONL), plus JSONL recovery."""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from events._hashcheck import HashCheck
from events.codec import GENESIS, encode, frame_hash
from events.log import Draft, EventLog, JsonlLog
from events.memory import MemoryLog
from events.store import BlobStore
from lifecycle.errors import Conflict, LogCorrupt
from service.verify import verify


def _draft(n: int) -> Draft:
    event = {"type": "rejected", "model_id": f"convnext_v1.0.{n}", "reason": f"r{n}"}
    return Draft("2026-01-01T00:00:00.000000Z", "tester@host", "reject", None, [event])


@pytest.fixture(params=["memory", "jsonl"])
def log(request: pytest.FixtureRequest, tmp_path: Path) -> EventLog:
    if request.param == "memory":
        return MemoryLog()
    return JsonlLog(tmp_path / "events.jsonl")


def _append(log: EventLog, n: int, expected: int) -> dict:  # type: ignore[type-arg]
    with log.writing():
        list(log.read())
        return log.append(_draft(n), expected)


def test_empty_log_reads_nothing(log: EventLog) -> None:
    assert list(log.read()) == []


def test_appends_are_numbered_and_chained(log: EventLog) -> None:
    for n in range(5):
        _append(log, n, n)
    records = list(log.read())
    assert [r["seq"] for r in records] == [1, 2, 3, 4, 5]
    assert records[0]["prev"] == GENESIS
    for before, after in itertools.pairwise(records):
        assert after["prev"] == before["hash"]


def test_append_returns_what_is_read_back(log: EventLog) -> None:
    written = _append(log, 7, 0)
    assert list(log.read()) == [written]
    assert written["events"][0]["reason"] == "r7"
    assert written["actor"] == "tester@host" and written["schema_version"] == 1


def test_stale_expected_seq_is_a_conflict_and_appends_nothing(log: EventLog) -> None:
    _append(log, 1, 0)
    with pytest.raises(Conflict, match="changed meanwhile"):
        _append(log, 2, 0)
    assert len(list(log.read())) == 1


def test_records_hash_their_exact_bytes() -> None:
    line, digest = encode({"seq": 1, "prev": GENESIS, "events": []})
    assert frame_hash(line) == digest
    tampered = line.replace(b'"seq":1', b'"seq":2')
    assert frame_hash(tampered) is None


# -- JSONL specifics -------------------------------------------------------------------


def open_for_writing(log: JsonlLog) -> None:
    """What every writing command does first: take the lock and read the log."""
    with log.writing():
        list(log.read())


def _jsonl_with(tmp_path: Path, n: int) -> tuple[JsonlLog, bytes]:
    log = JsonlLog(tmp_path / "events.jsonl")
    for i in range(n):
        _append(log, i, i)
    return log, log.path.read_bytes()


def _lines(data: bytes) -> list[bytes]:
    return data.splitlines(keepends=True)


def test_torn_tail_at_every_byte_offset_is_recovered(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    log, data = _jsonl_with(tmp_path, 3)
    good = b"".join(_lines(data)[:2])
    last = _lines(data)[2]
    for cut in range(1, len(last)):  # every proper prefix of the last line
        log.path.write_bytes(good + last[:cut])
        fresh = JsonlLog(log.path)
        assert [r["seq"] for r in fresh.read()] == [1, 2]  # readers skip it
        open_for_writing(fresh)
        assert log.path.read_bytes() == good, cut
        asides = sorted(tmp_path.glob("events.jsonl.broken-*"))
        assert asides and asides[-1].read_bytes() == last[:cut]
        for aside in asides:
            aside.unlink()
    assert "torn tail" in capsys.readouterr().err


@pytest.mark.parametrize("tail", [b"\x00" * 4096, b"garbage that is not json\n", b"{\"seq\": 4"])
def test_zero_and_garbage_tails_are_recovered(tmp_path: Path, tail: bytes) -> None:
    log, data = _jsonl_with(tmp_path, 3)
    log.path.write_bytes(data + tail)
    open_for_writing(JsonlLog(log.path))
    assert log.path.read_bytes() == data
    assert (tmp_path / "events.jsonl.broken-3-0").read_bytes() == tail


def test_recovered_log_accepts_the_next_append(tmp_path: Path) -> None:
    log, data = _jsonl_with(tmp_path, 2)
    log.path.write_bytes(data + b'{"seq":3,"half')
    fresh = JsonlLog(log.path)
    _append(fresh, 9, 2)
    assert [r["seq"] for r in JsonlLog(log.path).read()] == [1, 2, 3]


def test_mid_log_corruption_refuses_writes_and_names_the_line(tmp_path: Path) -> None:
    log, data = _jsonl_with(tmp_path, 4)
    lines = _lines(data)
    lines[1] = lines[1].replace(b'"r1"', b'"rX"')
    log.path.write_bytes(b"".join(lines))
    fresh = JsonlLog(log.path)
    with pytest.raises(LogCorrupt, match="line 2"):
        open_for_writing(fresh)
    assert log.path.read_bytes() == b"".join(lines)  # nothing was touched
    assert not list(tmp_path.glob("events.jsonl.broken-*"))


def test_a_damaged_complete_last_line_is_corruption_not_a_torn_tail(tmp_path: Path) -> None:
    log, data = _jsonl_with(tmp_path, 3)
    log.path.write_bytes(data.replace(b'"r2"', b'"r9"'))
    with pytest.raises(LogCorrupt, match="line 3"):
        open_for_writing(JsonlLog(log.path))


def test_deleted_line_breaks_the_chain(tmp_path: Path) -> None:
    log, data = _jsonl_with(tmp_path, 4)
    lines = _lines(data)
    log.path.write_bytes(b"".join(lines[:1] + lines[2:]))
    with pytest.raises(LogCorrupt, match="line 2"):
        list(JsonlLog(log.path).read())


def _flip_each_byte(data: bytes) -> Iterator[tuple[int, bytes]]:
    for offset in range(0, len(data), 37):
        if data[offset:offset + 1] == b"\n":
            continue
        yield offset, data[:offset] + bytes([data[offset] ^ 0x01]) + data[offset + 1:]


def test_verify_finds_one_flipped_byte_anywhere(tmp_path: Path) -> None:
    log, data = _jsonl_with(tmp_path, 4)
    store = BlobStore(tmp_path / "store")
    for offset, flipped in _flip_each_byte(data):
        log.path.write_bytes(flipped)
        report = verify(tmp_path, JsonlLog(log.path), store)
        assert any("events.jsonl line" in p for p in report.problems), offset


def test_append_needs_the_writer_lock(tmp_path: Path) -> None:
    log = JsonlLog(tmp_path / "events.jsonl")
    with pytest.raises(RuntimeError, match="writer lock"):
        log.append(_draft(1), 0)


def test_lines_are_appended_with_fsync(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    real: Callable[[int], None] = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (calls.append(fd), real(fd))[1])
    log = JsonlLog(tmp_path / "events.jsonl")
    _append(log, 1, 0)
    assert calls, "append returned without fsync"


def _outcome(log: JsonlLog) -> list[int] | str:
    try:
        return [r["seq"] for r in log.read()]
    except LogCorrupt as exc:
        return f"corrupt at line {exc.line}"


def test_hash_check_in_a_second_process_gives_the_same_verdicts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Large logs have their hashes checked by ``events._hashcheck`` beside the parse;
    for every flipped byte the verdict must be the in-process one."""
    log, data = _jsonl_with(tmp_path, 4)
    started = []
    original = HashCheck.start.__func__  # type: ignore[attr-defined]

    def counted(cls: type[HashCheck], path: Path) -> HashCheck | None:
        check = original(cls, path)
        started.append(check is not None)
        return check  # type: ignore[no-any-return]

    monkeypatch.setattr(HashCheck, "start", classmethod(counted))
    verdicts = 0
    for offset, flipped in _flip_each_byte(data):
        log.path.write_bytes(flipped)
        monkeypatch.setattr(HashCheck, "PARALLEL_FROM", 1 << 40)
        in_process = _outcome(JsonlLog(log.path))
        monkeypatch.setattr(HashCheck, "PARALLEL_FROM", 0)
        assert _outcome(JsonlLog(log.path)) == in_process, offset
        verdicts += isinstance(in_process, str)
    assert verdicts > 10 and started.count(True) == len(started) // 2
