"""The contract (``test_log.py``) run against the JSONL log, then what only it promises: the
name of a moved-aside tail and what it reports on stderr, fsync, ``lifecycle verify``'s
wording, and the framing of one line (``events.codec``)."""

from __future__ import annotations

import os
import select
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from events.codec import GENESIS, encode, frame_hash
from events.log import JsonlLog
from events.store import BlobStore
from service.verify import verify
from tests.contract.test_log import LogContract, append, split_lines

OTHER_WRITER = """
import sys
from pathlib import Path
from events.log import JsonlLog
from events.port import Draft
draft = Draft("2026-01-01T00:00:00.000000Z", "other@host", "reject", None,
              [{"type": "rejected", "model_id": "convnext_v1.0.99", "reason": "other"}])
log = JsonlLog(Path(sys.argv[1]), Path(sys.argv[2]))
with log.writing():
    n = len(list(log.read()))
    print("held", flush=True)
    sys.stdin.readline()
    log.append(draft, n)
"""


class TestJsonlLog(LogContract[JsonlLog]):
    def new_log(self, tmp_path: Path) -> JsonlLog:
        tmp_path.mkdir(parents=True, exist_ok=True)
        return JsonlLog(tmp_path / "events.jsonl", tmp_path / "events.lock")

    def reopen(self, log: JsonlLog) -> JsonlLog:
        return JsonlLog(log.path, log.lock_path)

    def raw_lines(self, log: JsonlLog) -> list[bytes]:
        return split_lines(log.path.read_bytes()) if log.path.exists() else []

    def set_raw_lines(self, log: JsonlLog, lines: list[bytes]) -> None:
        log.path.write_bytes(b"".join(lines))

    def moved_aside(self, log: JsonlLog) -> list[bytes]:
        def seq_and_n(path: Path) -> tuple[int, ...]:
            return tuple(int(part) for part in path.name.rsplit(".broken-", 1)[1].split("-"))

        asides = log.path.parent.glob(f"{log.path.name}.broken-*")
        return [path.read_bytes() for path in sorted(asides, key=seq_and_n)]

    def start_other_writer(self, log: JsonlLog) -> Callable[[], None]:
        """A second process: ``flock`` must exclude writers across processes."""
        other = subprocess.Popen(
            [sys.executable, "-c", OTHER_WRITER, str(log.path), str(log.lock_path)],
            cwd=Path(__file__).parents[2], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert other.stdin is not None and other.stdout is not None
        if not select.select([other.stdout], [], [], 30)[0] or other.stdout.readline() != "held\n":
            other.kill()
            pytest.fail("the other writer never got the lock")

        def finish() -> None:
            assert other.stdin is not None
            other.stdin.write("go\n")
            other.stdin.close()
            assert other.wait(30) == 0

        return finish


# -- JSONL only ----------------------------------------------------------------------

def jsonl_with(tmp_path: Path, n: int) -> tuple[JsonlLog, bytes]:
    log = JsonlLog(tmp_path / "events.jsonl", tmp_path / "events.lock")
    for i in range(n):
        append(log, i, i)
    return log, log.path.read_bytes()


def recover(log: JsonlLog) -> None:
    """What every writing command does first: take the lock and read the log."""
    with log.writing():
        list(log.read())


def test_a_torn_tail_goes_to_a_broken_file_named_after_the_last_good_commit(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log, data = jsonl_with(tmp_path, 3)
    for n, tail in enumerate([b'{"seq":4,"ha', b"\x00" * 512]):
        log.path.write_bytes(data + tail)
        list(JsonlLog(log.path).read())
        assert "torn tail" in capsys.readouterr().err  # a reader warns and leaves it
        recover(JsonlLog(log.path))
        assert log.path.read_bytes() == data
        assert (tmp_path / f"events.jsonl.broken-3-{n}").read_bytes() == tail
        err = capsys.readouterr().err
        assert f"moved a torn tail of {len(tail)} bytes after commit 3 to events.jsonl.broken-3-{n}" in err


def test_lines_are_appended_with_fsync(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    real: Callable[[int], None] = os.fsync

    def counted(fd: int) -> None:
        calls.append(fd)
        real(fd)

    monkeypatch.setattr(os, "fsync", counted)
    append(JsonlLog(tmp_path / "events.jsonl"), 1, 0)
    assert calls, "append returned without fsync"


@pytest.mark.parametrize(("cut", "kind"), [(-30, "corrupt"), (-2, "torn tail")])
def test_verify_names_the_damaged_line_of_events_jsonl(tmp_path: Path, cut: int, kind: str) -> None:
    log, data = jsonl_with(tmp_path, 4)
    flipped = data[:cut] + bytes([data[cut] ^ 0x01]) + data[cut + 1:]
    log.path.write_bytes(flipped)
    report = verify(tmp_path, JsonlLog(log.path), BlobStore(tmp_path / "store"))
    assert any(p.startswith("events.jsonl line 4") and kind in p for p in report.problems), report.problems


def test_records_hash_their_exact_bytes() -> None:
    line, digest = encode({"seq": 1, "prev": GENESIS, "events": []})
    assert frame_hash(line) == digest
    assert frame_hash(line.replace(b'"seq":1', b'"seq":2')) is None
