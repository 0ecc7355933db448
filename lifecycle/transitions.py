"""The allowed status transitions of a model, as data.

Guarantees:
1. ``decide`` emits an event for a model only when ``(status, action)`` is in the table.
2. ``evolve`` moves a model only along the table; anything else in a log is a bug or a
   tampered log and raises ``InvalidTransition``.
"""

from __future__ import annotations

from collections.abc import Mapping

from lifecycle.state import Status

Action = str

TRANSITIONS: Mapping[tuple[Status | None, Action], Status] = {
    (None, "trained"): "challenger",
    ("challenger", "promoted"): "champion",
    ("challenger", "rejected"): "rejected",
    ("champion", "archived"): "archived",
    ("champion", "archived_pre_rollback"): "pre_rollback",
    ("archived", "rolled_back"): "champion",
    ("pre_rollback", "rolled_back"): "champion",
}


class InvalidTransition(Exception):
    """A log asks for a move the lifecycle does not allow (``seq``: the commit, once known)."""

    seq = 0


def allowed(status: Status | None, action: Action) -> bool:
    return (status, action) in TRANSITIONS


def next_status(status: Status | None, action: Action, model_id: str) -> Status:
    try:
        return TRANSITIONS[(status, action)]
    except KeyError:
        raise InvalidTransition(f"{model_id}: cannot go from {status} by {action}") from None
