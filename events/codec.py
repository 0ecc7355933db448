"""Framing of one commit line: canonical JSON, a sha256 over its exact bytes, a chain.

A line is ``<body without its closing brace>,"hash":"<64 hex>"}\\n`` where ``body`` is
``orjson.dumps(record_without_hash, OPT_SORT_KEYS)`` and ``hash = sha256(body)``.

Guarantees:
1. The hash is checked on the exact stored bytes; nothing is re-serialised to verify.
2. Each record names the previous record's hash (``prev``) and carries the next
   sequence number, so a changed, dropped, reordered or inserted line breaks the chain.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Any

import orjson

GENESIS = "0" * 64
SCHEMA_VERSION = 1
FRAME_MARK = b',"hash":"'
_PREV = b',"prev":"'
FRAME_TAIL = len(FRAME_MARK) + 64 + 3  # marker, hex digest, '"}' and the newline


def encode(record: dict[str, Any]) -> tuple[bytes, str]:
    """Frame a record (without ``hash``); returns the line and its hash."""
    body = orjson.dumps(record, option=orjson.OPT_SORT_KEYS)
    digest = hashlib.sha256(body).hexdigest()
    return body[:-1] + FRAME_MARK + digest.encode() + b'"}\n', digest


def has_frame(line: bytes) -> bool:
    """True when the line is shaped like a complete commit (it claims to be one)."""
    return (
        len(line) > FRAME_TAIL
        and line.endswith(b'"}\n')
        and line[-FRAME_TAIL : -FRAME_TAIL + len(FRAME_MARK)] == FRAME_MARK
    )


def frame_hash(line: bytes) -> str | None:
    """The hash a framed line claims, when the body's bytes produce it; else None."""
    if not has_frame(line):
        return None
    claimed = line[-67:-3]
    body = line[:-FRAME_TAIL] + b"}"
    if hashlib.sha256(body).hexdigest().encode() != claimed:
        return None
    return claimed.decode()


def claimed_hash(line: bytes) -> str | None:
    """The hash a framed line claims, not checked (the caller has it checked elsewhere)."""
    return line[-67:-3].decode() if has_frame(line) else None


def first_bad_line(lines: Iterable[bytes], size: int, strict: bool = False) -> int:
    """The number of the first line within the first ``size`` bytes that fails its hash or
    does not name the line before it as ``prev``; 0 when there is none. Unframed lines are
    skipped (the reader judges those: torn tail or corruption) unless ``strict``."""
    seen, prev = 0, GENESIS.encode()
    for number, line in enumerate(lines, start=1):
        if seen >= size:
            break
        seen += len(line)
        if not has_frame(line):
            if strict:
                return number
            prev = b""
            continue
        digest = frame_hash(line)
        if digest is None or (prev and named_prev(line) != prev):
            return number
        prev = digest.encode()
    return 0


def named_prev(line: bytes) -> bytes:
    """The ``prev`` a framed canonical line names. Keys are sorted, so only scalars follow
    ``prev`` (reason, schema_version, seq, time) and a quote inside a string is escaped:
    the last ``,"prev":"`` in the body is the top-level key."""
    at = line.rfind(_PREV, 0, len(line) - FRAME_TAIL)
    return line[at + len(_PREV):at + len(_PREV) + 64] if at >= 0 else b""


def commit_shaped(record: dict[str, Any]) -> bool:
    """What every reader relies on: a time and a list of event objects with a type."""
    events = record.get("events")
    return (isinstance(record.get("time"), str) and isinstance(events, list)
            and all(isinstance(e, dict) and isinstance(e.get("type"), str) for e in events))


def decode(line: bytes) -> dict[str, Any]:
    record: dict[str, Any] = orjson.loads(line)
    return record
