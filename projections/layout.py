"""The folder layout of SPEC section 4 as a pure function of the state.

Guarantees:
1. ``desired_tree(state)`` is pure: every path, link target and file content follows
   from the state alone; the registry document is part of it.
2. Weights and the other submitted files are links to blobs in the store (never
   copies); ``metadata.json`` and ``evaluation_results.json`` are generated content.
3. ``production/models/earthquake_model.pth`` exists whenever there is a champion: a hard
   link to the champion's recorded export for the scanner (``ModelRecord.production``, made
   when the model was registered: ``models.export``), else the relative symlink
   ``../../models/champion/best_model.pth``. Nothing is converted here (no torch).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, NamedTuple

import orjson

from lifecycle.state import ModelRecord, State
from projections.registry import REGISTRY_PATH, folder, metrics, registry_bytes

PRODUCTION_DIR = "production/models"
PRODUCTION_LINK = f"{PRODUCTION_DIR}/earthquake_model.pth"
PRODUCTION_TARGET = "../../models/champion/best_model.pth"
MANAGED_DIRS = ("models/champion", "models/challenger", "models/archive", "production/models")


class Link(NamedTuple):
    """A hard link to a blob of the store."""

    digest: str


class Content(NamedTuple):
    data: bytes


class Symlink(NamedTuple):
    target: str


Entry = Link | Content | Symlink
Tree = dict[str, Entry]


def _json(data: Any) -> bytes:
    return orjson.dumps(data, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n"


def metadata(record: ModelRecord) -> dict[str, Any]:
    return {
        "model_id": record.model_id,
        "version": record.version,
        "family": record.family,
        "architecture": record.architecture,
        "status": "active" if record.status == "champion" else record.status,
        "created_at": record.created_at,
        "deployed_at": record.deployed_at,
        "archived_at": record.archived_at,
        "metrics": metrics(record),
        "training_config": dict(record.training_config),
        "training_data": dict(record.training_data),
        "reason": record.reason,
        "rollback_from": record.rollback_from,
        "previous_version": record.previous_version,
        "decision": record.decision,
        "weights": dict(record.weights) if record.weights else None,
        "classes": dict(record.classes) if record.classes else None,
        "warnings": list(record.warnings),
        **_production_metadata(record),
    }


def _production_metadata(record: ModelRecord) -> dict[str, Any]:
    """Only when there is an export: older folders keep their bytes."""
    if not record.production:
        return {}
    return {"production": dict(record.production)}


def production_entry(champion: ModelRecord) -> Entry:
    """The file the scanner loads: the export when recorded, else the champion's weights."""
    if champion.production:
        return Link(champion.production["digest"])
    return Symlink(PRODUCTION_TARGET)


def evaluation_results(record: ModelRecord) -> dict[str, Any]:
    ordered = sorted(record.evaluations.values(), key=lambda e: e["seq"])
    return {"model_id": record.model_id, "version": record.version,
            "evaluations": [dict(e) for e in ordered]}


def model_files(record: ModelRecord) -> Tree:
    base = folder(record)
    tree: Tree = {}
    if record.weights is not None:
        tree[f"{base}/best_model.pth"] = Link(record.weights["digest"])
    for name, stored in sorted(record.files.items()):
        tree[f"{base}/{name}"] = Link(stored["digest"])
    tree[f"{base}/metadata.json"] = Content(_json(metadata(record)))
    if record.evaluations:
        tree[f"{base}/evaluation_results.json"] = Content(_json(evaluation_results(record)))
    return tree


def desired_tree(state: State, only: Iterable[ModelRecord] | None = None) -> Tree:
    """The whole tree, or (``only``) the part of it for some models plus the production
    link and the registry: what a commit that changed just those models can change."""
    tree: Tree = {}
    for record in state.by_version() if only is None else only:
        tree.update(model_files(record))
    champion = state.champion_record()
    if champion is not None:
        tree[PRODUCTION_LINK] = production_entry(champion)
    tree[REGISTRY_PATH] = Content(registry_bytes(state))
    return tree


def changed_models(before: State, after: State) -> list[ModelRecord]:
    """Records a commit replaced (the model map keeps unchanged records by identity)."""
    return [r for model_id, r in after.models.items() if before.models.get(model_id) is not r]


def folders_of(before: State, changed: Iterable[ModelRecord]) -> set[str]:
    """The folders the changed models leave and enter, and the production folder."""
    old = (before.models.get(r.model_id) for r in changed)
    return ({folder(r) for r in changed} | {folder(r) for r in old if r is not None}
            | {PRODUCTION_DIR})
