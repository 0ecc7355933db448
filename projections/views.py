"""Read models for people and scripts: status, the model-selection list, history.

Pure functions of the state or of the commit records; the CLI, the Python API and the
dashboard all show these, so they agree.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

from lifecycle.approval import describe
from lifecycle.errors import UserError
from lifecycle.state import ModelRecord, State
from projections.registry import archive_entry, challenger_entry, champion_entry, folder, metrics


def status_view(state: State) -> dict[str, Any]:
    champion, challenger = state.champion_record(), state.challenger_record()
    counts: dict[str, int] = {}
    for record in state.models.values():
        counts[record.status] = counts.get(record.status, 0) + 1
    return {
        "champion": champion_entry(champion) if champion else None,
        "challenger": challenger_entry(challenger) if challenger else None,
        "models": len(state.models),
        "by_status": dict(sorted(counts.items())),
        "pool": len(state.pool),
        "pending_approval": pending_view(state),
        "log": {"seq": state.seq, "hash": state.head, "last_updated": state.last_time},
    }


def pending_view(state: State) -> dict[str, Any] | None:
    """The verdict awaiting approval (without its full decision record), or None."""
    pending = describe(state)
    if pending is None:
        return None
    power = (pending["decision"].get("power") or {}) if pending.get("decision") else {}
    return {"model_id": pending["model_id"], "verdict": pending["verdict"], "reason": pending["reason"],
            "requested_seq": pending["seq"], "requested_at": pending["at"], "stale": pending["stale"],
            "warnings": list(pending["decision"].get("warnings", [])), "power": power.get("detail")}


def selection_list(state: State) -> list[dict[str, Any]]:
    """SPEC section 7: champion first (the default), then the archive, then the challenger."""
    rows: list[dict[str, Any]] = []
    champion = state.champion_record()
    if champion:
        rows.append(_row(champion, "champion", default=True))
    rows += [_row(m, m.status) for m in state.archived()]
    challenger = state.challenger_record()
    if challenger:
        rows.append(_row(challenger, "challenger (evaluation only)"))
    return rows


def _row(record: ModelRecord, role: str, default: bool = False) -> dict[str, Any]:
    found = metrics(record)
    return {
        "model_id": record.model_id,
        "version": record.version,
        "role": role,
        "default": default,
        "magnitude_accuracy": found.get("magnitude_accuracy"),
        "azimuth_accuracy": found.get("azimuth_accuracy"),
        "composite_score": found.get("composite_score"),
        "path": folder(record),
        "has_weights": record.weights is not None,
    }


def pool_view(state: State, min_new_events: int = 5) -> dict[str, Any]:
    """Validated events waiting for the next training, and progress toward the trigger."""
    events = [dict(e) for _, e in sorted(state.pool.items())]
    return {"count": len(events), "min_new_events": min_new_events,
            "progress": min(1.0, len(events) / min_new_events) if min_new_events else 1.0,
            "events": events}


def rollback_list(state: State) -> list[dict[str, Any]]:
    """Former champions, most recent first, numbered as ``rollback --list`` shows them."""
    out = []
    for number, record in enumerate(state.former_champions(), start=1):
        entry = archive_entry(record)
        entry["number"] = number
        entry["previous"] = state.previous_champion() == record
        out.append(entry)
    return out


def parse_time(text: str) -> str:
    """An ISO date or time (UTC if no zone) in the log's canonical form."""
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise UserError(f"not a date or time: {text!r}; use e.g. 2026-02-10 or "
                        "2026-02-10T15:00:00") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def history_rows(
    records: Iterable[Mapping[str, Any]],
    *,
    model_id: str | None = None,
    event_type: str | None = None,
    since: str | None = None,
    actor: str | None = None,
) -> Iterator[dict[str, Any]]:
    """The audit trail, one row per event: who, when, what, why."""
    for record in records:
        if since is not None and record["time"] < since:
            continue
        if actor is not None and record["actor"] != actor:
            continue
        for event in record["events"]:
            if model_id is not None and event.get("model_id") != model_id:
                continue
            if event_type is not None and event["type"] != event_type:
                continue
            yield _history_row(record, event)


def _history_row(record: Mapping[str, Any], event: Mapping[str, Any]) -> dict[str, Any]:
    decision = event.get("decision") or {}
    significance = next((c for c in decision.get("checks", []) if c["name"] == "significance"),
                        None)
    return {
        "seq": record["seq"],
        "time": record["time"],
        "actor": record["actor"],
        "command": record["command"],
        "type": event["type"],
        "model_id": event.get("model_id") or event.get("event_id"),
        "reason": event.get("reason") or record.get("reason"),
        "p_value": significance.get("p_value") if significance else None,
        "detail": event_detail(event),
    }


def event_detail(event: Mapping[str, Any]) -> str:
    kind = event["type"]
    if kind == "evaluated":
        m = event["metrics"]
        unscored = (event.get("details") or {}).get("unscored")
        left = (f"; {unscored['count']} sample(s) not scored ({'; '.join(unscored['why'])})"
                if unscored else "")
        return (f"{event['dataset']}: mag {m['magnitude_accuracy']:.2f}% "
                f"azi {m['azimuth_accuracy']:.2f}% composite {event['composite']['score']:.4f}{left}")
    if kind == "trained":
        return f"v{event['version']} {event['architecture']}"
    if kind == "rolled_back":
        return f"from {event['from_model_id']} ({event['severity']})"
    if kind == "archived":
        return str(event.get("status", "archived"))
    if kind == "data_added":
        return (f"{event['station']} {event['date']}: {event['magnitude_class']}/{event['azimuth_class']}, "
                f"{len(event['images'])} image(s)")
    if kind == "observed":
        return f"{event['severity']}: FPR {event['false_positive_rate']:.2f}%; " + "; ".join(event["findings"])
    if kind == "approval_requested":
        return f"verdict {event['verdict']} awaits approval"
    if kind in ("approved", "declined"):
        return f"verdict {event['verdict']} (requested at commit {event['requested_seq']}) {kind}"
    if kind == "problem_reported":
        subject = f"{event['subject']}: " if event.get("subject") else ""
        return f"{event['kind']}: {subject}{event['detail']}"
    if kind == "data_corrected":
        return ", ".join(f"{k} -> {v}" for k, v in sorted(event["changes"].items()))
    if kind == "installation_imported":
        runs = event.get("pipeline_history", {}).get("total_runs", 0)
        return (f"from {event['source']}: its pipeline history kept ({runs} run(s)); "
                f"{len(event.get('not_imported', []))} item(s) reported, not imported")
    if kind == "imported":
        return f"as {event['status']}" + (f"; {len(event['warnings'])} warning(s)"
                                          if event.get("warnings") else "")
    return ""
