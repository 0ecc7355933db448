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
import io
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO, cast

import orjson

from events.codec import FRAME_MARK, FRAME_TAIL, named_prev
from lifecycle.fold import Evaluations, Pending, touches_evaluations

Scan = Callable[..., tuple[int, int, int, str, str | None]]
_scan: Scan | None
_Pending: Callable[[], Pending] | None
try:  # the C reader (setup.py): optional, the same results either way
    from events._fastscan import Pending as _Pending
    from events._fastscan import scan as _scan
except ImportError:  # pragma: no cover - where it could not be built
    _scan, _Pending = None, None

Record = dict[str, Any]
_MARK_LEN = len(FRAME_MARK)
_CHUNK = 1 << 22
sha256, loads = hashlib.sha256, orjson.loads


def split_at(f: BinaryIO, size: int) -> int:
    """Where the first line at or after the middle of the first ``size`` bytes starts."""
    f.seek(size // 2)
    f.readline()
    return min(f.tell(), size)


def _refill(f: BinaryIO, buf: bytearray, at: int, filled: int, left: int) -> tuple[bytearray, int, int, int]:
    """``buf[at:filled]`` moved to the front and followed by up to ``left`` more bytes of
    ``f`` (the buffer is reused: a long read makes no garbage); ``buf`` grows only for a
    line longer than it. Returns the buffer, its new ``at`` and ``filled``, and how many
    bytes were read (0: the range or the file ends)."""
    kept = filled - at
    if at:
        buf[:kept] = buf[at:filled]
    if kept == len(buf):
        buf.extend(bytes(len(buf)))
    want = min(len(buf) - kept, left)
    if want <= 0:
        return buf, 0, kept, 0
    with memoryview(buf) as view, view[kept:kept + want] as room:
        got = cast(io.BufferedIOBase, f).readinto(room) or 0
    return buf, 0, kept + got, got


class Checked:
    """Verified records of consecutive lines; ``good`` stays True only while every line so
    far was a good commit linked to the one before (the first names its own ``prev``)."""

    def __init__(self, start: int) -> None:
        self.good = True
        self.first: tuple[int, str] | None = None  # (seq, prev) of the first line
        self.last: tuple[int, str, int, int] | None = None  # Tail: seq, hash, end, start
        self.offset = start  # where the next line starts
        self._seq, self._prev, self._start = 0, "", -1  # the last line read: seq, hash, start
        self._batch: Evaluations | None = None  # taken in C, not yet handed out
        self._pending: Pending | None = None  # where C notes them until a commit touches evaluations

    def records(self, f: BinaryIO, end: int) -> Iterator[Record | Evaluations]:
        """The records of the lines from ``start`` up to ``end`` (a line start) in ``f``;
        ``good`` ends False at the first line that is not a good commit. Where the C reader
        is built, runs of evaluation-only commits come as ``Evaluations`` batches instead.

        ``frame_hash``, ``decode`` and ``commit_shaped`` inlined (this loop runs once per
        line of a long log); stricter than they are, never looser: a line they would refuse
        ends the range here, and the caller then reads the ordinary way. Batches share one
        ``Pending`` until a record that touches evaluations is handed out (see
        ``lifecycle.fold.Evaluations``)."""
        self._seq, self._prev, self._start, self._pending = 0, "", -1, None
        scan = _scan
        f.seek(self.offset)
        buf, at, filled = bytearray(_CHUNK), 0, 0  # buf[at:filled] was read from ``self.offset`` on
        try:
            while True:
                newline = buf.find(b"\n", at, filled)
                if newline < 0:
                    buf, at, filled, got = _refill(f, buf, at, filled, end - self.offset - (filled - at))
                    if not got:  # the range ends here: a good one at ``end`` exactly
                        self.good = self.offset >= end and at == filled
                        break
                    continue
                if scan is not None and self._seq:
                    with memoryview(buf) as view, view[:filled] as data:
                        taken = self._bulk(scan, data, at)
                    if taken > at:
                        at = taken
                        continue
                if self._batch is not None:  # before the record that ends it
                    yield self._batch_done()
                record = self._record(bytes(buf[at:newline + 1]))
                if record is None:
                    break
                at = newline + 1
                if touches_evaluations(record):
                    self._pending = None
                yield record
            if self._batch is not None:
                yield self._batch_done()
        finally:
            if self._start >= 0:
                self.last = (self._seq, self._prev, self.offset, self._start)

    def _record(self, line: bytes) -> Record | None:
        """The line's record if it is a good commit that follows the last one; else None
        (and ``good`` False)."""
        size = len(line)
        cut = size - FRAME_TAIL
        if cut <= 0 or line[cut:cut + _MARK_LEN] != FRAME_MARK or line[-3:] != b'"}\n':
            self.good = False
            return None
        digest = sha256(line[:cut] + b"}").hexdigest()
        try:
            record = loads(line) if digest.encode() == line[-67:-3] else None
        except ValueError:  # not JSON under a good hash: a line written to lie
            record = None
        if type(record) is not dict or (self.first is None and not self._begin(record)):
            self.good = False
            return None
        if self._seq == 0:
            self._seq, self._prev = record["seq"] - 1, record["prev"]
        events = record.get("events")
        prev = self._prev
        if (record.get("seq") != self._seq + 1 or record.get("prev") != prev
                or named_prev(line) != prev.encode()  # as HashCheck reads the link
                or type(record.get("time")) is not str or type(events) is not list
                or not all(type(e) is dict and type(e.get("type")) is str for e in events)):
            self.good = False
            return None
        self._seq, self._prev, self._start = self._seq + 1, digest, self.offset
        self.offset += size
        return record

    def _bulk(self, scan: Scan, data: memoryview, at: int) -> int:
        """Take the evaluation-only lines from ``data[at:]`` in C; where it stopped."""
        if self._pending is None:
            self._pending = cast(Callable[[], Pending], _Pending)()
        stop, last, seq, prev, time = scan(data, at, self._seq, self._prev, self._pending)
        if stop > at:
            self._start = self.offset + (last - at)
            self.offset += stop - at
            self._seq, self._prev = seq, prev
            self._batch = Evaluations(self._pending, (seq, prev, cast(str, time)))
        return int(stop)

    def _batch_done(self) -> Evaluations:
        batch, self._batch = self._batch, None
        return cast(Evaluations, batch)

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


def _reducer(name: str) -> Callable[[Iterator[Record | Evaluations]], Any]:
    module, _, function = name.partition(":")
    reduce: Callable[[Iterator[Record | Evaluations]], Any] = getattr(importlib.import_module(module), function)
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
