"""Reading the audit trail (for the dashboard and the CLI): filters over one read of the log.

Guarantees: every answer is a filter over ``Engine.records()`` (the log's one reader, every
line hash-checked), so it is the same on every log backend; no index, no cache.
"""

from __future__ import annotations

from collections.abc import Callable, Collection

from events.port import Record
from service.engine import Engine


def of_type(engine: Engine, event_type: str) -> list[Record]:
    """Every commit with an event of this type, oldest first."""
    return [r for r in engine.records() if any(e["type"] == event_type for e in r["events"])]


def newest(engine: Engine, limit: int, keep: Callable[[Record], bool] = lambda _: True) -> list[Record]:
    """Up to ``limit`` commits that ``keep`` accepts, newest first."""
    return [r for r in reversed(list(engine.records())) if keep(r)][:limit]


def choices(engine: Engine) -> tuple[list[str], list[str]]:
    """(event types, actors) that occur in the log, sorted."""
    types: set[str] = set()
    actors: set[str] = set()
    for record in engine.records():
        actors.add(record["actor"])
        types.update(e["type"] for e in record["events"])
    return sorted(types), sorted(actors)


def matching(engine: Engine, limit: int, *, upto_seq: int | None = None, model_id: str | None = None,
             types: Collection[str] = (), actor: str | None = None, since: str | None = None,
             until: str | None = None) -> list[Record]:
    """Up to ``limit`` commits, newest first, at or before commit ``upto_seq``, that hold an
    event passing the filters."""
    wanted = set(types)

    def keep(record: Record) -> bool:
        return ((upto_seq is None or record["seq"] <= upto_seq)
                and (until is None or record["time"] <= until)
                and (since is None or record["time"] >= since)
                and (actor is None or record["actor"] == actor)
                and any((not wanted or e["type"] in wanted) and (model_id is None or e.get("model_id") == model_id)
                        for e in record["events"]))

    return newest(engine, limit, keep)
