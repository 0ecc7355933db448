"""A cache of the folded state, so that reading commands need not fold the whole log.

Guarantees (ENGINEERING.md rule 12):
1. Only a cache, for reading commands: ``<root>/cache/state.json`` records the commit it
   reflects (sequence number, hash, where its line lies). It is used only while that line
   is still there with that hash (``EventLog.read_after`` checks it); the commits after it
   are read from the log and folded as usual. A missing, unreadable, foreign or stale file
   is ignored: the whole log is folded, exactly as without a cache. A writing command never
   reads it (it folds the whole log under its lock), and ``lifecycle verify`` compares it
   with the fold of the log up to its commit. Deleting ``cache/`` is always safe.
2. A cache written by other fold code (another version of ``lifecycle/evolve.py``,
   ``state.py`` or ``transitions.py``) is ignored: the file records their digest.
3. Encoding round-trips: ``state_from_json(state_to_json(s))`` projects to the same bytes
   and folds on to the same state as ``s`` (tested against the full fold).
4. Written atomically (temporary file + rename) and not fsynced: a crash can only lose it.
"""

from __future__ import annotations

import functools
import hashlib
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple

import immutables
import orjson

from events.port import Tail
from lifecycle.state import ModelRecord, State
from lifecycle.versions import parse_version

CACHE_DIR = "cache"
SNAPSHOT_NAME = "state.json"
FORMAT = 2
SAVE_AFTER = 1000  # commits folded beyond the cached one before the cache is rewritten

_LISTS = {"warnings"}
_SHAPED = {"models", "champion", "challenger", "reigns", "max_version", "seq", "head", "last_time", "pool", "data"}
_PLAIN = tuple(f for f in State._fields if f not in _SHAPED)  # JSON values as they are (alert, pending, ...)


class Snapshot(NamedTuple):
    anchor: Tail
    state: State


@functools.cache
def fold_code() -> str:
    """The digest of the code that folds events into a ``State``."""

    import lifecycle.evolve
    import lifecycle.state
    import lifecycle.transitions

    digest = hashlib.sha256()
    for module in (lifecycle.evolve, lifecycle.state, lifecycle.transitions):
        digest.update(Path(module.__file__ or "").read_bytes())
    return digest.hexdigest()


def snapshot_path(root: Path) -> Path:
    return root / CACHE_DIR / SNAPSHOT_NAME


def state_to_json(state: State) -> dict[str, Any]:
    return {
        "models": {k: _plain_record(m) for k, m in state.models.items()},
        "champion": state.champion, "challenger": state.challenger, "reigns": list(state.reigns),
        "max_version": str(state.max_version) if state.max_version else None,
        "seq": state.seq, "head": state.head, "last_time": state.last_time,
        "pool": dict(state.pool), "data": dict(state.data),
        **{name: getattr(state, name) for name in _PLAIN},
    }


def _plain_record(record: ModelRecord) -> dict[str, Any]:
    return {k: dict(v) if isinstance(v, immutables.Map) else v
            for k, v in zip(ModelRecord._fields, record, strict=True)}


def state_from_json(data: Mapping[str, Any]) -> State:
    models = immutables.Map({k: _record(m) for k, m in data["models"].items()})
    top = data["max_version"]
    return State(
        models=models, champion=data["champion"], challenger=data["challenger"],
        reigns=tuple(data["reigns"]), max_version=parse_version(top) if top else None,
        seq=data["seq"], head=data["head"], last_time=data["last_time"],
        pool=immutables.Map(data["pool"]), data=immutables.Map(data["data"]),
        **{name: data[name] for name in _PLAIN},
    )


def _record(fields: Mapping[str, Any]) -> ModelRecord:
    return ModelRecord._make(tuple(fields[k]) if k in _LISTS else fields[k] for k in ModelRecord._fields)


def load(root: Path) -> Snapshot | None:
    """The cached state, or None when there is no usable cache (never raises)."""
    try:
        data = orjson.loads(snapshot_path(root).read_bytes())
        if data.get("format") != FORMAT or data.get("fold_code") != fold_code():
            return None
        anchor = Tail(*data["anchor"])
        state = state_from_json(data["state"])
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return None
    if (state.seq, state.head) != (anchor.seq, anchor.hash):
        return None
    return Snapshot(anchor, state)


def save(root: Path, anchor: Tail, state: State) -> bool:
    """Cache ``state`` as of ``anchor``; False (and nothing left behind) when it cannot."""
    if (state.seq, state.head) != (anchor.seq, anchor.hash):
        raise ValueError("a snapshot must name the commit its state reflects")
    body = orjson.dumps({"format": FORMAT, "fold_code": fold_code(), "anchor": list(anchor),
                         "state": state_to_json(state)})  # key order kept: it is the state's
    return write_cache(snapshot_path(root), body)


def write_cache(target: Path, body: bytes) -> bool:
    """Replace a cache file atomically (temporary file + rename, no fsync: a cache may be
    lost, never half-written); False, with nothing left behind, when it cannot."""
    try:
        target.parent.mkdir(exist_ok=True)
        fd, temp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.stem}-", suffix=".tmp")
    except OSError:
        return False
    try:
        os.fchmod(fd, 0o644)  # readable like the registry it stands for
        with os.fdopen(fd, "wb") as f:
            f.write(body)
        os.replace(temp, target)
    except OSError:
        Path(temp).unlink(missing_ok=True)
        return False
    return True


def due(cached: Snapshot | None, state: State) -> bool:
    """Whether a reader that folded from ``cached`` should rewrite the cache."""
    return state.seq - (cached.anchor.seq if cached else 0) >= SAVE_AFTER
