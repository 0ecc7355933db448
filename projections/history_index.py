"""Where the commits about each model (and of each rare event type) lie in the log, so the
audit trail of one model, or every decision and rollback, is read without the whole log.

Guarantees (a cache, like ``projections.snapshot``; ENGINEERING.md rule 12):
1. ``<root>/cache/history.json`` maps a key (a model id, or ``type:<event type>`` for the
   types in ``INDEXED_TYPES``) to the byte offsets of the commit lines it concerns, up to a
   named commit (its anchor), plus the actors and event types seen. It is used only while
   the anchor's line is still there with its hash; every line it points to is hash-checked
   again when read; the commits after the anchor are read from the log and added.
2. Anything unusable (missing, foreign, stale, an offset that no longer starts a good
   line) is ignored and the index rebuilt from the whole log: the answer is the same as a
   full scan's, only slower.
3. Written atomically and never needed for correctness (``snapshot.write_cache``).
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import orjson

from events.log import JsonlLog, Record, StaleAnchor, Tail
from projections.snapshot import CACHE_DIR, SAVE_AFTER, write_cache

INDEX_NAME = "history.json"
FORMAT = 2
INDEXED_TYPES = ("trained", "promoted", "rejected", "archived", "rolled_back", "imported")


class Index(NamedTuple):
    anchor: Tail | None
    lines: dict[str, list[int]]
    actors: set[str]
    types: set[str]


def _empty() -> Index:
    return Index(None, {}, set(), set())


def index_path(root: Path) -> Path:
    return root / CACHE_DIR / INDEX_NAME


def type_key(event_type: str) -> str:
    return f"type:{event_type}"


def load(root: Path) -> Index:
    """The cached index, or an empty one (never raises)."""
    try:
        data = orjson.loads(index_path(root).read_bytes())
        if data.get("format") == FORMAT:
            return Index(Tail(*data["anchor"]), {str(k): list(v) for k, v in data["lines"].items()},
                         set(data["actors"]), set(data["types"]))
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        pass
    return _empty()


def save(root: Path, index: Index) -> None:
    if index.anchor is not None:
        write_cache(index_path(root), orjson.dumps({
            "format": FORMAT, "anchor": list(index.anchor), "lines": index.lines,
            "actors": sorted(index.actors), "types": sorted(index.types)}))


def current(root: Path, log: JsonlLog) -> Index:
    """The index brought up to the end of the log (and saved when that took long)."""
    try:
        return _catch_up(root, log, load(root))
    except StaleAnchor:
        return _catch_up(root, log, _empty())


def records_with(root: Path, log: JsonlLog, key: str) -> list[Record]:
    """Every commit filed under ``key`` (a model id or ``type_key(...)``), in log order."""
    index = current(root, log)
    try:
        return list(log.read_at(index.lines.get(key, ())))
    except StaleAnchor:
        return list(log.read_at(_catch_up(root, log, _empty()).lines.get(key, ())))


def _catch_up(root: Path, log: JsonlLog, index: Index) -> Index:
    added = 0
    for start, record in log.read_located(index.anchor):
        added += 1
        index.actors.add(record["actor"])
        for key in keys_of(record, index.types):
            index.lines.setdefault(key, []).append(start)
    index = index._replace(anchor=log.position() or index.anchor)
    if added >= SAVE_AFTER:
        save(root, index)
    return index


def keys_of(record: Record, types: set[str]) -> set[str]:
    """The keys a commit is filed under (and the event types it has, added to ``types``)."""
    keys = set()
    for event in record["events"]:
        kind = event["type"]
        types.add(kind)
        if event.get("model_id"):
            keys.add(event["model_id"])
        if kind in INDEXED_TYPES:
            keys.add(type_key(kind))
    return keys
