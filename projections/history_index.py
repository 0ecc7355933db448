"""Where each model's commits lie in the log, so ``history --model`` reads only those lines.

Guarantees (a cache, like ``projections.snapshot``; ENGINEERING.md rule 12):
1. ``<root>/cache/history.json`` maps a model id to the byte offsets of the commit lines
   with an event about it, up to a named commit (its anchor). It is used only while that
   commit's line is still there with its hash; every line it points to is hash-checked
   again when read; the commits after the anchor are read from the log as usual.
2. Anything unusable (missing, foreign, stale, an offset that no longer starts a good
   line) is ignored and the index rebuilt from the whole log: the answer is the same as a
   full scan's, only slower.
3. Written atomically (temporary file + rename) and never needed for correctness.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import NamedTuple

import orjson

from events.log import JsonlLog, Record, StaleAnchor, Tail
from projections.snapshot import CACHE_DIR, SAVE_AFTER

INDEX_NAME = "history.json"
FORMAT = 1


class Index(NamedTuple):
    anchor: Tail | None
    lines: dict[str, list[int]]


def index_path(root: Path) -> Path:
    return root / CACHE_DIR / INDEX_NAME


def load(root: Path) -> Index:
    """The cached index, or an empty one (never raises)."""
    try:
        data = orjson.loads(index_path(root).read_bytes())
        if data.get("format") == FORMAT:
            return Index(Tail(*data["anchor"]), {str(k): list(v) for k, v in data["lines"].items()})
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        pass
    return Index(None, {})


def save(root: Path, index: Index) -> None:
    if index.anchor is None:
        return
    body = orjson.dumps({"format": FORMAT, "anchor": list(index.anchor), "lines": index.lines})
    target = index_path(root)
    try:
        target.parent.mkdir(exist_ok=True)
        fd, temp = tempfile.mkstemp(dir=target.parent, prefix=".history-", suffix=".tmp")
    except OSError:
        return
    try:
        os.fchmod(fd, 0o644)  # readable like the registry it stands for
        with os.fdopen(fd, "wb") as f:
            f.write(body)
        os.replace(temp, target)
    except OSError:
        Path(temp).unlink(missing_ok=True)


def records_about(root: Path, log: JsonlLog, model_id: str) -> list[Record]:
    """Every commit with an event about ``model_id``, in log order."""
    index = load(root)
    try:
        return _collect(root, log, index, model_id)
    except StaleAnchor:
        return _collect(root, log, Index(None, {}), model_id)


def _collect(root: Path, log: JsonlLog, index: Index, model_id: str) -> list[Record]:
    found = list(log.read_at(index.lines.get(model_id, ())))
    added = 0
    for start, record in log.read_located(index.anchor):
        added += 1
        about = _models(record)
        for other in about:
            index.lines.setdefault(other, []).append(start)
        if model_id in about:
            found.append(record)
    if added >= SAVE_AFTER:
        save(root, Index(log.position(), index.lines))
    return found


def _models(record: Record) -> set[str]:
    return {event["model_id"] for event in record["events"] if event.get("model_id")}
