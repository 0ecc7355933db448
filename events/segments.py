"""A large log read on both cores: the later half verified and reduced by a second process.

``python -m events.segments MODULE:FUNCTION PATH START END`` verifies the lines in bytes
``[START, END)`` of the log (every line's sha256, ``seq`` and ``prev`` links within the
range) and prints ``FUNCTION(records)`` as JSON, with the range's first and last positions.
``JsonlLog.read_in_halves`` runs it beside its own read of the first half and checks the
seam between the halves itself.

Guarantees:
1. A record is reduced or handed to a caller only after its hash and chain were checked.
2. Anything unusual (a damaged or torn line anywhere, a helper that failed or printed
   something else) yields no answer: the caller reads the log the ordinary way, which
   recovers a torn tail or names the damaged line exactly as it always does.
"""

from __future__ import annotations

import gc
import hashlib
import importlib
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

import orjson

from events.codec import FRAME_MARK, FRAME_TAIL, named_prev

Record = dict[str, Any]
_MARK_LEN = len(FRAME_MARK)


def split_at(f: BinaryIO, size: int) -> int:
    """Where the first line at or after the middle of the first ``size`` bytes starts."""
    f.seek(size // 2)
    f.readline()
    return min(f.tell(), size)


class Checked:
    """Verified records of consecutive lines; ``good`` stays True only while every line so
    far was a good commit linked to the one before (the first names its own ``prev``)."""

    def __init__(self, start: int) -> None:
        self.good = True
        self.first: tuple[int, str] | None = None  # (seq, prev) of the first line
        self.last: tuple[int, str, int, int] | None = None  # Tail: seq, hash, end, start
        self.offset = start

    def records(self, f: BinaryIO, end: int) -> Iterator[Record]:
        """The records of the lines from ``start`` up to ``end`` (a line start) in ``f``, a
        buffered file; ``good`` ends False at the first line that is not a good commit.

        ``frame_hash``, ``decode`` and ``commit_shaped`` inlined (this loop runs once per
        line of a long log); stricter than they are, never looser: a line they would refuse
        ends the range here, and the caller then reads the ordinary way."""
        seq, prev, offset, start = 0, "", self.offset, -1
        sha256, loads = hashlib.sha256, orjson.loads
        f.seek(offset)
        try:
            for line in f:
                size = len(line)
                cut = size - FRAME_TAIL
                if offset >= end or cut <= 0 or line[cut:cut + _MARK_LEN] != FRAME_MARK or line[-3:] != b'"}\n':
                    self.good = offset >= end
                    return
                digest = sha256(line[:cut] + b"}").hexdigest()
                if digest.encode() != line[-67:-3]:
                    self.good = False
                    return
                record = loads(line)
                if type(record) is not dict or (self.first is None and not self._begin(record)):
                    self.good = False
                    return
                if seq == 0:
                    seq, prev = record["seq"] - 1, record["prev"]
                events = record.get("events")
                if (record.get("seq") != seq + 1 or record.get("prev") != prev
                        or named_prev(line) != prev.encode()  # as HashCheck reads the link
                        or type(record.get("time")) is not str or type(events) is not list):
                    self.good = False
                    return
                for e in events:
                    if type(e) is not dict or type(e.get("type")) is not str:
                        self.good = False
                        return
                seq, prev, start, offset = seq + 1, digest, offset, offset + size
                yield record
        except ValueError:  # not JSON under a good hash: a line written to lie
            self.good = False
        finally:
            self.offset = offset
            if start >= 0:
                self.last = (seq, prev, offset, start)

    def _begin(self, record: Record) -> bool:
        """Adopt the first line's ``seq`` and ``prev`` (the caller checks the seam)."""
        first_seq, prev = record.get("seq"), record.get("prev")
        if type(first_seq) is not int or first_seq < 1 or type(prev) is not str:
            return False
        self.first = (first_seq, prev)
        return True


class Helper:
    """The second process, reducing ``[start, end)`` while the caller reads the rest."""

    def __init__(self, reducer: str, path: Path, start: int, end: int) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-P", "-m", "events.segments", reducer, str(path), str(start), str(end)],
            stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def result(self) -> dict[str, Any] | None:
        out, _ = self.process.communicate()
        if self.process.returncode != 0:
            return None
        try:
            answer = orjson.loads(out)
        except orjson.JSONDecodeError:
            return None
        return answer if isinstance(answer, dict) and answer.get("good") is True else None

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()


def _reducer(name: str) -> Callable[[Iterator[Record]], Any]:
    module, _, function = name.partition(":")
    reduce: Callable[[Iterator[Record]], Any] = getattr(importlib.import_module(module), function)
    return reduce


def main(argv: list[str]) -> int:
    gc.disable()  # a short-lived process that makes no reference cycles
    reduce = _reducer(argv[0])
    path, start, end = Path(argv[1]), int(argv[2]), int(argv[3])
    checked = Checked(start)
    with open(path, "rb", buffering=1 << 20) as f:
        result = reduce(checked.records(f, end))
    good = checked.good and checked.last is not None and checked.last[2] == end
    sys.stdout.buffer.write(orjson.dumps({"good": good, "first": checked.first, "last": checked.last,
                                          "result": result if good else None}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
