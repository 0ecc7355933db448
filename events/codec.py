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
_MARK = b',"hash":"'
_TAIL = len(_MARK) + 64 + 3  # marker, hex digest, '"}' and the newline


def encode(record: dict[str, Any]) -> tuple[bytes, str]:
    """Frame a record (without ``hash``); returns the line and its hash."""
    body = orjson.dumps(record, option=orjson.OPT_SORT_KEYS)
    digest = hashlib.sha256(body).hexdigest()
    return body[:-1] + _MARK + digest.encode() + b'"}\n', digest


def has_frame(line: bytes) -> bool:
    """True when the line is shaped like a complete commit (it claims to be one)."""
    return (
        len(line) > _TAIL
        and line.endswith(b'"}\n')
        and line[-_TAIL : -_TAIL + len(_MARK)] == _MARK
    )


def frame_hash(line: bytes) -> str | None:
    """The hash a framed line claims, when the body's bytes produce it; else None."""
    if not has_frame(line):
        return None
    claimed = line[-67:-3]
    body = line[:-_TAIL] + b"}"
    if hashlib.sha256(body).hexdigest().encode() != claimed:
        return None
    return claimed.decode()


def claimed_hash(line: bytes) -> str | None:
    """The hash a framed line claims, not checked (the caller has it checked elsewhere)."""
    return line[-67:-3].decode() if has_frame(line) else None


def first_bad_hash(lines: Iterable[bytes], size: int) -> int:
    """The number of the first framed line within the first ``size`` bytes whose hash
    does not match its body; 0 when there is none. Unframed lines are skipped: the
    reader judges those (torn tail or corruption)."""
    seen = 0
    for number, line in enumerate(lines, start=1):
        if seen >= size:
            break
        seen += len(line)
        if has_frame(line) and frame_hash(line) is None:
            return number
    return 0


def decode(line: bytes) -> dict[str, Any]:
    record: dict[str, Any] = orjson.loads(line)
    return record
