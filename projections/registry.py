"""``config/model_registry.json`` as a pure function of the state (SPEC section 5).

Guarantees:
1. Same state, same bytes: the document is built in a fixed key order, nested data
   comes from the canonical stored events, timestamps come from events only.
2. The SPEC keys are all present and never renamed; extra keys (``log_position``,
   ``pool``, weights digests, the champion's ``production_format`` when it has an export
   for the scanner, an imported model's ``original_composite_score``) are additions, and
   the original system's ``pending_events``, ``pipeline_history`` and ``validated_events``
   blocks are projected from the log in its shapes (its dashboard reads them).
3. ``log_position`` names the commit the document reflects, so a reader can tell a
   stale registry from a current one.
"""

from __future__ import annotations

from typing import Any

import orjson

from lifecycle.state import ModelRecord, State

REGISTRY_VERSION = "2.0.0"
REGISTRY_PATH = "config/model_registry.json"
SUFFIX = {"archived": "", "rejected": "_rejected", "pre_rollback": "_pre_rollback"}


def folder(record: ModelRecord) -> str:
    """The model's folder, relative to the root."""
    if record.status in ("champion", "challenger"):
        return f"models/{record.status}"
    return f"models/archive/{record.model_id}{SUFFIX[record.status]}"


def metrics(record: ModelRecord) -> dict[str, Any]:
    found = dict(record.metrics)
    if not found:
        return {}
    ordered: dict[str, Any] = {
        k: found.pop(k) for k in ("magnitude_accuracy", "azimuth_accuracy") if k in found
    }
    composite = found.pop("composite_score")
    original = found.pop("original_composite_score", None)
    kept = {"original_composite_score": original} if original is not None else {}
    return {**ordered, **found, "composite_score": composite, **kept}


def _weights(record: ModelRecord) -> dict[str, Any] | None:
    if record.weights is None:
        return None
    return {"sha256": record.weights["digest"], "size": record.weights["size"]}


def champion_entry(record: ModelRecord) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "model_id": record.model_id,
        "version": record.version,
        "architecture": record.architecture,
        "path": "models/champion/best_model.pth",
        "deployed_at": record.deployed_at,
        "metrics": metrics(record),
        "training_data": dict(record.training_data),
        "status": "active",
    }
    if record.rollback_from:
        entry["rollback_from"] = record.rollback_from
    if record.previous_version:
        entry["previous_version"] = record.previous_version
    entry["reason"] = record.reason
    entry["weights"] = _weights(record)
    if record.production:  # absent otherwise: registries of older logs keep their bytes
        entry["production_format"] = record.production["format"]
    return entry


def challenger_entry(record: ModelRecord) -> dict[str, Any]:
    return {
        "model_id": record.model_id,
        "version": record.version,
        "architecture": record.architecture,
        "path": "models/challenger/best_model.pth",
        "submitted_at": record.created_at,
        "metrics": metrics(record),
        "training_data": dict(record.training_data),
        "status": "evaluated" if record.evaluations else "waiting",
        "weights": _weights(record),
    }


def archive_entry(record: ModelRecord) -> dict[str, Any]:
    return {
        "model_id": record.model_id,
        "version": record.version,
        "archived_at": record.archived_at,
        "path": folder(record),
        "metrics": metrics(record),
        "training_data": dict(record.training_data),
        "reason": record.reason,
        "status": record.status,
        "weights": _weights(record),
    }


def registry(state: State) -> dict[str, Any]:
    champion, challenger = state.champion_record(), state.challenger_record()
    return {
        "registry_version": REGISTRY_VERSION,
        "last_updated": state.last_time,
        "champion": champion_entry(champion) if champion else None,
        "challenger": challenger_entry(challenger) if challenger else None,
        "archive": [archive_entry(m) for m in state.archived()],
        "all_versions": [
            {"version": m.version, "status": m.status, "path": folder(m)}
            for m in state.by_version()
        ],
        **original_blocks(state),
        "pool": {"count": len(state.pool), "events": [dict(e) for _, e in sorted(state.pool.items())]},
        "log_position": {"seq": state.seq, "hash": state.head},
    }


def original_blocks(state: State) -> dict[str, Any]:
    """The original system's ``pending_events``, ``pipeline_history`` and
    ``validated_events``, in its shapes, from the log: the pool is what it called validated
    events (there is no unvalidated stage here, so nothing is pending); a run is a decision
    carried out (a promotion or a rejection), added to the imported installation's counts."""
    installation = state.installation or {}
    base = installation.get("pipeline_history") or {}
    runs = state.runs or {"promoted": 0, "rejected": 0, "last": None}
    added = [str(e["added_at"]) for e in state.data.values() if e.get("added_at")]
    return {
        "pending_events": {"count": 0, "events": [],
                           "last_added": max(added) if added else installation.get("pending_last_added")},
        "pipeline_history": {
            "total_runs": int(base.get("total_runs", 0)) + runs["promoted"] + runs["rejected"],
            "successful_updates": int(base.get("successful_updates", 0)) + runs["promoted"],
            "failed_updates": int(base.get("failed_updates", 0)),
            "last_run": runs["last"] or base.get("last_run"),
        },
        "validated_events": [_validated(e) for _, e in sorted(state.pool.items())],
    }


def _validated(event: Any) -> dict[str, Any]:
    images = event.get("images") or []
    digest = images[0]["digest"] if images else None
    return {
        "event_id": event["event_id"], "date": event.get("date"), "station": event.get("station"),
        "spectrogram_path": f"store/sha256/{digest[:2]}/{digest}" if digest else None,
        "added_at": event.get("added_at"), "magnitude_value": event.get("magnitude_value"),
        "azimuth_value": event.get("azimuth_value"), "magnitude_class": event.get("magnitude_class"),
        "azimuth_class": event.get("azimuth_class"), "magnitude": event.get("magnitude_class"),
        "azimuth": event.get("azimuth_class"), "validated_at": event.get("added_at"),
    }


def registry_bytes(state: State) -> bytes:
    return orjson.dumps(registry(state), option=orjson.OPT_INDENT_2) + b"\n"
