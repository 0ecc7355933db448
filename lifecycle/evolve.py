"""``evolve(state, event, at) -> state``: the pure fold of the event log.

Guarantees:
1. Pure and deterministic: the new state depends only on the old state, the event
   (its canonical stored JSON form) and the time of the commit that holds it.
2. Status changes follow ``lifecycle.transitions.TRANSITIONS`` only; a champion is
   archived before another one takes over, so at most one champion ever exists.
3. Nothing is removed: every model stays in ``state.models`` forever.

Events are folded in the form they are stored in (plain JSON objects), so the state a
command builds incrementally and the state ``replay`` rebuilds come from the same bytes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from lifecycle.state import Json, ModelRecord, State, evaluation_key
from lifecycle.transitions import InvalidTransition, next_status
from lifecycle.versions import parse_version

Evolver = Callable[[State, Json, str], State]


def evolve(state: State, event: Json, at: str) -> State:
    evolver = _EVOLVERS.get(event.get("type"))  # type: ignore[arg-type]
    if evolver is None:
        raise InvalidTransition(f"unknown event type {event.get('type')!r}")
    try:
        return evolver(state, event, at)
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidTransition(f"{event.get('type')} event cannot apply: {exc!r}") from None


def apply_commit(state: State, record: Mapping[str, Any]) -> State:
    """Fold every event of one commit record, then move the log position."""
    at = record["time"]
    for event in record["events"]:
        state = evolve(state, event, at)
    return state.at_position(record["seq"], record["hash"], at)


def fold(records: Iterable[Mapping[str, Any]], start: State | None = None) -> State:
    """The state after the commits, folded one by one onto ``start`` (default: empty): the
    one fold of the product (replay, commands, caches and tests all use it). A commit that
    cannot apply raises ``InvalidTransition`` with its number in ``seq``."""
    state = State() if start is None else start
    for record in records:
        try:
            state = apply_commit(state, record)
        except InvalidTransition as exc:
            exc.seq = record["seq"]
            raise
    return state


def _put(state: State, record: ModelRecord, **changes: Any) -> State:
    if changes:
        return state._replace(models=state.models.set(record.model_id, record), **changes)
    return state.with_models(state.models.set(record.model_id, record))


def _trained(state: State, e: Json, at: str) -> State:
    model_id = e["model_id"]
    if model_id in state.models:
        raise InvalidTransition(f"{model_id} registered twice")
    if state.challenger is not None:
        raise InvalidTransition(f"{model_id}: {state.challenger} is still the challenger")
    version = parse_version(e["version"])
    record = ModelRecord(
        model_id=model_id,
        version=e["version"],
        family=e["family"],
        architecture=e["architecture"],
        status=next_status(None, "trained", model_id),
        created_at=e.get("created_at") or at,
        weights=e["weights"],
        files=e.get("files", {}),
        classes=e.get("classes"),
        training_config=e.get("training_config", {}),
        training_data=e.get("training_data", {}),
        production=e.get("production"),
        lineage=e.get("lineage"),
    )
    top = max(state.max_version, version) if state.max_version else version
    return _put(state, record, challenger=model_id, max_version=top)


def _evaluated(state: State, e: Json, at: str) -> State:
    record = state.models[e["model_id"]]
    key = evaluation_key(e["dataset"], e.get("dataset_digest"))
    evaluation = dict(e)
    del evaluation["type"], evaluation["model_id"]
    evaluation["seq"] = state.seq + 1
    evaluation["at"] = at
    holdout = e.get("holdout")
    if holdout is not None and e.get("dataset_digest"):
        holdouts = {**(state.holdouts or {}), e["dataset_digest"]: holdout["digest"]}
        return _put(state, record.with_evaluation(key, evaluation), holdouts=holdouts)
    return _put(state, record.with_evaluation(key, evaluation))


def _promoted(state: State, e: Json, at: str) -> State:
    record = state.models[e["model_id"]]
    if state.champion is not None:
        raise InvalidTransition(f"{record.model_id}: {state.champion} is still champion")
    previous = state.models[state.reigns[-1]].version if state.reigns else None
    updated = record._replace(
        status=next_status(record.status, "promoted", record.model_id),
        deployed_at=at,
        reason=e["reason"],
        decision=e.get("decision"),
        previous_version=previous,
    )
    return _put(
        state, updated, champion=record.model_id, challenger=None,
        reigns=(*state.reigns, record.model_id),
        pool=_without(state.pool, record.training_data.get("events_included", ())),
        alert=None, pending=None, runs=_ran(state, "promoted", at),
    )


def _rejected(state: State, e: Json, at: str) -> State:
    record = state.models[e["model_id"]]
    updated = record._replace(
        status=next_status(record.status, "rejected", record.model_id),
        archived_at=at,
        reason=e["reason"],
        decision=e.get("decision"),
    )
    pool = state.pool
    for event_id in e.get("returned_to_pool", ()):
        known = state.data.get(event_id) or {"event_id": event_id}
        pool = pool.set(event_id, {**known, "returned_by": record.model_id, "returned_at": at})
    return _put(state, updated, challenger=None, pool=pool, pending=None, runs=_ran(state, "rejected", at))


def _ran(state: State, outcome: str, at: str) -> Json:
    runs = state.runs or {"promoted": 0, "rejected": 0, "last": None}
    return {**runs, outcome: runs[outcome] + 1, "last": at}


def _installation_imported(state: State, e: Json, at: str) -> State:
    return state._replace(installation={k: v for k, v in e.items() if k != "type"} | {"at": at})


def _archived(state: State, e: Json, at: str) -> State:
    record = state.models[e["model_id"]]
    action = "archived" if e.get("status", "archived") == "archived" else "archived_pre_rollback"
    updated = record._replace(
        status=next_status(record.status, action, record.model_id),
        archived_at=at,
        reason=e["reason"],
    )
    return _put(state, updated, champion=None)


def _rolled_back(state: State, e: Json, at: str) -> State:
    record = state.models[e["model_id"]]
    if state.champion is not None:
        raise InvalidTransition(f"{record.model_id}: {state.champion} is still champion")
    updated = record._replace(
        status=next_status(record.status, "rolled_back", record.model_id),
        deployed_at=at,
        archived_at=None,
        reason=e["reason"],
        rollback_from=state.models[e["from_model_id"]].version,
        decision=None,
    )
    return _put(state, updated, champion=record.model_id, reigns=(*state.reigns, record.model_id),
                alert=None)


def _approval_requested(state: State, e: Json, at: str) -> State:
    if e["model_id"] != state.challenger:
        raise InvalidTransition(f"{e['model_id']} is not the challenger; its verdict cannot await approval")
    pending = {"model_id": e["model_id"], "verdict": e["verdict"], "reason": e["reason"],
               "decision": e["decision"], "champion": state.champion, "reign": len(state.reigns),
               "seq": state.seq + 1, "at": at}
    return state._replace(pending=pending)


def _settled(state: State, e: Json, at: str) -> State:
    """An approval or a decline of the pending verdict; a declined rejection leaves the
    challenger in place, with the declined verdict as its decision."""
    pending = state.pending
    if pending is None or pending["model_id"] != e["model_id"] or pending["seq"] != e["requested_seq"]:
        raise InvalidTransition(f"{e['model_id']}: no verdict requested at commit "
                                f"{e['requested_seq']} awaits approval")
    if e["type"] == "declined" and e["verdict"] == "reject":
        record = state.models[e["model_id"]]
        declined = {**pending["decision"], "declined": e["reason"], "requested_seq": pending["seq"], "at": at}
        return _put(state, record._replace(decision=declined), pending=None)
    return state._replace(pending=None)


def _data_added(state: State, e: Json, at: str) -> State:
    event_id = e["event_id"]
    if event_id in state.data:
        raise InvalidTransition(f"data event {event_id} added twice")
    entry = {k: v for k, v in e.items() if k != "type"} | {"added_at": at}
    return state._replace(data=state.data.set(event_id, entry), pool=state.pool.set(event_id, entry))


def _data_removed(state: State, e: Json, at: str) -> State:
    """The event leaves the pool; its data entry stays, marked removed."""
    event_id = e["event_id"]
    if event_id not in state.pool and event_id not in state.data:
        raise InvalidTransition(f"data event {event_id} removed but never recorded")
    pool = state.pool.delete(event_id) if event_id in state.pool else state.pool
    entry = state.data.get(event_id)
    if entry is None:  # returned to the pool by a rejection, never added here
        return state._replace(pool=pool)
    marked = {**entry, "removed": e["reason"], "removed_at": at}
    return state._replace(data=state.data.set(event_id, marked), pool=pool)


def _data_corrected(state: State, e: Json, at: str) -> State:
    """New labels for the event, in the data and (if it waits there) in the pool; the
    corrections so far are listed with it."""
    event_id = e["event_id"]
    entry = state.data[event_id]
    history = [*entry.get("corrections", ()), {"changes": e["changes"], "reason": e["reason"], "at": at}]
    updated = {**entry, **e["changes"], "corrections": history}
    pool = state.pool.set(event_id, {**state.pool[event_id], **e["changes"], "corrections": history}) \
        if event_id in state.pool else state.pool
    return state._replace(data=state.data.set(event_id, updated), pool=pool)


def _problem_reported(state: State, e: Json, at: str) -> State:
    return state  # in the log (and the hooks) only: it changes no model


def _observed(state: State, e: Json, at: str) -> State:
    record = state.models[e["model_id"]]
    if e["action"] == "none" or record.model_id != state.champion:
        return state
    if (state.alert or {}).get("action") == "rollback" and e["action"] != "rollback":
        return state  # a pending rollback is not cancelled by a milder observation
    alert = {k: v for k, v in e.items() if k != "type"} | {"seq": state.seq + 1, "at": at}
    return state._replace(alert=alert)


def _imported(state: State, e: Json, at: str) -> State:
    model_id, status = e["model_id"], e["status"]
    if model_id in state.models:
        raise InvalidTransition(f"{model_id} imported twice")
    evaluation = e.get("evaluation")
    evaluations: Mapping[str, Json] = {}
    key = None
    if evaluation is not None:
        key = evaluation_key(evaluation["dataset"], evaluation.get("dataset_digest"))
        original = e.get("original_metrics", {}).get("composite_score")
        kept = {"original_composite_score": original} if original is not None else {}
        evaluations = {key: {**evaluation, **kept, "seq": state.seq + 1, "at": at}}
    record = ModelRecord(
        model_id=model_id, version=e["version"], family=e["family"],
        architecture=e["architecture"], status=status,
        created_at=e.get("created_at") or at, weights=e.get("weights"),
        files=e.get("files", {}), classes=e.get("classes"),
        training_config=e.get("training_config", {}),
        training_data=e.get("training_data", {}),
        deployed_at=e.get("deployed_at"), archived_at=e.get("archived_at"),
        reason=e.get("reason"), previous_version=e.get("previous_version"),
        evaluations=evaluations, latest_evaluation=key,
        warnings=tuple(e.get("warnings", ())),
    )
    return _put(state, record, **_imported_roles(state, model_id, status, e["version"]))


def _imported_roles(state: State, model_id: str, status: str, version: str) -> dict[str, Any]:
    parsed = parse_version(version)
    changes: dict[str, Any] = {
        "max_version": max(state.max_version, parsed) if state.max_version else parsed
    }
    if status in ("champion", "archived", "pre_rollback"):
        changes["reigns"] = (*state.reigns, model_id)
    if status == "champion":
        if state.champion is not None:
            raise InvalidTransition(f"{model_id}: {state.champion} is already champion")
        changes["champion"] = model_id
    if status == "challenger":
        if state.challenger is not None:
            raise InvalidTransition(f"{model_id}: {state.challenger} is already challenger")
        changes["challenger"] = model_id
    return changes


def _without(pool: Any, event_ids: Any) -> Any:
    for event_id in event_ids:
        if event_id in pool:
            pool = pool.delete(event_id)
    return pool


_EVOLVERS: dict[str, Evolver] = {
    "trained": _trained,
    "evaluated": _evaluated,
    "promoted": _promoted,
    "rejected": _rejected,
    "archived": _archived,
    "rolled_back": _rolled_back,
    "imported": _imported,
    "data_added": _data_added,
    "observed": _observed,
    "approval_requested": _approval_requested,
    "approved": _settled,
    "declined": _settled,
    "installation_imported": _installation_imported,
    "data_removed": _data_removed,
    "data_corrected": _data_corrected,
    "problem_reported": _problem_reported,
}
