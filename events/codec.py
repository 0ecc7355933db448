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
from typing import Any

import orjson

from lifecycle.state import GENESIS, SCHEMA_VERSION

__all__ = ["FRAME_MARK", "GENESIS", "SCHEMA_VERSION", "commit_shaped", "decode", "encode", "frame_hash",
           "has_frame", "named_prev"]

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


def named_prev(line: bytes) -> bytes:
    """The ``prev`` a framed canonical line names, read from its bytes. Keys are sorted, so
    only scalars follow ``prev`` (reason, schema_version, seq, time), and a quote inside a
    string is escaped: the last ``,"prev":"`` of the body is the top-level key."""
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
