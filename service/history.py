"""Reading the audit trail of a large log without reading all of it (for the dashboard and
the CLI; one model's commits: ``Engine.records_about``): the rare event types, the newest commits, the choices.

Guarantees: the same answers as filtering a full ``Engine.records()`` read (tested), from
the history index and backward reads of the JSONL log; an engine on another log (the
in-memory twin) is answered by a full read.
"""

from __future__ import annotations

from collections.abc import Callable, Collection

from events.log import JsonlLog, Record
from projections import history_index
from service.engine import Engine


def of_type(engine: Engine, event_type: str) -> list[Record]:
    """Every commit with an event of this type, oldest first (indexed types are cheap)."""
    engine.require_root()
    if isinstance(engine.log, JsonlLog) and event_type in history_index.INDEXED_TYPES:
        return history_index.records_with(engine.root, engine.log, history_index.type_key(event_type))
    return [r for r in engine.log.read() if any(e["type"] == event_type for e in r["events"])]


def newest(engine: Engine, limit: int, keep: Callable[[Record], bool] = lambda _: True) -> list[Record]:
    """Up to ``limit`` commits that ``keep`` accepts, newest first."""
    engine.require_root()
    if isinstance(engine.log, JsonlLog):
        return engine.log.read_newest(limit, keep)
    return [r for r in reversed(list(engine.log.read())) if keep(r)][:limit]


def choices(engine: Engine) -> tuple[list[str], list[str]]:
    """(event types, actors) that occur in the log, sorted."""
    engine.require_root()
    if isinstance(engine.log, JsonlLog):
        index = history_index.current(engine.root, engine.log)
        return sorted(index.types), sorted(index.actors)
    records = list(engine.log.read())
    return (sorted({e["type"] for r in records for e in r["events"]}),
            sorted({r["actor"] for r in records}))


def matching(engine: Engine, limit: int, *, upto_seq: int | None = None, model_id: str | None = None,
             types: Collection[str] = (), actor: str | None = None, since: str | None = None,
             until: str | None = None) -> list[Record]:
    """Up to ``limit`` commits, newest first, at or before commit ``upto_seq``, that hold an
    event passing the filters (one model's commits come from the history index)."""
    wanted = set(types)

    def keep(record: Record) -> bool:
        return ((upto_seq is None or record["seq"] <= upto_seq)
                and (until is None or record["time"] <= until)
                and (since is None or record["time"] >= since)
                and (actor is None or record["actor"] == actor)
                and any((not wanted or e["type"] in wanted) and (model_id is None or e.get("model_id") == model_id)
                        for e in record["events"]))

    if model_id is not None:
        return [r for r in reversed(engine.records_about(model_id)) if keep(r)][:limit]
    if wanted and wanted <= set(history_index.INDEXED_TYPES) and isinstance(engine.log, JsonlLog):
        found = {r["seq"]: r for t in sorted(wanted) for r in of_type(engine, t)}
        return [found[seq] for seq in sorted(found, reverse=True) if keep(found[seq])][:limit]
    return newest(engine, limit, keep)
