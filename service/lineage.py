"""What a model was trained on, from what, with what: recorded with ``trained``, read back
as a chain of parents by ``lifecycle lineage``.

Guarantees:
1. ``record`` is taken when a model is trained here: the parent model (``--from champion``),
   each training data set's content digest and summary, the product's version and git
   commit (when the code runs from a checkout), the Python, torch and timm versions and the
   device. Nothing is guessed: what is unknown is ``None``.
2. ``chain`` walks parents from the log's state only (replay gives the same answer): each
   link names the model, its status, its data and the decision that settled it; a model
   registered without lineage (``submit`` of a folder, an import) ends the chain and says so.
"""

from __future__ import annotations

import platform
import subprocess
from collections.abc import Sequence
from functools import cache
from importlib import metadata
from pathlib import Path
from typing import Any

from lifecycle.state import ModelRecord, State

REPO = Path(__file__).resolve().parents[1]


def record(parent: str | None, datasets: Sequence[Any], device: str) -> dict[str, Any]:
    """Lineage of a model trained now (``datasets``: ``models.data.DataSet`` objects)."""
    from models.data import summary

    return {
        "parent": parent,
        "data": [{"path": str(d.root), "digest": d.digest,
                  **{k: v for k, v in summary(d).items() if k != "events_included"},
                  "events": len(d.events)} for d in datasets],
        "code": {"version": _version("lifecycle-engine"), "commit": _commit()},
        "runtime": {"python": platform.python_version(), "torch": _version("torch"), "timm": _version("timm")},
        "device": device,
    }


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


@cache
def _commit() -> str | None:
    if not (REPO / ".git").exists():
        return None
    try:
        done = subprocess.run(["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True, text=True,
                              timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    text = done.stdout.strip()
    return text if done.returncode == 0 and len(text) == 40 else None


def chain(state: State, ref: str) -> list[dict[str, Any]]:
    """The model and its ancestors, newest first (guarantee 2)."""
    out: list[dict[str, Any]] = []
    record_: ModelRecord | None = state.resolve(ref)
    seen: set[str] = set()
    while record_ is not None and record_.model_id not in seen:
        seen.add(record_.model_id)
        out.append(_link(record_))
        parent = (record_.lineage or {}).get("parent")
        record_ = state.models.get(parent) if parent else None
    return out


def _link(record_: ModelRecord) -> dict[str, Any]:
    lineage = dict(record_.lineage or {})
    decision = record_.decision or {}
    return {
        "model_id": record_.model_id, "version": record_.version, "status": record_.status,
        "architecture": record_.architecture, "created_at": record_.created_at,
        "parent": lineage.get("parent"), "data": lineage.get("data", []), "code": lineage.get("code"),
        "runtime": lineage.get("runtime"), "device": lineage.get("device"),
        "recorded": bool(record_.lineage),
        "decision": {"outcome": decision.get("outcome"), "rule": decision.get("rule"),
                     "reason": record_.reason} if decision or record_.reason else None,
    }
