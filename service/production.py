"""Production: never switch to weights that are not intact; heal a production that lags.

Guarantees:
1. ``check_switch``: a commit that makes a model champion (``promoted``, ``rolled_back``) is
   refused (``WeightsNotIntact``, nothing appended) unless the model's weights, side files
   and production export read back from the store match their recorded digests. Missing,
   unreadable (permission denied) and damaged files are each named.
2. ``heal``: under the writer lock, the registry and the production file are brought back
   to the log when they lag behind it or the production file is not the champion's bytes;
   a store that cannot heal it leaves the health ``damaged`` (the caller raises the alarm).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from events.store import BlobStore
from lifecycle.errors import UserError
from lifecycle.state import State
from projections.production import Health, production_blob

if TYPE_CHECKING:
    from service.engine import Engine

SWITCHES = ("promoted", "rolled_back")


class WeightsNotIntact(UserError):
    """The files of the model a command would make champion are not their recorded bytes."""

    exit_code = 1


def check_switch(store: BlobStore, state: State, events: list[dict[str, Any]]) -> None:
    """Refuse to make a model champion unless its files in the store are intact."""
    for event in events:
        if event["type"] not in SWITCHES:
            continue
        record = state.get(event["model_id"])
        blobs = [("weights", record.weights), ("production file", production_blob(record)),
                 *((name, stored) for name, stored in sorted(record.files.items()))]
        checked: set[str] = set()  # the production file is the weights themselves unless exported
        for name, stored in blobs:
            if stored and stored["digest"] in checked:
                continue
            checked.add(stored["digest"] if stored else "")
            problem = store.check(stored["digest"], stored["size"]) if stored else "missing"
            if problem:
                raise WeightsNotIntact(
                    f"refused: {record.model_id}'s {name} (blob {str((stored or {}).get('digest'))[:12]}) "
                    f"is {problem}, so it cannot become champion; nothing was recorded. Restore "
                    "store/ from a backup ('lifecycle verify' lists what is wrong)")


def heal(engine: Engine) -> tuple[Health, list[str]]:
    """Guarantee 2; returns the health after, and what changed on disk."""
    from projections.reconcile import check_managed

    engine.require_root()
    with engine.projecting():
        check_managed(engine.root)
        engine.store.clean_temps()
        state = engine.fold_log()
        health = engine.production_health(state)
        if health.state != "stale" and not engine.registry_lags(state):
            return health, []
        changes = engine.project(state)
        return engine.production_health(state), changes
