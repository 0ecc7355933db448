"""Errors the engine reports to people.

``UserError`` and its subclasses carry one line that says what is wrong and what to
do; entry points print it and exit with status 2, and nothing has been changed.
"""

from __future__ import annotations


class UserError(Exception):
    """Bad input or a command that the current state does not allow."""

    exit_code = 2


class NotFound(UserError):
    """A model, version or file that does not exist."""


class Conflict(UserError):
    """The log changed between the read a command decided on and its append."""


class LogCorrupt(UserError):
    """The event log is damaged before its last line; nothing may be written."""

    def __init__(self, line: int, why: str) -> None:
        super().__init__(
            f"event log is corrupt at line {line} ({why}); nothing was written. "
            "Restore the log (events.jsonl, or its database) from a backup; run 'lifecycle verify' for details"
        )
        self.line = line
        self.why = why


class LogUnwritable(UserError):
    """A write or fsync failed; the log refuses writes until the process restarts."""


class LogUnreachable(UserError):
    """A shared log (PostgreSQL) that cannot be reached, or that dropped the connection."""
