"""Reading the log newest first, for paging through the history without reading it all.

Guarantees: every line yielded is hash-checked and linked to the next older one (its
``prev`` is that line's hash, its ``seq`` one more); unframed bytes after the last commit (a
torn tail) are skipped, as readers do; any other damage raises ``Damaged`` (the log's
forward read then names the line). The chain back to the first commit is checked only as
far as the caller reads.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, BinaryIO

from events.codec import decode, frame_hash, has_frame

BLOCK = 1 << 16


class Damaged(Exception):
    """A line read backwards fails its hash or its link to the next older one."""


def lines_backwards(f: BinaryIO, end: int) -> Iterator[bytes]:
    """The lines of ``f[:end]``, last first (each with its newline, except a torn tail)."""
    pos, buffer = end, b""
    while True:
        cut = buffer.rfind(b"\n", 0, len(buffer) - 1)
        if cut >= 0:
            yield buffer[cut + 1:]
            buffer = buffer[:cut + 1]
            continue
        if pos == 0:
            if buffer:
                yield buffer
            return
        size = min(BLOCK, pos)
        pos -= size
        f.seek(pos)
        buffer = f.read(size) + buffer


def newest_first(f: BinaryIO, end: int) -> Iterator[dict[str, Any]]:
    newer: dict[str, Any] | None = None
    for line in lines_backwards(f, end):
        digest = frame_hash(line)
        if digest is None and newer is None and not has_frame(line):
            continue  # a torn tail: not a commit
        if digest is None:
            raise Damaged
        record = decode(line)
        if newer is not None and (newer["prev"] != digest or newer["seq"] != record.get("seq", 0) + 1):
            raise Damaged
        newer = record
        yield record
    if newer is not None and newer["seq"] != 1:
        raise Damaged
