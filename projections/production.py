"""Production health: is the file the scanner loads the champion the log names, intact?

Guarantees:
1. ``health`` only reads: it hashes the production file (and the champion folder's
   ``best_model.pth`` when that is another file) and compares them with the digests the
   log recorded for the champion. No wall clock, no write.
2. Its answer is one of: ``ok`` (the scanner loads the champion's recorded bytes), ``none``
   (no champion yet), ``stale`` (the files on disk are not the champion's bytes, but the
   store holds those bytes intact: a projection behind the log, healed by ``lifecycle
   replay``, the next writing command or the daemon), ``damaged`` (the store's copy is
   missing, unreadable or corrupt: nothing can heal it from the store) or ``unavailable``
   (the champion was imported without a weight file: there is nothing to serve).
3. ``fingerprint`` is a cheap stat of the files ``health`` reads: it changes whenever any
   of them is replaced or written (size, inode, mtime or ctime), so a watcher hashes only
   after a change.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any, NamedTuple

from events.store import CHUNK, BlobStore
from lifecycle.state import ModelRecord, State
from projections.layout import PRODUCTION_LINK
from projections.registry import REGISTRY_PATH

CHAMPION_WEIGHTS = "models/champion/best_model.pth"


class Health(NamedTuple):
    state: str  # ok | none | stale | damaged | unavailable
    detail: str
    model_id: str | None = None
    digest: str | None = None

    @property
    def ok(self) -> bool:
        return self.state in ("ok", "none")

    def as_dict(self) -> dict[str, Any]:
        return {"state": self.state, "ok": self.ok, "detail": self.detail, "model_id": self.model_id,
                "digest": self.digest, "path": PRODUCTION_LINK}


def production_blob(record: ModelRecord) -> dict[str, Any] | None:
    """The blob the production file must hold: the export for the scanner, else the weights."""
    if record.production:
        return dict(record.production)
    return dict(record.weights) if record.weights else None


def health(root: Path, state: State, store: BlobStore) -> Health:
    champion = state.champion_record()
    if champion is None:
        return Health("none", "no champion yet: the scanner has nothing to load")
    expected = production_blob(champion)
    if expected is None or champion.weights is None:
        return Health("unavailable", f"champion {champion.model_id} was imported without a weight file: "
                      "there is no production file; submit a model with weights", champion.model_id)
    wrong = _file_problem(root / PRODUCTION_LINK, expected["digest"], PRODUCTION_LINK)
    if wrong is None and not _same_file(root / PRODUCTION_LINK, root / CHAMPION_WEIGHTS):
        wrong = _file_problem(root / CHAMPION_WEIGHTS, champion.weights["digest"], CHAMPION_WEIGHTS)
    if wrong is None:
        return Health("ok", f"{PRODUCTION_LINK} is {champion.model_id}'s recorded bytes",
                      champion.model_id, expected["digest"])
    for blob in (expected, dict(champion.weights)):
        problem = store.check(blob["digest"], blob.get("size"))
        if problem is not None:
            return Health("damaged", f"{wrong}; the store's copy of {champion.model_id} (blob "
                          f"{blob['digest'][:12]}) is {problem}: restore store/ from a backup, or roll back",
                          champion.model_id, expected["digest"])
    return Health("stale", f"{wrong}; run 'lifecycle replay' (or let the daemon heal it)",
                  champion.model_id, expected["digest"])


def _file_problem(path: Path, digest: str, rel: str) -> str | None:
    """None when the file holds exactly the bytes of ``digest``; else what is wrong."""
    hasher = hashlib.sha256()
    try:
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(CHUNK), b""):
                hasher.update(chunk)
    except FileNotFoundError:
        return f"{rel} is missing"
    except OSError as exc:
        return f"{rel} cannot be read ({exc.strerror or exc})"
    return None if hasher.hexdigest() == digest else f"{rel} does not hold the champion's bytes"


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def fingerprint(root: Path) -> tuple[Any, ...]:
    """What changes whenever a file ``health`` reads (or the registry, or the log) changes."""
    out: list[Any] = []
    for rel in (PRODUCTION_LINK, CHAMPION_WEIGHTS, REGISTRY_PATH, "events.jsonl"):
        try:
            st = os.stat(root / rel)
            out.append((st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns))
        except OSError as exc:
            out.append(exc.errno)
    try:
        out.append(os.readlink(root / PRODUCTION_LINK))
    except OSError:
        out.append(None)
    return tuple(out)
