"""The event log's port: what the application needs of any log backend.

Backends (``events.log.JsonlLog``, ``events.memory.MemoryLog``, later PostgreSQL) implement
``EventLog``; the application (``service``) and the projections know only this module, and
the composition root (``bootstrap``) picks the backend. One contract suite
(``tests/contract``) runs against every backend.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any, NamedTuple, Protocol

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
    """Read commits in order; append one checked commit under the writer's lock."""

    def read(self) -> Iterator[Record]:
        """Every good commit in order (each line's hash, ``seq`` and ``prev`` checked); a torn
        tail is skipped (and moved aside under ``writing``); corruption raises ``LogCorrupt``."""
        ...

    def read_after(self, anchor: Tail, checked: bool = False) -> Iterator[Record]:
        """The commits after a position read before; ``StaleAnchor`` if that commit changed
        (``checked``: or if any line before it no longer passes its hash and link)."""
        ...

    def position(self) -> Tail | None:
        """Where the last read or append left the log."""
        ...

    def audit(self, found: list[Damage]) -> Iterator[Record]:
        """Every good commit, then the damage into ``found``: never raises, never recovers."""
        ...

    def append(self, draft: Draft, expected_seq: int) -> Record:
        """Append one commit (only under ``writing``); ``Conflict`` if the log moved on."""
        ...

    def writing(self) -> contextlib.AbstractContextManager[None]:
        """The writer's exclusive lock around read-decide-append-project."""
        ...
