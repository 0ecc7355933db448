"""Rows and figures the pages show, as pure functions of a snapshot (no Streamlit here).

Everything comes from ``projections`` views and the folded state, so the dashboard
agrees with ``lifecycle status``, ``list``, ``rollback --list`` and ``history``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from events.port import Record
from lifecycle.state import ModelRecord, State
from projections.registry import archive_entry, metrics
from projections.views import history_rows, rollback_list

STATUS_LABEL = {"archived": "archived", "rejected": "rejected", "pre_rollback": "pre-rollback",
                "champion": "champion", "challenger": "challenger"}
DEFAULT_MIN_NEW_EVENTS = 5
DEFAULT_MAX_DAYS = 90.0


def archive_rows(state: State) -> list[dict[str, Any]]:
    """The archive, most recently archived first, with what a row's buttons may do."""
    targets = {entry["model_id"] for entry in rollback_list(state) if entry.get("weights")}
    rows = []
    for record in state.archived():
        entry = archive_entry(record)
        found = entry["metrics"]
        rows.append({
            "model_id": record.model_id, "version": record.version,
            "status": STATUS_LABEL[record.status], "archived_at": short_time(record.archived_at),
            "magnitude_accuracy": found.get("magnitude_accuracy"),
            "azimuth_accuracy": found.get("azimuth_accuracy"),
            "reason": record.reason or "", "can_rollback": record.model_id in targets,
            "why_not": _why_not(record, record.model_id in targets),
        })
    return rows


def _why_not(record: ModelRecord, allowed: bool) -> str:
    if allowed:
        return ""
    if record.status == "rejected":
        return "a rejected challenger was never champion"
    if record.weights is None:
        return "imported without a weight file"
    return "never was champion"


def short_time(text: str | None) -> str:
    """``2026-02-10T15:00:00.123456Z`` -> ``2026-02-10 15:00:00`` (UTC)."""
    if not text:
        return ""
    return text.replace("T", " ").split(".")[0].rstrip("Z")


def version_series(state: State, records: Iterable[Record]) -> dict[str, list[dict[str, Any]]]:
    """Every evaluated version over time (``points``) and the rollbacks (``rollbacks``)."""
    points = []
    for record in state.by_version():
        found = metrics(record)
        if not found:
            continue
        points.append({
            "version": record.version, "time": record.created_at, "status": STATUS_LABEL[record.status],
            "champion": record.model_id == state.champion, "reigned": record.model_id in state.reigns,
            "magnitude_accuracy": found.get("magnitude_accuracy"),
            "azimuth_accuracy": found.get("azimuth_accuracy"),
            "composite_score": found.get("composite_score"),
        })
    return {"points": points, "rollbacks": rollback_marks(records)}


def rollback_marks(records: Iterable[Record]) -> list[dict[str, Any]]:
    marks = []
    for record in records:
        for event in record["events"]:
            if event["type"] == "rolled_back":
                marks.append({"time": record["time"], "to": _version(event["model_id"]),
                              "from": _version(event["from_model_id"]), "severity": event["severity"],
                              "reason": event["reason"], "actor": record["actor"]})
    return marks


def _version(model_id: str) -> str:
    return model_id.rsplit("_v", 1)[-1]


def last_decision(records: Sequence[Record]) -> dict[str, Any] | None:
    """The most recent promotion or rejection: who, when, outcome, reason, p-value, checks."""
    for record in reversed(records):
        for event in reversed(record["events"]):
            if event["type"] in ("promoted", "rejected"):
                [row] = history_rows([{**record, "events": [event]}])
                decision = event.get("decision") or {}
                return {**row, "outcome": event["type"], "checks": decision.get("checks", []),
                        "rule": decision.get("rule"), "warnings": decision.get("warnings", []),
                        "power": (decision.get("power") or {}).get("detail")}
    return None


def stored_paired_test(root: Path, a: ModelRecord, b: ModelRecord) -> dict[str, Any] | None:
    """The paired test over events on the stored predictions of both models on the same
    data (or None)."""
    from dashboard.snapshot import engine
    from service.modelling import stored_paired_test as from_engine

    return from_engine(engine(root), a, b)


def filter_history(records: Sequence[Record], *, model_id: str | None = None,
                   types: Sequence[str] = (), actor: str | None = None, since: str | None = None,
                   until: str | None = None) -> list[dict[str, Any]]:
    """History rows, newest first, filtered by model, event types, actor and time."""
    wanted = set(types)
    rows = []
    for record in reversed(records):
        if until is not None and record["time"] > until:
            continue
        if since is not None and record["time"] < since:
            continue
        for row in history_rows([record], model_id=model_id, actor=actor):
            if not wanted or row["type"] in wanted:
                rows.append(row)
    return rows


def pool_rows(state: State) -> list[dict[str, Any]]:
    rows = []
    for event_id, entry in sorted(state.pool.items()):
        rows.append({
            "event_id": event_id, "station": entry.get("station", ""), "date": entry.get("date", ""),
            "magnitude": entry.get("magnitude_class", ""), "azimuth": entry.get("azimuth_class", ""),
            "images": len(entry.get("images", ())),
            "added": short_time(entry.get("added_at") or entry.get("returned_at")),
            "returned_by": entry.get("returned_by", ""),
        })
    return rows


def last_training(records: Sequence[Record]) -> str | None:
    """When the most recent model was registered (a ``trained`` event), if ever."""
    for record in reversed(records):
        if any(event["type"] == "trained" for event in record["events"]):
            return str(record["time"])
    return None


def triggers(root: Path) -> tuple[int, float, str | None]:
    """(min_new_events, max_days_between_training, problem) from ``config/lifecycle.toml``;
    the SPEC defaults (5 events, 90 days) when the file or the module is missing."""
    try:
        from service.daemon_config import load_triggers
    except ImportError:
        return DEFAULT_MIN_NEW_EVENTS, DEFAULT_MAX_DAYS, None
    from lifecycle.errors import UserError

    try:
        found = load_triggers(root)
    except UserError as exc:
        return DEFAULT_MIN_NEW_EVENTS, DEFAULT_MAX_DAYS, str(exc)
    return int(found.min_new_events), float(found.max_days_between_training), None


def event_summary(rows: Sequence[Mapping[str, Any]], model_id: str) -> str:
    """One model on one event: the most frequent magnitude class and its mean confidence."""
    preds = [r["models"][model_id] for r in rows if model_id in r["models"]]
    if not preds:
        return "no prediction"
    classes = [p["magnitude_pred"] for p in preds]
    top = max(sorted(set(classes)), key=classes.count)
    confidence = sum(p["magnitude_confidence"] for p in preds if p["magnitude_pred"] == top) / classes.count(top)
    return f"{top} ({100 * confidence:.1f}%)"
